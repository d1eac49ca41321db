import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { ObjectStore } from '../storage/object-store';

/** Text handed to the gzip stream at a time: the whole table's text never exists as one string. */
const CHUNK_CHARS = 1 << 20;

/**
 * Gzipped NDJSON of rows produced one at a time (a generator): each row is serialised, gathered into
 * ~1 MB pieces and compressed as it comes, so only the compressed bytes are kept. The bytes are those
 * `ObjectStore.putNdjsonGz` would write for the same rows (same text, same zlib defaults).
 */
export async function gzipNdjson(rows: Iterable<unknown>): Promise<Buffer> {
  const gzip = createGzip();
  const out: Buffer[] = [];
  gzip.on('data', (piece: Buffer) => out.push(piece));
  const ended = once(gzip, 'end');
  let pending = '';
  let first = true;
  for (const row of rows) {
    pending += first ? JSON.stringify(row) : `\n${JSON.stringify(row)}`;
    first = false;
    if (pending.length >= CHUNK_CHARS) {
      if (!gzip.write(pending)) await once(gzip, 'drain');
      pending = '';
    }
  }
  gzip.end(pending);
  await ended;
  return Buffer.concat(out);
}

/** Writes rows as one gzipped NDJSON object (whole-object PUT: a retry rewrites the same bytes). */
export async function putNdjsonGzStream(blobs: ObjectStore, key: string, rows: Iterable<unknown>): Promise<void> {
  await blobs.putBytes(key, await gzipNdjson(rows), 'application/x-ndjson', { contentEncoding: 'gzip' });
}
