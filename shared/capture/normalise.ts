import type { FieldIssue } from '../http/errors';
import type { CanonicalEvent, CanonicalType, EventItem } from './events';
import { type Channel, MAX_DEPTH, MAX_EVENT_BYTES, type SegmentMessage } from './schema';

const TRACK_TYPES: Record<string, CanonicalType> = {
  'product viewed': 'view',
  'product clicked': 'view',
  'product added': 'add_to_cart',
  'product removed': 'remove_from_cart',
  'cart viewed': 'cart_view',
  'checkout started': 'checkout',
  'order completed': 'purchase',
  'order refunded': 'refund',
  'products searched': 'search',
  'promotion clicked': 'promotion_click',
  'coupon applied': 'coupon_applied',
};

const LIBRARY_CHANNEL: Record<string, Channel> = { browser: 'web', mobile: 'app', server: 'server' };

/** Events may not claim to come from further in the future than this (clock skew allowance). */
const MAX_FUTURE_MS = 24 * 3600 * 1000;

/** Own-property lookup: a name like "constructor" must not reach Object.prototype. */
function lookup<T>(table: Record<string, T>, key: string): T | undefined {
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

/**
 * One bounded walk over the raw message: nesting depth, reserved keys and lone surrogates in keys
 * and strings. It stops at the depth limit, so hostile nesting can never overflow the stack.
 */
function walkIssues(value: unknown, depth: number, found: Set<string>): void {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) found.add('utf16');
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth > MAX_DEPTH) {
    found.add('depth');
    return;
  }
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (RESERVED_KEYS.has(key)) found.add('reserved');
    if (!key.isWellFormed()) found.add('utf16');
    walkIssues(child, depth + 1, found);
  }
}

const WALK_REASONS: Record<string, string> = {
  depth: `is nested deeper than ${MAX_DEPTH} levels`,
  reserved: 'uses a reserved key (__proto__, constructor or prototype)',
  utf16: 'contains invalid UTF-16 (lone surrogate)',
};

/** Checks that zod cannot express: size, nesting, lone surrogates, keys that poison prototypes. */
export function hostileInputIssues(raw: unknown): FieldIssue[] {
  const found = new Set<string>();
  walkIssues(raw, 0, found);
  const issues = [...found].map((kind) => ({ field: '(message)', reason: WALK_REASONS[kind] as string }));
  if (found.has('depth')) return issues; // never stringify what may be nested without bound
  if (Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8') > MAX_EVENT_BYTES) issues.push({ field: '(message)', reason: `is larger than ${MAX_EVENT_BYTES} bytes` });
  return issues;
}

function finiteNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
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
    return products.flatMap((p) => (p && typeof p === 'object' ? (toItem(p as Record<string, unknown>) ?? []) : []));
  }
  const single = toItem(properties);
  return single ? [single] : [];
}

function resolveChannel(message: SegmentMessage): Channel {
  return message.context?.channel ?? lookup(LIBRARY_CHANNEL, message.channel ?? '') ?? 'server';
}

/**
 * When the event happened. Segment's clock-skew rule: with both `sentAt` and `originalTimestamp`
 * from the device clock, timestamp = receivedAt − (sentAt − originalTimestamp).
 */
export function eventTime(message: SegmentMessage, receivedAt: Date, batchSentAt?: string): Date {
  const sentAt = message.sentAt ?? batchSentAt;
  if (message.timestamp) return new Date(message.timestamp);
  if (message.originalTimestamp && sentAt) {
    const skew = Date.parse(sentAt) - Date.parse(message.originalTimestamp);
    return new Date(receivedAt.getTime() - skew);
  }
  if (message.originalTimestamp) return new Date(message.originalTimestamp);
  return receivedAt;
}

export type NormaliseResult = { ok: true; event: Omit<CanonicalEvent, 'profileId'> } | { ok: false; issues: FieldIssue[] };

/** Segment message → canonical event (profile resolved later, by identity). */
export function normalise(message: SegmentMessage, receivedAt: Date, batchSentAt?: string): NormaliseResult {
  const type = canonicalType(message);
  const when = eventTime(message, receivedAt, batchSentAt);
  if (when.getTime() > receivedAt.getTime() + MAX_FUTURE_MS) {
    return { ok: false, issues: [{ field: 'timestamp', reason: 'is more than 24 hours in the future' }] };
  }
  const properties = message.properties ?? {};
  const items = itemsOf(properties);
  if ((type === 'view' || type === 'add_to_cart' || type === 'remove_from_cart') && items.length === 0) {
    return { ok: false, issues: [{ field: 'properties.product_id', reason: `is required for "${message.event}"` }] };
  }
  const event: Omit<CanonicalEvent, 'profileId'> = {
    eventId: message.messageId,
    type,
    channel: resolveChannel(message),
    timestamp: when.toISOString(),
    receivedAt: receivedAt.toISOString(),
    items,
  };
  if (message.event) event.name = message.event;
  if (message.userId) event.userId = message.userId;
  if (message.anonymousId) event.anonymousId = message.anonymousId;
  const revenue = finiteNumber(properties.revenue) ?? finiteNumber(properties.total);
  if (revenue !== undefined) event.revenue = revenue;
  const orderId = text(properties.order_id);
  if (orderId) event.orderId = orderId;
  const query = text(properties.query);
  if (query) event.query = query;
  const storeId = text(message.context?.store_id) ?? text((message.context?.store as { id?: unknown } | undefined)?.id);
  if (storeId) event.storeId = storeId;
  return { ok: true, event };
}
