import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { ObjectStore } from '../storage/object-store';
import type { CanonicalEvent, PendingEvent } from '../events/canonical';

/** Raw storage: gzipped NDJSON of canonical events, partitioned by event date (`dt=YYYY-MM-DD`). */
export const RAW_EVENTS_PREFIX = 'raw/events/';

/** Key = date partition + hash of the event ids, so a retried batch rewrites the same object. */
export function rawEventsKey(day: string, events: readonly Pick<CanonicalEvent, 'eventId'>[]): string {
  const hash = createHash('sha256');
  for (const id of events.map((e) => e.eventId).sort()) hash.update(id).update('\n');
  return `${RAW_EVENTS_PREFIX}dt=${day}/${hash.digest('hex').slice(0, 32)}.ndjson.gz`;
}

/**
 * One stored line: the canonical event without what rode along in memory for identity resolution
 * only (`identitySource`: traits and context may hold emails, phones … never written raw).
 */
export function rawEventLine(event: CanonicalEvent): string {
  const { identitySource: _identitySource, ...row } = event as PendingEvent & CanonicalEvent;
  return JSON.stringify(row);
}

export interface RawObject {
  key: string;
  day: string;
  eventIds: string[];
  /** Gzipped NDJSON, one canonical event per line. */
  body: Buffer;
}

/** The CPU half of raw storage (no I/O): events grouped by day, serialised once, gzipped. */
export function encodeRawEvents(events: readonly CanonicalEvent[]): RawObject[] {
  const byDay = new Map<string, CanonicalEvent[]>();
  for (const event of events) {
    const day = event.timestamp.slice(0, 10);
    const group = byDay.get(day);
    if (group) group.push(event);
    else byDay.set(day, [event]);
  }
  const objects: RawObject[] = [];
  for (const [day, dayEvents] of byDay) {
    const text = dayEvents.map(rawEventLine).join('\n');
    objects.push({ key: rawEventsKey(day, dayEvents), day, eventIds: dayEvents.map((e) => e.eventId), body: gzipSync(text) });
  }
  return objects.sort((a, b) => (a.key < b.key ? -1 : 1));
}

export async function storeRawEvents(blobs: ObjectStore, events: readonly CanonicalEvent[]): Promise<string[]> {
  const objects = encodeRawEvents(events);
  await Promise.all(objects.map((o) => blobs.putBytes(o.key, o.body, 'application/x-ndjson', { contentEncoding: 'gzip' })));
  return objects.map((o) => o.key);
}

/** Partition day of a raw key (`raw/events/dt=2026-09-01/…` → `2026-09-01`). */
export function partitionDay(key: string): string | undefined {
  return /dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
}

/**
 * Reads raw events, optionally for a day range, de-duplicated by event id (a client retry that
 * regrouped a batch can store one event in two objects) and sorted by time.
 */
export async function readRawEvents(blobs: ObjectStore, range: { fromDay?: string; toDay?: string } = {}, concurrency = 8): Promise<CanonicalEvent[]> {
  const keys = (await blobs.listKeys(RAW_EVENTS_PREFIX)).filter((key) => {
    const day = partitionDay(key);
    return day !== undefined && (!range.fromDay || day >= range.fromDay) && (!range.toDay || day <= range.toDay);
  });
  const byId = new Map<string, CanonicalEvent>();
  const queue = [...keys];
  const worker = async () => {
    for (let key = queue.shift(); key; key = queue.shift()) {
      for (const event of await blobs.getNdjson<CanonicalEvent>(key)) if (!byId.has(event.eventId)) byId.set(event.eventId, event);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  return [...byId.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.eventId < b.eventId ? -1 : 1));
}
