import type { FieldIssue } from '../http/errors';
import { defaultHasher, type IdentifierHasher, InvalidIdentifierError } from './hashing';
import { guardsFromEnv, type IdentityGuardsConfig, isBlocked } from './guards';
import { type HashedIdentifier, type IdentifierType, uniqueIdentifiers } from './identifiers';

/** Consent flags a shopper gave (context.consent or traits.consent); absent = not stated by this event. */
export interface Consent {
  /** false: the shopper's events are not stored (accepted and counted as suppressed). */
  tracking?: boolean;
  /** false: recommendations fall back to non-personalised popular items. */
  personalization?: boolean;
}

/** What identity resolution needs from one message: hashed identifiers only, never a raw value. */
export interface EventIdentity {
  /** Typed, normalised, keyed-hashed, blocked values removed, highest priority first. */
  identifiers: HashedIdentifier[];
  /**
   * Alias `previousId`: Segment does not say whether it was an anonymous id or an older user id,
   * so both hashes are kept and the graph uses whichever is linked (anonymous id when neither is).
   */
  previous?: { userId: string; anonymousId: string };
  consent?: Consent;
  /** Fields whose value is a blocked placeholder (never used for stitching). */
  blocked: string[];
  /** Malformed identifiers (dropped; the event itself is kept). */
  issues: FieldIssue[];
}

/** The parts of a Segment message identity reads (structurally: any Segment-shaped object). */
export interface IdentitySource {
  type?: string;
  userId?: string;
  anonymousId?: string;
  previousId?: string;
  traits?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

type Getter = (m: IdentitySource) => unknown;

const ctx = (m: IdentitySource) => m.context ?? {};
const ctxTraits = (m: IdentitySource) => asRecord(ctx(m).traits);
const traits = (m: IdentitySource) => m.traits ?? {};

/** Where each identifier type is read from, in order; every present value is used. */
export const IDENTIFIER_SOURCES: readonly { type: IdentifierType; field: string; get: Getter }[] = [
  { type: 'userId', field: 'userId', get: (m) => m.userId },
  { type: 'anonymousId', field: 'anonymousId', get: (m) => m.anonymousId },
  { type: 'email', field: 'traits.email', get: (m) => traits(m).email },
  { type: 'email', field: 'context.traits.email', get: (m) => ctxTraits(m).email },
  { type: 'phone', field: 'traits.phone', get: (m) => traits(m).phone },
  { type: 'phone', field: 'context.traits.phone', get: (m) => ctxTraits(m).phone },
  { type: 'deviceId', field: 'context.device.id', get: (m) => asRecord(ctx(m).device).id },
  { type: 'loyaltyCard', field: 'traits.loyalty_card', get: (m) => traits(m).loyalty_card },
  { type: 'loyaltyCard', field: 'context.loyalty_card', get: (m) => ctx(m).loyalty_card },
  { type: 'loyaltyCard', field: 'context.traits.loyalty_card', get: (m) => ctxTraits(m).loyalty_card },
  { type: 'posCustomerId', field: 'context.pos_customer_id', get: (m) => ctx(m).pos_customer_id },
  { type: 'posCustomerId', field: 'traits.pos_customer_id', get: (m) => traits(m).pos_customer_id },
  { type: 'openid', field: 'context.openid', get: (m) => ctx(m).openid },
  { type: 'openid', field: 'traits.openid', get: (m) => traits(m).openid },
  { type: 'unionid', field: 'context.unionid', get: (m) => ctx(m).unionid },
  { type: 'unionid', field: 'traits.unionid', get: (m) => traits(m).unionid },
];

export interface IdentityOptions {
  hasher?: IdentifierHasher;
  guards?: IdentityGuardsConfig;
}

let cachedGuards: IdentityGuardsConfig | undefined;
function defaultGuards(): IdentityGuardsConfig {
  cachedGuards ??= guardsFromEnv();
  return cachedGuards;
}

/** Forget the guards read from the environment (tests change IDENTITY_BLOCKED_VALUES). */
export function resetDefaultGuards(): void {
  cachedGuards = undefined;
}

/**
 * The identity of one Segment message: every identifier it carries, normalised and hashed with
 * the keyed hash, blocked placeholders removed, plus alias and consent. Never throws: a malformed
 * identifier becomes an issue (field + reason) and the rest is kept.
 */
export function identityOf(message: IdentitySource, options: IdentityOptions = {}): EventIdentity {
  const hasher = options.hasher ?? defaultHasher();
  const guards = options.guards ?? defaultGuards();
  const identity: EventIdentity = { identifiers: [], blocked: [], issues: [] };
  for (const source of IDENTIFIER_SOURCES) {
    const raw = scalar(source.get(message));
    if (raw === undefined) continue;
    if (isBlocked(guards, source.type, raw)) {
      identity.blocked.push(source.field);
      continue;
    }
    try {
      identity.identifiers.push(hasher.hash(source.type, raw, source.field));
    } catch (error) {
      if (!(error instanceof InvalidIdentifierError)) throw error;
      identity.issues.push({ field: error.field, reason: error.reason });
    }
  }
  identity.identifiers = uniqueIdentifiers(identity.identifiers);
  const previousId = message.type === 'alias' ? scalar(message.previousId) : undefined;
  if (previousId !== undefined) {
    if (isBlocked(guards, 'anonymousId', previousId) || isBlocked(guards, 'userId', previousId)) identity.blocked.push('previousId');
    else {
      try {
        identity.previous = {
          userId: hasher.hash('userId', previousId, 'previousId').hash,
          anonymousId: hasher.hash('anonymousId', previousId, 'previousId').hash,
        };
      } catch (error) {
        if (!(error instanceof InvalidIdentifierError)) throw error;
        identity.issues.push({ field: error.field, reason: error.reason });
      }
    }
  }
  const consent = consentOf(message, identity.issues);
  if (consent) identity.consent = consent;
  return identity;
}

/** context.consent wins over traits.consent, flag by flag; non-boolean flags are reported and ignored. */
export function consentOf(message: IdentitySource, issues: FieldIssue[] = []): Consent | undefined {
  const consent: Consent = {};
  const read = (value: unknown, field: string) => {
    const record = asRecord(value);
    for (const flag of ['tracking', 'personalization'] as const) {
      const v = record[flag];
      if (v === undefined || consent[flag] !== undefined) continue;
      if (typeof v === 'boolean') consent[flag] = v;
      else issues.push({ field: `${field}.${flag}`, reason: 'must be a boolean' });
    }
  };
  read(ctx(message).consent, 'context.consent');
  read(traits(message).consent, 'traits.consent');
  read(ctxTraits(message).consent, 'context.traits.consent');
  return consent.tracking === undefined && consent.personalization === undefined ? undefined : consent;
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
