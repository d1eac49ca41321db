import { type HashedIdentifier, identifierKey } from '../identity/identifiers';
import type { IdentityGraph } from '../profiles/identity-graph';
import { identifiersOf, type StoredProfile } from '../profiles/stored';
import { historyKey, isConditionFailure } from '../profiles/table';
import type { ObjectStore } from '../storage/object-store';
import { suppressIdentifiers, suppressProfiles } from './suppression';

export interface EraseDeps {
  /** The identity graph of the profiles table (its `table` is read and written here too). */
  graph: IdentityGraph;
  blobs: ObjectStore;
}

export interface EraseResult {
  /** The profile erased (the survivor when a merged id was given). */
  profileId: string;
  /** Every id written to the suppression list (the profile and all profiles merged into it). */
  suppressed: string[];
  linksRemoved: number;
  historyRemoved: number;
  /** True when the profile had already been erased (nothing left to do). */
  alreadyErased: boolean;
}

export class ProfileNotFoundError extends Error {
  constructor(readonly profileId: string) {
    super(`profile ${profileId} does not exist`);
    this.name = 'ProfileNotFoundError';
  }
}

const MAX_HOPS = 16;

/**
 * Right to erasure. Order matters for retries and for concurrent writers:
 * 1. the profile is marked deleted (events applied to it from then on are dropped, merges into it abort);
 * 2. its id and every merged-in id go to the suppression list (S3), with the keyed hashes of its
 *    identifiers, before anything is deleted, so a crash later still keeps the shopper out of
 *    snapshots, features, compacted raw data and the compacted quarantine;
 * 3. identity links, merge history (its own, its merged profiles', and the refusals other profiles
 *    recorded about it) are deleted, merged profiles become tombstones;
 * 4. the profile becomes a tombstone (id and erasure time only; it stops an in-flight event from
 *    recreating it). Running it again finishes a partial erasure and changes nothing after a full one.
 */
export async function eraseProfile(deps: EraseDeps, profileId: string, now = new Date()): Promise<EraseResult> {
  const item = await freeze(deps, profileId, now);
  if (item.erasedAt) return { profileId: item.profileId, suppressed: [], linksRemoved: 0, historyRemoved: 0, alreadyErased: true };
  const family = [item.profileId, ...[...(item.mergedFrom ?? [])].sort()];
  await suppressProfiles(deps.blobs, family, item.profileId, now);

  const familySet = new Set(family);
  const identifiers: HashedIdentifier[] = identifiersOf(item);
  // Before the links go (a retry still finds them on the frozen item): the compaction job drops the
  // shopper's quarantined rows by these keyed hashes.
  await suppressIdentifiers(deps.blobs, identifiers.map(identifierKey), item.profileId, now);
  const unlinked = await Promise.all(identifiers.map((id) => deps.graph.unlink(id, familySet)));

  const table = deps.graph.table;
  let historyRemoved = 0;
  for (const id of family) {
    const entries = await table.queryHistory(id);
    for (const entry of entries) {
      // A refusal recorded on another profile names this one: remove that side too.
      const other = entry.kind === 'refused' ? (entry.survivor === id ? entry.other : entry.survivor) : undefined;
      if (other && !familySet.has(other) && other.startsWith('p_')) historyRemoved += Number(await table.deleteHistory(historyKey(other, 'refused', id)));
      historyRemoved += Number(await table.deleteHistory({ pk: entry.pk, sk: entry.sk }));
    }
  }
  const tombstone = (id: string): StoredProfile => ({ profileId: id, status: 'deleted', erasedAt: now.toISOString(), erasedWith: item.profileId });
  await Promise.all(family.slice(1).map((id) => table.putProfile(tombstone(id))));
  await table.putProfile(tombstone(item.profileId));
  return { profileId: item.profileId, suppressed: family, linksRemoved: unlinked.filter(Boolean).length, historyRemoved, alreadyErased: false };
}

/** Follows merges to the live profile and marks it deleted; returns its full item (read after the mark). */
async function freeze(deps: EraseDeps, profileId: string, now: Date): Promise<StoredProfile> {
  let id = profileId;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const item = await deps.graph.table.getProfile(id);
    if (!item) throw new ProfileNotFoundError(profileId);
    if (item.status === 'deleted') return item;
    if (item.status === 'merged' && item.mergedInto) {
      id = item.mergedInto;
      continue;
    }
    if (item.status === 'merging') {
      await deps.graph.completeMerge(id, now);
      continue;
    }
    try {
      const marked = await deps.graph.table.updateProfile(
        id,
        {
          update: 'SET #st = :deleted, updatedAt = :now ADD version :one',
          condition: 'attribute_not_exists(#st) OR #st = :active',
          names: { '#st': 'status' },
          values: { ':deleted': 'deleted', ':active': 'active', ':now': now.toISOString(), ':one': 1 },
        },
        true,
      );
      return marked as StoredProfile;
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // its status changed under us: look again
    }
  }
  throw new Error(`profile ${profileId}: could not reach a stable state to erase`);
}
