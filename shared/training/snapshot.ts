import { type CanonicalEvent, INTERACTION_WEIGHT } from '../capture/events';
import { readRawEvents } from '../capture/raw-events';
import { type MergeRedirects, redirectEvents } from '../identity/redirects';
import { withoutSuppressed } from '../privacy/suppression';
import type { BlobStore } from '../storage/blob';

export const SNAPSHOTS_PREFIX = 'snapshots/';

/** One item interaction in a training snapshot (short keys: snapshots hold millions of rows). */
export interface Interaction {
  /** profile id */
  p: string;
  /** item id */
  i: string;
  /** canonical type */
  t: CanonicalEvent['type'];
  /** epoch ms */
  ts: number;
  /** channel */
  c: string;
}

export interface ItemMeta {
  category?: string;
  price?: number;
  name?: string;
}

export interface SnapshotManifest {
  runId: string;
  asOf: string;
  holdoutStart: string;
  interactionsKey: string;
  itemsKey: string;
  counts: { events: number; interactions: number; users: number; items: number; holdoutUsers: number };
}

export interface SnapshotOptions {
  runId: string;
  /** Point in time: events after it are ignored. Defaults to the newest event. */
  asOf?: string;
  /** Length of the time-based holdout at the end of the window. */
  holdoutDays?: number;
  /** Merge redirects (absorbed profile → survivor): a shopper merged after capture counts as one user. */
  redirects?: MergeRedirects;
}

/** Point-in-time interactions (item events only, deduplicated, time-ordered) plus item metadata. */
export function buildInteractions(events: readonly CanonicalEvent[], asOfMs: number) {
  const interactions: Interaction[] = [];
  const items = new Map<string, ItemMeta>();
  for (const event of events) {
    const ts = Date.parse(event.timestamp);
    if (ts > asOfMs || INTERACTION_WEIGHT[event.type] === undefined) continue;
    for (const item of event.items) {
      interactions.push({ p: event.profileId, i: item.itemId, t: event.type, ts, c: event.channel });
      const meta = items.get(item.itemId) ?? {};
      if (item.category) meta.category = item.category;
      if (item.price !== undefined) meta.price = item.price;
      if (item.name) meta.name = item.name;
      items.set(item.itemId, meta);
    }
  }
  return { interactions, items };
}

/** Prepares the training snapshot of one retraining run under snapshots/<runId>/. */
export async function prepareSnapshot(blobs: BlobStore, options: SnapshotOptions): Promise<SnapshotManifest> {
  // Privacy: erased shoppers (suppression list) never reach a training snapshot.
  const raw = await withoutSuppressed(blobs, await readRawEvents(blobs, options.asOf ? { toDay: options.asOf.slice(0, 10) } : {}));
  const events = redirectEvents(raw, options.redirects);
  const newest = events.at(-1)?.timestamp;
  const asOf = options.asOf ?? newest ?? new Date(0).toISOString();
  const asOfMs = Date.parse(asOf);
  const holdoutStartMs = asOfMs - (options.holdoutDays ?? 7) * 86_400_000;
  const { interactions, items } = buildInteractions(events, asOfMs);
  const users = new Set(interactions.map((x) => x.p));
  const trainUsers = new Set(interactions.filter((x) => x.ts < holdoutStartMs).map((x) => x.p));
  const holdoutUsers = new Set(interactions.filter((x) => x.ts >= holdoutStartMs && trainUsers.has(x.p)).map((x) => x.p));
  const prefix = `${SNAPSHOTS_PREFIX}${options.runId}/`;
  const manifest: SnapshotManifest = {
    runId: options.runId,
    asOf: new Date(asOfMs).toISOString(),
    holdoutStart: new Date(holdoutStartMs).toISOString(),
    interactionsKey: `${prefix}interactions.ndjson.gz`,
    itemsKey: `${prefix}items.json`,
    counts: { events: events.length, interactions: interactions.length, users: users.size, items: items.size, holdoutUsers: holdoutUsers.size },
  };
  await blobs.putNdjsonGz(manifest.interactionsKey, interactions);
  await blobs.putJson(manifest.itemsKey, Object.fromEntries(items));
  await blobs.putJson(`${prefix}manifest.json`, manifest);
  return manifest;
}

export async function loadSnapshot(blobs: BlobStore, manifest: SnapshotManifest) {
  const interactions = await blobs.getNdjson<Interaction>(manifest.interactionsKey);
  const items = (await blobs.getJson<Record<string, ItemMeta>>(manifest.itemsKey)) ?? {};
  return { interactions, items };
}
