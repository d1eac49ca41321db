/**
 * The object-store contract, one suite run against every backend (Gorse's storage/blob style):
 * - memory: MemoryObjectStore;
 * - s3rver: S3ObjectStore over HTTP against a real s3rver (conditional writes emulated, since s3rver
 *   ignores If-None-Match / If-Match), with 2-key LIST pages so every listing crosses page boundaries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalS3Client } from '../../../../shared/local/emulators';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import { isNotFound, md5Hex, type ObjectStore, PreconditionFailedError } from '../../../../shared/storage/object-store';
import { S3ObjectStore } from '../../../../shared/storage/s3-object-store';

const BUCKET = 'object-store-contract';
let s3rver: S3rver | undefined;
let s3rverDir: string;
let client: S3Client;

beforeAll(async () => {
  s3rverDir = mkdtempSync(join(tmpdir(), 'object-store-s3rver-'));
  s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3rverDir, resetOnClose: true });
  const { port } = await s3rver.run();
  client = createLocalS3Client(`http://127.0.0.1:${port}`, 'eu-west-1');
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  client?.destroy();
  s3rver?.httpServer?.closeIdleConnections();
  await s3rver?.close();
  rmSync(s3rverDir, { recursive: true, force: true });
});

const backends: { name: string; create: () => ObjectStore }[] = [
  { name: 'memory', create: () => new MemoryObjectStore() },
  { name: 's3rver', create: () => new S3ObjectStore(client, BUCKET, { conditionalWrites: 'emulated', pageSize: 2 }) },
];

let counter = 0;
/** A fresh prefix per test: a backend keeps its objects for the whole file. */
const fresh = () => `t${++counter}/`;
const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const text = (body: Uint8Array | undefined) => (body ? Buffer.from(body).toString('utf8') : undefined);

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

describe.each(backends)('object store contract on $name', ({ create }) => {
  it('answers undefined (or no rows) for a missing key, and a not-found error when streaming it', async () => {
    // Prepare
    const store = create();
    const key = `${fresh()}missing.json`;

    // Act
    const [object, head, json, rows, streamed] = await Promise.all([
      store.get(key),
      store.head(key),
      store.getJson(key),
      store.getNdjson(`${key}.gz`),
      store.stream(key).catch((error: unknown) => error),
    ]);

    // Assess
    expect(object).toBeUndefined();
    expect(head).toBeUndefined();
    expect(json).toBeUndefined();
    expect(rows).toEqual([]);
    expect(isNotFound(streamed)).toBe(true);
  });

  it('stores bytes under their MD5 ETag and reads them back with get, head and stream', async () => {
    // Prepare
    const store = create();
    const key = `${fresh()}a/b.bin`;
    const body = Uint8Array.from([0, 1, 2, 250, 255]);

    // Act
    const { etag } = await store.put(key, body, { contentType: 'application/octet-stream' });
    const object = await store.get(key);
    const head = await store.head(key);
    const streamed = await drain(await store.stream(key));

    // Assess
    expect(etag).toBe(md5Hex(body));
    expect(object?.body).toEqual(body);
    expect(object?.etag).toBe(etag);
    expect(head).toMatchObject({ key, etag, size: 5 });
    expect(head?.lastModified).toBeInstanceOf(Date);
    expect(new Uint8Array(streamed)).toEqual(body);
  });

  it('round-trips JSON and gzipped NDJSON, and streams a .gz object gunzipped', async () => {
    // Prepare
    const store = create();
    const prefix = fresh();
    const rows = [{ id: 1, name: 'ä' }, { id: 2 }, { id: 3, nested: { x: [1, 2] } }];

    // Act
    await store.putJson(`${prefix}doc.json`, { hello: 'world', n: 3 });
    await store.putNdjsonGz(`${prefix}rows.ndjson.gz`, rows);
    await store.putBytes(`${prefix}plain.ndjson`, bytes('{"a":1}\n\n{"a":2}\n'), 'application/x-ndjson');
    const unzipped = (await drain(await store.getStream(`${prefix}rows.ndjson.gz`))).toString('utf8');

    // Assess
    expect(await store.getJson(`${prefix}doc.json`)).toEqual({ hello: 'world', n: 3 });
    expect(await store.getNdjson(`${prefix}rows.ndjson.gz`)).toEqual(rows);
    expect(await store.getNdjson(`${prefix}plain.ndjson`)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(unzipped.split('\n').map((line) => JSON.parse(line))).toEqual(rows);
    expect(text(await store.getBytes(`${prefix}doc.json`))).toContain('"hello": "world"');
  });

  it('lists every key under a prefix in key order across pages, after startAfter when asked', async () => {
    // Prepare
    const store = create();
    const prefix = fresh();
    const names = ['e', 'a', 'c/1', 'b', 'd', 'c/0'];
    for (const name of names) await store.put(`${prefix}${name}`, bytes(name));
    await store.put(`${prefix.slice(0, -1)}-sibling/x`, bytes('x'));

    // Act
    const listed = await store.list(prefix);
    const keys = await store.listKeys(prefix);
    const after = await store.listKeys(prefix, { startAfter: `${prefix}c/0` });

    // Assess
    const expected = [...names].sort().map((n) => `${prefix}${n}`);
    expect(listed.map((o) => o.key)).toEqual(expected);
    expect(keys).toEqual(expected);
    expect(after).toEqual([`${prefix}c/1`, `${prefix}d`, `${prefix}e`]);
    expect(listed.find((o) => o.key === `${prefix}a`)).toMatchObject({ size: 1, etag: md5Hex(bytes('a')) });
  });

  it('names the folders directly under a prefix, however deep their keys go', async () => {
    // Prepare
    const store = create();
    const prefix = fresh();
    for (const key of ['m/one/versions/v1/card.json', 'm/one/aliases/champion.json', 'm/two/versions/v9/deep/er/x', 'm/file.json', 'm/three/y']) {
      await store.put(`${prefix}${key}`, bytes(key));
    }

    // Act
    const folders = await store.listFolders(`${prefix}m/`);

    // Assess
    expect(folders).toEqual(['one', 'three', 'two']);
    expect(await store.listFolders(`${prefix}nothing/`)).toEqual([]);
  });

  it('copies an object, replacing its metadata when given', async () => {
    // Prepare
    const store = create();
    const prefix = fresh();
    await store.put(`${prefix}from.gz`, gzipSync('payload'), { contentType: 'application/gzip' });

    // Act
    await store.copy(`${prefix}from.gz`, `${prefix}to with space.gz`, { contentType: 'application/gzip', metadata: { part: '3', 'first-line': '12' } });
    const head = await store.head(`${prefix}to with space.gz`);
    const copied = await drain(await store.getStream(`${prefix}to with space.gz`));

    // Assess
    expect(head?.metadata).toEqual({ part: '3', 'first-line': '12' });
    expect(copied.toString('utf8')).toBe('payload');
    expect((await store.head(`${prefix}from.gz`))?.metadata ?? {}).toEqual({});
  });

  it('deletes one key or many, and deleting a missing key is not an error', async () => {
    // Prepare
    const store = create();
    const prefix = fresh();
    for (const name of ['a', 'b', 'c', 'd']) await store.put(`${prefix}${name}`, bytes(name));

    // Act
    await store.delete(`${prefix}a`);
    await store.delete(`${prefix}never-written`);
    await store.deleteMany([`${prefix}b`, `${prefix}c`, `${prefix}also-missing`]);
    await store.deleteMany([]);

    // Assess
    expect(await store.listKeys(prefix)).toEqual([`${prefix}d`]);
    expect(await store.get(`${prefix}a`)).toBeUndefined();
  });

  it('writes create-only (If-None-Match: *): a second write fails with 412 and the first bytes stay', async () => {
    // Prepare
    const store = create();
    const key = `${fresh()}once`;
    await store.put(key, bytes('first'), { ifNoneMatch: '*' });

    // Act
    const error = await store.put(key, bytes('second'), { ifNoneMatch: '*' }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect((error as PreconditionFailedError).status).toBe(412);
    expect(text(await store.getBytes(key))).toBe('first');
  });

  it('compares and swaps on the ETag (If-Match): the current ETag wins, a stale one gets 412, a missing key 404', async () => {
    // Prepare
    const store = create();
    const key = `${fresh()}pointer.json`;
    const first = await store.put(key, bytes('v1'));

    // Act
    const second = await store.put(key, bytes('v2'), { ifMatch: `"${first.etag}"` });
    const stale = await store.put(key, bytes('v3'), { ifMatch: first.etag }).catch((e: unknown) => e);
    const missing = await store.put(`${key}.nope`, bytes('v1'), { ifMatch: first.etag }).catch((e: unknown) => e);

    // Assess
    expect(second.etag).toBe(md5Hex(bytes('v2')));
    expect((stale as PreconditionFailedError).status).toBe(412);
    expect((missing as PreconditionFailedError).status).toBe(404);
    expect(text(await store.getBytes(key))).toBe('v2');
    expect(await store.head(`${key}.nope`)).toBeUndefined();
  });

  it('lets exactly one of many concurrent create-only writes win', async () => {
    // Prepare
    const store = create();
    const key = `${fresh()}race`;

    // Act
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.put(key, bytes(`writer-${i}`), { ifNoneMatch: '*' })));

    // Assess
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'rejected').every((o) => (o as PromiseRejectedResult).reason instanceof PreconditionFailedError)).toBe(true);
    expect(text(await store.getBytes(key))).toMatch(/^writer-\d$/);
  });
});
