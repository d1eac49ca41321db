import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CanonicalEvent } from '../events/canonical';
import type { IdentityGuardsConfig } from '../identity/guards';
import { defaultHasher, type IdentifierHasher } from '../identity/hashing';
import type { HashedIdentifier, IdentifierType } from '../identity/identifiers';
import { IdentityGraph } from './identity-graph';
import { type CartLine, parseProfileRef, type Profile, RECENT_ITEMS_KEEP, type RecentItem, recentItemsOf, SEEN_MAX, SEEN_RETENTION_DAYS } from './profile';
import { identifiersOf, type MergeHistoryEntry, type StoredProfile } from './stored';
import { emptyProfileItem, isConditionFailure, isMissingDocumentPath, ProfilesTable } from './table';

export type ApplyOutcome = 'applied' | 'duplicate' | 'suppressed';

/** A profile as the API shows it: the unified profile, how the request reached it, and its merge history. */
export interface ProfileView {
  profile: Profile;
  /** The id or identifier asked for, when it is not the profile's own id (a merged id, an identifier). */
  resolvedFrom?: string;
  history: MergeHistoryEntry[];
}

const MAX_REDIRECT_HOPS = 8;

/**
 * Profiles in DynamoDB, updated atomically per event with one UpdateItem. Each profile remembers the
 * message ids it has counted (for SEEN_RETENTION_DAYS), so a retried event is counted once; an event
 * that reaches a profile merged meanwhile follows the redirect, one that reaches an erased profile is
 * dropped ('suppressed').
 */
export class ProfileRepository {
  /** The profiles table (profile, link, history and import-ledger items of the single table). */
  readonly table: ProfilesTable;
  readonly identity: IdentityGraph;
  private readonly hasherOverride: IdentifierHasher;

  constructor(ddb: DynamoDBDocumentClient, tableName: string, options: { guards?: IdentityGuardsConfig; hasher?: IdentifierHasher } = {}) {
    this.table = new ProfilesTable(ddb, tableName);
    this.identity = new IdentityGraph(this.table, options.guards ? { guards: options.guards } : {});
    // Built now, so a deployed function without PII_HASH_KEY fails at cold start, not on a request.
    this.hasherOverride = options.hasher ?? defaultHasher();
  }

  get hasher(): IdentifierHasher {
    return this.hasherOverride;
  }

  async applyEvent(profileId: string, event: CanonicalEvent, now = new Date()): Promise<ApplyOutcome> {
    let target = profileId;
    let initialised = false;
    for (let hop = 0; hop < MAX_REDIRECT_HOPS; hop++) {
      try {
        const updated = await this.update(target, event, now);
        await this.compactIfNeeded(updated, now);
        return 'applied';
      } catch (error) {
        if (isMissingDocumentPath(error)) {
          await this.initialise(target, now, initialised);
          initialised = true;
          continue;
        }
        if (!isConditionFailure(error)) throw error;
      }
      const item = await this.table.getProfile(target, { expression: '#st, seen.#mid', names: { '#st': 'status', '#mid': event.eventId } });
      if (item?.seen && Object.hasOwn(item.seen, event.eventId)) return 'duplicate';
      // Profiles are never deleted (erasure leaves a tombstone), so a failed condition on an item
      // that cannot be read back has no cause but the seen check: the condition's answer stands.
      if (!item) return 'duplicate';
      if (item.status === 'deleted') return 'suppressed';
      if (item.status === 'active' || item.status === undefined) continue; // raced a merge that just ended
      const live = await this.identity.live(target, now);
      if (!live) return 'suppressed';
      target = live.profileId;
    }
    throw new Error(`event ${event.eventId}: profile ${profileId} kept moving (more than ${MAX_REDIRECT_HOPS} redirects)`);
  }

  private async update(profileId: string, event: CanonicalEvent, now: Date): Promise<StoredProfile> {
    const names: Record<string, string> = {
      '#mid': event.eventId,
      '#cnt': `cnt_${event.type}`,
      '#chc': `ch_${event.channel}`,
      '#chl': `last_${event.channel}`,
      '#st': 'status',
    };
    const values: Record<string, unknown> = {
      ':one': 1,
      ':now': now.toISOString(),
      ':ts': event.timestamp,
      ':seenAt': Math.floor(now.getTime() / 1000),
      ':channel': new Set([event.channel]),
      ':active': 'active',
    };
    const set = ['updatedAt = :now', 'seen.#mid = :seenAt', '#chl = :ts', 'lastSeenAt = :ts'];
    const add = ['version :one', '#cnt :one', '#chc :one', 'channels :channel'];
    const remove: string[] = [];
    const recent = recentItemsOf(event).map((r) => ({ i: r.itemId, t: r.type, ts: r.ts, c: r.channel }));
    if (recent.length > 0) {
      set.push('recent = list_append(if_not_exists(recent, :empty), :recent)');
      values[':recent'] = recent;
      values[':empty'] = [];
    }
    if (event.type === 'purchase' && event.items.length > 0) {
      add.push('purchased :items');
      values[':items'] = new Set(event.items.map((i) => i.itemId));
    }
    if (event.type === 'purchase' && event.revenue !== undefined) {
      add.push('totalRevenue :revenue');
      values[':revenue'] = event.revenue;
    }
    cartChanges(event, names, values, set, remove);
    const expression = `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''} ADD ${add.join(', ')}`;
    const updated = await this.table.updateProfile(
      profileId,
      { update: expression, condition: 'attribute_not_exists(seen.#mid) AND (attribute_not_exists(#st) OR #st = :active)', names, values },
      true,
    );
    return updated as StoredProfile;
  }

  /** A profile item without the maps an update writes into: create it, or (second time) add the maps. */
  private async initialise(profileId: string, now: Date, exists: boolean): Promise<void> {
    if (exists) {
      await this.table.updateProfile(profileId, {
        update: 'SET seen = if_not_exists(seen, :map), cart = if_not_exists(cart, :map), consent = if_not_exists(consent, :map)',
        values: { ':map': {} },
      });
      return;
    }
    try {
      await this.table.putProfile(emptyProfileItem(profileId, now), { condition: 'attribute_not_exists(pk)' });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
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
      await this.table.updateProfile(profile.profileId, {
        update: 'SET seen = :seen, recent = :recent',
        condition: 'version = :version',
        values: { ':seen': Object.fromEntries(keptSeen), ':recent': keptRecent, ':version': profile.version },
      });
    } catch (error) {
      // A concurrent writer moved the version on; the next write compacts instead.
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * The live profile behind a profile id (following merge redirects) or an identifier reference
   * (`primaryProfileId(...)`); undefined when there is none or it was erased.
   */
  async get(idOrRef: string, now = new Date()): Promise<Profile | undefined> {
    const ref = parseProfileRef(idOrRef);
    if (ref) return this.getByHashedIdentifier(ref, now);
    const item = await this.identity.live(idOrRef, now, true);
    return item ? toProfile(item) : undefined;
  }

  /** The profile of a raw identifier (normalised and hashed here, never stored raw). */
  async getByIdentifier(type: IdentifierType, value: string, now = new Date()): Promise<Profile | undefined> {
    return this.getByHashedIdentifier(this.hasher.hash(type, value), now);
  }

  async getByHashedIdentifier(id: HashedIdentifier, now = new Date()): Promise<Profile | undefined> {
    const linked = await this.identity.linkedProfileId(id);
    if (!linked) return undefined;
    const item = await this.identity.live(linked, now, true);
    return item ? toProfile(item) : undefined;
  }

  /** Profile + merge history (its own and that of every profile merged into it), for the API. */
  async view(profileId: string, now = new Date()): Promise<ProfileView | undefined> {
    const item = await this.identity.live(profileId, now, true);
    if (!item) return undefined;
    const profile = toProfile(item);
    const ids = [profile.profileId, ...profile.mergedFrom];
    const history = (await Promise.all(ids.map((id) => this.history(id)))).flat();
    const unique = new Map(history.map((h) => [`${h.kind}|${h.survivor}|${h.other}`, h]));
    const view: ProfileView = { profile, history: [...unique.values()].sort((a, b) => a.at.localeCompare(b.at)) };
    if (profileId !== profile.profileId) view.resolvedFrom = profileId;
    return view;
  }

  async history(profileId: string): Promise<MergeHistoryEntry[]> {
    return (await this.table.queryHistory(profileId)).map(({ pk: _pk, sk: _sk, ...entry }) => entry);
  }
}

/** Cart updates of one event: add sums quantities per line, remove drops the line, a purchase empties the cart. */
function cartChanges(event: CanonicalEvent, names: Record<string, string>, values: Record<string, unknown>, set: string[], remove: string[]): void {
  if (event.type === 'purchase') {
    set.push('cart = :emptyCart');
    values[':emptyCart'] = {};
    return;
  }
  if (event.type !== 'add_to_cart' && event.type !== 'remove_from_cart') return;
  const lines = new Map<string, number>();
  for (const item of event.items) lines.set(item.itemId, (lines.get(item.itemId) ?? 0) + Math.max(1, Math.round(item.quantity ?? 1)));
  names['#cart'] = 'cart';
  values[':zero'] = 0;
  let n = 0;
  for (const [itemId, quantity] of lines) {
    names[`#ci${n}`] = itemId;
    if (event.type === 'add_to_cart') {
      values[`:cq${n}`] = quantity;
      set.push(`#cart.#ci${n} = if_not_exists(#cart.#ci${n}, :zero) + :cq${n}`);
    } else remove.push(`#cart.#ci${n}`);
    n += 1;
  }
  if (event.type === 'remove_from_cart') delete values[':zero'];
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
  const cart: CartLine[] = Object.entries(item.cart ?? {})
    .filter(([, q]) => Number(q) > 0)
    .map(([itemId, quantity]) => ({ itemId, quantity: Number(quantity) }))
    .sort((a, b) => a.itemId.localeCompare(b.itemId));
  const profile: Profile = {
    profileId: item.profileId,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    counts,
    channels,
    recentItems,
    purchased,
    totalRevenue: Number(item.totalRevenue ?? 0),
    cart,
    identifiers: identifiersOf(item),
    mergedFrom: item.mergedFrom instanceof Set ? [...item.mergedFrom].sort() : [],
  };
  if (typeof item.lastSeenAt === 'string') profile.lastSeenAt = item.lastSeenAt;
  const consent = item.consent;
  if (consent && (consent.tracking !== undefined || consent.personalization !== undefined)) {
    profile.consent = {
      ...(consent.tracking !== undefined ? { tracking: consent.tracking } : {}),
      ...(consent.personalization !== undefined ? { personalization: consent.personalization } : {}),
      ...(typeof item.consentAt === 'string' ? { updatedAt: item.consentAt } : {}),
    };
  }
  return profile;
}
