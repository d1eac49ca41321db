import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CanonicalEvent } from '../capture/events';
import { type Profile, RECENT_ITEMS_KEEP, type RecentItem, recentItemsOf, SEEN_MAX, SEEN_RETENTION_DAYS } from './profile';

const PROFILE_SK = 'PROFILE';
const profileKey = (profileId: string) => ({ pk: `PROFILE#${profileId}`, sk: PROFILE_SK });
const identityKey = (kind: string, value: string) => ({ pk: `IDENT#${kind}#${value}`, sk: 'LINK' });

type StoredProfile = Record<string, unknown> & {
  profileId: string;
  version?: number;
  seen?: Record<string, number>;
  recent?: { i: string; t: string; ts: number; c: string }[];
};

export type ApplyOutcome = 'applied' | 'duplicate';

/**
 * Profiles in DynamoDB, updated atomically per event with one UpdateItem. Each profile remembers the
 * message ids it has counted (for SEEN_RETENTION_DAYS), so a retried event is counted once.
 */
export class ProfileRepository {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async applyEvent(profileId: string, event: CanonicalEvent, now = new Date()): Promise<ApplyOutcome> {
    try {
      const updated = await this.update(profileId, event, now);
      await this.compactIfNeeded(updated, now);
      return 'applied';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      if (!isMissingDocumentPath(error)) throw error;
    }
    await this.createSkeleton(profileId, now);
    try {
      await this.update(profileId, event, now);
      return 'applied';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      throw error;
    }
  }

  private async update(profileId: string, event: CanonicalEvent, now: Date): Promise<StoredProfile> {
    const names: Record<string, string> = {
      '#mid': event.eventId,
      '#cnt': `cnt_${event.type}`,
      '#chc': `ch_${event.channel}`,
      '#chl': `last_${event.channel}`,
    };
    const values: Record<string, unknown> = {
      ':one': 1,
      ':now': now.toISOString(),
      ':ts': event.timestamp,
      ':seenAt': Math.floor(now.getTime() / 1000),
      ':channel': new Set([event.channel]),
    };
    const set = ['updatedAt = :now', 'seen.#mid = :seenAt', '#chl = :ts', 'lastSeenAt = :ts'];
    const add = ['version :one', '#cnt :one', '#chc :one', 'channels :channel'];
    const recent = recentItemsOf(event).map((r) => ({ i: r.itemId, t: r.type, ts: r.ts, c: r.channel }));
    if (recent.length > 0) {
      set.push('recent = list_append(if_not_exists(recent, :empty), :recent)');
      values[':recent'] = recent;
      values[':empty'] = [];
    }
    if (event.userId) {
      set.push('userId = if_not_exists(userId, :uid)');
      values[':uid'] = event.userId;
    }
    if (event.type === 'purchase' && event.items.length > 0) {
      add.push('purchased :items');
      values[':items'] = new Set(event.items.map((i) => i.itemId));
    }
    if (event.type === 'purchase' && event.revenue !== undefined) {
      add.push('totalRevenue :revenue');
      values[':revenue'] = event.revenue;
    }
    const out = await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: profileKey(profileId),
        UpdateExpression: `SET ${set.join(', ')} ADD ${add.join(', ')}`,
        ConditionExpression: 'attribute_not_exists(seen.#mid)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes as StoredProfile;
  }

  private async createSkeleton(profileId: string, now: Date): Promise<void> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...profileKey(profileId), profileId, createdAt: now.toISOString(), updatedAt: now.toISOString(), version: 0, seen: {} },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Keeps the item small: trims old message ids and the recent-items list, guarded by the version read. */
  private async compactIfNeeded(profile: StoredProfile, now: Date): Promise<void> {
    const seen = profile.seen ?? {};
    const recent = profile.recent ?? [];
    const seenCount = Object.keys(seen).length;
    if (seenCount <= SEEN_MAX && recent.length <= RECENT_ITEMS_KEEP * 2) return;
    const horizon = now.getTime() / 1000 - SEEN_RETENTION_DAYS * 86400;
    const keptSeen = Object.entries(seen)
      .filter(([, at]) => at >= horizon)
      .sort((a, b) => b[1] - a[1])
      .slice(0, SEEN_MAX);
    const keptRecent = [...recent].sort((a, b) => a.ts - b.ts).slice(-RECENT_ITEMS_KEEP);
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: profileKey(profile.profileId),
          UpdateExpression: 'SET seen = :seen, recent = :recent',
          ConditionExpression: 'version = :version',
          ExpressionAttributeValues: { ':seen': Object.fromEntries(keptSeen), ':recent': keptRecent, ':version': profile.version },
        }),
      );
    } catch (error) {
      // A concurrent writer moved the version on; the next write compacts instead.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async get(profileId: string): Promise<Profile | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: profileKey(profileId), ConsistentRead: true }));
    return out.Item ? toProfile(out.Item as StoredProfile) : undefined;
  }

  /** Which profile an anonymous id belongs to, if a login or alias linked it. */
  async resolveAnonymous(anonymousId: string): Promise<string | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: identityKey('anon', anonymousId) }));
    return out.Item?.profileId as string | undefined;
  }

  /** Links an anonymous id to a profile; the first link wins, so a retry or a replay changes nothing. */
  async linkAnonymous(anonymousId: string, profileId: string, now = new Date()): Promise<string> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...identityKey('anon', anonymousId), profileId, linkedAt: now.toISOString() },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return profileId;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.resolveAnonymous(anonymousId)) ?? profileId;
    }
  }
}

function isMissingDocumentPath(error: unknown): boolean {
  const e = error as { name?: string; message?: string };
  return e?.name === 'ValidationException' && /document path/i.test(e.message ?? '');
}

export function toProfile(item: StoredProfile): Profile {
  const counts: Profile['counts'] = {};
  const channels: Profile['channels'] = {};
  const channel = (name: string) => {
    const existing = channels[name];
    if (existing) return existing;
    const created = { events: 0 } as Profile['channels'][string];
    channels[name] = created;
    return created;
  };
  for (const [key, value] of Object.entries(item)) {
    if (key.startsWith('cnt_')) counts[key.slice(4) as keyof Profile['counts']] = Number(value);
    else if (key.startsWith('ch_')) channel(key.slice(3)).events = Number(value);
    else if (key.startsWith('last_')) channel(key.slice(5)).lastSeen = String(value);
  }
  const recentItems: RecentItem[] = (item.recent ?? [])
    .map((r) => ({ itemId: r.i, type: r.t as RecentItem['type'], ts: r.ts, channel: r.c }))
    .sort((a, b) => a.ts - b.ts)
    .slice(-RECENT_ITEMS_KEEP);
  const purchased = item.purchased instanceof Set ? [...(item.purchased as Set<string>)].sort() : [];
  const profile: Profile = {
    profileId: item.profileId,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    counts,
    channels,
    recentItems,
    purchased,
    totalRevenue: Number(item.totalRevenue ?? 0),
  };
  if (typeof item.userId === 'string') profile.userId = item.userId;
  if (typeof item.lastSeenAt === 'string') profile.lastSeenAt = item.lastSeenAt;
  return profile;
}
