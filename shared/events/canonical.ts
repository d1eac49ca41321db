/** Sales channels the stack knows. `server` is a back-office integration without a storefront. */
export const CHANNELS = ['web', 'app', 'mini_program', 'pos', 'call_center', 'marketplace', 'server'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * Canonical event types every model reads; Segment's e-commerce spec names map onto them
 * (shared/capture/normalise.ts, TRACK_TYPES). Existing names are never renamed: raw storage,
 * profile counters (`cnt_<type>`) and trained models depend on them.
 */
export type CanonicalType =
  | 'view'
  | 'add_to_cart'
  | 'remove_from_cart'
  | 'cart_view'
  | 'checkout'
  | 'checkout_step'
  | 'payment_info'
  | 'purchase'
  | 'order_update'
  | 'refund'
  | 'order_cancel'
  | 'search'
  | 'list_view'
  | 'promotion_view'
  | 'promotion_click'
  | 'coupon_entered'
  | 'coupon_applied'
  | 'coupon_denied'
  | 'coupon_removed'
  | 'add_to_wishlist'
  | 'remove_from_wishlist'
  | 'share'
  | 'review'
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
  /** The event name as sent (e.g. "Order Completed"; a page or screen name for page/screen). */
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
  /** Store till / store app: `context.store.id` or `context.store_id`. */
  storeId?: string;
  /** `context.device.id` (a till, a kiosk, a phone). */
  deviceId?: string;
  /** Call centre: the agent who placed the order (`context.agent.id`). */
  agentId?: string;
  /** Marketplace channel: `context.marketplace.name` (e.g. "amazon"). */
  marketplace?: string;
  /** `properties.recommendation_id`: joins impressions and clicks to the served list. */
  recommendationId?: string;
  /** `properties.list_id` of Product List Viewed / Product Clicked. */
  listId?: string;
  /** `properties.promotion_id` of Promotion Viewed / Clicked. */
  promotionId?: string;
  /** `properties.coupon` / `coupon_id` of the coupon events. */
  coupon?: string;
  /** `properties.step` of Checkout Step Viewed / Completed. */
  step?: number;
}

/**
 * The identity-bearing parts of the message (ids, traits, context), by reference, for identity
 * resolution (`resolveProfiles`, shared/identity: emails, phones, device ids, consent …). Raw
 * storage never writes it: `rawEventLine` drops it, so raw values of personal identifiers never
 * reach S3 through the capture path.
 */
export interface IdentitySourceFields {
  type: string;
  userId?: string;
  anonymousId?: string;
  previousId?: string;
  groupId?: string;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

/** A validated, normalised event before its profile is resolved. */
export type PendingEvent = Omit<CanonicalEvent, 'profileId'> & { identitySource?: IdentitySourceFields };

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
