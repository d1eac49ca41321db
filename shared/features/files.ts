import type { ObjectStore } from '../storage/object-store';

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

/**
 * Writes the user and item feature files of one point in time, then features/latest.json (last, so
 * a reader never meets a manifest whose files are missing). Keys depend on asOf only: a retry
 * rewrites the same objects.
 */
export async function writeFeatureFiles(
  blobs: ObjectStore,
  rows: { users: readonly UserFeatures[]; items: readonly ItemFeatures[] },
  stats: { asOfMs: number; events: number },
  now: Date,
): Promise<FeatureManifest> {
  const asOf = new Date(stats.asOfMs).toISOString();
  const stamp = asOf.replace(/[-:.]/g, '');
  const manifest: FeatureManifest = {
    asOf,
    usersKey: `${FEATURES_PREFIX}asof=${stamp}/users.ndjson.gz`,
    itemsKey: `${FEATURES_PREFIX}asof=${stamp}/items.ndjson.gz`,
    counts: { events: stats.events, users: rows.users.length, items: rows.items.length },
    builtAt: now.toISOString(),
  };
  await blobs.putNdjsonGz(manifest.usersKey, rows.users);
  await blobs.putNdjsonGz(manifest.itemsKey, rows.items);
  await blobs.putJson(`${FEATURES_PREFIX}latest.json`, manifest);
  return manifest;
}
