import { createHash } from 'node:crypto';
import type { Consent } from '../identity/extract';
import { describeViolations, guardsFromEnv, type IdentifierSets, type IdentityGuardsConfig, limitViolations } from '../identity/guards';
import { type HashedIdentifier, IDENTIFIER_TYPES, type IdentifierType, identifierKey, uniqueIdentifiers } from '../identity/identifiers';
import { mergeProfiles, survivorOrder } from './merge';
import { identifierAttribute, identifierSets, isActive, type MergeHistoryEntry, type MergeIntent, type StoredProfile } from './stored';
import { emptyProfileItem, isConditionFailure, isMissingDocumentPath, type ProfilesTable, projectionOf, UnprocessedKeysError } from './table';

/** What resolving one event's identifiers did. */
export interface Resolution {
  profileId: string;
  created: boolean;
  /** Profiles merged into `profileId` by this resolution. */
  merged: string[];
  /** Links or merges refused by the over-merge guards (also recorded in the merge history). */
  refused: { identifiers: HashedIdentifier[]; other?: string; reason: string }[];
  /** The profile's stored consent after this resolution (explicit flags of the event applied). */
  consent?: Consent;
}

export interface ResolveContext {
  /** Id of the event that carries the identifiers (recorded in the merge history; seeds new profile ids). */
  eventId: string;
  /** Event time (consent changes are ordered by it). */
  timestamp?: string;
  consent?: Consent;
  /** Alias previousId hashes (see EventIdentity.previous). */
  previous?: { userId: string; anonymousId: string };
}

export class IdentityConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityConflictError';
  }
}

interface LinkState {
  id: HashedIdentifier;
  /** The live profile the identifier resolves to (merges in flight completed first). */
  profile?: StoredProfile;
  /** Profile id the stored link names when that profile is gone (erased): the link is overwritten. */
  stale?: string;
  /** Raw link target (for the conditional overwrite). */
  linkedTo?: string;
}

const MAX_ATTEMPTS = 12;
/** A merge rewrites the survivor with a version check: under a burst of writers to it, it retries (full-jitter backoff). */
const MAX_FOLD_ATTEMPTS = 30;
const MAX_REDIRECTS = 16;
/** Attributes a resolution needs from a profile (the full item is only read to merge). */
const META_ATTRIBUTES = [
  'profileId',
  'status',
  'version',
  'createdAt',
  'mergedInto',
  'merge',
  'consent',
  'consentAt',
  'mergedFrom',
  ...IDENTIFIER_TYPES.map(identifierAttribute),
];

const META_PROJECTION = projectionOf(META_ATTRIBUTES, 'm');

/**
 * The identity graph in the profiles table (./table: profile, link and history items). Any identifier resolves to one live profile; events
 * carrying identifiers of several profiles merge them (survivor: highest-priority identifier, then
 * the older), unless a per-type limit would be exceeded, in which case the lower-priority identifier
 * is dropped and the refusal recorded (Segment Unify's rule).
 *
 * Concurrency without transactions: every write is conditional. A merge is first written as an
 * intent on the absorbed profile (which freezes it: event updates require status active), then the
 * survivor is rewritten with a version check, then the absorbed profile becomes a redirect and its
 * links are re-pointed. Any writer that meets an intent finishes it, so a crash at any step is
 * completed by the next reader and every step is safe to repeat.
 */
export class IdentityGraph {
  readonly guards: IdentityGuardsConfig;

  constructor(
    readonly table: ProfilesTable,
    options: { guards?: IdentityGuardsConfig } = {},
  ) {
    this.guards = options.guards ?? guardsFromEnv();
  }

  // ------------------------------------------------------------------ reads

  readProfile(profileId: string, full = false): Promise<StoredProfile | undefined> {
    return this.table.getProfile(profileId, full ? undefined : META_PROJECTION);
  }

  linkedProfileId(id: HashedIdentifier): Promise<string | undefined> {
    return this.table.getLink(id);
  }

  /**
   * Links and profile states of many identifiers in a few BatchGetItem calls (100 keys each): the
   * identity step of a capture batch reads everything it needs for known shoppers up front.
   */
  async prefetch(ids: readonly HashedIdentifier[]): Promise<{ links: Map<string, string>; profiles: Map<string, StoredProfile> }> {
    try {
      const links = new Map<string, string>();
      for (const link of await this.table.batchGetLinks(uniqueIdentifiers(ids))) links.set(identifierKey(link.id), link.profileId);
      const profiles = new Map<string, StoredProfile>();
      for (const item of await this.table.batchGetProfiles([...new Set(links.values())], META_ATTRIBUTES)) profiles.set(String(item.profileId), item);
      return { links, profiles };
    } catch (error) {
      if (error instanceof UnprocessedKeysError) throw new IdentityConflictError(error.message);
      throw error;
    }
  }

  /**
   * The live profile an id ends at: follows merge redirects and finishes merges in flight.
   * Undefined when the profile does not exist or was erased.
   */
  async live(profileId: string, now = new Date(), full = false): Promise<StoredProfile | undefined> {
    let id = profileId;
    const visited = new Set<string>();
    for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
      if (visited.has(id)) throw new IdentityConflictError(`profile redirect cycle at ${id}`);
      visited.add(id);
      const item = await this.readProfile(id, full);
      if (!item || item.status === 'deleted') return undefined;
      if (isActive(item)) return item;
      if (item.status === 'merging') {
        id = await this.completeMerge(id, now);
        visited.delete(id);
        continue;
      }
      if (!item.mergedInto) return undefined;
      id = item.mergedInto;
    }
    throw new IdentityConflictError(`more than ${MAX_REDIRECTS} redirects from ${profileId}`);
  }

  /** The live profile an identifier belongs to, if any. */
  async resolveIdentifier(id: HashedIdentifier, now = new Date()): Promise<StoredProfile | undefined> {
    const linked = await this.linkedProfileId(id);
    return linked ? this.live(linked, now) : undefined;
  }

  // ------------------------------------------------------------------ resolution

  /** Resolves (and links, merges) the identifiers of one event; retried from the top on a lost race. */
  async resolve(
    identifiers: readonly HashedIdentifier[],
    context: ResolveContext,
    now = new Date(),
    knownLinks?: ReadonlyMap<string, string>,
  ): Promise<Resolution> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // The first attempt may trust links read moments ago (prefetch); a lost race reads them afresh.
      const result = await this.tryResolve(identifiers, context, now, attempt === 0 ? knownLinks : undefined);
      if (result) {
        if (context.consent) result.consent = await this.recordConsent(result.profileId, context.consent, context.timestamp ?? now.toISOString(), now);
        return result;
      }
      await sleep(Math.random() * Math.min(400, 10 * 2 ** attempt));
    }
    throw new IdentityConflictError(`identity resolution for event ${context.eventId} lost ${MAX_ATTEMPTS} races in a row`);
  }

  private async linkStates(ids: readonly HashedIdentifier[], now: Date, knownLinks?: ReadonlyMap<string, string>): Promise<LinkState[]> {
    // Links written since the prefetch by another writer make a conditional write fail: the next attempt reads them.
    const links = await Promise.all(ids.map((id) => (knownLinks ? knownLinks.get(identifierKey(id)) : this.linkedProfileId(id))));
    // Identifiers of one shopper usually name the same profile: read each profile once.
    const profiles = new Map<string, Promise<StoredProfile | undefined>>();
    for (const linkedTo of links) if (linkedTo && !profiles.has(linkedTo)) profiles.set(linkedTo, this.live(linkedTo, now));
    return Promise.all(
      ids.map(async (id, i): Promise<LinkState> => {
        const linkedTo = links[i];
        if (!linkedTo) return { id };
        const profile = await profiles.get(linkedTo);
        return profile ? { id, profile, linkedTo } : { id, stale: linkedTo, linkedTo };
      }),
    );
  }

  /** Alias: previousId is whichever of an older user id or an anonymous id is linked (anonymous id when neither). */
  private async aliasIdentifiers(identifiers: readonly HashedIdentifier[], previous: ResolveContext['previous']): Promise<HashedIdentifier[]> {
    if (!previous) return [...identifiers];
    const asUser: HashedIdentifier = { type: 'userId', hash: previous.userId };
    const asAnonymous: HashedIdentifier = { type: 'anonymousId', hash: previous.anonymousId };
    const [userLink, anonymousLink] = await Promise.all([this.linkedProfileId(asUser), this.linkedProfileId(asAnonymous)]);
    const extra: HashedIdentifier[] = [];
    if (userLink) extra.push(asUser);
    if (anonymousLink || !userLink) extra.push(asAnonymous);
    return [...identifiers, ...extra];
  }

  /** One attempt; undefined = a concurrent writer won a race, start again. */
  private async tryResolve(
    identifiers: readonly HashedIdentifier[],
    context: ResolveContext,
    now: Date,
    knownLinks?: ReadonlyMap<string, string>,
  ): Promise<Resolution | undefined> {
    const ids = uniqueIdentifiers(await this.aliasIdentifiers(identifiers, context.previous));
    if (ids.length === 0) throw new Error('an event needs at least one usable identifier');
    const states = await this.linkStates(ids, now, context.previous ? undefined : knownLinks);

    // Greedy, highest priority first: each identifier joins the group unless that breaks a limit.
    const group = new Map<string, StoredProfile>();
    const groupSets: Partial<Record<IdentifierType, Set<string>>> = {};
    const addSets = (sets: IdentifierSets) => {
      for (const [type, hashes] of Object.entries(sets) as [IdentifierType, ReadonlySet<string>][]) {
        const target = groupSets[type] ?? new Set<string>();
        for (const h of hashes) target.add(h);
        groupSets[type] = target;
      }
    };
    const toAttach: LinkState[] = [];
    const refusals: { state: LinkState; reason: string }[] = [];
    for (const state of states) {
      if (state.profile) {
        if (group.has(state.profile.profileId)) continue;
        const violations = limitViolations(this.guards, groupSets, identifierSets(state.profile));
        if (violations.length > 0) {
          refusals.push({ state, reason: `merge refused: ${describeViolations(violations)}` });
          continue;
        }
        group.set(state.profile.profileId, state.profile);
        addSets(identifierSets(state.profile));
      } else {
        const violations = limitViolations(this.guards, groupSets, { [state.id.type]: new Set([state.id.hash]) });
        if (violations.length > 0) {
          refusals.push({ state, reason: `link refused: ${describeViolations(violations)}` });
          continue;
        }
        toAttach.push(state);
        addSets({ [state.id.type]: new Set([state.id.hash]) });
      }
    }

    const result: Resolution = { profileId: '', created: false, merged: [], refused: [] };
    const members = [...group.values()].sort(survivorOrder);
    let survivor = members[0];
    if (!survivor) {
      const created = await this.createProfile(
        toAttach.map((s) => s.id),
        context.eventId,
        now,
      );
      if (!created) return undefined;
      survivor = created;
      result.created = true;
    }
    for (const absorbed of members.slice(1)) {
      const connecting = states
        .filter((s) => s.profile && (s.profile.profileId === absorbed.profileId || s.profile.profileId === survivor.profileId))
        .map((s) => s.id);
      const outcome = await this.merge(
        absorbed,
        survivor.profileId,
        { eventId: context.eventId, identifiers: connecting, reason: 'an event carried identifiers of both profiles' },
        now,
      );
      if (outcome !== 'merged') return undefined;
      result.merged.push(absorbed.profileId);
      for (const type of IDENTIFIER_TYPES) {
        const attribute = identifierAttribute(type);
        const both = new Set([...((survivor[attribute] as Set<string> | undefined) ?? []), ...((absorbed[attribute] as Set<string> | undefined) ?? [])]);
        if (both.size > 0) survivor[attribute] = both;
      }
    }
    if (!result.created && toAttach.length > 0) {
      const attached = await this.attach(survivor, toAttach, now);
      if (!attached) return undefined;
    } else if (result.created) {
      const linked = await this.linkAll(survivor.profileId, toAttach, context.eventId, now);
      if (!linked) return undefined;
    }
    result.profileId = survivor.profileId;
    const consent = [survivor, ...members.slice(1)].reduce<Consent | undefined>((acc, p) => restrictive(acc, p.consent), undefined);
    if (consent) result.consent = consent;
    for (const { state, reason } of refusals) {
      const other = state.profile?.profileId;
      result.refused.push({ identifiers: [state.id], ...(other ? { other } : {}), reason });
      await this.recordRefusal(survivor.profileId, state, reason, context.eventId, now);
    }
    return result;
  }

  /** New profile id: derived from the creating event and identifier, so a retried event creates the same profile. */
  private newProfileId(first: HashedIdentifier | undefined, eventId: string, seq: number): string {
    const seed = `${eventId}\n${first ? identifierKey(first) : ''}\n${seq}`;
    return `p_${createHash('sha256').update(seed).digest('hex').slice(0, 24)}`;
  }

  /**
   * Creates the profile of identifiers nobody holds yet (links are written after it). A retry of the
   * same event finds the profile it created before and reuses it; an id left by an erased profile is
   * skipped for the next candidate.
   */
  private async createProfile(ids: HashedIdentifier[], eventId: string, now: Date): Promise<StoredProfile | undefined> {
    const sets: Record<string, Set<string>> = {};
    for (const id of ids) {
      const attribute = identifierAttribute(id.type);
      const set = sets[attribute] ?? new Set<string>();
      set.add(id.hash);
      sets[attribute] = set;
    }
    for (let seq = 0; seq < 4; seq++) {
      const profileId = this.newProfileId(ids[0], eventId, seq);
      const item: StoredProfile = { ...emptyProfileItem(profileId, now), ...sets };
      try {
        await this.table.putProfile(item, { condition: 'attribute_not_exists(pk)' });
        return item;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const existing = await this.readProfile(profileId);
      if (existing && isActive(existing)) return existing;
      if (existing?.status === 'merging' || existing?.status === 'merged') return undefined; // resolve again: the links lead there
    }
    return undefined;
  }

  /**
   * Adds identifiers to a live profile: first its sets, with the per-type limit checked atomically
   * (size(id_type) in the condition), then the links. A link lost to a concurrent writer is taken
   * back out of the set and the resolution starts again.
   */
  private async attach(survivor: StoredProfile, states: LinkState[], now: Date): Promise<boolean> {
    const profileId = survivor.profileId;
    const held = identifierSets(survivor);
    const names: Record<string, string> = { '#st': 'status' };
    const values: Record<string, unknown> = { ':active': 'active', ':one': 1, ':now': now.toISOString() };
    const add = ['version :one'];
    const conditions = ['(attribute_not_exists(#st) OR #st = :active)'];
    const byType = new Map<IdentifierType, string[]>();
    for (const s of states) byType.set(s.id.type, [...(byType.get(s.id.type) ?? []), s.id.hash]);
    let n = 0;
    for (const [type, hashes] of byType) {
      const name = `#i${n}`;
      names[name] = identifierAttribute(type);
      values[`:i${n}`] = new Set(hashes);
      values[`:max${n}`] = this.guards.limits[type] - hashes.filter((h) => !held[type]?.has(h)).length;
      add.push(`${name} :i${n}`);
      conditions.push(`(attribute_not_exists(${name}) OR size(${name}) <= :max${n})`);
      n += 1;
    }
    try {
      await this.table.updateProfile(profileId, {
        update: `SET updatedAt = :now ADD ${add.join(', ')}`,
        condition: `attribute_exists(pk) AND ${conditions.join(' AND ')}`,
        names,
        values,
      });
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    return this.linkAll(profileId, states, undefined, now);
  }

  private async linkAll(profileId: string, states: LinkState[], eventId: string | undefined, now: Date): Promise<boolean> {
    const lost: HashedIdentifier[] = [];
    await Promise.all(
      states.map(async (s) => {
        if (!(await this.putLink(s.id, profileId, s.stale, eventId, now))) lost.push(s.id);
      }),
    );
    if (lost.length === 0) return true;
    await this.removeIdentifiers(profileId, lost, now);
    return false;
  }

  /** Links an identifier; succeeds when it was unlinked, already ours, or pointed at an erased profile. */
  private async putLink(id: HashedIdentifier, profileId: string, stale: string | undefined, eventId: string | undefined, now: Date): Promise<boolean> {
    const values: Record<string, unknown> = { ':self': profileId };
    let condition = 'attribute_not_exists(pk) OR profileId = :self';
    if (stale) {
      condition += ' OR profileId = :stale';
      values[':stale'] = stale;
    }
    try {
      await this.table.putLink(id, { profileId, linkedAt: now.toISOString(), eventId }, { condition, values });
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async removeIdentifiers(profileId: string, ids: HashedIdentifier[], now: Date): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':one': 1, ':now': now.toISOString() };
    const del: string[] = [];
    IDENTIFIER_TYPES.forEach((type, n) => {
      const hashes = ids.filter((id) => id.type === type).map((id) => id.hash);
      if (hashes.length === 0) return;
      names[`#i${n}`] = identifierAttribute(type);
      values[`:i${n}`] = new Set(hashes);
      del.push(`#i${n} :i${n}`);
    });
    await this.table
      .updateProfile(profileId, {
        update: `SET updatedAt = :now ADD version :one DELETE ${del.join(', ')}`,
        condition: 'attribute_exists(pk)',
        names,
        values,
      })
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  // ------------------------------------------------------------------ merges

  /**
   * Merges `absorbed` into `into`. 'merged' once the survivor holds it (by this or another writer);
   * 'retry' when the graph changed under us (the caller resolves again).
   */
  async merge(
    absorbed: StoredProfile,
    into: string,
    why: { eventId: string; identifiers: HashedIdentifier[]; reason: string },
    now: Date,
  ): Promise<'merged' | 'retry'> {
    const intent: MergeIntent = {
      mergeId: createHash('sha256').update(`${absorbed.profileId}\n${into}\n${why.eventId}`).digest('hex').slice(0, 16),
      into,
      eventId: why.eventId,
      at: now.toISOString(),
      reason: why.reason,
      identifiers: why.identifiers,
    };
    try {
      await this.table.updateProfile(absorbed.profileId, {
        update: 'SET #st = :merging, #merge = :intent, updatedAt = :now ADD version :one',
        condition: 'attribute_exists(pk) AND (attribute_not_exists(#st) OR #st = :active)',
        names: { '#st': 'status', '#merge': 'merge' },
        values: { ':merging': 'merging', ':intent': intent, ':now': now.toISOString(), ':one': 1, ':active': 'active' },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return 'retry';
    }
    const survivor = await this.completeMerge(absorbed.profileId, now);
    return survivor === into ? 'merged' : 'retry';
  }

  /**
   * Finishes the merge an absorbed profile records (idempotent; any writer may call it).
   * Returns the id of the profile that now holds the data.
   */
  async completeMerge(absorbedId: string, now: Date): Promise<string> {
    const absorbed = await this.readProfile(absorbedId, true);
    if (absorbed?.status !== 'merging') return absorbed?.mergedInto ?? absorbedId;
    const intent = absorbed.merge;
    if (!intent) throw new IdentityConflictError(`profile ${absorbedId} is merging without an intent`);
    for (let attempt = 0; attempt < MAX_FOLD_ATTEMPTS; attempt++) {
      const survivor = await this.readProfile(intent.into, true);
      if (!survivor || survivor.status === 'deleted' || survivor.status === 'merged' || survivor.status === 'merging') {
        // The survivor went away (erased or merged elsewhere) before the data moved: undo the freeze.
        await this.abortMerge(absorbed, intent, now);
        return absorbed.profileId;
      }
      if (!survivor.mergedFrom?.has(absorbed.profileId)) {
        const violations = limitViolations(this.guards, identifierSets(survivor), identifierSets(absorbed));
        if (violations.length > 0) {
          await this.abortMerge(absorbed, intent, now);
          return absorbed.profileId;
        }
        const merged = mergeProfiles(survivor, absorbed, now);
        try {
          await this.table.putProfile(merged, {
            condition: 'version = :version AND (attribute_not_exists(#st) OR #st = :active)',
            names: { '#st': 'status' },
            values: { ':version': survivor.version ?? 0, ':active': 'active' },
          });
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          await sleep(Math.random() * Math.min(400, 10 * 2 ** attempt));
          continue;
        }
      }
      await this.finishMerge(absorbed, intent, now);
      return intent.into;
    }
    // The intent stays: the next reader of this profile finishes the merge.
    throw new IdentityConflictError(`merge of ${absorbed.profileId} into ${intent.into} lost ${MAX_FOLD_ATTEMPTS} races in a row`);
  }

  /** After the survivor holds the data: history, redirect, links re-pointed (each step repeatable). */
  private async finishMerge(absorbed: StoredProfile, intent: MergeIntent, now: Date): Promise<void> {
    const entry: MergeHistoryEntry = {
      kind: 'merged',
      survivor: intent.into,
      other: absorbed.profileId,
      identifiers: intent.identifiers,
      eventId: intent.eventId,
      at: intent.at,
      reason: intent.reason,
    };
    await this.table.putHistory(intent.into, 'merged', absorbed.profileId, entry);
    const redirect: StoredProfile = {
      profileId: absorbed.profileId,
      status: 'merged',
      mergedInto: intent.into,
      mergedAt: now.toISOString(),
      createdAt: absorbed.createdAt,
      updatedAt: now.toISOString(),
      version: Number(absorbed.version ?? 0) + 1,
      ...(absorbed.mergedFrom?.size ? { mergedFrom: absorbed.mergedFrom } : {}),
    };
    try {
      await this.table.putProfile(redirect, {
        condition: '#st = :merging AND #merge.mergeId = :mergeId',
        names: { '#st': 'status', '#merge': 'merge' },
        values: { ':merging': 'merging', ':mergeId': intent.mergeId },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // another writer finished it
    }
    const sets = identifierSets(absorbed);
    await Promise.all(
      (Object.entries(sets) as [IdentifierType, ReadonlySet<string>][]).flatMap(([type, hashes]) =>
        [...hashes].map((hash) =>
          this.table
            .updateLink(
              { type, hash },
              {
                update: 'SET profileId = :into, relinkedAt = :now',
                condition: 'profileId = :from',
                values: { ':into': intent.into, ':from': absorbed.profileId, ':now': now.toISOString() },
              },
            )
            .catch((error: unknown) => {
              if (!isConditionFailure(error)) throw error;
            }),
        ),
      ),
    );
  }

  private async abortMerge(absorbed: StoredProfile, intent: MergeIntent, now: Date): Promise<void> {
    await this.table
      .updateProfile(absorbed.profileId, {
        update: 'SET #st = :active, updatedAt = :now REMOVE #merge ADD version :one',
        condition: '#st = :merging AND #merge.mergeId = :mergeId',
        names: { '#st': 'status', '#merge': 'merge' },
        values: { ':active': 'active', ':merging': 'merging', ':mergeId': intent.mergeId, ':now': now.toISOString(), ':one': 1 },
      })
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  // ------------------------------------------------------------------ history, consent

  private async recordRefusal(profileId: string, state: LinkState, reason: string, eventId: string, now: Date): Promise<void> {
    const other = state.profile?.profileId;
    const entry: MergeHistoryEntry = {
      kind: 'refused',
      survivor: other ?? profileId,
      other: other ? profileId : identifierKey(state.id),
      identifiers: [state.id],
      eventId,
      at: now.toISOString(),
      reason,
    };
    const writes = [this.table.putHistory(profileId, 'refused', other ?? identifierKey(state.id), entry)];
    if (other) writes.push(this.table.putHistory(other, 'refused', profileId, entry));
    await Promise.all(writes);
  }

  /**
   * Stores the flags an event states, unless a later event already stated consent (ordered by
   * event time, so a replayed old event cannot undo a newer choice). Returns the stored consent.
   */
  async recordConsent(profileId: string, consent: Consent, at: string, now = new Date()): Promise<Consent | undefined> {
    const names: Record<string, string> = { '#c': 'consent', '#st': 'status' };
    const values: Record<string, unknown> = { ':at': at, ':now': now.toISOString(), ':one': 1, ':active': 'active' };
    const set = ['consentAt = :at', 'updatedAt = :now'];
    for (const flag of ['tracking', 'personalization'] as const) {
      if (consent[flag] === undefined) continue;
      names[`#${flag}`] = flag;
      values[`:${flag}`] = consent[flag];
      set.push(`#c.#${flag} = :${flag}`);
    }
    const update = () =>
      this.table.updateProfile(
        profileId,
        {
          update: `SET ${set.join(', ')} ADD version :one`,
          condition: 'attribute_exists(pk) AND (attribute_not_exists(#st) OR #st = :active) AND (attribute_not_exists(consentAt) OR consentAt <= :at)',
          names,
          values,
        },
        true,
      );
    try {
      try {
        return (await update())?.consent;
      } catch (error) {
        if (!isMissingDocumentPath(error)) throw error;
      }
      // A profile written before consent existed: create the map, then set the flags.
      await this.table.updateProfile(profileId, {
        update: 'SET #c = if_not_exists(#c, :empty)',
        condition: 'attribute_exists(pk)',
        names: { '#c': 'consent' },
        values: { ':empty': {} },
      });
      return (await update())?.consent;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return (await this.readProfile(profileId))?.consent;
    }
  }

  // ------------------------------------------------------------------ erasure support

  /** Deletes the link of an identifier if it still names one of the given profiles. */
  async unlink(id: HashedIdentifier, profileIds: ReadonlySet<string>): Promise<boolean> {
    const linked = await this.linkedProfileId(id);
    if (!linked || !profileIds.has(linked)) return false;
    try {
      await this.table.deleteLink(id, { condition: 'profileId = :p', values: { ':p': linked } });
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }
}

/** Consent of several profiles seen together: a flag is false if any says false. */
function restrictive(a: Consent | undefined, b: Consent | undefined): Consent | undefined {
  if (!a) return b && Object.keys(b).length > 0 ? { ...b } : undefined;
  if (!b) return a;
  const out: Consent = { ...a };
  for (const flag of ['tracking', 'personalization'] as const) if (b[flag] !== undefined) out[flag] = a[flag] === false ? false : b[flag];
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
