import { createHmac, hkdfSync } from 'node:crypto';
import { MissingEnvironmentError } from '../config/env';
import { MIN_PII_HASH_KEY_BYTES, type SecretStore, secretSource, secrets } from '../config/secrets';
import type { HashedIdentifier, IdentifierType } from './identifiers';

export { MIN_PII_HASH_KEY_BYTES };

/**
 * The key of the local stack, unit tests and CLI runs: public by design (it is in this file), so
 * hashes made with it protect nothing. A deployed function (AWS_LAMBDA_FUNCTION_NAME set and no
 * emulator endpoint) refuses to start without PII_HASH_KEY_PARAMETER or PII_HASH_KEY, so this key
 * can never hash real data.
 */
export const DEV_PII_HASH_KEY = 'omnichannel-ai/dev-only/pii-hash-key/not-a-secret';

/** True inside a deployed Lambda (the local stack's functions point their SDKs at emulators). */
function deployed(env: NodeJS.ProcessEnv): boolean {
  const emulated = Boolean(env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL);
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME) && !emulated;
}

/**
 * The HMAC key for personal identifiers, from (shared/config/secrets.ts):
 * - PII_HASH_KEY_PARAMETER: an SSM SecureString, read by `secrets().load()` before the handler runs
 *   (secretsMiddleware); reading it earlier throws SecretNotLoadedError;
 * - else PII_HASH_KEY (local runs, tests);
 * - else, when deployed or PII_HASH_KEY_REQUIRED=true, an error naming both; otherwise DEV_PII_HASH_KEY.
 */
export function piiHashKey(env: NodeJS.ProcessEnv = process.env, store: SecretStore = secrets()): string {
  const source = secretSource('PII_HASH_KEY', env);
  const where = source.from === 'ssm' ? `SSM parameter ${source.parameter} (${source.variable})` : 'Environment variable PII_HASH_KEY';
  const key = source.from === 'ssm' ? store.loadedValue('PII_HASH_KEY', source.parameter) : source.value;
  if (key !== undefined) {
    if (Buffer.byteLength(key, 'utf8') < MIN_PII_HASH_KEY_BYTES) throw new Error(`${where} must be at least ${MIN_PII_HASH_KEY_BYTES} bytes long`);
    return key;
  }
  if (deployed(env) || env.PII_HASH_KEY_REQUIRED === 'true')
    throw new MissingEnvironmentError('PII_HASH_KEY_PARAMETER', 'the name of the SSM SecureString parameter holding the key (or PII_HASH_KEY, the key itself)');
  return DEV_PII_HASH_KEY;
}

export class InvalidIdentifierError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field} ${reason}`);
    this.name = 'InvalidIdentifierError';
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Trimmed and lower-cased (the local part too: mailbox case-sensitivity is not honoured in practice). */
export function normaliseEmail(raw: string, field = 'email'): string {
  const email = raw.trim().toLowerCase();
  if (!EMAIL.test(email) || email.length > 254) throw new InvalidIdentifierError(field, 'must be an email address (name@domain.tld)');
  return email;
}

/**
 * E.164-ish: separators dropped, `00` international prefix turned into `+`, a national number
 * (leading single 0) prefixed with the default country calling code when one is configured.
 * Numbers without a country code stay as bare digits (no phone-number database here).
 */
export function normalisePhone(raw: string, defaultCountryCode?: string, field = 'phone'): string {
  const trimmed = raw.trim();
  if (/[^\d\s+().\-/]/.test(trimmed)) throw new InvalidIdentifierError(field, 'must contain only digits, spaces, +, -, ., / and parentheses');
  let digits = trimmed.replace(/\D/g, '');
  let international = trimmed.startsWith('+');
  if (!international && digits.startsWith('00')) {
    digits = digits.slice(2);
    international = true;
  }
  if (!international && defaultCountryCode && /^0[1-9]/.test(digits)) {
    digits = `${defaultCountryCode}${digits.slice(1)}`;
    international = true;
  }
  if (digits.length < 6 || digits.length > 15) throw new InvalidIdentifierError(field, 'must have between 6 and 15 digits');
  return international ? `+${digits}` : digits;
}

/** Other identifiers: trimmed, compared exactly (ids are case-sensitive in most systems). */
export function normaliseId(raw: string, field: string): string {
  const value = raw.trim();
  if (value === '') throw new InvalidIdentifierError(field, 'must not be empty');
  if (value.length > 200) throw new InvalidIdentifierError(field, 'must be at most 200 characters');
  return value;
}

export interface NormaliseOptions {
  /** Country calling code for national phone numbers, e.g. "44" (env PHONE_DEFAULT_COUNTRY_CODE). */
  defaultCountryCode?: string;
}

export function normaliseIdentifier(type: IdentifierType, raw: string, options: NormaliseOptions = {}, field: string = type): string {
  if (type === 'email') return normaliseEmail(raw, field);
  if (type === 'phone') return normalisePhone(raw, options.defaultCountryCode, field);
  return normaliseId(raw, field);
}

/**
 * Keyed hashing of identifiers: HMAC-SHA256(key, "<type>\n<normalised value>") as hex. The type is
 * part of the message, so the same string as an email and as a user id gives unrelated hashes.
 */
export class IdentifierHasher {
  private keyBytes: Buffer | undefined;
  private readonly keySource: () => string;

  /**
   * `key` may be a function: it is called once, on first use (the key from SSM is only there once
   * the handler's secretsMiddleware has loaded it, after module-scope code built this hasher).
   */
  constructor(
    key: string | (() => string),
    readonly options: NormaliseOptions = {},
  ) {
    if (typeof key === 'string') this.keyBytes = Buffer.from(key, 'utf8');
    this.keySource = typeof key === 'string' ? () => key : key;
  }

  private get key(): Buffer {
    this.keyBytes ??= Buffer.from(this.keySource(), 'utf8');
    return this.keyBytes;
  }

  /** Hash of an already-normalised value. */
  hashNormalised(type: IdentifierType, normalised: string): string {
    return createHmac('sha256', this.key).update(type).update('\n').update(normalised).digest('hex');
  }

  /**
   * A key for another purpose (HKDF-SHA256 of the PII key, RFC 5869), separated by its `info` label:
   * never the hashing key itself, and knowing one derived key reveals neither the others nor this one.
   */
  deriveKey(info: string, bytes = 32): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, 'omnichannel-ai/pii-key-derivation', info, bytes));
  }

  /** Normalises then hashes; throws InvalidIdentifierError (field + reason) for a malformed value. */
  hash(type: IdentifierType, raw: string, field: string = type): HashedIdentifier {
    return { type, hash: this.hashNormalised(type, normaliseIdentifier(type, raw, this.options, field)) };
  }
}

let cached: IdentifierHasher | undefined;

/**
 * The process-wide hasher, built once. A key from the environment is checked now (configuration
 * fails fast, at cold start); a key from SSM is checked when secretsMiddleware loads it, before the
 * handler runs, and taken by the hasher on first use.
 */
export function defaultHasher(env: NodeJS.ProcessEnv = process.env): IdentifierHasher {
  if (env !== process.env) return hasherFrom(env);
  cached ??= hasherFrom(env);
  return cached;
}

function hasherFrom(env: NodeJS.ProcessEnv): IdentifierHasher {
  if (secretSource('PII_HASH_KEY', env).from === 'ssm') return new IdentifierHasher(() => piiHashKey(env), countryOption(env));
  return new IdentifierHasher(piiHashKey(env), countryOption(env));
}

/** Tests and the local stack change the environment between runs. */
export function resetDefaultHasher(): void {
  cached = undefined;
}

function countryOption(env: NodeJS.ProcessEnv): NormaliseOptions {
  const code = env.PHONE_DEFAULT_COUNTRY_CODE?.replace(/\D/g, '');
  return code ? { defaultCountryCode: code } : {};
}
