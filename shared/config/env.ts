/**
 * Configuration is read once and fails fast: a missing variable throws with its name
 * instead of surfacing later as `undefined` (Powertools envUtils style).
 */
export class MissingEnvironmentError extends Error {
  /** `what`: what the variable holds (or its alternatives), appended to the message. */
  constructor(
    readonly variable: string,
    what?: string,
  ) {
    super(`Missing required environment variable ${variable}${what ? `: ${what}` : ''}`);
    this.name = 'MissingEnvironmentError';
  }
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}

export function optionalEnv(name: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

export function numberEnv(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`Environment variable ${name} must be a number, got "${raw}"`);
  return value;
}

export interface AppConfig {
  dataBucket: string;
  profilesTable: string;
  /** Seconds a serving container trusts its cached champion alias before re-reading it. */
  modelAliasTtlSeconds: number;
}

let cached: AppConfig | undefined;

export function appConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  if (cached && env === process.env) return cached;
  const config: AppConfig = {
    dataBucket: requireEnv('DATA_BUCKET', env),
    profilesTable: requireEnv('PROFILES_TABLE', env),
    modelAliasTtlSeconds: numberEnv('MODEL_ALIAS_TTL_SECONDS', 60, env),
  };
  if (env === process.env) cached = config;
  return config;
}

/** Tests and the local stack change the environment between runs. */
export function resetConfigCache(): void {
  cached = undefined;
}
