import { createHash, timingSafeEqual } from 'node:crypto';
import { type SecretStore, secretSource, secrets } from '../config/secrets';
import { HttpError } from '../http/errors';

/**
 * Keys checked against a configured list: `WRITE_KEYS` (Segment source write keys, for capture) and
 * `ADMIN_KEYS` (operators, for the quarantine API). Each is a list separated by commas or newlines
 * whose entries are either the sha256 hex digest of a key (`sha256:<64 hex>` or bare 64 hex; what
 * production should hold, so the configuration never contains a usable key) or, for local use, the
 * key itself.
 *
 * Deployed stages keep the list in an SSM SecureString named by `WRITE_KEYS_PARAMETER` /
 * `ADMIN_KEYS_PARAMETER` (shared/config/secrets.ts): read before the handler runs and re-read after
 * SECRETS_MAX_AGE_SECONDS, so adding or removing a key needs no redeploy. Without a parameter the
 * variable itself holds the list (local stack, tests).
 */
export interface KeyRing {
  /** At least one key is configured. */
  readonly configured: boolean;
  readonly size: number;
  matches(key: string): boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();
const HASHED = /^(?:sha256:)?([0-9a-f]{64})$/i;

export function keyRing(list: string | undefined): KeyRing {
  const digests = (list ?? '')
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const hashed = HASHED.exec(entry);
      return hashed ? Buffer.from(hashed[1] as string, 'hex') : sha256(entry);
    });
  return {
    configured: digests.length > 0,
    size: digests.length,
    // Digests have one length, so timingSafeEqual applies; every entry is compared (no early exit).
    matches: (key) => {
      const digest = sha256(key);
      let found = false;
      for (const candidate of digests) found = timingSafeEqual(candidate, digest) || found;
      return found;
    },
  };
}

/** `open`: no keys configured on the local stack (emulator endpoints set); `unconfigured`: no keys anywhere else. */
export type AuthMode = 'keys' | 'open' | 'unconfigured';

export type KeyListName = 'WRITE_KEYS' | 'READ_KEYS' | 'ADMIN_KEYS';

export interface AuthConfig {
  /** The variable named in error messages: `WRITE_KEYS`, or `WRITE_KEYS_PARAMETER` (the parameter's name is not sent to clients). */
  readonly variable: string;
  readonly source: 'environment' | 'ssm';
  /** From SSM: the list as last loaded (throws SecretNotLoadedError before the first load). */
  readonly ring: KeyRing;
  readonly mode: AuthMode;
}

function usesEmulators(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL);
}

/**
 * The key list of `name`. From the environment it is read once, here: with no key, the embedded local
 * stack (its functions talk to emulators) accepts every request, so `npm start` and the demo need no
 * setup, and a deployed function refuses every request with 503 (a misconfiguration, retried by
 * Segment clients rather than dropped as a 401 would be) until keys are configured. From SSM the ring
 * follows the store's current value, so a refresh (secretsMiddleware) takes effect on the next request;
 * an SSM list is never `open`.
 */
export function authConfig(name: KeyListName, env: NodeJS.ProcessEnv = process.env, store: SecretStore = secrets()): AuthConfig {
  const source = secretSource(name, env);
  if (source.from === 'env') {
    const ring = keyRing(source.value);
    const mode: AuthMode = ring.configured ? 'keys' : usesEmulators(env) ? 'open' : 'unconfigured';
    return { variable: name, source: 'environment', ring, mode };
  }
  let parsed: { value: string; ring: KeyRing } | undefined;
  const current = (): KeyRing => {
    const value = store.loadedValue(name, source.parameter);
    if (parsed?.value !== value) parsed = { value, ring: keyRing(value) };
    return parsed.ring;
  };
  return {
    variable: source.variable,
    source: 'ssm',
    get ring() {
      return current();
    },
    get mode(): AuthMode {
      return current().configured ? 'keys' : 'unconfigured';
    },
  };
}

export const unauthorized = (reason: string, challenge = 'Basic realm="capture", charset="UTF-8"') =>
  new HttpError(401, 'Unauthorized', { reason }, { 'WWW-Authenticate': challenge });

function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

export interface PresentedKey {
  /** How the key arrived. */
  via: 'basic' | 'bearer' | 'body';
  key: string;
}

/**
 * The key in the Authorization header: HTTP Basic with the key as user name (Segment's scheme:
 * `base64(writeKey + ':')`; the password is ignored), or `Bearer <key>` when `bearer` is allowed.
 * Undefined when there is no Authorization header; 401 when there is one we cannot read.
 */
export function headerKey(headers: Record<string, string | undefined> | undefined, options: { bearer?: boolean } = {}): PresentedKey | undefined {
  const value = header(headers, 'authorization');
  if (value === undefined || value.trim() === '') return undefined;
  const [scheme = '', token = ''] = value.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const key = colon >= 0 ? decoded.slice(0, colon) : decoded;
    if (key === '') throw unauthorized('the Basic credentials carry no key: send the key as the user name and an empty password');
    return { via: 'basic', key };
  }
  if (options.bearer && scheme.toLowerCase() === 'bearer' && token !== '') return { via: 'bearer', key: token };
  throw unauthorized(`the Authorization scheme must be Basic${options.bearer ? ' or Bearer' : ''}`);
}

export interface KeyUse {
  /** What the key is called in messages: `write key`, `admin key`. */
  name: string;
  /** How to send it, appended to the "missing" reason. */
  hint: string;
  /** What refuses service when no key is configured: `capture`, `the quarantine API`. */
  service: string;
}

/** Throws 401 (missing or unknown key) or 503 (no keys configured outside the local stack). */
export function authenticate(config: AuthConfig, presented: PresentedKey | undefined, use: KeyUse): void {
  if (config.mode === 'open') return;
  if (config.mode === 'unconfigured') {
    const what =
      config.source === 'environment'
        ? `${config.variable} holds no key (set ${config.variable}_PARAMETER to the SSM SecureString parameter that holds them)`
        : `the SSM parameter named by ${config.variable} holds no key`;
    throw new HttpError(503, `${use.service} is not configured: ${what}`);
  }
  if (!presented) throw unauthorized(`a ${use.name} is required: ${use.hint}`);
  const via = presented.via === 'body' ? 'writeKey in the body' : `${presented.via === 'basic' ? 'Basic' : 'Bearer'} auth`;
  if (!config.ring.matches(presented.key)) throw unauthorized(`the ${use.name} sent as ${via} is not a configured key`);
}
