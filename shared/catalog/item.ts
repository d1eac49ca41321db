/**
 * The item catalogue as serving reads it: title, category, price, stock, promotion flags, the
 * channels an item is sold on and when it was launched (new-item exploration).
 */
import { z } from 'zod';
import { CHANNELS } from '../events/canonical';
import type { FieldIssue } from '../http/errors';
import { zodIssues } from '../http/validation';

/** Items per PUT /v1/items request (bulk catalogues go through an S3 upload under imports/catalog/). */
export const MAX_ITEMS_PER_REQUEST = 1000;
export const MAX_ITEMS_BODY_BYTES = 2 * 1024 * 1024;

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' });

/**
 * One item as clients send it. Only `itemId` is always required: an update of an existing item may
 * send just the fields that change (e.g. `{itemId, stock}`); a NEW item needs title, category and price
 * (checked against the store, see CatalogRepository.upsert).
 */
export const catalogItemInputSchema = z.strictObject({
  itemId: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  title: z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters').optional(),
  description: z.string().max(5000, 'must be at most 5000 characters').optional(),
  category: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
  price: z.number({ message: 'must be a number' }).finite('must be finite').min(0, 'must be at least 0').optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR')
    .optional(),
  /** Units on hand; null = stock not tracked (always available). */
  stock: z.number({ message: 'must be a number' }).int('must be an integer').min(0, 'must be at least 0').nullable().optional(),
  promoted: z.boolean({ message: 'must be true or false' }).optional(),
  /** false = withdrawn: never recommended. */
  active: z.boolean({ message: 'must be true or false' }).optional(),
  /** Channels the item is sold on (absent = every channel). */
  channels: z
    .array(z.enum(CHANNELS, { message: `must be one of ${CHANNELS.join(', ')}` }))
    .max(CHANNELS.length)
    .optional(),
  /** Launch date (new-item exploration); defaults to when the store first saw the item. */
  createdAt: isoTime.optional(),
  /** Version of this write: an older write than the stored one is skipped as stale (safe retries and replays). */
  updatedAt: isoTime.optional(),
});
export type CatalogItemInput = z.infer<typeof catalogItemInputSchema>;

export const REQUIRED_FOR_NEW_ITEM = ['title', 'category', 'price'] as const;

/** An item as stored and served. */
export interface CatalogItem {
  itemId: string;
  title: string;
  category: string;
  price: number;
  description?: string;
  currency?: string;
  stock: number | null;
  promoted: boolean;
  active: boolean;
  channels?: string[];
  createdAt: string;
  updatedAt: string;
}

export const putItemsSchema = z.strictObject({
  items: z.array(z.unknown()).min(1, 'must hold at least one item').max(MAX_ITEMS_PER_REQUEST, `must hold at most ${MAX_ITEMS_PER_REQUEST} items`),
});

export type ItemValidation = { ok: true; item: CatalogItemInput } | { ok: false; issues: FieldIssue[]; itemId?: string };

/** Validates one item; issues name the field (relative to the item) and the reason. */
export function validateItem(raw: unknown): ItemValidation {
  const result = catalogItemInputSchema.safeParse(raw);
  if (result.success) return { ok: true, item: result.data };
  const itemId = typeof (raw as { itemId?: unknown } | null)?.itemId === 'string' ? (raw as { itemId: string }).itemId : undefined;
  return { ok: false, issues: zodIssues(result.error), ...(itemId ? { itemId } : {}) };
}

/** Whether an item can be recommended at all (active and not out of stock). */
export function isAvailable(item: Pick<CatalogItem, 'active' | 'stock'>): boolean {
  return item.active && (item.stock === null || item.stock > 0);
}

/** The text the content model reads. */
export function itemText(item: Pick<CatalogItem, 'title' | 'category' | 'description'>): string {
  return `${item.title} ${item.category} ${item.description ?? ''}`;
}
