import { gunzipSync, gzipSync } from 'node:zlib';
import { QUARANTINE_PREFIX, type QuarantineRow, REPLAY_LOG_PREFIX, rowIdentifierKeys } from '../capture/quarantine';
import { RAW_EVENTS_PREFIX } from '../capture/raw-events';
import type { ObjectStore } from '../storage/object-store';
import { loadSuppressedIdentifiers, loadSuppressedProfiles } from './suppression';

export const COMPACTION_REPORTS_PREFIX = 'privacy/compaction/';

export interface CompactionReport {
  startedAt: string;
  finishedAt: string;
  suppressedProfiles: number;
  objectsScanned: number;
  objectsRewritten: number;
  eventsRemoved: number;
  /** Rewritten object keys (first 1000). */
  rewritten: string[];
  suppressedIdentifiers: number;
  quarantineObjectsScanned: number;
  quarantineObjectsRewritten: number;
  /** Quarantined rows of erased shoppers removed (matched by the keyed hashes of their identifiers). */
  quarantineRowsRemoved: number;
}

export interface CompactionOptions {
  /** Suppressed profile ids (default: the suppression list in the bucket). */
  suppressed?: ReadonlySet<string>;
  /** Suppressed identifier keys `type:hash` (default: the list in the bucket). */
  suppressedIdentifiers?: ReadonlySet<string>;
  /** Objects processed in parallel (each is one capture batch: small). */
  concurrency?: number;
  now?: () => Date;
}

/**
 * Rewrites every raw-event object that holds events of suppressed shoppers, without them, under the
 * same key (gzipped NDJSON, like capture writes it). Objects without such events are left untouched,
 * so a second run rewrites nothing: the job is idempotent and can run on any schedule.
 */
export async function compactRawEvents(blobs: ObjectStore, options: CompactionOptions = {}): Promise<CompactionReport> {
  const now = options.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const suppressed = options.suppressed ?? (await loadSuppressedProfiles(blobs));
  const suppressedIdentifiers = options.suppressedIdentifiers ?? (await loadSuppressedIdentifiers(blobs));
  const report: CompactionReport = {
    startedAt,
    finishedAt: '',
    suppressedProfiles: suppressed.size,
    objectsScanned: 0,
    objectsRewritten: 0,
    eventsRemoved: 0,
    rewritten: [],
    suppressedIdentifiers: suppressedIdentifiers.size,
    quarantineObjectsScanned: 0,
    quarantineObjectsRewritten: 0,
    quarantineRowsRemoved: 0,
  };
  if (suppressed.size > 0) {
    const queue = (await blobs.listKeys(RAW_EVENTS_PREFIX)).filter((key) => key.endsWith('.ndjson.gz') || key.endsWith('.ndjson'));
    const worker = async () => {
      for (let key = queue.shift(); key; key = queue.shift()) {
        const removed = await compactObject(blobs, key, suppressed);
        report.objectsScanned += 1;
        if (removed > 0) {
          report.objectsRewritten += 1;
          report.eventsRemoved += removed;
          if (report.rewritten.length < 1000) report.rewritten.push(key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, queue.length) }, worker));
  }
  if (suppressedIdentifiers.size > 0) {
    const queue = (await blobs.listKeys(`${QUARANTINE_PREFIX}dt=`)).filter((key) => !key.startsWith(REPLAY_LOG_PREFIX) && key.endsWith('.ndjson.gz'));
    const worker = async () => {
      for (let key = queue.shift(); key; key = queue.shift()) {
        const removed = await compactQuarantineObject(blobs, key, suppressedIdentifiers);
        report.quarantineObjectsScanned += 1;
        if (removed > 0) {
          report.quarantineObjectsRewritten += 1;
          report.quarantineRowsRemoved += removed;
          if (report.rewritten.length < 1000) report.rewritten.push(key);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, queue.length) }, worker));
  }
  report.finishedAt = now().toISOString();
  await blobs.putJson(`${COMPACTION_REPORTS_PREFIX}latest.json`, report);
  return report;
}

/** Returns the number of events removed (0: the object was not rewritten). */
async function compactObject(blobs: ObjectStore, key: string, suppressed: ReadonlySet<string>): Promise<number> {
  const bytes = await blobs.getBytes(key);
  if (!bytes) return 0;
  const gz = key.endsWith('.gz');
  const lines = (gz ? gunzipSync(bytes) : Buffer.from(bytes)).toString('utf8').split('\n');
  const kept: string[] = [];
  let removed = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const profileId = (JSON.parse(line) as { profileId?: unknown }).profileId;
    if (typeof profileId === 'string' && suppressed.has(profileId)) removed += 1;
    else kept.push(line);
  }
  if (removed === 0) return 0;
  const text = kept.join('\n');
  // Lines are kept byte for byte (no re-serialisation): only the suppressed shoppers' lines go.
  if (gz) await blobs.putBytes(key, gzipSync(text), 'application/x-ndjson', { contentEncoding: 'gzip' });
  else await blobs.putBytes(key, Buffer.from(text), 'application/x-ndjson');
  return removed;
}

/**
 * Drops the quarantined rows whose identifiers belong to erased shoppers; the other lines are kept
 * byte for byte (their ids unchanged, so replay logs still match). An object left empty stays, empty
 * (no s3:DeleteObject for this job).
 */
async function compactQuarantineObject(blobs: ObjectStore, key: string, suppressed: ReadonlySet<string>): Promise<number> {
  const bytes = await blobs.getBytes(key);
  if (!bytes) return 0;
  const kept: string[] = [];
  let removed = 0;
  for (const line of gunzipSync(bytes).toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    if (rowIdentifierKeys(JSON.parse(line) as QuarantineRow).some((k) => suppressed.has(k))) removed += 1;
    else kept.push(line);
  }
  if (removed === 0) return 0;
  await blobs.putBytes(key, gzipSync(kept.join('\n')), 'application/x-ndjson', { contentEncoding: 'gzip' });
  return removed;
}
