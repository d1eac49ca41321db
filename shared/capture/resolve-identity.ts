import { createHash } from 'node:crypto';
import type { CanonicalEvent, PendingEvent } from '../events/canonical';
import type { ProfileRepository } from '../profiles/repository';
import { isActive, type StoredProfile } from '../profiles/stored';
import { type Consent, type EventIdentity, identityOf } from '../identity/extract';
import { identifierKey } from '../identity/identifiers';

/**
 * A normalised event before resolution: `identitySource` (the message's ids, traits and context,
 * attached by normalise) is read here; an already computed `identity` wins; without either, the
 * event's userId / anonymousId are used.
 */
export type ResolvableEvent = PendingEvent & { identity?: EventIdentity };

export interface SuppressedEvent {
  eventId: string;
  profileId: string;
  reason: 'consent.tracking=false';
}

export interface ResolvedEvents {
  /** Events to store and count, in input order, with their profile id (userId replaced by its keyed hash). */
  events: CanonicalEvent[];
  /** Events accepted but not stored: the shopper has not consented to tracking. */
  suppressed: SuppressedEvent[];
  /** Profiles merged while resolving (absorbed id → survivor id). */
  merges: Record<string, string>;
}

export interface ResolveOptions {
  /** Independent groups of events resolved in parallel (events sharing an identifier stay in order). */
  concurrency?: number;
}

/** Profile id of an event without any usable identifier (all blocked): its own, never stitched. */
export function unlinkedProfileId(eventId: string): string {
  return `p_${createHash('sha256').update(`unlinked\n${eventId}`).digest('hex').slice(0, 24)}`;
}

/**
 * Capture's identity step: every event → one live profile through the identity graph (links,
 * merges, over-merge guards), consent applied (tracking=false → not stored), personal ids hashed.
 * Events are grouped by shared identifiers (union-find); groups run in parallel, events of a group
 * in order, and one resolution per distinct identity is reused within the batch.
 */
export async function resolveEvents(
  events: readonly ResolvableEvent[],
  profiles: ProfileRepository,
  now: Date,
  options: ResolveOptions = {},
): Promise<ResolvedEvents> {
  const identityOptions = { hasher: profiles.hasher, guards: profiles.identity.guards };
  const identities = events.map(
    (event) =>
      event.identity ?? identityOf(event.identitySource ?? { type: event.type, userId: event.userId, anonymousId: event.anonymousId }, identityOptions),
  );
  const groups = groupByIdentity(identities);
  // Known shoppers resolve from one prefetch (a few BatchGetItem calls for the whole batch).
  const known = await profiles.identity.prefetch(identities.flatMap((identity) => identity.identifiers));
  const out: (CanonicalEvent | undefined)[] = new Array(events.length);
  const suppressed: SuppressedEvent[] = [];
  const merges: Record<string, string> = {};
  const queue = [...groups];
  const worker = async () => {
    for (let group = queue.shift(); group; group = queue.shift()) {
      const cache = new Map<string, { profileId: string; consent?: Consent }>();
      for (const index of group) {
        const event = events[index] as ResolvableEvent;
        const identity = identities[index] as EventIdentity;
        const { profileId, consent } = fromPrefetch(identity, known, cache) ?? (await resolveOne(event, identity, profiles, cache, merges, now, known.links));
        const tracking = identity.consent?.tracking ?? consent?.tracking;
        if (tracking === false) {
          suppressed.push({ eventId: event.eventId, profileId, reason: 'consent.tracking=false' });
          continue;
        }
        out[index] = toStored(event, identity, profileId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, queue.length) }, worker));
  return { events: out.filter((e): e is CanonicalEvent => e !== undefined), suppressed, merges };
}

/**
 * The fast path: every identifier of the event is linked, all to one active profile, and the event
 * neither states consent nor aliases. Anything else goes through the graph (links, merges, guards).
 */
function fromPrefetch(
  identity: EventIdentity,
  known: { links: Map<string, string>; profiles: Map<string, StoredProfile> },
  cache: Map<string, { profileId: string; consent?: Consent }>,
): { profileId: string; consent?: Consent } | undefined {
  if (identity.previous || identity.consent || identity.identifiers.length === 0) return undefined;
  const keys = identity.identifiers.map(identifierKey);
  // A key resolved earlier in this batch (maybe by a merge) wins over the prefetched link.
  const targets = new Set(keys.map((k) => cache.get(k)?.profileId ?? known.links.get(k)));
  if (targets.size !== 1 || targets.has(undefined)) return undefined;
  const cached = keys.map((k) => cache.get(k)).find((entry) => entry !== undefined);
  let entry = cached;
  if (!entry) {
    const profile = known.profiles.get([...targets][0] as string);
    if (!profile || !isActive(profile)) return undefined;
    entry = { profileId: profile.profileId, ...(profile.consent && Object.keys(profile.consent).length > 0 ? { consent: profile.consent } : {}) };
  }
  for (const key of keys) cache.set(key, entry);
  return entry;
}

async function resolveOne(
  event: ResolvableEvent,
  identity: EventIdentity,
  profiles: ProfileRepository,
  cache: Map<string, { profileId: string; consent?: Consent }>,
  merges: Record<string, string>,
  now: Date,
  knownLinks: ReadonlyMap<string, string>,
): Promise<{ profileId: string; consent?: Consent }> {
  const keys = identity.identifiers.map(identifierKey);
  if (keys.length === 0 && !identity.previous) return { profileId: unlinkedProfileId(event.eventId) };
  const cached = keys.map((k) => cache.get(k));
  const first = cached[0];
  if (first && !identity.previous && !identity.consent && cached.every((c) => c?.profileId === first.profileId)) return first;
  const resolution = await profiles.identity.resolve(
    identity.identifiers,
    {
      eventId: event.eventId,
      timestamp: event.timestamp,
      ...(identity.consent ? { consent: identity.consent } : {}),
      ...(identity.previous ? { previous: identity.previous } : {}),
    },
    now,
    linkHints(keys, cache, knownLinks),
  );
  const entry = { profileId: resolution.profileId, ...(resolution.consent ? { consent: resolution.consent } : {}) };
  for (const absorbed of resolution.merged) merges[absorbed] = resolution.profileId;
  if (resolution.merged.length > 0) {
    for (const [key, value] of cache) if (resolution.merged.includes(value.profileId)) cache.set(key, entry);
  }
  for (const key of keys) cache.set(key, entry);
  if (resolution.consent) for (const [key, value] of cache) if (value.profileId === entry.profileId) cache.set(key, entry);
  return entry;
}

/**
 * What this batch knows of each identifier's link: the prefetch, overridden by what the batch itself
 * resolved (groups share no identifier, so no other group of the batch can have touched them).
 */
function linkHints(keys: readonly string[], cache: Map<string, { profileId: string }>, knownLinks: ReadonlyMap<string, string>): Map<string, string> {
  const hints = new Map<string, string>();
  for (const key of keys) {
    const link = cache.get(key)?.profileId ?? knownLinks.get(key);
    if (link) hints.set(key, link);
  }
  return hints;
}

/** The stored form: identity stripped (hashes live in the graph), the user id replaced by its keyed hash. */
function toStored(event: ResolvableEvent, identity: EventIdentity, profileId: string): CanonicalEvent {
  const { identity: _identity, identitySource: _source, ...rest } = event;
  const stored: CanonicalEvent = { ...rest, profileId };
  const user = identity.identifiers.find((id) => id.type === 'userId');
  if (stored.userId !== undefined) {
    if (user) stored.userId = user.hash;
    else delete stored.userId;
  }
  return stored;
}

/** Connected components of events that share an identifier (alias previous ids included). */
export function groupByIdentity(identities: readonly EventIdentity[]): number[][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    let node = x;
    while (node !== root) {
      const next = parent.get(node) as string;
      parent.set(node, root);
      node = next;
    }
    return root;
  };
  const keysOf = (identity: EventIdentity, index: number): string[] => {
    const keys = identity.identifiers.map(identifierKey);
    if (identity.previous)
      keys.push(identifierKey({ type: 'userId', hash: identity.previous.userId }), identifierKey({ type: 'anonymousId', hash: identity.previous.anonymousId }));
    return keys.length > 0 ? keys : [`#event:${index}`];
  };
  const allKeys = identities.map(keysOf);
  for (const keys of allKeys) {
    for (const k of keys) if (!parent.has(k)) parent.set(k, k);
    const [head, ...rest] = keys as [string, ...string[]];
    for (const k of rest) {
      const a = find(head);
      const b = find(k);
      if (a !== b) parent.set(b, a);
    }
  }
  const groups = new Map<string, number[]>();
  allKeys.forEach((keys, index) => {
    const root = find(keys[0] as string);
    (groups.get(root) ?? groups.set(root, []).get(root))?.push(index);
  });
  return [...groups.values()];
}
