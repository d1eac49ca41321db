/**
 * What was served, per recommendationId, written to S3 so clicks and orders sent later with that id
 * (or for those items) can be attributed: `serving/recommendations/dt=YYYY-MM-DD/<time>-<hash>.ndjson.gz`.
 *
 * Records are buffered per container and written at the end of an invocation (before the response,
 * so before Lambda freezes the container) when the oldest is SERVED_LOG_MAX_AGE_SECONDS old (default
 * 10) or SERVED_LOG_MAX_RECORDS are buffered (default 500). One PutObject per request would cost about
 * as much CPU as the rest of the request and, in Lambda, a network round trip before every response.
 *
 * Nothing is lost by batching: a batch still buffered when its container is reclaimed never reaches
 * S3, so every batched record is also written, at once, into the invocation's EMF log line as metadata
 * `servedList` (Powertools Metrics, published before the response): CloudWatch Logs keeps it whatever
 * happens to the container, and a Logs Insights query (`fields servedList | filter ispresent(servedList)`)
 * finds it. Where that copy does not exist (metrics disabled: the local stack, tests) or the age is 0,
 * every request writes its record before answering. A failed PUT keeps its records for the next flush;
 * keys hash the recommendation ids they hold, so a retried write rewrites the same object and readers
 * deduplicate by recommendationId.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Variant } from './ab-assignment';
import { logger, metrics } from '../observability/powertools';
import type { ObjectStore } from '../storage/object-store';

export const SERVED_PREFIX = 'serving/recommendations/';
/** EMF metadata key of a served record while the log batches (see above). */
export const SERVED_METADATA_KEY = 'servedList';
/** Records kept while S3 is unreachable; the oldest are dropped beyond this (with a metric). */
const MAX_BUFFERED = 20_000;

export interface ServedItem {
  itemId: string;
  /** 1-based. */
  position: number;
  source: string;
  reason: string;
}

export interface ServedRecord {
  recommendationId: string;
  servedAt: string;
  endpoint: 'user' | 'session' | 'similar';
  /** The profile the list was computed for (as raw events name it). */
  profileId?: string;
  /** Keyed hash of the user id, as raw events store it (never the raw id). */
  userId?: string;
  anonymousId?: string;
  /** For /similar: the item the list is similar to. */
  itemId?: string;
  variant: Variant;
  modelVersion: string;
  strategy: string;
  channel?: string;
  items: ServedItem[];
}

/** A buffered record with its NDJSON line (serialised once, when added: the EMF copy uses it too). */
interface Entry {
  record: ServedRecord;
  line: string;
}

/** Objects below this size get a light gzip setting (half the CPU for tiny bodies); batches the default window. */
const SMALL_BODY = 4096;

const servedKey = (day: string, entries: readonly Entry[]) => {
  const hash = createHash('sha256');
  for (const { record } of entries) hash.update(record.recommendationId).update('\n');
  const first = entries[0]?.record.servedAt.replace(/[-:.]/g, '') ?? '';
  return `${SERVED_PREFIX}dt=${day}/${first}-${hash.digest('hex').slice(0, 20)}.ndjson.gz`;
};

/** Whether Powertools publishes EMF lines in this process (its own flag, protected in its types; unknown = no). */
function emfPublished(): boolean {
  const m = metrics as unknown as { isDisabled?: () => boolean };
  return typeof m.isDisabled === 'function' ? !m.isDisabled() : false;
}

export class ServedLog {
  private buffer: Entry[] = [];
  private oldestAt = 0;

  constructor(
    private readonly blobs: ObjectStore,
    private readonly policy: { maxAgeMs: number; maxRecords: number },
    private readonly clock: () => number = Date.now,
    /** Whether this invocation's EMF line keeps a durable copy of each record (metrics published). */
    private readonly durableCopy: () => boolean = emfPublished,
  ) {}

  get pending(): number {
    return this.buffer.length;
  }

  /** Whether records wait for a batch (and are meanwhile kept in the EMF log line). */
  get batching(): boolean {
    return this.policy.maxAgeMs > 0 && this.policy.maxRecords > 1 && this.durableCopy();
  }

  add(record: ServedRecord): void {
    const line = JSON.stringify(record);
    if (this.batching) metrics.addMetadata(SERVED_METADATA_KEY, line);
    if (this.buffer.length === 0) this.oldestAt = this.clock();
    this.buffer.push({ record, line });
    if (this.buffer.length > MAX_BUFFERED) {
      const dropped = this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
      metrics.addMetric('ServedLogDropped', 'Count', dropped.length);
    }
  }

  /** Writes the buffer when the policy says so; never throws (a failed write is retried next time). */
  async flushIfDue(): Promise<void> {
    if (this.buffer.length === 0) return;
    const due = !this.batching || this.clock() - this.oldestAt >= this.policy.maxAgeMs || this.buffer.length >= this.policy.maxRecords;
    if (due) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const entries = this.buffer;
    this.buffer = [];
    const byDay = new Map<string, Entry[]>();
    for (const e of entries) {
      const day = e.record.servedAt.slice(0, 10);
      (byDay.get(day) ?? byDay.set(day, []).get(day))?.push(e);
    }
    const failed: Entry[] = [];
    await Promise.all(
      [...byDay].map(async ([day, dayRecords]) => {
        try {
          const text = dayRecords.map((e) => e.line).join('\n');
          // Level 1 either way; the small window halves the CPU of a one-record object but makes a
          // 500-record batch five times slower and three times larger than the default window.
          const body = gzipSync(text, text.length < SMALL_BODY ? { level: 1, windowBits: 10, memLevel: 2 } : { level: 1 });
          await this.blobs.putBytes(servedKey(day, dayRecords), body, 'application/x-ndjson', { contentEncoding: 'gzip' });
        } catch (error) {
          failed.push(...dayRecords);
          metrics.addMetric('ServedLogWriteFailures', 'Count', 1);
          logger.error('served recommendations could not be written; kept for the next flush', { records: dayRecords.length, error: error as Error });
        }
      }),
    );
    if (failed.length > 0) {
      this.buffer = [...failed, ...this.buffer];
      this.oldestAt = this.clock();
    }
  }
}

/** Days from `fromDay` to `toDay` inclusive (YYYY-MM-DD). */
export function daysBetween(fromDay: string, toDay: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${fromDay}T00:00:00Z`); t <= Date.parse(`${toDay}T00:00:00Z`); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/** Served records of a day range (inclusive), for attribution jobs; one listing per day partition. */
export async function readServed(blobs: ObjectStore, fromDay: string, toDay: string): Promise<ServedRecord[]> {
  const byId = new Map<string, ServedRecord>();
  for (const day of daysBetween(fromDay, toDay)) {
    for (const key of await blobs.listKeys(`${SERVED_PREFIX}dt=${day}/`)) {
      for (const r of await blobs.getNdjson<ServedRecord>(key)) byId.set(r.recommendationId, r);
    }
  }
  return [...byId.values()].sort((a, b) => (a.servedAt < b.servedAt ? -1 : a.servedAt > b.servedAt ? 1 : 0));
}
