/**
 * The point-in-time training snapshot of one retraining run, under snapshots/<runId>/, built once per
 * run (PrepareSnapshot) in one pass over the raw events up to asOf, after erased shoppers
 * (suppression list) are dropped and merged shoppers are moved to their survivor:
 *
 * | key                   | format                                   | read by                       |
 * |-----------------------|------------------------------------------|-------------------------------|
 * | interactions.ndjson.gz| `Interaction` a line (p, i, t, ts, c)     | recommender                   |
 * | items.json            | item id → `ItemMeta`                      | recommender                   |
 * | sequences.ndjson.gz   | `ShopperSequence` a line (per shopper)    | propensity, churn, CLV        |
 * | orders.ndjson.gz      | `OrderRow` a line (purchases, refunds)    | propensity, churn, CLV        |
 * | item-daily.ndjson.gz  | `ItemDayRow` a line (item × day × channel, sparse) + manifest `window` | demand, price elasticity |
 * | manifest.json         | `SnapshotManifest`, written last          | every step                    |
 *
 * Formats in detail: ./tables.ts. Loaders: loadSnapshot (interactions and items, as
 * always), loadSequences, loadOrders, loadItemDaily, or loadSnapshotTables for the tables a family
 * asks for.
 */
import { type CanonicalEvent, INTERACTION_WEIGHT } from '../events/canonical';
import { readRawEvents } from '../capture/raw-events';
import { type MergeRedirects, redirectEvents } from '../identity/redirects';
import { withoutSuppressed } from '../privacy/suppression';
import type { BlobStore } from '../storage/blob';
import { putNdjsonGzStream } from './ndjson';
import { type ItemDayRow, type OrderRow, type ShopperSequence, SnapshotTablesBuilder, type SnapshotWindow, windowDays } from './tables';

export {
  DAY_MS,
  type ItemDayRow,
  type OrderKind,
  type OrderLine,
  type OrderRow,
  type SequenceEvent,
  type ShopperSequence,
  SnapshotTablesBuilder,
  type SnapshotWindow,
  windowDays,
} from './tables';

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

/**
 * snapshots/<runId>/manifest.json, written last (a manifest means every table it names is complete).
 * The tables beyond interactions and items (shared/snapshots/tables.ts) are optional here:
 * snapshots written before them have neither their keys nor their counts, and still load.
 */
export interface SnapshotManifest {
  runId: string;
  asOf: string;
  holdoutStart: string;
  interactionsKey: string;
  itemsKey: string;
  /** Per-shopper event sequences (NDJSON.gz, one `ShopperSequence` a line). */
  sequencesKey?: string;
  /** Orders, refunds and cancellations (NDJSON.gz, one `OrderRow` a line). */
  ordersKey?: string;
  /** Sparse item × day × channel rows (NDJSON.gz, one `ItemDayRow` a line); `window` lists the days. */
  itemDailyKey?: string;
  /** The UTC days the snapshot covers (item daily: a day without a row is a day with zero of everything). */
  window?: SnapshotWindow;
  counts: {
    events: number;
    interactions: number;
    users: number;
    items: number;
    holdoutUsers: number;
    /** shoppers with a sequence */
    sequences?: number;
    /** events in the sequences */
    sequenceEvents?: number;
    /** purchase rows (one per order id) */
    orders?: number;
    /** refund and cancellation rows */
    refunds?: number;
    /** purchase events dropped because their order id was already seen */
    duplicateOrders?: number;
    /** item daily rows (item × day × channel with any activity) */
    itemDays?: number;
  };
}

/** A manifest as prepareSnapshot writes it now: every table present. */
export type FullSnapshotManifest = SnapshotManifest & Required<Pick<SnapshotManifest, 'sequencesKey' | 'ordersKey' | 'itemDailyKey' | 'window'>>;

export interface SnapshotOptions {
  runId: string;
  /** Point in time: events after it are ignored. Defaults to the newest event. */
  asOf?: string;
  /** Length of the time-based holdout at the end of the window. */
  holdoutDays?: number;
  /** Merge redirects (absorbed profile → survivor): a shopper merged after capture counts as one user. */
  redirects?: MergeRedirects;
}

function addInteractions(event: CanonicalEvent, ts: number, interactions: Interaction[], items: Map<string, ItemMeta>): void {
  for (const item of event.items) {
    interactions.push({ p: event.profileId, i: item.itemId, t: event.type, ts, c: event.channel });
    const meta = items.get(item.itemId) ?? {};
    if (item.category) meta.category = item.category;
    if (item.price !== undefined) meta.price = item.price;
    if (item.name) meta.name = item.name;
    items.set(item.itemId, meta);
  }
}

/** Point-in-time interactions (item events only, deduplicated, time-ordered) plus item metadata. */
export function buildInteractions(events: readonly CanonicalEvent[], asOfMs: number) {
  const interactions: Interaction[] = [];
  const items = new Map<string, ItemMeta>();
  for (const event of events) {
    const ts = Date.parse(event.timestamp);
    if (ts > asOfMs || INTERACTION_WEIGHT[event.type] === undefined) continue;
    addInteractions(event, ts, interactions, items);
  }
  return { interactions, items };
}

/**
 * Everything a snapshot holds, in one pass over the events (time-ordered, as readRawEvents returns
 * them): the interactions and item metadata exactly as buildInteractions makes them, plus the
 * sequences, orders and item daily tables. Events after asOf are left out.
 */
export function buildSnapshot(events: readonly CanonicalEvent[], asOfMs: number) {
  const interactions: Interaction[] = [];
  const items = new Map<string, ItemMeta>();
  const tables = new SnapshotTablesBuilder(asOfMs);
  for (const event of events) {
    const ts = Date.parse(event.timestamp);
    if (ts > asOfMs) continue;
    if (INTERACTION_WEIGHT[event.type] !== undefined) addInteractions(event, ts, interactions, items);
    tables.add(event, ts);
  }
  return { interactions, items, tables };
}

/** Prepares the training snapshot of one retraining run under snapshots/<runId>/. */
export async function prepareSnapshot(blobs: BlobStore, options: SnapshotOptions): Promise<FullSnapshotManifest> {
  // Privacy: erased shoppers (suppression list) never reach a training snapshot.
  const raw = await withoutSuppressed(blobs, await readRawEvents(blobs, options.asOf ? { toDay: options.asOf.slice(0, 10) } : {}));
  const events = redirectEvents(raw, options.redirects);
  const newest = events.at(-1)?.timestamp;
  const asOf = options.asOf ?? newest ?? new Date(0).toISOString();
  const asOfMs = Date.parse(asOf);
  const holdoutStartMs = asOfMs - (options.holdoutDays ?? 7) * 86_400_000;
  const { interactions, items, tables } = buildSnapshot(events, asOfMs);
  const users = new Set(interactions.map((x) => x.p));
  const trainUsers = new Set(interactions.filter((x) => x.ts < holdoutStartMs).map((x) => x.p));
  const holdoutUsers = new Set(interactions.filter((x) => x.ts >= holdoutStartMs && trainUsers.has(x.p)).map((x) => x.p));
  const prefix = `${SNAPSHOTS_PREFIX}${options.runId}/`;
  const manifest: FullSnapshotManifest = {
    runId: options.runId,
    asOf: new Date(asOfMs).toISOString(),
    holdoutStart: new Date(holdoutStartMs).toISOString(),
    interactionsKey: `${prefix}interactions.ndjson.gz`,
    itemsKey: `${prefix}items.json`,
    sequencesKey: `${prefix}sequences.ndjson.gz`,
    ordersKey: `${prefix}orders.ndjson.gz`,
    itemDailyKey: `${prefix}item-daily.ndjson.gz`,
    window: tables.window(),
    counts: {
      events: events.length,
      interactions: interactions.length,
      users: users.size,
      items: items.size,
      holdoutUsers: holdoutUsers.size,
      ...tables.counts,
    },
  };
  // One table at a time. Interactions and items are written exactly as before; the new tables are
  // serialised row by row into a gzip stream (./snapshot/ndjson), so no table exists as one string.
  await blobs.putNdjsonGz(manifest.interactionsKey, interactions);
  await blobs.putJson(manifest.itemsKey, Object.fromEntries(items));
  await putNdjsonGzStream(blobs, manifest.sequencesKey, tables.sequenceRows());
  await putNdjsonGzStream(blobs, manifest.ordersKey, tables.orders);
  await putNdjsonGzStream(blobs, manifest.itemDailyKey, tables.itemDayRows());
  await blobs.putJson(`${prefix}manifest.json`, manifest);
  return manifest;
}

export async function loadSnapshot(blobs: BlobStore, manifest: SnapshotManifest) {
  const interactions = await blobs.getNdjson<Interaction>(manifest.interactionsKey);
  const items = (await blobs.getJson<Record<string, ItemMeta>>(manifest.itemsKey)) ?? {};
  return { interactions, items };
}

/** The item daily table with the days it covers: rows are sparse, `days` lists every day of the window (a day without a row for an item sold nothing). */
export interface ItemDaily {
  days: string[];
  rows: ItemDayRow[];
}

export interface SnapshotTables {
  interactions: Interaction[];
  items: Record<string, ItemMeta>;
  sequences: ShopperSequence[];
  orders: OrderRow[];
  itemDaily: ItemDaily;
}

export type SnapshotTable = keyof SnapshotTables;

/** The snapshot was written before the table existed (or by another writer): a family that needs it cannot train on it. */
export class SnapshotTableMissingError extends Error {
  constructor(
    readonly runId: string,
    readonly table: SnapshotTable,
  ) {
    super(`snapshot ${runId} has no ${table} table (written before snapshots carried it); prepare a new snapshot`);
    this.name = 'SnapshotTableMissingError';
  }
}

function tableKey(manifest: SnapshotManifest, table: 'sequences' | 'orders' | 'itemDaily'): string {
  const key = { sequences: manifest.sequencesKey, orders: manifest.ordersKey, itemDaily: manifest.itemDailyKey }[table];
  if (key === undefined) throw new SnapshotTableMissingError(manifest.runId, table);
  return key;
}

/** The tables of `needs` the snapshot does not carry (an older snapshot). */
export function missingTables(manifest: SnapshotManifest, needs: readonly SnapshotTable[]): SnapshotTable[] {
  const present: Record<SnapshotTable, boolean> = {
    interactions: Boolean(manifest.interactionsKey),
    items: Boolean(manifest.itemsKey),
    sequences: Boolean(manifest.sequencesKey),
    orders: Boolean(manifest.ordersKey),
    itemDaily: Boolean(manifest.itemDailyKey && manifest.window),
  };
  return needs.filter((t) => !present[t]);
}

/** Every UTC day of the snapshot's window, in order. */
export function snapshotDays(manifest: SnapshotManifest): string[] {
  if (!manifest.window) throw new SnapshotTableMissingError(manifest.runId, 'itemDaily');
  return windowDays(manifest.window);
}

export async function loadSequences(blobs: BlobStore, manifest: SnapshotManifest): Promise<ShopperSequence[]> {
  return blobs.getNdjson<ShopperSequence>(tableKey(manifest, 'sequences'));
}

export async function loadOrders(blobs: BlobStore, manifest: SnapshotManifest): Promise<OrderRow[]> {
  return blobs.getNdjson<OrderRow>(tableKey(manifest, 'orders'));
}

export async function loadItemDaily(blobs: BlobStore, manifest: SnapshotManifest): Promise<ItemDaily> {
  const key = tableKey(manifest, 'itemDaily');
  return { days: snapshotDays(manifest), rows: await blobs.getNdjson<ItemDayRow>(key) };
}

/**
 * Loads only the tables a family asks for, e.g. `loadSnapshotTables(blobs, manifest, ['orders', 'sequences'])`.
 * A table the snapshot does not carry (an older snapshot) throws SnapshotTableMissingError before anything is read.
 */
export async function loadSnapshotTables<K extends SnapshotTable>(
  blobs: BlobStore,
  manifest: SnapshotManifest,
  which: readonly K[],
): Promise<Pick<SnapshotTables, K>> {
  const wanted = new Set<SnapshotTable>(which);
  for (const table of wanted) if (table !== 'interactions' && table !== 'items') tableKey(manifest, table);
  const loaders: { [T in SnapshotTable]: () => Promise<SnapshotTables[T]> } = {
    interactions: () => blobs.getNdjson<Interaction>(manifest.interactionsKey),
    items: async () => (await blobs.getJson<Record<string, ItemMeta>>(manifest.itemsKey)) ?? {},
    sequences: () => loadSequences(blobs, manifest),
    orders: () => loadOrders(blobs, manifest),
    itemDaily: () => loadItemDaily(blobs, manifest),
  };
  const out: Partial<SnapshotTables> = {};
  await Promise.all([...wanted].map(async (table) => Object.assign(out, { [table]: await loaders[table]() })));
  return out as Pick<SnapshotTables, K>;
}
