import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { numberEnv } from './env';

/**
 * Secrets from SSM Parameter Store, read at cold start and cached, so no secret sits in a function's
 * configuration or in the CloudFormation template, and a rotated write key needs no redeploy.
 *
 * Each secret has two sources, chosen per process by the environment:
 *   - `<NAME>_PARAMETER` set (deployed stages): the name of an SSM SecureString parameter, read
 *     decrypted through Powertools Parameters by `SecretStore.load()` before the handler runs
 *     (`secretsMiddleware`, in the HTTP and job handler wrappers);
 *   - otherwise `<NAME>` itself (tests, CLIs: offline, unchanged).
 * Setting both is a configuration error (which one wins would be a guess). The embedded local stack
 * (`npm start`, integration tests) gives its functions serverless.yml's environment, parameter names
 * included, but has no SSM: where S3/DynamoDB are emulated and no SSM endpoint is set
 * (AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL), the parameter names are ignored and `<NAME>` applies.
 *
 * Powertools Parameters (2.35.0, its newest release on the registry; logger/metrics are 2.36.0) rather
 * than @middy/ssm: it is callable outside a middleware, caches per call with a max age and batches
 * GetParameters, while @middy/ssm refreshes on a background timer and hands values over on the context.
 */
export const SECRET_NAMES = ['PII_HASH_KEY', 'WRITE_KEYS', 'READ_KEYS', 'ADMIN_KEYS'] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/** HMAC-SHA256 keys shorter than this are refused (RFC 2104: at least the hash output length). */
export const MIN_PII_HASH_KEY_BYTES = 32;

interface SecretSpec {
  /**
   * Re-read after SECRETS_MAX_AGE_SECONDS (write and admin keys: a rotation is honoured within
   * minutes). false: read once per container (the PII key: changing it mid-container would give the
   * same shopper two hashes).
   */
  refresh: boolean;
  minBytes?: number;
}

const SPECS: Record<SecretName, SecretSpec> = {
  PII_HASH_KEY: { refresh: false, minBytes: MIN_PII_HASH_KEY_BYTES },
  WRITE_KEYS: { refresh: true },
  READ_KEYS: { refresh: true },
  ADMIN_KEYS: { refresh: true },
};

export const DEFAULT_SECRETS_MAX_AGE_SECONDS = 300;
/** After a failed refresh the last value is kept; SSM is asked again after this long at the latest. */
const RETRY_AFTER_FAILURE_SECONDS = 30;
/** SSM parameter names: a path (the IAM policy's ARN is `…:parameter<name>`), SSM's character set. */
const PARAMETER_NAME = /^\/[A-Za-z0-9_.\-/]{1,2047}$/;

export const parameterVariable = (name: SecretName) => `${name}_PARAMETER`;

export interface SsmSecretSource {
  from: 'ssm';
  name: SecretName;
  parameter: string;
  /** `<NAME>_PARAMETER` */
  variable: string;
}
export interface EnvSecretSource {
  from: 'env';
  name: SecretName;
  variable: SecretName;
  value: string | undefined;
}
export type SecretSource = SsmSecretSource | EnvSecretSource;

/** Configuration that cannot work (both sources set, a malformed parameter name). */
export class SecretConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretConfigError';
  }
}

/** A parameter that could not be read (missing, forbidden, invalid value), named with its variable. */
export class SecretParameterError extends Error {
  constructor(
    message: string,
    readonly parameters: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SecretParameterError';
  }
}

/** A value read synchronously before `SecretStore.load()` fetched it: a wiring error. */
export class SecretNotLoadedError extends Error {
  constructor(name: SecretName, parameter: string) {
    super(
      `${name} comes from SSM parameter ${parameter} (${parameterVariable(name)}) and has not been loaded yet: the handler must await secrets().load() first (secretsMiddleware in httpHandler/jobHandler)`,
    );
    this.name = 'SecretNotLoadedError';
  }
}

/** False on the embedded local stack: S3/DynamoDB point at emulators and nothing answers for SSM. */
export function ssmReachable(env: NodeJS.ProcessEnv = process.env): boolean {
  const emulated = Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL_DYNAMODB);
  return !emulated || Boolean(env.AWS_ENDPOINT_URL_SSM ?? env.AWS_ENDPOINT_URL);
}

/** Where a secret comes from in this environment; throws SecretConfigError for a configuration that cannot work. */
export function secretSource(name: SecretName, env: NodeJS.ProcessEnv = process.env): SecretSource {
  const variable = parameterVariable(name);
  const parameter = env[variable]?.trim();
  const value = env[name];
  if (parameter === undefined || parameter === '' || !ssmReachable(env)) return { from: 'env', name, variable: name, value: value === '' ? undefined : value };
  if (value !== undefined && value !== '')
    throw new SecretConfigError(`Set either ${variable} (the SSM SecureString parameter holding ${name}) or ${name} (the value itself), not both`);
  if (!PARAMETER_NAME.test(parameter))
    throw new SecretConfigError(
      `Environment variable ${variable} must be an SSM parameter name starting with "/" (letters, digits, _ . - /), got "${parameter}"`,
    );
  return { from: 'ssm', name, parameter, variable };
}

/** SECRETS_MAX_AGE_SECONDS: how long a value read from SSM is trusted before it is read again (default 300). */
export function secretsMaxAgeSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = numberEnv('SECRETS_MAX_AGE_SECONDS', DEFAULT_SECRETS_MAX_AGE_SECONDS, env);
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new SecretConfigError(`Environment variable SECRETS_MAX_AGE_SECONDS must be a whole number of seconds ≥ 1, got "${env.SECRETS_MAX_AGE_SECONDS}"`);
  return seconds;
}

/** A refresh that failed: the previous value stays in use. */
export interface StaleSecret {
  name: SecretName;
  parameter: string;
  reason: string;
}

export interface LoadReport {
  /** Parameters whose value was asked for (from SSM, or from the Powertools cache while fresh). */
  read: string[];
  stale: StaleSecret[];
}

interface Loaded {
  parameter: string;
  value: string;
  /** No SSM call for this secret before this time (after a failed refresh). */
  retryAt: number;
}

export interface SecretStoreOptions {
  /** Read on every load (the local stack changes the environment between runs). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: a Powertools SSMProvider with its own SSMClient, created on first use. */
  provider?: SSMProvider;
  now?: () => number;
}

/** Why a value read from SSM cannot be used, or undefined. */
function invalidValue(name: SecretName, value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return 'is empty';
  const min = SPECS[name].minBytes;
  if (min !== undefined && Buffer.byteLength(value, 'utf8') < min) return `must hold at least ${min} bytes`;
  return undefined;
}

const describeParameter = (s: { name: SecretName; parameter: string }) => `SSM parameter ${s.parameter} (${parameterVariable(s.name)})`;
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * The secrets of one process. `load()` reads every secret configured from SSM that is due (never
 * read, or refreshable and older than the max age) in one GetParameters call; `value()` then answers
 * synchronously. A first read that fails throws (the function cannot serve); a refresh that fails
 * keeps the previous value and reports it as stale (an SSM hiccup must not take capture down).
 */
export class SecretStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly now: () => number;
  private provider: SSMProvider | undefined;
  private readonly loaded = new Map<SecretName, Loaded>();
  private inFlight: Promise<LoadReport> | undefined;

  constructor(options: SecretStoreOptions = {}) {
    this.env = options.env ?? process.env;
    this.now = options.now ?? Date.now;
    this.provider = options.provider;
  }

  /** The secrets this process reads from SSM, as the environment says now. */
  ssmSources(): SsmSecretSource[] {
    const out: SsmSecretSource[] = [];
    for (const name of SECRET_NAMES) {
      const source = secretSource(name, this.env);
      if (source.from === 'ssm') out.push(source);
    }
    return out;
  }

  /** Reads what is due; concurrent callers (the local stack serves requests concurrently) share one read. */
  load(): Promise<LoadReport> {
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async read(): Promise<LoadReport> {
    const sources = this.ssmSources();
    if (sources.length === 0) return { read: [], stale: [] };
    const maxAge = secretsMaxAgeSeconds(this.env);
    const now = this.now();
    const due = sources.filter((s) => {
      const current = this.loaded.get(s.name);
      if (current?.parameter !== s.parameter) return true;
      return SPECS[s.name].refresh && current.retryAt <= now;
    });
    if (due.length === 0) return { read: [], stale: [] };

    const { values, failures, cause } = await this.fetch(due, maxAge);
    for (const s of due) {
      if (failures.has(s.name)) continue;
      const invalid = invalidValue(s.name, values[s.parameter]);
      if (invalid) failures.set(s.name, invalid);
      else this.loaded.set(s.name, { parameter: s.parameter, value: values[s.parameter] as string, retryAt: now });
    }

    const stale: StaleSecret[] = [];
    const fatal: { source: SsmSecretSource; reason: string }[] = [];
    for (const [name, reason] of failures) {
      const source = due.find((s) => s.name === name) as SsmSecretSource;
      const previous = this.loaded.get(name);
      if (previous?.parameter !== source.parameter) {
        fatal.push({ source, reason });
        continue;
      }
      previous.retryAt = now + Math.min(maxAge, RETRY_AFTER_FAILURE_SECONDS) * 1000;
      stale.push({ name, parameter: source.parameter, reason });
    }
    if (fatal.length > 0) {
      throw new SecretParameterError(
        fatal.map((f) => `${describeParameter(f.source)} ${f.reason}`).join('; '),
        fatal.map((f) => f.source.parameter),
        cause === undefined ? undefined : { cause },
      );
    }
    return { read: due.map((s) => s.parameter), stale };
  }

  /** One GetParameters call (decrypted; Powertools answers from its cache while a value is fresh). */
  private async fetch(
    due: SsmSecretSource[],
    maxAge: number,
  ): Promise<{ values: Record<string, unknown>; failures: Map<SecretName, string>; cause?: unknown }> {
    const failures = new Map<SecretName, string>();
    try {
      const provider = await this.ssm();
      const request = Object.fromEntries(due.map((s) => [s.parameter, { maxAge }]));
      const { _errors: missing = [], ...values } = await provider.getParametersByName(request, { decrypt: true, throwOnError: false });
      for (const s of due.filter((d) => missing.includes(d.parameter))) {
        const create = `\`aws ssm put-parameter --type SecureString --name ${s.parameter} --value …\``;
        failures.set(s.name, `does not exist in this account and region: create it with ${create} (README, "Secrets")`);
      }
      return { values, failures };
    } catch (error) {
      for (const s of due) failures.set(s.name, `could not be read: ${errorText(error)}`);
      return { values: {}, failures, cause: error };
    }
  }

  /** The value of a secret read from `parameter`; throws SecretNotLoadedError before `load()` read it. */
  loadedValue(name: SecretName, parameter: string): string {
    const current = this.loaded.get(name);
    if (current?.parameter !== parameter) throw new SecretNotLoadedError(name, parameter);
    return current.value;
  }

  /** Forgets every value read (and the provider's cache): the next load reads SSM again. */
  clear(): void {
    this.loaded.clear();
    this.provider?.clearCache();
  }

  /**
   * Imported on first use: every function bundles this module (the handler wrappers load secrets), and
   * requiring the SSM client costs 40–80 ms of cold start even after the S3 client is loaded.
   */
  private async ssm(): Promise<SSMProvider> {
    if (!this.provider) {
      const { SSMProvider } = await import('@aws-lambda-powertools/parameters/ssm');
      this.provider ??= new SSMProvider();
    }
    return this.provider;
  }
}

let shared: SecretStore | undefined;

/** The process-wide store (process.env, Powertools' SSMProvider). */
export function secrets(): SecretStore {
  shared ??= new SecretStore();
  return shared;
}

/**
 * Tests: forget every loaded value (and the provider's cache with it). The instance stays, so what
 * module-scope code captured (authConfig's store) and what secretsMiddleware loads remain one store.
 */
export function resetSecrets(): void {
  shared?.clear();
}
