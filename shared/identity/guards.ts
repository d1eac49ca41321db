import { DEFAULT_IDENTIFIER_LIMITS, type IdentifierType, isIdentifierType, parseIdentifierType } from './identifiers';

/**
 * Placeholder values that SDKs and integrations send when they have no real id: stitching on them
 * would merge every shopper who sent one. Compared case-insensitively after trimming.
 */
export const BUILTIN_BLOCKED_VALUES: readonly string[] = [
  '',
  '0',
  '-1',
  'null',
  'undefined',
  'anonymous',
  'unknown',
  'none',
  'nil',
  'n/a',
  'nan',
  '00000000-0000-0000-0000-000000000000',
];

export interface IdentityGuardsConfig {
  /** Most identifiers of each type one profile may hold. */
  limits: Readonly<Record<IdentifierType, number>>;
  /** Values never used for stitching, whatever their type (lower-cased). */
  blocked: ReadonlySet<string>;
  /** Values never used for stitching for one type only, e.g. a shared store tablet's device id (lower-cased). */
  blockedByType: ReadonlyMap<IdentifierType, ReadonlySet<string>>;
}

/**
 * Guards from the environment. IDENTITY_BLOCKED_VALUES: comma-separated values, each optionally
 * typed (`deviceId:TABLET-STORE-12,test@example.com`). IDENTITY_LIMITS: `email=3,deviceId=20`.
 */
export function guardsFromEnv(env: NodeJS.ProcessEnv = process.env): IdentityGuardsConfig {
  return identityGuards({ blocked: splitList(env.IDENTITY_BLOCKED_VALUES), limits: parseLimits(env.IDENTITY_LIMITS) });
}

export function identityGuards(options: { blocked?: readonly string[]; limits?: Partial<Record<IdentifierType, number>> } = {}): IdentityGuardsConfig {
  const blocked = new Set(BUILTIN_BLOCKED_VALUES);
  const blockedByType = new Map<IdentifierType, Set<string>>();
  for (const entry of options.blocked ?? []) {
    const colon = entry.indexOf(':');
    const type = colon > 0 ? parseIdentifierType(entry.slice(0, colon)) : undefined;
    if (type) {
      const set = blockedByType.get(type) ?? new Set<string>();
      set.add(
        entry
          .slice(colon + 1)
          .trim()
          .toLowerCase(),
      );
      blockedByType.set(type, set);
    } else blocked.add(entry.trim().toLowerCase());
  }
  return { limits: { ...DEFAULT_IDENTIFIER_LIMITS, ...options.limits }, blocked, blockedByType };
}

/** True when a raw value must never be used for stitching. */
export function isBlocked(guards: IdentityGuardsConfig, type: IdentifierType, raw: string): boolean {
  const value = raw.trim().toLowerCase();
  return guards.blocked.has(value) || (guards.blockedByType.get(type)?.has(value) ?? false);
}

/** Identifier hashes per type, as a profile holds them. */
export type IdentifierSets = Partial<Record<IdentifierType, ReadonlySet<string>>>;

export interface LimitViolation {
  type: IdentifierType;
  count: number;
  limit: number;
}

/** The limits the union of several profiles' identifiers would break (empty = the merge is allowed). */
export function limitViolations(guards: IdentityGuardsConfig, ...sets: IdentifierSets[]): LimitViolation[] {
  const violations: LimitViolation[] = [];
  for (const type of Object.keys(guards.limits) as IdentifierType[]) {
    const union = new Set<string>();
    for (const s of sets) for (const hash of s[type] ?? []) union.add(hash);
    const limit = guards.limits[type];
    if (union.size > limit) violations.push({ type, count: union.size, limit });
  }
  return violations;
}

export function describeViolations(violations: readonly LimitViolation[]): string {
  return violations.map((v) => `would hold ${v.count} ${v.type} identifiers (limit ${v.limit})`).join('; ');
}

function splitList(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function parseLimits(raw: string | undefined): Partial<Record<IdentifierType, number>> {
  const limits: Partial<Record<IdentifierType, number>> = {};
  for (const entry of splitList(raw)) {
    const [name = '', value = ''] = entry.split('=');
    const type = parseIdentifierType(name) ?? (isIdentifierType(name) ? name : undefined);
    const n = Number(value);
    if (!type || !Number.isInteger(n) || n < 1) throw new Error(`IDENTITY_LIMITS entry "${entry}" must be <type>=<positive integer>`);
    limits[type] = n;
  }
  return limits;
}
