/**
 * The identifier types of the identity graph, their merge priority and their per-profile limits
 * (the over-merge guards of Segment Unify / RudderStack identity resolution).
 */

/** Highest priority first: a merge keeps the profile holding the highest-priority identifier. */
export const IDENTIFIER_TYPES = ['userId', 'email', 'phone', 'loyaltyCard', 'posCustomerId', 'unionid', 'openid', 'deviceId', 'anonymousId'] as const;
export type IdentifierType = (typeof IDENTIFIER_TYPES)[number];

/** Most identifiers of one type a single profile may hold; a merge or link that would exceed one is refused. */
export const DEFAULT_IDENTIFIER_LIMITS: Readonly<Record<IdentifierType, number>> = {
  userId: 1,
  email: 5,
  phone: 5,
  loyaltyCard: 5,
  posCustomerId: 5,
  unionid: 1,
  openid: 10,
  deviceId: 10,
  anonymousId: 20,
};

/**
 * Personal identifiers: hashed with the keyed hash before they are stored or logged. The graph
 * hashes every type (a device or anonymous id is pseudonymous too), so nothing raw is ever keyed.
 */
export const PERSONAL_IDENTIFIER_TYPES: ReadonlySet<IdentifierType> = new Set([
  'userId',
  'email',
  'phone',
  'loyaltyCard',
  'posCustomerId',
  'openid',
  'unionid',
]);

/** An identifier as the graph stores it: its type and the keyed hash of its normalised value. */
export interface HashedIdentifier {
  type: IdentifierType;
  hash: string;
}

export function isIdentifierType(value: string): value is IdentifierType {
  return (IDENTIFIER_TYPES as readonly string[]).includes(value);
}

/** 0 = highest priority. */
export function priorityOf(type: IdentifierType): number {
  return IDENTIFIER_TYPES.indexOf(type);
}

/** Stable key of an identifier (`email:<hash>`). */
export function identifierKey(id: HashedIdentifier): string {
  return `${id.type}:${id.hash}`;
}

/** Highest priority first, then by hash: a deterministic order for every decision the graph takes. */
export function byPriority(a: HashedIdentifier, b: HashedIdentifier): number {
  return priorityOf(a.type) - priorityOf(b.type) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
}

/** Drops repeated identifiers and sorts the rest by priority. */
export function uniqueIdentifiers(ids: readonly HashedIdentifier[]): HashedIdentifier[] {
  const seen = new Map<string, HashedIdentifier>();
  for (const id of ids) seen.set(identifierKey(id), id);
  return [...seen.values()].sort(byPriority);
}

/** Type aliases accepted in `?identifier=<type>:<value>` lookups and in mapping configs. */
export const IDENTIFIER_ALIASES: Readonly<Record<string, IdentifierType>> = {
  userid: 'userId',
  user_id: 'userId',
  anonymousid: 'anonymousId',
  anonymous_id: 'anonymousId',
  email: 'email',
  phone: 'phone',
  loyaltycard: 'loyaltyCard',
  loyalty_card: 'loyaltyCard',
  poscustomerid: 'posCustomerId',
  pos_customer_id: 'posCustomerId',
  openid: 'openid',
  unionid: 'unionid',
  deviceid: 'deviceId',
  device_id: 'deviceId',
  device: 'deviceId',
};

export function parseIdentifierType(value: string): IdentifierType | undefined {
  const key = value.trim().toLowerCase();
  return Object.hasOwn(IDENTIFIER_ALIASES, key) ? IDENTIFIER_ALIASES[key] : undefined;
}
