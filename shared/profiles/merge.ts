import { IDENTIFIER_TYPES, priorityOf } from '../identity/identifiers';
import { RECENT_ITEMS_KEEP, SEEN_MAX } from './profile';
import { identifierAttribute, identifierSets, type StoredProfile, type StoredRecent } from './stored';

/** Best (lowest) identifier priority a profile holds; profiles with none rank last. */
export function bestPriority(item: Record<string, unknown>): number {
  const sets = identifierSets(item);
  for (const type of IDENTIFIER_TYPES) if (sets[type]?.size) return priorityOf(type);
  return IDENTIFIER_TYPES.length;
}

/**
 * The deterministic survivor order: the profile holding the highest-priority identifier, then the
 * older one, then the smaller id (so every writer that sees the same profiles picks the same one).
 */
export function survivorOrder(a: StoredProfile, b: StoredProfile): number {
  const byPriority = bestPriority(a) - bestPriority(b);
  if (byPriority !== 0) return byPriority;
  const created = String(a.createdAt ?? '').localeCompare(String(b.createdAt ?? ''));
  if (created !== 0) return created;
  return a.profileId < b.profileId ? -1 : a.profileId > b.profileId ? 1 : 0;
}

const maxIso = (a: unknown, b: unknown): string | undefined => {
  const x = typeof a === 'string' ? a : undefined;
  const y = typeof b === 'string' ? b : undefined;
  if (!x) return y;
  if (!y) return x;
  return Date.parse(y) > Date.parse(x) ? y : x;
};

const minIso = (a: unknown, b: unknown): string | undefined => {
  const x = typeof a === 'string' ? a : undefined;
  const y = typeof b === 'string' ? b : undefined;
  if (!x) return y;
  if (!y) return x;
  return Date.parse(y) < Date.parse(x) ? y : x;
};

function union(a: unknown, b: unknown): Set<string> | undefined {
  const out = new Set<string>();
  for (const s of [a, b]) if (s instanceof Set) for (const v of s) out.add(String(v));
  return out.size > 0 ? out : undefined;
}

/** Restrictive consent wins: a flag is false if either side said false, true only if one said true and none false. */
function mergeConsent(a: StoredProfile['consent'], b: StoredProfile['consent']): StoredProfile['consent'] | undefined {
  const out: NonNullable<StoredProfile['consent']> = {};
  for (const flag of ['tracking', 'personalization'] as const) {
    const values = [a?.[flag], b?.[flag]].filter((v): v is boolean => typeof v === 'boolean');
    if (values.length > 0) out[flag] = values.every(Boolean);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Recent items of both profiles merged by time (ties keep the survivor's first), newest RECENT_ITEMS_KEEP kept. */
export function mergeRecent(a: readonly StoredRecent[] = [], b: readonly StoredRecent[] = []): StoredRecent[] {
  return [...a, ...b]
    .map((r, order) => ({ r, order }))
    .sort((x, y) => x.r.ts - y.r.ts || x.order - y.order)
    .map((x) => x.r)
    .slice(-RECENT_ITEMS_KEEP);
}

/**
 * The survivor after absorbing another profile: counters and revenue summed, last-seen per channel
 * the later one, recent items merged by time, purchased items / channels / identifiers unioned,
 * carts added line by line, message ids unioned (so a retried event stays a duplicate), consent
 * the more restrictive. Pure: the caller writes it with a version check.
 */
export function mergeProfiles(survivor: StoredProfile, absorbed: StoredProfile, now: Date): StoredProfile {
  const out: StoredProfile = { ...survivor };
  for (const [key, value] of Object.entries(absorbed)) {
    if (key.startsWith('cnt_') || key.startsWith('ch_')) out[key] = Number(out[key] ?? 0) + Number(value ?? 0);
    else if (key.startsWith('last_')) out[key] = maxIso(out[key], value);
  }
  out.totalRevenue = Number(survivor.totalRevenue ?? 0) + Number(absorbed.totalRevenue ?? 0);
  out.recent = mergeRecent(survivor.recent, absorbed.recent);
  const cart: Record<string, number> = { ...(survivor.cart ?? {}) };
  for (const [item, quantity] of Object.entries(absorbed.cart ?? {})) cart[item] = (cart[item] ?? 0) + Number(quantity);
  out.cart = cart;
  const seen = Object.entries({ ...(absorbed.seen ?? {}), ...(survivor.seen ?? {}) }).sort((x, y) => y[1] - x[1]);
  out.seen = Object.fromEntries(seen.slice(0, SEEN_MAX));
  for (const key of ['purchased', 'channels'] as const) {
    const merged = union(survivor[key], absorbed[key]);
    if (merged) out[key] = merged;
    else delete out[key];
  }
  for (const type of IDENTIFIER_TYPES) {
    const attribute = identifierAttribute(type);
    const merged = union(survivor[attribute], absorbed[attribute]);
    if (merged) out[attribute] = merged;
  }
  const mergedFrom = union(survivor.mergedFrom, absorbed.mergedFrom) ?? new Set<string>();
  mergedFrom.add(absorbed.profileId);
  out.mergedFrom = mergedFrom;
  const consent = mergeConsent(survivor.consent, absorbed.consent);
  if (consent) out.consent = consent;
  const consentAt = maxIso(survivor.consentAt, absorbed.consentAt);
  if (consentAt) out.consentAt = consentAt;
  const lastSeenAt = maxIso(survivor.lastSeenAt, absorbed.lastSeenAt);
  if (lastSeenAt) out.lastSeenAt = lastSeenAt;
  const createdAt = minIso(survivor.createdAt, absorbed.createdAt);
  if (createdAt) out.createdAt = createdAt;
  out.updatedAt = now.toISOString();
  out.status = 'active';
  out.version = Number(survivor.version ?? 0) + 1;
  return out;
}
