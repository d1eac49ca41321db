/**
 * The one implementation of the feature aggregation: events are reduced to mergeable partial
 * aggregates, partials are merged, and the merge is finished into the feature rows. The `features`
 * state machine (a Distributed Map over the raw/events/ listing) builds one partial per day partition
 * and merges them in its reduce step; `buildFeatures` (./build) runs the same code over all events
 * as one partition. Unit tests hold any split-and-merge to the whole.
 *
 * Merged shoppers: partials are keyed by the profile id an event was captured under; the redirects
 * (absorbed profile → survivor, shared/identity/redirects.ts) are applied once, to the merged
 * partial (redirectPartial), with ONE map read per job — so the day partials stay valid whatever
 * merges happen while the job runs, and the map batches need no access to the identity graph.
 *
 * Why day partitions: raw storage keys events by their own day (`dt=YYYY-MM-DD`), so duplicates of
 * one event (a client retry that regrouped a batch) always land in the same partition and are
 * removed there, exactly as readRawEvents does over the whole bucket.
 *
 * Order-dependent features (the last category/name/price seen, the first category on ties) keep the
 * position of their event — (timestamp, eventId, item index), the order readRawEvents sorts by —
 * so merging partials in any order gives the monolithic result.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { CanonicalEvent } from '../events/canonical';
import { partitionDay, RAW_EVENTS_PREFIX } from '../capture/raw-events';
import type { MergeRedirects } from '../identity/redirects';
import { loadSuppressedProfiles } from '../privacy/suppression';
import type { ObjectStore } from '../storage/object-store';
import { FEATURES_PREFIX, type FeatureManifest, type ItemFeatures, type UserFeatures, writeFeatureFiles } from './files';

const DAY = 86_400_000;
const round = (x: number, digits = 4) => Number(x.toFixed(digits));

/** Position of an item occurrence in the event stream: [timestamp, eventId, item index]. */
export type Position = [string, string, number];

export function comparePositions(a: Position, b: Position): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[2] - b[2];
}

const earlier = (a: Position, b: Position) => (comparePositions(a, b) <= 0 ? a : b);
const later = (a: Position, b: Position) => (comparePositions(a, b) >= 0 ? a : b);

interface Latest<T> {
  value: T;
  at: Position;
}

const latest = <T>(a: Latest<T> | null, b: Latest<T> | null): Latest<T> | null => (!a ? b : !b ? a : comparePositions(a.at, b.at) >= 0 ? a : b);

export interface UserPartial {
  profileId: string;
  first: Position;
  last: Position;
  events: number;
  views: number;
  addsToCart: number;
  purchasedItems: number;
  orders: number;
  revenue: number;
  items: string[];
  channels: Record<string, number>;
  categories: Record<string, { n: number; first: Position }>;
  days: string[];
}

export interface ItemPartial {
  itemId: string;
  first: Position;
  last: Position;
  category: Latest<string> | null;
  name: Latest<string> | null;
  lastPrice: Latest<number> | null;
  minPrice: number | null;
  maxPrice: number | null;
  views: number;
  addsToCart: number;
  purchases: number;
  unitsSold: number;
  revenue: number;
  buyers: string[];
  viewers: string[];
  /** [epoch ms, units] of each purchase line, for the units sold in the 7 days before asOf. */
  sales: [number, number][];
}

/** The mergeable aggregates of a set of events (one day partition, or many merged). */
export interface FeaturePartial {
  events: number;
  /** Newest event timestamp (the default asOf). */
  maxTimestamp: string | null;
  users: UserPartial[];
  items: ItemPartial[];
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

function sumRecord(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

type UserAcc = UserPartial & { itemSet: Set<string>; daySet: Set<string> };
type ItemAcc = ItemPartial & { buyerSet: Set<string>; viewerSet: Set<string> };

function newUser(profileId: string, at: Position): UserAcc {
  return {
    profileId,
    first: at,
    last: at,
    events: 0,
    views: 0,
    addsToCart: 0,
    purchasedItems: 0,
    orders: 0,
    revenue: 0,
    items: [],
    channels: {},
    categories: {},
    days: [],
    itemSet: new Set(),
    daySet: new Set(),
  };
}

function newItem(itemId: string, at: Position): ItemAcc {
  return {
    itemId,
    first: at,
    last: at,
    category: null,
    name: null,
    lastPrice: null,
    minPrice: null,
    maxPrice: null,
    views: 0,
    addsToCart: 0,
    purchases: 0,
    unitsSold: 0,
    revenue: 0,
    buyers: [],
    viewers: [],
    sales: [],
    buyerSet: new Set(),
    viewerSet: new Set(),
  };
}

function addToUser(u: UserAcc, e: CanonicalEvent): void {
  const at: Position = [e.timestamp, e.eventId, -1];
  u.first = earlier(u.first, at);
  u.last = later(u.last, at);
  u.events += 1;
  if (e.type === 'view') u.views += 1;
  else if (e.type === 'add_to_cart') u.addsToCart += 1;
  else if (e.type === 'purchase') {
    u.orders += 1;
    u.purchasedItems += e.items.length;
    u.revenue += e.revenue ?? 0;
  }
  u.channels[e.channel] = (u.channels[e.channel] ?? 0) + 1;
  u.daySet.add(e.timestamp.slice(0, 10));
  e.items.forEach((item, index) => {
    u.itemSet.add(item.itemId);
    if (!item.category) return;
    const pos: Position = [e.timestamp, e.eventId, index];
    const c = u.categories[item.category];
    u.categories[item.category] = c ? { n: c.n + 1, first: earlier(c.first, pos) } : { n: 1, first: pos };
  });
}

function addToItem(f: ItemAcc, e: CanonicalEvent, item: CanonicalEvent['items'][number], pos: Position): void {
  f.first = earlier(f.first, pos);
  f.last = later(f.last, pos);
  if (item.category) f.category = latest(f.category, { value: item.category, at: pos });
  if (item.name) f.name = latest(f.name, { value: item.name, at: pos });
  if (item.price !== undefined) {
    f.lastPrice = latest(f.lastPrice, { value: item.price, at: pos });
    f.minPrice = Math.min(f.minPrice ?? item.price, item.price);
    f.maxPrice = Math.max(f.maxPrice ?? item.price, item.price);
  }
  if (e.type === 'view') {
    f.views += 1;
    f.viewerSet.add(e.profileId);
  } else if (e.type === 'add_to_cart') f.addsToCart += 1;
  else if (e.type === 'purchase') {
    const units = item.quantity ?? 1;
    f.purchases += 1;
    f.unitsSold += units;
    f.revenue += units * (item.price ?? 0);
    f.buyerSet.add(e.profileId);
    f.sales.push([Date.parse(e.timestamp), units]);
  }
}

/** Aggregates events (already de-duplicated, in window, without suppressed shoppers) into a partial. */
export function partialFromEvents(events: readonly CanonicalEvent[]): FeaturePartial {
  const users = new Map<string, UserAcc>();
  const items = new Map<string, ItemAcc>();
  let maxTimestamp: string | null = null;
  for (const e of events) {
    if (maxTimestamp === null || e.timestamp > maxTimestamp) maxTimestamp = e.timestamp;
    const user = users.get(e.profileId) ?? users.set(e.profileId, newUser(e.profileId, [e.timestamp, e.eventId, -1])).get(e.profileId);
    if (user) addToUser(user, e);
    e.items.forEach((item, index) => {
      const pos: Position = [e.timestamp, e.eventId, index];
      const f = items.get(item.itemId) ?? items.set(item.itemId, newItem(item.itemId, pos)).get(item.itemId);
      if (f) addToItem(f, e, item, pos);
    });
  }
  return {
    events: events.length,
    maxTimestamp,
    users: [...users.values()].map(({ itemSet, daySet, ...u }) => ({ ...u, items: [...itemSet].sort(), days: [...daySet].sort() })),
    items: [...items.values()].map(({ buyerSet, viewerSet, ...f }) => ({ ...f, buyers: [...buyerSet].sort(), viewers: [...viewerSet].sort() })),
  };
}

function mergeUser(a: UserPartial, b: UserPartial): UserPartial {
  const categories = { ...a.categories };
  for (const [k, v] of Object.entries(b.categories)) {
    const c = categories[k];
    categories[k] = c ? { n: c.n + v.n, first: earlier(c.first, v.first) } : v;
  }
  return {
    profileId: a.profileId,
    first: earlier(a.first, b.first),
    last: later(a.last, b.last),
    events: a.events + b.events,
    views: a.views + b.views,
    addsToCart: a.addsToCart + b.addsToCart,
    purchasedItems: a.purchasedItems + b.purchasedItems,
    orders: a.orders + b.orders,
    revenue: a.revenue + b.revenue,
    items: union(a.items, b.items),
    channels: sumRecord(a.channels, b.channels),
    categories,
    days: union(a.days, b.days),
  };
}

function mergeItem(a: ItemPartial, b: ItemPartial): ItemPartial {
  const min = (x: number | null, y: number | null) => (x === null ? y : y === null ? x : Math.min(x, y));
  const max = (x: number | null, y: number | null) => (x === null ? y : y === null ? x : Math.max(x, y));
  return {
    itemId: a.itemId,
    first: earlier(a.first, b.first),
    last: later(a.last, b.last),
    category: latest(a.category, b.category),
    name: latest(a.name, b.name),
    lastPrice: latest(a.lastPrice, b.lastPrice),
    minPrice: min(a.minPrice, b.minPrice),
    maxPrice: max(a.maxPrice, b.maxPrice),
    views: a.views + b.views,
    addsToCart: a.addsToCart + b.addsToCart,
    purchases: a.purchases + b.purchases,
    unitsSold: a.unitsSold + b.unitsSold,
    revenue: a.revenue + b.revenue,
    buyers: union(a.buyers, b.buyers),
    viewers: union(a.viewers, b.viewers),
    sales: [...a.sales, ...b.sales],
  };
}

/** Merges partials (associative and commutative up to floating-point summation order). */
export function mergePartials(partials: Iterable<FeaturePartial>): FeaturePartial {
  const users = new Map<string, UserPartial>();
  const items = new Map<string, ItemPartial>();
  let events = 0;
  let maxTimestamp: string | null = null;
  for (const p of partials) {
    events += p.events;
    if (p.maxTimestamp !== null && (maxTimestamp === null || p.maxTimestamp > maxTimestamp)) maxTimestamp = p.maxTimestamp;
    for (const u of p.users) {
      const seen = users.get(u.profileId);
      users.set(u.profileId, seen ? mergeUser(seen, u) : u);
    }
    for (const f of p.items) {
      const seen = items.get(f.itemId);
      items.set(f.itemId, seen ? mergeItem(seen, f) : f);
    }
  }
  return { events, maxTimestamp, users: [...users.values()], items: [...items.values()] };
}

/**
 * The partial as if every event of an absorbed profile had been captured under its survivor: user
 * aggregates of one shopper merged (earliest first, so per-channel counts keep first-appearance
 * order), item buyers and viewers re-counted as distinct survivors.
 */
export function redirectPartial(partial: FeaturePartial, redirects: MergeRedirects | undefined): FeaturePartial {
  if (!redirects || redirects.size === 0) return partial;
  const to = (id: string) => redirects.get(id) ?? id;
  const users = new Map<string, UserPartial>();
  for (const u of [...partial.users].sort((a, b) => comparePositions(a.first, b.first))) {
    const id = to(u.profileId);
    const moved = id === u.profileId ? u : { ...u, profileId: id };
    const seen = users.get(id);
    users.set(id, seen ? mergeUser(seen, moved) : moved);
  }
  const remap = (ids: readonly string[]) => [...new Set(ids.map(to))].sort();
  return {
    ...partial,
    users: [...users.values()],
    items: partial.items.map((f) => ({ ...f, buyers: remap(f.buyers), viewers: remap(f.viewers) })),
  };
}

/** The feature rows of a (merged) partial as of `asOfMs`, in order of first appearance. */
export function finishFeatures(partial: FeaturePartial, asOfMs: number): { users: UserFeatures[]; items: ItemFeatures[] } {
  const users = [...partial.users]
    .sort((a, b) => comparePositions(a.first, b.first))
    .map((u): UserFeatures => {
      const topCategory = Object.entries(u.categories).sort((a, b) => b[1].n - a[1].n || comparePositions(a[1].first, b[1].first))[0]?.[0] ?? null;
      return {
        profileId: u.profileId,
        events: u.events,
        views: u.views,
        addsToCart: u.addsToCart,
        purchases: u.purchasedItems,
        orders: u.orders,
        revenue: round(u.revenue, 2),
        distinctItems: u.items.length,
        channels: Object.keys(u.channels).sort(),
        channelShare: Object.fromEntries(Object.entries(u.channels).map(([c, n]) => [c, round(n / u.events)])),
        firstSeen: u.first[0],
        lastSeen: u.last[0],
        recencyDays: round((asOfMs - Date.parse(u.last[0])) / DAY, 2),
        activeDays: u.days.length,
        viewToCartRate: u.views ? round(u.addsToCart / u.views) : 0,
        cartToPurchaseRate: u.addsToCart ? round(Math.min(1, u.purchasedItems / u.addsToCart)) : 0,
        topCategory,
      };
    });
  const items = [...partial.items]
    .sort((a, b) => comparePositions(a.first, b.first))
    .map(
      (f): ItemFeatures => ({
        itemId: f.itemId,
        category: f.category?.value ?? null,
        name: f.name?.value ?? null,
        lastPrice: f.lastPrice?.value ?? null,
        minPrice: f.minPrice,
        maxPrice: f.maxPrice,
        views: f.views,
        addsToCart: f.addsToCart,
        purchases: f.purchases,
        unitsSold: f.unitsSold,
        revenue: round(f.revenue, 2),
        buyers: f.buyers.length,
        viewers: f.viewers.length,
        conversionRate: f.viewers.length ? round(f.buyers.length / f.viewers.length) : 0,
        unitsLast7Days: f.sales.reduce((sum, [ts, units]) => (asOfMs - ts < 7 * DAY ? sum + units : sum), 0),
        firstSeen: f.first[0],
        lastSeen: f.last[0],
      }),
    );
  return { users, items };
}

// ------------------------------------------------------------------------------------------ storage

export const featureJobPrefix = (jobId: string) => `${FEATURES_PREFIX}jobs/${jobId}/`;
export const partialKey = (jobId: string, day: string) => `${featureJobPrefix(jobId)}partials/dt=${day}.json.gz`;

const JOB_ID = /^[A-Za-z0-9._-]{1,80}$/;

export class FeatureJobInputError extends Error {
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'FeatureJobInputError';
  }
}

export interface FeatureJobRequest {
  /** Point in time (ISO); default: the newest event. */
  asOf?: string;
}

export function checkJob(jobId: unknown, request: unknown): { jobId: string; asOfMs?: number } {
  if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) throw new FeatureJobInputError('jobId', `must match ${JOB_ID.source}`);
  const asOf = (request as FeatureJobRequest | undefined)?.asOf;
  if (asOf === undefined || asOf === null) return { jobId };
  const ms = typeof asOf === 'string' ? Date.parse(asOf) : Number.NaN;
  if (!Number.isFinite(ms)) throw new FeatureJobInputError('request.asOf', 'must be an ISO 8601 date-time');
  return { jobId, asOfMs: ms };
}

/** Reads one day partition: de-duplicated by event id, sorted, in window, without suppressed shoppers. */
async function readDay(blobs: ObjectStore, keys: readonly string[], asOfMs: number | undefined, suppressed: ReadonlySet<string>) {
  const byId = new Map<string, CanonicalEvent>();
  for (const key of keys) for (const e of await blobs.getNdjson<CanonicalEvent>(key)) if (!byId.has(e.eventId)) byId.set(e.eventId, e);
  return [...byId.values()]
    .filter((e) => !suppressed.has(e.profileId) && (asOfMs === undefined || Date.parse(e.timestamp) <= asOfMs))
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.eventId < b.eventId ? -1 : 1));
}

/** Builds and writes the partial of one day partition (a retry rewrites the same object). */
export async function buildDayPartial(
  blobs: ObjectStore,
  jobId: string,
  day: string,
  asOfMs: number | undefined,
  suppressed: ReadonlySet<string>,
): Promise<{ day: string; events: number; key: string }> {
  const keys = await blobs.listKeys(`${RAW_EVENTS_PREFIX}dt=${day}/`);
  const partial = partialFromEvents(await readDay(blobs, keys, asOfMs, suppressed));
  const key = partialKey(jobId, day);
  await blobs.putBytes(key, gzipSync(JSON.stringify(partial)), 'application/json', { contentEncoding: 'gzip' });
  return { day, events: partial.events, key };
}

export interface PartitionBatchResult {
  jobId: string;
  /** Day partitions this batch owned and reduced. */
  built: { day: string; events: number }[];
  /** Day partitions owned by another batch (it holds their first object). */
  skipped: string[];
}

/**
 * The Distributed Map's per-batch task. Items are raw-event objects; a day partition is reduced by
 * the batch that holds its first object (in key order), so each day is read once and whole — the
 * reduce step builds any day no batch claimed (objects written after the listing).
 */
export async function runPartitionBatch(
  blobs: ObjectStore,
  input: { Items?: { Key?: string }[]; BatchInput?: { jobId?: unknown; request?: unknown } },
): Promise<PartitionBatchResult> {
  const { jobId, asOfMs } = checkJob(input.BatchInput?.jobId, input.BatchInput?.request);
  const keys = new Set((input.Items ?? []).map((i) => i.Key).filter((k): k is string => typeof k === 'string' && k.startsWith(RAW_EVENTS_PREFIX)));
  const days = [...new Set([...keys].map(partitionDay).filter((d): d is string => d !== undefined))].sort();
  const asOfDay = asOfMs === undefined ? undefined : new Date(asOfMs).toISOString().slice(0, 10);
  const suppressed = await loadSuppressedProfiles(blobs);
  const result: PartitionBatchResult = { jobId, built: [], skipped: [] };
  for (const day of days) {
    if (asOfDay !== undefined && day > asOfDay) continue;
    const first = (await blobs.listKeys(`${RAW_EVENTS_PREFIX}dt=${day}/`))[0];
    if (first === undefined || !keys.has(first)) {
      result.skipped.push(day);
      continue;
    }
    const built = await buildDayPartial(blobs, jobId, day, asOfMs, suppressed);
    result.built.push({ day, events: built.events });
  }
  return result;
}

/** Day partitions under raw/events/ (the `dt=<day>` folders). */
export async function listRawDays(blobs: ObjectStore): Promise<string[]> {
  const days: string[] = [];
  for (const folder of await blobs.listFolders(RAW_EVENTS_PREFIX)) {
    const day = partitionDay(`${RAW_EVENTS_PREFIX}${folder}/`);
    if (day) days.push(day);
  }
  return days.sort();
}

export interface ReduceResult {
  manifest: FeatureManifest;
  days: number;
  /** Days no map batch had claimed, built by the reduce itself. */
  builtByReduce: string[];
}

/**
 * The reduce step: builds missing days, merges every partial, moves merged shoppers to their
 * survivor (`redirects`, read once for the job) and writes the feature files like buildFeatures.
 */
export async function reduceFeatureJob(
  blobs: ObjectStore,
  input: { jobId?: unknown; request?: unknown },
  options: { redirects?: MergeRedirects; now?: Date } = {},
): Promise<ReduceResult> {
  const now = options.now ?? new Date();
  const { jobId, asOfMs } = checkJob(input.jobId, input.request);
  const asOfDay = asOfMs === undefined ? undefined : new Date(asOfMs).toISOString().slice(0, 10);
  const days = (await listRawDays(blobs)).filter((d) => asOfDay === undefined || d <= asOfDay);
  const present = new Set((await blobs.listKeys(`${featureJobPrefix(jobId)}partials/`)).map((k) => /dt=(\d{4}-\d{2}-\d{2})\.json\.gz$/.exec(k)?.[1]));
  const missing = days.filter((d) => !present.has(d));
  if (missing.length) {
    const suppressed = await loadSuppressedProfiles(blobs);
    for (const day of missing) await buildDayPartial(blobs, jobId, day, asOfMs, suppressed);
  }
  const partials: FeaturePartial[] = [];
  for (const day of days) {
    const bytes = await blobs.getBytes(partialKey(jobId, day));
    if (!bytes) throw new Error(`feature job ${jobId}: partial of day ${day} vanished`);
    partials.push(JSON.parse(gunzipSync(bytes).toString('utf8')) as FeaturePartial);
  }
  const merged = redirectPartial(mergePartials(partials), options.redirects);
  const effectiveAsOf = asOfMs ?? Date.parse(merged.maxTimestamp ?? now.toISOString());
  const manifest = await writeFeatureFiles(blobs, finishFeatures(merged, effectiveAsOf), { asOfMs: effectiveAsOf, events: merged.events }, now);
  return { manifest, days: days.length, builtByReduce: missing };
}
