import { type HashedIdentifier, IDENTIFIER_TYPES, type IdentifierType } from '../identity/identifiers';
import type { IdentifierSets } from '../identity/guards';

/** The items of the profiles table as stored (their keys and reads/writes: ./table). */

export type ProfileStatus = 'active' | 'merging' | 'merged' | 'deleted';

/** Stored short form of a recent item. */
export interface StoredRecent {
  i: string;
  t: string;
  ts: number;
  c: string;
}

/** A merge in flight, written on the absorbed profile before anything moves (any writer can finish it). */
export interface MergeIntent {
  mergeId: string;
  into: string;
  eventId: string;
  at: string;
  reason: string;
  identifiers: HashedIdentifier[];
}

export type StoredProfile = Record<string, unknown> & {
  pk?: string;
  sk?: string;
  profileId: string;
  status?: ProfileStatus;
  version?: number;
  createdAt?: string;
  updatedAt?: string;
  lastSeenAt?: string;
  seen?: Record<string, number>;
  recent?: StoredRecent[];
  cart?: Record<string, number>;
  purchased?: Set<string>;
  channels?: Set<string>;
  totalRevenue?: number;
  consent?: { tracking?: boolean; personalization?: boolean };
  consentAt?: string;
  mergedFrom?: Set<string>;
  mergedInto?: string;
  merge?: MergeIntent;
};

/** One entry of a profile's merge history: why two identifiers are (or are not) one shopper. */
export interface MergeHistoryEntry {
  kind: 'merged' | 'refused';
  /** The profile that survived (merged) or that kept the identifier (refused). */
  survivor: string;
  /** The profile merged into the survivor, or the one the merge was refused with. */
  other: string;
  /** The identifiers of the event that connected the two profiles (typed, hashed). */
  identifiers: HashedIdentifier[];
  eventId: string;
  at: string;
  reason: string;
}

export const identifierAttribute = (type: IdentifierType) => `id_${type}`;

/** The identifier hash sets an item holds, per type. */
export function identifierSets(item: Record<string, unknown>): IdentifierSets {
  const sets: Partial<Record<IdentifierType, Set<string>>> = {};
  for (const type of IDENTIFIER_TYPES) {
    const value = item[identifierAttribute(type)];
    if (value instanceof Set && value.size > 0) sets[type] = value as Set<string>;
  }
  return sets;
}

export function identifiersOf(item: Record<string, unknown>): HashedIdentifier[] {
  const out: HashedIdentifier[] = [];
  const sets = identifierSets(item);
  for (const type of IDENTIFIER_TYPES) for (const hash of [...(sets[type] ?? [])].sort()) out.push({ type, hash });
  return out;
}

export function isActive(item: Pick<StoredProfile, 'status'>): boolean {
  return item.status === undefined || item.status === 'active';
}
