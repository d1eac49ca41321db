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

export function canonicalType(message: SegmentMessage): CanonicalType {
  switch (message.type) {
    case 'track':
      return TRACK_TYPES[(message.event ?? '').trim().toLowerCase()] ?? 'custom';
    case 'page':
      return 'page_view';
    case 'screen':
      return 'screen_view';
    default:
      return message.type;
  }
}

/** Depth of nested objects/arrays; stops counting past the limit. */
function depthExceeds(value: unknown, limit: number, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (depth >= limit) return true;
  for (const child of Object.values(value as Record<string, unknown>)) {
    if (depthExceeds(child, limit, depth + 1)) return true;
  }
  return false;
}

/** Checks that zod cannot express: size, nesting, lone surrogates, keys that poison prototypes. */
export function hostileInputIssues(raw: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const text = JSON.stringify(raw) ?? '';
  if (Buffer.byteLength(text, 'utf8') > MAX_EVENT_BYTES) issues.push({ field: '(message)', reason: `is larger than ${MAX_EVENT_BYTES} bytes` });
  if (depthExceeds(raw, MAX_DEPTH + 1)) issues.push({ field: '(message)', reason: `is nested deeper than ${MAX_DEPTH} levels` });
  if (!text.isWellFormed()) issues.push({ field: '(message)', reason: 'contains invalid UTF-16 (lone surrogate)' });
  if (/"(__proto__|constructor|prototype)":/.test(text)) issues.push({ field: '(message)', reason: 'uses a reserved key (__proto__, constructor or prototype)' });
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
  return message.context?.channel ?? LIBRARY_CHANNEL[message.channel ?? ''] ?? 'server';
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
