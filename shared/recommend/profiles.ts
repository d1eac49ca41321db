/**
 * The shopper profile as serving reads it: the recent items, purchases and consent a recommendation
 * needs, and nothing else. A stored profile item also carries its idempotence ledger (`seen`: the
 * message ids it counted in the last 7 days, up to 2,000), its counters and identifier sets; read on
 * every request, the ledger alone made most of the bytes parsed and most of the garbage collected by a
 * serving container (measured by test/bench/serving.bench.ts), so serving reads an active profile with
 * a projection. Anything else — a merged profile's redirect, a merge in progress, an erased profile —
 * goes through the repository's full path, which follows redirects and finishes merges.
 */
import { parseProfileRef, type Profile } from '../profiles/profile';
import { type ProfileRepository, toProfile } from '../profiles/repository';
import { isActive } from '../profiles/stored';
import { projectionOf } from '../profiles/table';

/** What serving reads of a profile. */
export type ServingProfile = Pick<Profile, 'profileId' | 'recentItems' | 'purchased' | 'consent'>;

/** Stored attributes behind `ServingProfile` (plus the status that decides whether the item is live). */
export const SERVING_PROFILE_ATTRIBUTES = [
  'profileId',
  'status',
  'mergedInto',
  'createdAt',
  'updatedAt',
  'recent',
  'purchased',
  'consent',
  'consentAt',
] as const;

const projection = projectionOf(SERVING_PROFILE_ATTRIBUTES, 's');

export class ServingProfiles {
  constructor(private readonly repository: ProfileRepository) {}

  /** The live profile a profile reference (`ref:<type>:<hash>`) or id resolves to, if any. */
  async get(idOrRef: string): Promise<ServingProfile | undefined> {
    const ref = parseProfileRef(idOrRef);
    if (!ref) return this.repository.get(idOrRef);
    const profileId = await this.repository.identity.linkedProfileId(ref);
    if (!profileId) return undefined;
    const item = await this.repository.table.getProfile(profileId, projection);
    if (!item) return undefined;
    if (isActive(item)) return toProfile(item);
    // Redirect, merge in progress or tombstone: the repository resolves it.
    return this.repository.get(idOrRef);
  }
}
