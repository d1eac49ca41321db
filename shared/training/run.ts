/**
 * The retraining run: its request (the state machine input), its configuration (request over
 * environment defaults, resolved once by PrepareSnapshot and carried in the state) and the state the
 * tasks pass along. Types and validation only: no AWS SDK, no model code.
 */
import { z } from 'zod';
import type { FamilyScores, Hyperparameters } from '../families/contract';
import { familyNames, getFamily, hasFamily } from '../../models/families';
import { numberEnv, optionalEnv } from '../config/env';
import { zodIssues } from '../http/validation';
import { type GatePolicy, GatePolicyError, gatePolicySchema, parseGatePolicy } from '../registry/gate';
import { gatePolicyFromEnv } from './policy';
import type { SnapshotManifest } from '../snapshots/snapshot';

export type { GatePolicy };

export interface FargateConfig {
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: 'ENABLED' | 'DISABLED';
}

export interface RunConfig {
  /** The families this run trains (RETRAIN_FAMILIES, or the request's `families`), each judged on its own. */
  families: string[];
  holdoutDays: number;
  minHoldoutUsers: number;
  /** Per family: hyperparameter overrides for this run. */
  hyperparameters: Record<string, Hyperparameters>;
  /** Per family: the gate policy (shared/registry/gate.ts defaults, then GATE_POLICY, then the request). */
  policies: Record<string, GatePolicy>;
  compute: {
    /** Snapshots with more interactions than this train on ECS Fargate instead of Lambda (a Choice state reads it). */
    fargateAboveInteractions: number;
    fargate: FargateConfig;
  };
}

/** What a family's evaluation task returns: candidate, champion and baseline scored on the SAME cases. */
export interface FamilyEvaluation extends FamilyScores {
  family: string;
  candidate: { version: string; trainingSeconds: number; compute: string; hyperparameters: Hyperparameters };
}

export interface FamilyGate {
  family: string;
  passed: boolean;
  reasons: string[];
  policy: GatePolicy;
  /** The champion the candidate was judged against (the alias may only move from this version). */
  championVersion: string | null;
}

export interface Promotion {
  family: string;
  version: string;
  previous?: string;
}

/** PrepareSnapshot's decision for one enabled family. */
export interface FamilyPlan {
  family: string;
  /** Enough data to train and judge it (else `reason`). */
  enough: boolean;
  reason?: string;
  /** It could not be planned (its checks threw, or it needs Fargate where none is configured): reported as a failed family. */
  failed?: boolean;
  /** Where it trains: by the same rule for every family (its compute size against compute.fargateAboveInteractions). */
  compute: 'lambda' | 'fargate';
  size: number;
}

/**
 * The input of one iteration of the TrainFamilies Map state (one family), and what its tasks add
 * on the way: trained → evaluation → gate → promotion; `error` when a task of the family failed.
 */
export interface FamilyTask {
  family: string;
  compute: 'lambda' | 'fargate';
  run: RunState;
  trained?: { version: string; trainingSeconds: number; compute: string };
  evaluation?: FamilyEvaluation;
  gate?: FamilyGate;
  promotion?: Promotion;
  error?: { Error?: string; Cause?: string };
}

/** One family's result, the output of its Map iteration. */
export interface FamilyOutcome {
  family: string;
  evaluation?: FamilyEvaluation;
  gate?: FamilyGate;
  promotion?: Promotion;
  error?: { Error?: string; Cause?: string };
}

/** The state the retraining state machine carries from task to task. */
export interface RunState {
  runId: string;
  startedAt: string;
  trigger?: string;
  asOf?: string;
  config: RunConfig;
  /** The version id every family's candidate of this run is written under (retries rewrite the same version). */
  candidateVersion: string;
  /** S3 key of this state as PrepareSnapshot left it: the input of a training container. */
  stateKey: string;
  snapshot?: SnapshotManifest;
  /** Per enabled family: enough data or why not, and where it trains. */
  plan?: FamilyPlan[];
  /** The families the TrainFamilies Map state runs (those of the plan with enough data). */
  trainable?: { family: string; compute: 'lambda' | 'fargate' }[];
  /** At least one family can be trained. */
  enoughData?: boolean;
  /** Output of the TrainFamilies Map state: one entry per trained family. */
  results?: FamilyOutcome[];
  error?: { Error?: string; Cause?: string };
}

/** `{ <family>: schema }` for every registered family; an unknown family is refused by name. */
function perFamily<T>(schema: (family: string) => z.ZodType<T>): z.ZodType<Record<string, T>> {
  return z.strictObject(Object.fromEntries(familyNames().map((family) => [family, schema(family).optional()]))) as unknown as z.ZodType<Record<string, T>>;
}

const familyName = z.string().refine(hasFamily, { error: (issue) => `unknown model family "${String(issue.input)}" (known: ${familyNames().join(', ')})` });

/**
 * The state machine input (on demand or from the schedule). Unknown fields are refused, so a typo is
 * never silently ignored. Built per call: families may be registered at run time.
 */
export function runRequestSchema() {
  return z.strictObject({
    trigger: z.string().max(100).optional(),
    /** Point in time of the snapshot (ISO); default: the newest event. */
    asOf: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
    /** The families to train (default: RETRAIN_FAMILIES). */
    families: z
      .array(familyName)
      .min(1, 'must name at least one family')
      .refine((names) => new Set(names).size === names.length, { message: 'must not name a family twice' })
      .optional(),
    holdoutDays: z.number().int('must be an integer').min(1, 'must be at least 1').max(90, 'must be at most 90').optional(),
    minUsers: z.number().int('must be an integer').min(1, 'must be at least 1').optional(),
    hyperparameters: perFamily((family) => getFamily(family).hyperparameters as z.ZodType<Hyperparameters>).optional(),
    policy: perFamily(() => gatePolicySchema as z.ZodType<Record<string, unknown>>).optional(),
    compute: z.strictObject({ fargateAboveInteractions: z.number().int().min(0).optional() }).optional(),
  });
}
export type RunRequest = z.infer<ReturnType<typeof runRequestSchema>>;

/** A run request or configuration that cannot be used; the message names every field and reason. */
export class InvalidRunRequestError extends Error {
  constructor(readonly issues: { field: string; reason: string }[]) {
    super(`Invalid retraining request: ${issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`);
    this.name = 'InvalidRunRequest';
  }
}

/** A comma-separated list; `none` (the serverless.yml default) is empty. */
const list = (raw: string) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'none');

/** Defaults from the environment of the PrepareSnapshot function (read once per container). */
export function runDefaults(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const families = list(optionalEnv('RETRAIN_FAMILIES', 'all', env).replace(/^all$/, familyNames().join(',')));
  for (const family of families)
    if (!hasFamily(family))
      throw new Error(`Environment variable RETRAIN_FAMILIES names an unknown model family "${family}" (known: ${familyNames().join(', ')})`);
  if (new Set(families).size !== families.length) throw new Error(`Environment variable RETRAIN_FAMILIES names a family twice: "${families.join(',')}"`);
  const policies: Record<string, GatePolicy> = {};
  // The same variables the upload validator reads: GATE_MIN_IMPROVEMENT, GATE_TOLERANCE, GATE_MIN_CASES, GATE_POLICY (JSON, per family: { "<family>": {…} }).
  for (const family of familyNames()) policies[family] = gatePolicyFromEnv(family, env);
  const assignPublicIp = optionalEnv('TRAINING_ASSIGN_PUBLIC_IP', 'DISABLED', env);
  if (assignPublicIp !== 'ENABLED' && assignPublicIp !== 'DISABLED') {
    throw new Error(`Environment variable TRAINING_ASSIGN_PUBLIC_IP must be ENABLED or DISABLED, got "${assignPublicIp}"`);
  }
  return {
    families,
    holdoutDays: numberEnv('RETRAIN_HOLDOUT_DAYS', 7, env),
    minHoldoutUsers: numberEnv('RETRAIN_MIN_HOLDOUT_USERS', 10, env),
    hyperparameters: {},
    policies,
    compute: {
      fargateAboveInteractions: numberEnv('TRAIN_ON_FARGATE_ABOVE_INTERACTIONS', 2_000_000, env),
      fargate: {
        subnets: list(optionalEnv('TRAINING_SUBNETS', '', env)),
        securityGroups: list(optionalEnv('TRAINING_SECURITY_GROUPS', '', env)),
        assignPublicIp,
      },
    },
  };
}

/** Validates a request and lays it over the defaults. Throws InvalidRunRequestError naming each bad field. */
export function resolveRunConfig(raw: unknown, defaults: RunConfig): { request: RunRequest; config: RunConfig } {
  const parsed = runRequestSchema().safeParse(raw ?? {});
  if (!parsed.success) throw new InvalidRunRequestError(zodIssues(parsed.error));
  const request = parsed.data;
  const issues: { field: string; reason: string }[] = [];
  const hyperparameters: RunConfig['hyperparameters'] = { ...request.hyperparameters };
  const policies: RunConfig['policies'] = {};
  for (const family of familyNames()) {
    // A family registered after the defaults were read starts from its own default policy.
    const policy = defaults.policies[family] ?? gatePolicyFromEnv(family, {});
    try {
      policies[family] = parseGatePolicy(request.policy?.[family], policy);
    } catch (error) {
      if (!(error instanceof GatePolicyError)) throw error;
      issues.push(...error.issues.map((i) => ({ field: `policy.${family}.${i.field}`, reason: i.reason })));
    }
  }
  if (issues.length) throw new InvalidRunRequestError(issues);
  return {
    request,
    config: {
      ...defaults,
      families: request.families ?? defaults.families,
      holdoutDays: request.holdoutDays ?? defaults.holdoutDays,
      minHoldoutUsers: request.minUsers ?? defaults.minHoldoutUsers,
      hyperparameters,
      policies,
      compute: { ...defaults.compute, fargateAboveInteractions: request.compute?.fargateAboveInteractions ?? defaults.compute.fargateAboveInteractions },
    },
  };
}

/** A run id safe in S3 keys and version ids. */
export const safeRunId = (raw: string) => raw.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80);

/** The keys of one run in the data bucket. */
export const runKeys = (runId: string) => ({
  state: `runs/${runId}/state.json`,
  report: `runs/${runId}/report.json`,
  html: `runs/${runId}/report.html`,
});

export function requireSnapshot(state: RunState): SnapshotManifest {
  if (!state.snapshot) throw new Error('run state has no snapshot: PrepareSnapshot must run first');
  return state.snapshot;
}
