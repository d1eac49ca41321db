import { describe, expect, it } from 'vitest';
import { identityOf } from '../../../../shared/identity/extract';
import { guardsFromEnv, identityGuards, isBlocked, limitViolations } from '../../../../shared/identity/guards';
import { DEV_PII_HASH_KEY, IdentifierHasher, InvalidIdentifierError, normaliseEmail, normalisePhone, piiHashKey } from '../../../../shared/identity/hashing';

const KEY = 'unit-test-key-0123456789abcdef0123456789';
const hasher = new IdentifierHasher(KEY, { defaultCountryCode: '44' });
const guards = identityGuards({ blocked: ['deviceId:STORE-TABLET-01', 'test@example.com'] });

describe('normalisation', () => {
  it('trims and lower-cases emails and refuses what is not one', () => {
    // Act / Assess
    expect(normaliseEmail('  Jane.Doe@Example.COM ')).toBe('jane.doe@example.com');
    expect(() => normaliseEmail('jane.doe-at-example.com', 'traits.email')).toThrow(InvalidIdentifierError);
    expect(() => normaliseEmail('jane@localhost')).toThrow('must be an email address');
  });

  it('turns phone numbers into E.164-ish digits', () => {
    // Act / Assess
    expect(normalisePhone('+44 (20) 7946-0958')).toBe('+442079460958');
    expect(normalisePhone('0044 20 7946 0958')).toBe('+442079460958');
    expect(normalisePhone('020 7946 0958', '44')).toBe('+442079460958');
    expect(normalisePhone('020 7946 0958')).toBe('02079460958');
    expect(() => normalisePhone('12-34')).toThrow('between 6 and 15 digits');
    expect(() => normalisePhone('call me maybe')).toThrow('only digits');
  });
});

describe('IdentifierHasher', () => {
  it('hashes the normalised value with the key, so spellings of one email give one hash', () => {
    // Act
    const a = hasher.hash('email', 'Jane@Example.com');
    const b = hasher.hash('email', ' jane@example.com');
    const other = new IdentifierHasher(`${KEY}-other`).hash('email', 'jane@example.com');

    // Assess
    expect(a).toEqual(b);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).not.toContain('jane');
    expect(other.hash).not.toBe(a.hash);
  });

  it('separates types: the same string as a user id and as an anonymous id hashes differently', () => {
    // Act / Assess
    expect(hasher.hash('userId', 'abc').hash).not.toBe(hasher.hash('anonymousId', 'abc').hash);
  });
});

describe('piiHashKey', () => {
  it('uses PII_HASH_KEY when set and refuses a short key', () => {
    // Act / Assess
    expect(piiHashKey({ PII_HASH_KEY: KEY })).toBe(KEY);
    expect(() => piiHashKey({ PII_HASH_KEY: 'short' })).toThrow('at least 32 bytes');
  });

  it('falls back to the documented dev key locally but is required in a deployed function', () => {
    // Act / Assess
    expect(piiHashKey({})).toBe(DEV_PII_HASH_KEY);
    expect(piiHashKey({ AWS_LAMBDA_FUNCTION_NAME: 'fn', AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1' })).toBe(DEV_PII_HASH_KEY);
    expect(() => piiHashKey({ AWS_LAMBDA_FUNCTION_NAME: 'omnichannel-ai-prod-captureBatch' })).toThrow('PII_HASH_KEY');
    expect(() => piiHashKey({ PII_HASH_KEY_REQUIRED: 'true' })).toThrow('PII_HASH_KEY');
  });
});

describe('guards', () => {
  it('blocks placeholder values for every type and configured values for their type only', () => {
    // Act / Assess
    for (const value of ['0', '-1', 'null', 'undefined', 'Anonymous', ' UNKNOWN ', '']) expect(isBlocked(guards, 'userId', value)).toBe(true);
    expect(isBlocked(guards, 'deviceId', 'store-tablet-01')).toBe(true);
    expect(isBlocked(guards, 'anonymousId', 'STORE-TABLET-01')).toBe(false);
    expect(isBlocked(guards, 'email', 'TEST@example.com')).toBe(true);
    expect(isBlocked(guards, 'userId', 'u-123')).toBe(false);
  });

  it('reports the per-type limits a union of identifier sets would break', () => {
    // Act
    const violations = limitViolations(guards, { userId: new Set(['a']), deviceId: new Set(['d1']) }, { userId: new Set(['b']), deviceId: new Set(['d1']) });

    // Assess
    expect(violations).toEqual([{ type: 'userId', count: 2, limit: 1 }]);
  });

  it('reads blocked values and limits from the environment and names a bad limit entry', () => {
    // Act
    const fromEnv = guardsFromEnv({ IDENTITY_BLOCKED_VALUES: 'device_id:KIOSK-7, guest', IDENTITY_LIMITS: 'email=2,deviceId=30' });

    // Assess
    expect(fromEnv.limits.email).toBe(2);
    expect(fromEnv.limits.deviceId).toBe(30);
    expect(isBlocked(fromEnv, 'deviceId', 'kiosk-7')).toBe(true);
    expect(isBlocked(fromEnv, 'userId', 'Guest')).toBe(true);
    expect(() => guardsFromEnv({ IDENTITY_LIMITS: 'email=lots' })).toThrow('IDENTITY_LIMITS entry "email=lots"');
  });
});

describe('identityOf', () => {
  it('collects every identifier of a message, hashed, highest priority first', () => {
    // Prepare
    const message = {
      type: 'identify',
      userId: 'u-1',
      anonymousId: 'anon-1',
      traits: { email: 'Jane@Example.com', phone: '020 7946 0958', loyalty_card: 'LC-9', unionid: 'union-1' },
      context: { device: { id: 'dev-1' }, pos_customer_id: 'POS-7', openid: 'open-1' },
    };

    // Act
    const identity = identityOf(message, { hasher, guards });

    // Assess
    expect(identity.identifiers.map((i) => i.type)).toEqual([
      'userId',
      'email',
      'phone',
      'loyaltyCard',
      'posCustomerId',
      'unionid',
      'openid',
      'deviceId',
      'anonymousId',
    ]);
    expect(identity.identifiers.find((i) => i.type === 'email')).toEqual(hasher.hash('email', 'jane@example.com'));
    expect(identity.identifiers.find((i) => i.type === 'phone')).toEqual(hasher.hash('phone', '+442079460958'));
    expect(JSON.stringify(identity)).not.toMatch(/jane|u-1|anon-1|dev-1/);
    expect(identity.issues).toEqual([]);
  });

  it('drops blocked placeholders and malformed values, naming the field and the reason', () => {
    // Prepare
    const message = { type: 'track', userId: 'unknown', anonymousId: 'a-2', traits: { email: 'not-an-email' }, context: { device: { id: 'STORE-TABLET-01' } } };

    // Act
    const identity = identityOf(message, { hasher, guards });

    // Assess
    expect(identity.identifiers).toEqual([hasher.hash('anonymousId', 'a-2')]);
    expect(identity.blocked).toEqual(['userId', 'context.device.id']);
    expect(identity.issues).toEqual([{ field: 'traits.email', reason: 'must be an email address (name@domain.tld)' }]);
  });

  it('reads consent from context.consent before traits.consent and reports non-boolean flags', () => {
    // Act
    const identity = identityOf(
      { type: 'track', anonymousId: 'a', context: { consent: { tracking: false } }, traits: { consent: { tracking: true, personalization: 'no' } } },
      { hasher, guards },
    );

    // Assess
    expect(identity.consent).toEqual({ tracking: false });
    expect(identity.issues).toEqual([{ field: 'traits.consent.personalization', reason: 'must be a boolean' }]);
  });

  it('keeps both readings of an alias previousId (older user id or anonymous id)', () => {
    // Act
    const identity = identityOf({ type: 'alias', userId: 'u-new', previousId: 'old-id' }, { hasher, guards });

    // Assess
    expect(identity.previous).toEqual({ userId: hasher.hash('userId', 'old-id').hash, anonymousId: hasher.hash('anonymousId', 'old-id').hash });
  });
});
