/**
 * The profiles table: its key layout and every read and write of it. Other modules call these typed
 * functions with ids; none of them holds the document client or the table name.
 *
 * Single-table layout (pk/sk):
 * - `PROFILE#<id>` / `PROFILE`: the profile (counters, recent items, cart, consent, identifier sets,
 *   the message ledger `seen`) or, once merged, a redirect (`status: 'merged'`, `mergedInto`), or once
 *   erased a tombstone.
 * - `PROFILE#<id>` / `HIST#<kind>#<other>`: merge history (merged, refused) of that profile.
 * - `IDENT#<type>#<hash>` / `LINK`: which profile an identifier belongs to.
 * - `IMPORT#<sha256>` / `FILE`: bulk-import ledger (a file's content is imported once);
 *   `IMPORT#<sha256>` / `PARTS`: the parts of a split file; `IMPORTOBJ#<object id>` / `SPLIT`: one split
 *   per uploaded object version.
 * - GSI on `mergedInto` (sparse: only redirects carry it), scanned by the batch jobs.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { HashedIdentifier, IdentifierType } from '../identity/identifiers';
import type { MergeHistoryEntry, StoredProfile } from './stored';

export interface TableKey {
  pk: string;
  sk: string;
}

export const PROFILE_PK_PREFIX = 'PROFILE#';
export const PROFILE_SK = 'PROFILE';
export const LINK_SK = 'LINK';
export const HISTORY_SK_PREFIX = 'HIST#';
const LINK_PK_PREFIX = 'IDENT#';

export const profileKey = (profileId: string): TableKey => ({ pk: `${PROFILE_PK_PREFIX}${profileId}`, sk: PROFILE_SK });
export const linkKey = (id: HashedIdentifier): TableKey => ({ pk: `${LINK_PK_PREFIX}${id.type}#${id.hash}`, sk: LINK_SK });
export const historyKey = (profileId: string, kind: string, other: string): TableKey => ({
  pk: `${PROFILE_PK_PREFIX}${profileId}`,
  sk: `${HISTORY_SK_PREFIX}${kind}#${other}`,
});

/** Ledger records of the bulk imports (shared/capture/import*.ts). */
export type LedgerKind = 'import-file' | 'import-split' | 'import-parts';
const LEDGER: Record<LedgerKind, { prefix: string; sk: string }> = {
  'import-file': { prefix: 'IMPORT#', sk: 'FILE' },
  'import-split': { prefix: 'IMPORTOBJ#', sk: 'SPLIT' },
  'import-parts': { prefix: 'IMPORT#', sk: 'PARTS' },
};
export const ledgerKey = (kind: LedgerKind, id: string): TableKey => ({ pk: `${LEDGER[kind].prefix}${id}`, sk: LEDGER[kind].sk });

/** The profile id of a profile item's key; undefined for any other item. */
export function profileIdOfKey(key: { pk?: unknown; sk?: unknown }): string | undefined {
  if (typeof key.pk !== 'string' || !key.pk.startsWith(PROFILE_PK_PREFIX) || key.pk.length === PROFILE_PK_PREFIX.length) return undefined;
  return key.sk === PROFILE_SK ? key.pk.slice(PROFILE_PK_PREFIX.length) : undefined;
}

/** A new, empty active profile item: the one shape both the identity graph and the repository create. */
export function emptyProfileItem(profileId: string, now: Date): StoredProfile {
  return {
    ...profileKey(profileId),
    profileId,
    status: 'active',
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    version: 0,
    seen: {},
    cart: {},
    consent: {},
  } as StoredProfile;
}

/** An identifier link item. */
export interface LinkItem {
  id: HashedIdentifier;
  profileId: string;
}

/** Attributes to read (ProjectionExpression with #placeholders). */
export interface Projection {
  expression: string;
  names: Record<string, string>;
}

/** `#<prefix>0, #<prefix>1, …` over top-level attribute names. */
export function projectionOf(attributes: readonly string[], prefix: string): Projection {
  return {
    expression: attributes.map((_, i) => `#${prefix}${i}`).join(', '),
    names: Object.fromEntries(attributes.map((name, i) => [`#${prefix}${i}`, name])),
  };
}

/** A conditional write: the condition and the placeholders of every expression of the call. */
export interface Write {
  condition?: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

export interface Update extends Write {
  update: string;
}

export const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException || (error as { name?: string })?.name === 'ConditionalCheckFailedException';

/** An update whose document path (a map attribute it writes into) does not exist yet. */
export const isMissingDocumentPath = (error: unknown) => {
  const e = error as { name?: string; message?: string };
  return e?.name === 'ValidationException' && /document path/i.test(e.message ?? '');
};

export class UnprocessedKeysError extends Error {
  constructor(count: number) {
    super(`BatchGetItem left ${count} keys unprocessed`);
    this.name = 'UnprocessedKeysError';
  }
}

const expressions = (write: Write = {}) => ({
  ...(write.condition !== undefined ? { ConditionExpression: write.condition } : {}),
  ...(write.names ? { ExpressionAttributeNames: write.names } : {}),
  ...(write.values ? { ExpressionAttributeValues: write.values } : {}),
});
const projected = (projection?: Projection) => (projection ? { ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names } : {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** BatchGetItem takes at most 100 keys per request. */
const BATCH_GET = 100;

export class ProfilesTable {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly name: string,
  ) {}

  // ------------------------------------------------------------------ profile items (strongly consistent reads)

  async getProfile(profileId: string, projection?: Projection): Promise<StoredProfile | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.name, Key: profileKey(profileId), ConsistentRead: true, ...projected(projection) }));
    return out.Item as StoredProfile | undefined;
  }

  /** Writes a whole profile item (its key comes from its profileId). */
  async putProfile(item: StoredProfile, write?: Write): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.name, Item: { ...item, ...profileKey(item.profileId) }, ...expressions(write) }));
  }

  /** One UpdateItem; with `returnNew` the item after the update. */
  async updateProfile(profileId: string, update: Update, returnNew = false): Promise<StoredProfile | undefined> {
    const out = await this.ddb.send(
      new UpdateCommand({
        TableName: this.name,
        Key: profileKey(profileId),
        UpdateExpression: update.update,
        ...expressions(update),
        ...(returnNew ? { ReturnValues: 'ALL_NEW' as const } : {}),
      }),
    );
    // Read only when asked for (an UpdateItem without ReturnValues answers no attributes).
    return returnNew ? (out.Attributes as StoredProfile | undefined) : undefined;
  }

  batchGetProfiles(profileIds: readonly string[], attributes?: readonly string[]): Promise<StoredProfile[]> {
    return this.batchGet(profileIds.map(profileKey), attributes) as Promise<StoredProfile[]>;
  }

  // ------------------------------------------------------------------ identifier links

  async getLink(id: HashedIdentifier): Promise<string | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.name, Key: linkKey(id), ConsistentRead: true }));
    return out.Item?.profileId as string | undefined;
  }

  async batchGetLinks(ids: readonly HashedIdentifier[]): Promise<LinkItem[]> {
    const links: LinkItem[] = [];
    for (const item of await this.batchGet(ids.map(linkKey))) {
      const [, type, hash] = String(item.pk).split('#');
      if (type && hash && typeof item.profileId === 'string') links.push({ id: { type: type as IdentifierType, hash }, profileId: item.profileId });
    }
    return links;
  }

  async putLink(id: HashedIdentifier, link: { profileId: string; linkedAt: string; eventId?: string | undefined }, write?: Write): Promise<void> {
    const { profileId, linkedAt, eventId } = link;
    await this.ddb.send(
      new PutCommand({
        TableName: this.name,
        Item: { ...linkKey(id), profileId, type: id.type, linkedAt, ...(eventId ? { eventId } : {}) },
        ...expressions(write),
      }),
    );
  }

  async updateLink(id: HashedIdentifier, update: Update): Promise<void> {
    await this.ddb.send(new UpdateCommand({ TableName: this.name, Key: linkKey(id), UpdateExpression: update.update, ...expressions(update) }));
  }

  async deleteLink(id: HashedIdentifier, write?: Write): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.name, Key: linkKey(id), ...expressions(write) }));
  }

  // ------------------------------------------------------------------ merge history

  async putHistory(profileId: string, kind: MergeHistoryEntry['kind'], other: string, entry: MergeHistoryEntry): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.name, Item: { ...historyKey(profileId, kind, other), ...entry } }));
  }

  /** Every history item of a profile (with its key), all pages. */
  async queryHistory(profileId: string): Promise<(MergeHistoryEntry & TableKey)[]> {
    const items: (MergeHistoryEntry & TableKey)[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :hist)',
          ExpressionAttributeValues: { ':pk': profileKey(profileId).pk, ':hist': HISTORY_SK_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((page.Items ?? []) as (MergeHistoryEntry & TableKey)[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** Deletes a history item; true when it existed. */
  async deleteHistory(key: TableKey): Promise<boolean> {
    if (!key.sk.startsWith(HISTORY_SK_PREFIX)) throw new Error(`${key.pk} / ${key.sk} is not a merge history item`);
    const out = await this.ddb.send(new DeleteCommand({ TableName: this.name, Key: key, ReturnValues: 'ALL_OLD' }));
    return out.Attributes !== undefined;
  }

  // ------------------------------------------------------------------ import ledger records

  async getLedger<T = Record<string, unknown>>(kind: LedgerKind, id: string): Promise<T | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.name, Key: ledgerKey(kind, id), ConsistentRead: true }));
    return out.Item as T | undefined;
  }

  async putLedger(kind: LedgerKind, id: string, fields: Record<string, unknown>, write?: Write): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.name, Item: { ...ledgerKey(kind, id), ...fields }, ...expressions(write) }));
  }

  async updateLedger<T = Record<string, unknown>>(kind: LedgerKind, id: string, update: Update, returnNew = false): Promise<T | undefined> {
    const out = await this.ddb.send(
      new UpdateCommand({
        TableName: this.name,
        Key: ledgerKey(kind, id),
        UpdateExpression: update.update,
        ...expressions(update),
        ...(returnNew ? { ReturnValues: 'ALL_NEW' as const } : {}),
      }),
    );
    return returnNew ? (out.Attributes as T | undefined) : undefined;
  }

  // ------------------------------------------------------------------ indexes

  /** One Scan page of a secondary index. */
  async scanIndex(
    indexName: string,
    page: { limit: number; start?: Record<string, unknown> | undefined },
  ): Promise<{ items: Record<string, unknown>[]; next?: Record<string, unknown> }> {
    const out = await this.ddb.send(new ScanCommand({ TableName: this.name, IndexName: indexName, Limit: page.limit, ExclusiveStartKey: page.start }));
    return { items: out.Items ?? [], ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}) };
  }

  /** BatchGetItem in requests of 100 keys, unprocessed keys retried with jittered backoff. */
  private async batchGet(keys: readonly TableKey[], attributes?: readonly string[]): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    const projection = attributes ? projected(projectionOf(['pk', ...attributes], 'b')) : {};
    for (let i = 0; i < keys.length; i += BATCH_GET) {
      let pending: Record<string, unknown>[] | undefined = keys.slice(i, i + BATCH_GET) as unknown as Record<string, unknown>[];
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.random() * Math.min(400, 10 * 2 ** attempt));
        const out = await this.ddb.send(new BatchGetCommand({ RequestItems: { [this.name]: { Keys: pending, ConsistentRead: true, ...projection } } }));
        items.push(...(out?.Responses?.[this.name] ?? []));
        pending = out?.UnprocessedKeys?.[this.name]?.Keys as Record<string, unknown>[] | undefined;
        if (attempt > 10 && pending?.length) throw new UnprocessedKeysError(pending.length);
      }
    }
    return items;
  }
}
