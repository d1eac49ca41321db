import type { Channel } from './schema';

/** Canonical event types every model reads; Segment's e-commerce spec names map onto them. */
export type CanonicalType =
  | 'view'
  | 'add_to_cart'
  | 'remove_from_cart'
  | 'cart_view'
  | 'checkout'
  | 'purchase'
  | 'refund'
  | 'search'
  | 'promotion_click'
  | 'coupon_applied'
  | 'page_view'
  | 'screen_view'
  | 'identify'
  | 'alias'
  | 'group'
  | 'custom';

export interface EventItem {
  itemId: string;
  price?: number;
  quantity?: number;
  category?: string;
  name?: string;
}

/** What raw storage keeps and every job reads: one shape whatever the channel. */
export interface CanonicalEvent {
  eventId: string;
  type: CanonicalType;
  /** The event name as sent (e.g. "Order Completed"). */
  name?: string;
  profileId: string;
  userId?: string;
  anonymousId?: string;
  channel: Channel;
  /** When it happened (ISO), corrected for client clock skew when `sentAt` allows. */
  timestamp: string;
  receivedAt: string;
  items: EventItem[];
  revenue?: number;
  orderId?: string;
  query?: string;
  storeId?: string;
}

/** Interaction strength of each canonical type for implicit-feedback models. */
export const INTERACTION_WEIGHT: Partial<Record<CanonicalType, number>> = {
  view: 1,
  add_to_cart: 3,
  checkout: 3,
  purchase: 5,
};

export function isItemEvent(event: Pick<CanonicalEvent, 'type' | 'items'>): boolean {
  return event.items.length > 0 && INTERACTION_WEIGHT[event.type] !== undefined;
}
