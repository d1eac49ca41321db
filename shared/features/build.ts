import type { CanonicalEvent } from '../capture/events';
import { readRawEvents } from '../capture/raw-events';
import { type MergeRedirects, redirectEvents } from '../identity/redirects';
import { withoutSuppressed } from '../privacy/suppression';
import type { BlobStore } from '../storage/blob';

export const FEATURES_PREFIX = 'features/';

/** Per-shopper features (RFM, funnel, channel mix) for propensity, segmentation and ranking. */
export interface UserFeatures {
  profileId: string;
  events: number;
  views: number;
  addsToCart: number;
  purchases: number;
  orders: number;
  revenue: number;
  distinctItems: number;
  channels: string[];
  channelShare: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
  recencyDays: number;
  activeDays: number;
  viewToCartRate: number;
  cartToPurchaseRate: number;
  topCategory: string | null;
}

/** Per-item features (demand, funnel, price) for ranking, pricing and inventory. */
export interface ItemFeatures {
  itemId: string;
  category: string | null;
  name: string | null;
  lastPrice: number | null;
  minPrice: number | null;
  maxPrice: number | null;
  views: number;
  addsToCart: number;
  purchases: number;
  unitsSold: number;
  revenue: number;
  buyers: number;
  viewers: number;
  conversionRate: number;
  unitsLast7Days: number;
  firstSeen: string;
  lastSeen: string;
}

export interface FeatureManifest {
  asOf: string;
  usersKey: string;
  itemsKey: string;
  counts: { events: number; users: number; items: number };
  builtAt: string;
}

const DAY = 86_400_000;
const round = (x: number, digits = 4) => Number(x.toFixed(digits));

function userFeatures(events: readonly CanonicalEvent[], asOfMs: number): UserFeatures[] {
  const acc = new Map<string, { e: CanonicalEvent[] }>();
  for (const e of events) (acc.get(e.profileId) ?? acc.set(e.profileId, { e: [] }).get(e.profileId))?.e.push(e);
  return [...acc].map(([profileId, { e }]) => {
    const count = (type: string) => e.filter((x) => x.type === type).length;
    const views = count('view');
    const addsToCart = count('add_to_cart');
    const purchaseEvents = e.filter((x) => x.type === 'purchase');
    const purchases = purchaseEvents.reduce((n, x) => n + x.items.length, 0);
    const channels = new Map<string, number>();
    const categories = new Map<string, number>();
    const items = new Set<string>();
    for (const x of e) {
      channels.set(x.channel, (channels.get(x.channel) ?? 0) + 1);
      for (const item of x.items) {
        items.add(item.itemId);
        if (item.category) categories.set(item.category, (categories.get(item.category) ?? 0) + 1);
      }
    }
    const first = e[0]?.timestamp ?? '';
    const last = e.at(-1)?.timestamp ?? '';
    return {
      profileId,
      events: e.length,
      views,
      addsToCart,
      purchases,
      orders: purchaseEvents.length,
      revenue: round(purchaseEvents.reduce((s, x) => s + (x.revenue ?? 0), 0), 2),
      distinctItems: items.size,
      channels: [...channels.keys()].sort(),
      channelShare: Object.fromEntries([...channels].map(([c, n]) => [c, round(n / e.length)])),
      firstSeen: first,
      lastSeen: last,
      recencyDays: round((asOfMs - Date.parse(last)) / DAY, 2),
      activeDays: new Set(e.map((x) => x.timestamp.slice(0, 10))).size,
      viewToCartRate: views ? round(addsToCart / views) : 0,
      cartToPurchaseRate: addsToCart ? round(Math.min(1, purchases / addsToCart)) : 0,
      topCategory: [...categories].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null,
    };
  });
}

function itemFeatures(events: readonly CanonicalEvent[], asOfMs: number): ItemFeatures[] {
  const acc = new Map<string, ItemFeatures & { buyerSet: Set<string>; viewerSet: Set<string> }>();
  for (const e of events) {
    for (const item of e.items) {
      let f = acc.get(item.itemId);
      if (!f) {
        f = {
          itemId: item.itemId, category: null, name: null, lastPrice: null, minPrice: null, maxPrice: null,
          views: 0, addsToCart: 0, purchases: 0, unitsSold: 0, revenue: 0, buyers: 0, viewers: 0, conversionRate: 0,
          unitsLast7Days: 0, firstSeen: e.timestamp, lastSeen: e.timestamp, buyerSet: new Set(), viewerSet: new Set(),
        };
        acc.set(item.itemId, f);
      }
      f.lastSeen = e.timestamp;
      if (item.category) f.category = item.category;
      if (item.name) f.name = item.name;
      if (item.price !== undefined) {
        f.lastPrice = item.price;
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
        if (asOfMs - Date.parse(e.timestamp) < 7 * DAY) f.unitsLast7Days += units;
      }
    }
  }
  return [...acc.values()].map(({ buyerSet, viewerSet, ...f }) => ({
    ...f,
    revenue: round(f.revenue, 2),
    buyers: buyerSet.size,
    viewers: viewerSet.size,
    conversionRate: viewerSet.size ? round(buyerSet.size / viewerSet.size) : 0,
  }));
}

/** Builds user and item features from raw events up to `asOf` and writes them under features/. */
export async function buildFeatures(blobs: BlobStore, options: { asOf?: Date; redirects?: MergeRedirects } = {}, now = new Date()): Promise<FeatureManifest> {
  // Privacy: erased shoppers (suppression list) never reach a feature file.
  const raw = await withoutSuppressed(blobs, await readRawEvents(blobs, options.asOf ? { toDay: options.asOf.toISOString().slice(0, 10) } : {}));
  // Shoppers merged after capture count as one user (redirects: absorbed profile → survivor).
  const events = redirectEvents(raw, options.redirects);
  const asOfMs = options.asOf?.getTime() ?? Date.parse(events.at(-1)?.timestamp ?? now.toISOString());
  const inWindow = events.filter((e) => Date.parse(e.timestamp) <= asOfMs);
  const users = userFeatures(inWindow, asOfMs);
  const items = itemFeatures(inWindow, asOfMs);
  const stamp = new Date(asOfMs).toISOString().replace(/[-:.]/g, '');
  const manifest: FeatureManifest = {
    asOf: new Date(asOfMs).toISOString(),
    usersKey: `${FEATURES_PREFIX}asof=${stamp}/users.ndjson.gz`,
    itemsKey: `${FEATURES_PREFIX}asof=${stamp}/items.ndjson.gz`,
    counts: { events: inWindow.length, users: users.length, items: items.length },
    builtAt: now.toISOString(),
  };
  await blobs.putNdjsonGz(manifest.usersKey, users);
  await blobs.putNdjsonGz(manifest.itemsKey, items);
  await blobs.putJson(`${FEATURES_PREFIX}latest.json`, manifest);
  return manifest;
}
