import { createHash, timingSafeEqual } from 'node:crypto';
import { type SecretStore, secretSource, secrets } from './secrets';

/**
 * Keys checked against a configured list: `WRITE_KEYS` (Segment source write keys, for capture),
 * `READ_KEYS` (serving) and `ADMIN_KEYS` (operators); the route classes are in shared/http/routes.ts and
 * the decision in shared/http/authorize.ts. Each is a list separated by commas or newlines
 * whose entries are either the sha256 hex digest of a key (`sha256:<64 hex>` or bare 64 hex; what
 * production should hold, so the configuration never contains a usable key) or, for local use, the
 * key itself.
 *
 * Deployed stages keep the list in an SSM SecureString named by `WRITE_KEYS_PARAMETER` /
 * `READ_KEYS_PARAMETER` / `ADMIN_KEYS_PARAMETER` (shared/config/secrets.ts): read before the handler runs and re-read after
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
