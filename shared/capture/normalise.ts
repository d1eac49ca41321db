import type { FieldIssue } from '../http/errors';
import type { CanonicalType, Channel, EventItem, IdentitySourceFields, PendingEvent } from '../events/canonical';
import { MAX_DEPTH, MAX_EVENT_BYTES, type SegmentMessage } from './schema';

/**
 * Segment's e-commerce spec (v2) → canonical types, by lower-cased event name.
 * https://segment.com/docs/connections/spec/ecommerce/v2/
 */
export const TRACK_TYPES: Readonly<Record<string, CanonicalType>> = {
  // Browsing
  'products searched': 'search',
  'product list viewed': 'list_view',
  'product list filtered': 'list_view',
  // Core ordering
  'product viewed': 'view',
  'product clicked': 'view',
  'product added': 'add_to_cart',
  'product removed': 'remove_from_cart',
  'cart viewed': 'cart_view',
  'checkout started': 'checkout',
  'checkout step viewed': 'checkout_step',
  'checkout step completed': 'checkout_step',
  'payment info entered': 'payment_info',
  'order completed': 'purchase',
  'order updated': 'order_update',
  'order refunded': 'refund',
  'order cancelled': 'order_cancel',
  // Promotions and coupons
  'promotion viewed': 'promotion_view',
  'promotion clicked': 'promotion_click',
  'coupon entered': 'coupon_entered',
  'coupon applied': 'coupon_applied',
  'coupon denied': 'coupon_denied',
  'coupon removed': 'coupon_removed',
  // Wishlisting, sharing, reviewing
  'product added to wishlist': 'add_to_wishlist',
  'product removed from wishlist': 'remove_from_wishlist',
  'wishlist product added to cart': 'add_to_cart',
  'product shared': 'share',
  'cart shared': 'share',
  'product reviewed': 'review',
};

/** Types that mean nothing without the product they are about. */
const NEEDS_ITEM = new Set<CanonicalType>(['view', 'add_to_cart', 'remove_from_cart']);

const LIBRARY_CHANNEL: Record<string, Channel> = { browser: 'web', mobile: 'app', server: 'server' };

/** Events may not claim to come from further in the future than this (clock skew allowance). */
const MAX_FUTURE_MS = 24 * 3600 * 1000;

/** Own-property lookup: a name like "constructor" must not reach Object.prototype. */
function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export function canonicalType(message: SegmentMessage): CanonicalType {
  switch (message.type) {
    case 'track':
      return lookup(TRACK_TYPES, (message.event ?? '').trim().toLowerCase()) ?? 'custom';
    case 'page':
      return 'page_view';
    case 'screen':
      return 'screen_view';
    default:
      return message.type;
  }
}

const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Upper bound of the UTF-8 JSON size of any number, literal or punctuation around one value. */
const SCALAR_BOUND = 32;

interface Walk {
  found: Set<string>;
  /** An upper bound of the message's JSON size in bytes (6 bytes per UTF-16 unit covers \u escapes). */
  bound: number;
}

/**
 * One bounded walk over the raw message: nesting depth, reserved keys and lone surrogates in keys
 * and strings, and a cheap upper bound of its serialised size. It stops at the depth limit, so
 * hostile nesting can never overflow the stack.
 */
function walkIssues(value: unknown, depth: number, walk: Walk): void {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) walk.found.add('utf16');
    walk.bound += 6 * value.length + 3;
    return;
  }
  if (value === null || typeof value !== 'object') {
    walk.bound += SCALAR_BOUND;
    return;
  }
  if (depth > MAX_DEPTH) {
    walk.found.add('depth');
    return;
  }
  walk.bound += 2;
  if (Array.isArray(value)) {
    for (const child of value) walkIssues(child, depth + 1, walk);
    return;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (RESERVED_KEYS.has(key)) walk.found.add('reserved');
    if (!key.isWellFormed()) walk.found.add('utf16');
    walk.bound += 6 * key.length + 4;
    walkIssues((value as Record<string, unknown>)[key], depth + 1, walk);
  }
}

const WALK_REASONS: Record<string, string> = {
  depth: `is nested deeper than ${MAX_DEPTH} levels`,
  reserved: 'uses a reserved key (__proto__, constructor or prototype)',
  utf16: 'contains invalid UTF-16 (lone surrogate)',
};

/** Checks that zod cannot express: size, nesting, lone surrogates, keys that poison prototypes. */
export function hostileInputIssues(raw: unknown): FieldIssue[] {
  const walk: Walk = { found: new Set<string>(), bound: 0 };
  walkIssues(raw, 0, walk);
  const issues = [...walk.found].map((kind) => ({ field: '(message)', reason: WALK_REASONS[kind] as string }));
  if (walk.found.has('depth')) return issues; // never stringify what may be nested without bound
  // Serialise only when the cheap bound cannot rule the limit out (rare: messages over ~5 KB).
  if (walk.bound > MAX_EVENT_BYTES && Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8') > MAX_EVENT_BYTES) {
    issues.push({ field: '(message)', reason: `is larger than ${MAX_EVENT_BYTES} bytes` });
  }
  return issues;
}

function finiteNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function toItem(product: Record<string, unknown>): EventItem | undefined {
  const itemId = text(product.product_id) ?? text(product.sku) ?? text(product.id);
  if (!itemId) return undefined;
  const item: EventItem = { itemId };
  const price = finiteNumber(product.price);
  const quantity = finiteNumber(product.quantity);
  const category = text(product.category);
  const name = text(product.name);
  if (price !== undefined) item.price = price;
  if (quantity !== undefined) item.quantity = quantity;
  if (category) item.category = category;
  if (name) item.name = name;
  return item;
}

function itemsOf(properties: Record<string, unknown>): EventItem[] {
  const products = properties.products;
  if (Array.isArray(products)) {
    const items: EventItem[] = [];
    for (const p of products) {
      const product = record(p);
      const item = product && toItem(product);
      if (item) items.push(item);
    }
    return items;
  }
  const single = toItem(properties);
  return single ? [single] : [];
}

function resolveChannel(message: SegmentMessage): Channel {
  return message.context?.channel ?? lookup(LIBRARY_CHANNEL, message.channel ?? '') ?? 'server';
}

/**
 * When the event happened, with Segment's clock-skew rule
 * `timestamp = receivedAt − (sentAt − originalTimestamp)` whenever a `sentAt` (the message's own or
 * the batch's) says when the device sent it:
 * - `timestamp` and `originalTimestamp` both given: `timestamp` was corrected upstream; trusted.
 * - `originalTimestamp` only, or `timestamp` only (what Segment's libraries send: the device clock
 *   at the call), with a `sentAt`: corrected by the device clock's offset.
 * - no `sentAt`: the given time as is; no time at all: `receivedAt`.
 */
export function eventTime(message: SegmentMessage, receivedAt: Date, batchSentAt?: string): Date {
  if (message.timestamp && message.originalTimestamp) return new Date(message.timestamp);
  const deviceTime = message.originalTimestamp ?? message.timestamp;
  if (!deviceTime) return receivedAt;
  const sentAt = message.sentAt ?? batchSentAt;
  if (!sentAt) return new Date(deviceTime);
  return new Date(receivedAt.getTime() - (Date.parse(sentAt) - Date.parse(deviceTime)));
}

function identitySource(message: SegmentMessage): IdentitySourceFields {
  const source: IdentitySourceFields = { type: message.type };
  if (message.userId) source.userId = message.userId;
  if (message.anonymousId) source.anonymousId = message.anonymousId;
  if (message.previousId) source.previousId = message.previousId;
  if (message.groupId) source.groupId = message.groupId;
  if (message.traits) source.traits = message.traits;
  if (message.context) source.context = message.context;
  return source;
}

function canonicalTimestamp(message: SegmentMessage, when: Date): string {
  const given = message.timestamp ?? message.originalTimestamp;
  return given !== undefined && CANONICAL_ISO.test(given) && Date.parse(given) === when.getTime() ? given : when.toISOString();
}

export type NormaliseResult = { ok: true; event: PendingEvent } | { ok: false; issues: FieldIssue[] };

/** ISO form of the last receivedAt seen: one batch shares one receivedAt, so it is formatted once. */
let lastReceived: { ms: number; iso: string } = { ms: Number.NaN, iso: '' };
function receivedIso(receivedAt: Date): string {
  const ms = receivedAt.getTime();
  if (ms !== lastReceived.ms) lastReceived = { ms, iso: receivedAt.toISOString() };
  return lastReceived.iso;
}

/** Already in the canonical form toISOString() would give (UTC, milliseconds): reused as is. */
const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** When the event happened, or the issue that refuses its time. */
function checkedTime(message: SegmentMessage, receivedAt: Date, batchSentAt?: string): Date | FieldIssue {
  const when = eventTime(message, receivedAt, batchSentAt);
  const whenMs = when.getTime();
  if (!Number.isFinite(whenMs) || whenMs < 0) return { field: 'timestamp', reason: 'is not a point in time after 1970-01-01 (after clock-skew correction)' };
  if (whenMs > receivedAt.getTime() + MAX_FUTURE_MS) return { field: 'timestamp', reason: 'is more than 24 hours in the future' };
  return when;
}

/** Order, search, list, promotion, coupon and checkout-step fields from `properties`. */
function addPropertyFields(event: PendingEvent, properties: Record<string, unknown>): void {
  const revenue = finiteNumber(properties.revenue) ?? finiteNumber(properties.total);
  if (revenue !== undefined) event.revenue = revenue;
  const orderId = text(properties.order_id);
  if (orderId) event.orderId = orderId;
  const query = text(properties.query);
  if (query) event.query = query;
  const recommendationId = text(properties.recommendation_id);
  if (recommendationId) event.recommendationId = recommendationId;
  const listId = text(properties.list_id);
  if (listId) event.listId = listId;
  const promotionId = text(properties.promotion_id);
  if (promotionId) event.promotionId = promotionId;
  const coupon = text(properties.coupon) ?? text(properties.coupon_id);
  if (coupon) event.coupon = coupon;
  const step = finiteNumber(properties.step);
  if (step !== undefined) event.step = step;
}

/** Store till, device, call-centre agent and marketplace from `context`. */
function addContextFields(event: PendingEvent, context: Record<string, unknown>): void {
  const storeId = text(context.store_id) ?? text(record(context.store)?.id);
  if (storeId) event.storeId = storeId;
  const deviceId = text(record(context.device)?.id);
  if (deviceId) event.deviceId = deviceId;
  const agentId = text(record(context.agent)?.id) ?? text(context.agent_id);
  if (agentId) event.agentId = agentId;
  const marketplace = text(record(context.marketplace)?.name) ?? text(context.marketplace);
  if (marketplace) event.marketplace = marketplace;
}

/** Segment message → canonical event (profile resolved later, by identity). */
export function normalise(message: SegmentMessage, receivedAt: Date, batchSentAt?: string): NormaliseResult {
  const type = canonicalType(message);
  const when = checkedTime(message, receivedAt, batchSentAt);
  if (!(when instanceof Date)) return { ok: false, issues: [when] };
  const properties = message.properties ?? {};
  const items = itemsOf(properties);
  if (NEEDS_ITEM.has(type) && items.length === 0) {
    return { ok: false, issues: [{ field: 'properties.product_id', reason: `is required for "${message.event}"` }] };
  }
  const event: PendingEvent = {
    eventId: message.messageId,
    type,
    channel: resolveChannel(message),
    timestamp: canonicalTimestamp(message, when),
    receivedAt: receivedIso(receivedAt),
    items,
  };
  const name = message.event ?? (message.type === 'page' || message.type === 'screen' ? text(message.name) : undefined);
  if (name) event.name = name;
  if (message.userId) event.userId = message.userId;
  if (message.anonymousId) event.anonymousId = message.anonymousId;
  addPropertyFields(event, properties);
  if (message.context) addContextFields(event, message.context);
  event.identitySource = identitySource(message);
  return { ok: true, event };
}
