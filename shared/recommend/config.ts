import { numberEnv, optionalEnv, requireEnv } from '../config/env';

/** Serving settings, read once per container (lazily: the local stack applies a function's environment per invocation). */
export interface ServingConfig {
  dataBucket: string;
  profilesTable: string;
  /** How long a container trusts a cached alias / catalogue / rules file before re-reading it. */
  modelAliasTtlMs: number;
  catalogTtlMs: number;
  rulesTtlMs: number;
  /** Share of shoppers served by the `challenger` alias, in [0, 1] (0 = no experiment). */
  abChallengerShare: number;
  /** Salt of the A/B hash: change it to start a new experiment with a fresh split. */
  abSalt: string;
  /** Default per-category cap in one answer (business rules may override). */
  maxPerCategory: number;
  /** Items launched less than this many days ago that the collaborative model does not know are "new". */
  newItemDays: number;
  /** Share of slots reserved for new items (floor(k · share)). */
  newItemShare: number;
  /** Served lists are written to S3 when this old (0 = after every request; batches keep an EMF copy, see ./served-log) … */
  servedLogMaxAgeMs: number;
  /** … or when this many are buffered. */
  servedLogMaxRecords: number;
}

function share(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const value = numberEnv(name, fallback, env);
  if (value < 0 || value > 1) throw new Error(`Environment variable ${name} must be between 0 and 1, got ${value}`);
  return value;
}

export function servingConfig(env: NodeJS.ProcessEnv = process.env): ServingConfig {
  const ttl = numberEnv('MODEL_ALIAS_TTL_SECONDS', 60, env) * 1000;
  return {
    dataBucket: requireEnv('DATA_BUCKET', env),
    profilesTable: requireEnv('PROFILES_TABLE', env),
    modelAliasTtlMs: ttl,
    catalogTtlMs: numberEnv('CATALOG_TTL_SECONDS', 30, env) * 1000,
    rulesTtlMs: numberEnv('RULES_TTL_SECONDS', 60, env) * 1000,
    abChallengerShare: share('AB_CHALLENGER_SHARE', 0, env),
    abSalt: optionalEnv('AB_SALT', 'recommender-ab', env),
    maxPerCategory: Math.max(1, Math.floor(numberEnv('MAX_PER_CATEGORY', 3, env))),
    newItemDays: numberEnv('NEW_ITEM_DAYS', 14, env),
    newItemShare: share('NEW_ITEM_SHARE', 0.1, env),
    servedLogMaxAgeMs: numberEnv('SERVED_LOG_MAX_AGE_SECONDS', 10, env) * 1000,
    servedLogMaxRecords: Math.max(1, Math.floor(numberEnv('SERVED_LOG_MAX_RECORDS', 500, env))),
  };
}
