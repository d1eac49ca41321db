/**
 * What was served, per recommendationId, written to S3 so clicks and orders sent later with that id
 * (or for those items) can be attributed: `serving/recommendations/dt=YYYY-MM-DD/<time>-<hash>.ndjson.gz`.
 *
 * Records are buffered per container and written at the end of an invocation when the oldest is
 * SERVED_LOG_MAX_AGE_SECONDS old or SERVED_LOG_MAX_RECORDS are buffered. The default age 0 writes after
 * every request (one small PUT; nothing is lost when a container is reclaimed); a larger age batches
 * (cheaper) at the risk of losing the last batch of a container that is shut down. Keys hash the
 * recommendation ids they hold, so a retried write rewrites the same object.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Variant } from '../ab/assign';
import { logger, metrics } from '../observability/powertools';
import type { BlobStore } from '../storage/blob';

export const SERVED_PREFIX = 'serving/recommendations/';
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

const servedKey = (day: string, records: readonly ServedRecord[]) => {
  const hash = createHash('sha256');
  for (const r of records) hash.update(r.recommendationId).update('\n');
  const first = records[0]?.servedAt.replace(/[-:.]/g, '') ?? '';
  return `${SERVED_PREFIX}dt=${day}/${first}-${hash.digest('hex').slice(0, 20)}.ndjson.gz`;
};

export class ServedLog {
  private buffer: ServedRecord[] = [];
  private oldestAt = 0;

  constructor(
    private readonly blobs: BlobStore,
    private readonly policy: { maxAgeMs: number; maxRecords: number },
    private readonly clock: () => number = Date.now,
  ) {}

  get pending(): number {
    return this.buffer.length;
  }

  add(record: ServedRecord): void {
    if (this.buffer.length === 0) this.oldestAt = this.clock();
    this.buffer.push(record);
    if (this.buffer.length > MAX_BUFFERED) {
      const dropped = this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
      metrics.addMetric('ServedLogDropped', 'Count', dropped.length);
    }
  }

  /** Writes the buffer when the policy says so; never throws (a failed write is retried next time). */
  async flushIfDue(): Promise<void> {
    if (this.buffer.length === 0) return;
    const due = this.clock() - this.oldestAt >= this.policy.maxAgeMs || this.buffer.length >= this.policy.maxRecords;
    if (due) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const records = this.buffer;
    this.buffer = [];
    const byDay = new Map<string, ServedRecord[]>();
    for (const r of records) {
      const day = r.servedAt.slice(0, 10);
      (byDay.get(day) ?? byDay.set(day, []).get(day))?.push(r);
    }
    const failed: ServedRecord[] = [];
    await Promise.all(
      [...byDay].map(async ([day, dayRecords]) => {
        try {
          // Small objects: a light gzip setting costs half the CPU of the default for the same size.
          const body = gzipSync(dayRecords.map((r) => JSON.stringify(r)).join('\n'), { level: 1, windowBits: 10, memLevel: 2 });
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
export async function readServed(blobs: BlobStore, fromDay: string, toDay: string): Promise<ServedRecord[]> {
  const byId = new Map<string, ServedRecord>();
  for (const day of daysBetween(fromDay, toDay)) {
    for (const key of await blobs.listKeys(`${SERVED_PREFIX}dt=${day}/`)) {
      for (const r of await blobs.getNdjson<ServedRecord>(key)) byId.set(r.recommendationId, r);
    }
  }
  return [...byId.values()].sort((a, b) => (a.servedAt < b.servedAt ? -1 : a.servedAt > b.servedAt ? 1 : 0));
}
