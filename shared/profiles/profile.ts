import type { CanonicalEvent, CanonicalType } from '../capture/events';

/** A recent item interaction kept on the profile, oldest first (input of sequence and item-item models). */
export interface RecentItem {
  itemId: string;
  type: CanonicalType;
  /** Epoch milliseconds of the event. */
  ts: number;
  channel: string;
}

/** The unified shopper profile as the API and the models read it. */
export interface Profile {
  profileId: string;
  userId?: string;
  createdAt: string;
  updatedAt: string;
  lastSeenAt?: string;
  counts: Partial<Record<CanonicalType, number>>;
  channels: Record<string, { events: number; lastSeen?: string }>;
  recentItems: RecentItem[];
  purchased: string[];
  totalRevenue: number;
}

export const RECENT_ITEMS_KEEP = 100;
/** Message ids remembered per profile for idempotent counting. */
export const SEEN_RETENTION_DAYS = 7;
export const SEEN_MAX = 2000;

export function recentItemsOf(event: CanonicalEvent): RecentItem[] {
  const ts = Date.parse(event.timestamp);
  return event.items.map((item) => ({ itemId: item.itemId, type: event.type, ts, channel: event.channel }));
}

/** Profile id derived from the identifiers on an event (identity links may override it). */
export function primaryProfileId(ids: { userId?: string; anonymousId?: string }): string {
  if (ids.userId) return `u:${ids.userId}`;
  if (ids.anonymousId) return `a:${ids.anonymousId}`;
  throw new Error('an event needs a userId or an anonymousId');
}
