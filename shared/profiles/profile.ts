import type { CanonicalEvent, CanonicalType } from '../events/canonical';
import { defaultHasher } from '../identity/hashing';
import type { HashedIdentifier, IdentifierType } from '../identity/identifiers';

/** A recent item interaction kept on the profile, oldest first (input of sequence and item-item models). */
export interface RecentItem {
  itemId: string;
  type: CanonicalType;
  /** Epoch milliseconds of the event. */
  ts: number;
  channel: string;
}

/** One line of the shopper's current cart. */
export interface CartLine {
  itemId: string;
  quantity: number;
}

/** The shopper's consent as last stated (context.consent / traits.consent); absent flags were never stated. */
export interface ProfileConsent {
  /** false: events are not stored. */
  tracking?: boolean;
  /** false: serve non-personalised (popular) recommendations. Serving reads `profile.consent?.personalization === false`. */
  personalization?: boolean;
  /** Time of the event that last stated a flag. */
  updatedAt?: string;
}

/** The unified shopper profile as the API and the models read it. */
export interface Profile {
  profileId: string;
  createdAt: string;
  updatedAt: string;
  lastSeenAt?: string;
  counts: Partial<Record<CanonicalType, number>>;
  channels: Record<string, { events: number; lastSeen?: string }>;
  recentItems: RecentItem[];
  purchased: string[];
  totalRevenue: number;
  /** Current cart: add_to_cart adds, remove_from_cart removes the line, a purchase clears it. */
  cart: CartLine[];
  consent?: ProfileConsent;
  /** Every identifier linked to the profile, typed and keyed-hashed (never raw). */
  identifiers: HashedIdentifier[];
  /** Profiles merged into this one (their ids now redirect here). */
  mergedFrom: string[];
}

export const RECENT_ITEMS_KEEP = 100;
/** Message ids remembered per profile for idempotent counting. */
export const SEEN_RETENTION_DAYS = 7;
export const SEEN_MAX = 2000;

export function recentItemsOf(event: CanonicalEvent): RecentItem[] {
  const ts = Date.parse(event.timestamp);
  return event.items.map((item) => ({ itemId: item.itemId, type: event.type, ts, channel: event.channel }));
}

/** Prefix of identifier references: `ref:<type>:<hash>` names "the profile this identifier resolves to". */
export const PROFILE_REF_PREFIX = 'ref:';

export function profileRef(id: HashedIdentifier): string {
  return `${PROFILE_REF_PREFIX}${id.type}:${id.hash}`;
}

export function parseProfileRef(value: string): HashedIdentifier | undefined {
  if (!value.startsWith(PROFILE_REF_PREFIX)) return undefined;
  const rest = value.slice(PROFILE_REF_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon < 0) return undefined;
  return { type: rest.slice(0, colon) as IdentifierType, hash: rest.slice(colon + 1) };
}

/**
 * A reference to the profile of a user id (or else an anonymous id), hashed with the keyed hash.
 * `ProfileRepository.get` resolves it through the identity graph (links, merges), so serving can
 * keep calling `profiles.get(primaryProfileId({ userId }))`; prefer `profiles.getByIdentifier`.
 */
export function primaryProfileId(ids: { userId?: string; anonymousId?: string }): string {
  if (ids.userId) return profileRef(defaultHasher().hash('userId', ids.userId));
  if (ids.anonymousId) return profileRef(defaultHasher().hash('anonymousId', ids.anonymousId));
  throw new Error('an event needs a userId or an anonymousId');
}
