import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { FieldIssue } from '../http/errors';
import { type CatalogItem, type CatalogItemInput, REQUIRED_FOR_NEW_ITEM } from './item';

export type UpsertOutcome =
  | { status: 'upserted'; item: CatalogItem }
  /** A newer version of the item is stored: this write was skipped (a late retry or replay). */
  | { status: 'stale'; itemId: string }
  | { status: 'rejected'; itemId: string; issues: FieldIssue[] };

const FIELDS = ['title', 'description', 'category', 'price', 'currency', 'stock', 'promoted', 'active', 'channels'] as const;

/**
 * The catalogue's source of truth in DynamoDB: one item per `itemId` (its own table, so the snapshot
 * job's Scan reads items only). Every write is one conditional UpdateItem:
 * - partial updates (`{itemId, stock}`) touch only the fields sent; a new item must bring title,
 *   category and price;
 * - `updatedAt` versions writes: an older write than the stored one is skipped, the same one re-applies
 *   the same values — so retries, replays and re-uploads are safe;
 * - `createdAt` is kept from the first write unless the client sends a launch date.
 */
export class CatalogRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async upsert(input: CatalogItemInput, now: Date): Promise<UpsertOutcome> {
    const updatedAt = new Date(input.updatedAt ?? now).toISOString();
    const names: Record<string, string> = { '#updatedAt': 'updatedAt', '#createdAt': 'createdAt' };
    const values: Record<string, unknown> = { ':updatedAt': updatedAt };
    const set = ['#updatedAt = :updatedAt'];
    for (const field of FIELDS) {
      const value = input[field];
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      set.push(`#${field} = :${field}`);
    }
    if (input.createdAt) {
      values[':createdAt'] = new Date(input.createdAt).toISOString();
      set.push('#createdAt = :createdAt');
    } else {
      values[':now'] = now.toISOString();
      set.push('#createdAt = if_not_exists(#createdAt, :now)');
    }
    // Defaults of a new item (an existing value is never overwritten by a default).
    const defaults: [string, unknown][] = [
      ['promoted', false],
      ['active', true],
      ['stock', null],
    ];
    for (const [field, value] of defaults) {
      if (input[field as keyof CatalogItemInput] !== undefined) continue;
      names[`#${field}`] = field;
      values[`:default_${field}`] = value;
      set.push(`#${field} = if_not_exists(#${field}, :default_${field})`);
    }
    const missing = REQUIRED_FOR_NEW_ITEM.filter((field) => input[field] === undefined);
    const conditions = ['(attribute_not_exists(#updatedAt) OR #updatedAt <= :updatedAt)'];
    if (missing.length > 0) conditions.push('attribute_exists(itemId)');
    try {
      const out = await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { itemId: input.itemId },
          UpdateExpression: `SET ${set.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { status: 'upserted', item: toItem(out.Attributes ?? {}) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    // Which condition failed: the item does not exist (incomplete new item) or a newer write is stored.
    const existing = await this.get(input.itemId);
    if (!existing) {
      return { status: 'rejected', itemId: input.itemId, issues: missing.map((field) => ({ field, reason: 'is required for a new item' })) };
    }
    return { status: 'stale', itemId: input.itemId };
  }

  /** Upserts many items with bounded concurrency; outcomes are in input order. */
  async upsertMany(items: readonly CatalogItemInput[], now: Date, concurrency = 16): Promise<UpsertOutcome[]> {
    const outcomes = new Array<UpsertOutcome>(items.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < items.length; i = next++) outcomes[i] = await this.upsert(items[i] as CatalogItemInput, now);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
    return outcomes;
  }

  async get(itemId: string): Promise<CatalogItem | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { itemId }, ConsistentRead: true }));
    return out.Item ? toItem(out.Item) : undefined;
  }

  /** Every item, page by page (the snapshot job). */
  async *scan(): AsyncGenerator<CatalogItem[]> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(new ScanCommand({ TableName: this.table, ConsistentRead: true, ExclusiveStartKey: start }));
      yield (page.Items ?? []).map(toItem);
      start = page.LastEvaluatedKey;
    } while (start);
  }
}

export function toItem(raw: Record<string, unknown>): CatalogItem {
  const item: CatalogItem = {
    itemId: String(raw.itemId),
    title: String(raw.title ?? raw.itemId),
    category: String(raw.category ?? ''),
    price: Number(raw.price ?? Number.NaN),
    stock: raw.stock === null || raw.stock === undefined ? null : Number(raw.stock),
    promoted: raw.promoted === true,
    active: raw.active !== false,
    createdAt: String(raw.createdAt ?? raw.updatedAt ?? ''),
    updatedAt: String(raw.updatedAt ?? ''),
  };
  if (typeof raw.description === 'string') item.description = raw.description;
  if (typeof raw.currency === 'string') item.currency = raw.currency;
  if (Array.isArray(raw.channels)) item.channels = raw.channels.map(String);
  else if (raw.channels instanceof Set) item.channels = [...(raw.channels as Set<string>)].map(String);
  return item;
}
