/**
 * The promotion gate shared by our own retrained models (the state machine) and uploaded ones (bring your
 * own ONNX): a candidate replaces the champion only if, on the same holdout,
 *   1. it improves the family's main metric over the champion by at least `minImprovement`,
 *   2. no other guarded metric is worse than the champion's by more than `tolerance`,
 *   3. it strictly beats the popularity baseline on `baselineMetrics` (default: the main metric),
 *   4. the holdout has at least `minCases` cases (and the same number for candidate and champion).
 * With no champion yet, rules 1–2 are skipped. Pure: no I/O.
 */
import { z } from 'zod';

export type Metrics = Readonly<Record<string, number>>;

export interface GateDecision {
  passed: boolean;
  reasons: string[];
}

/**
 * Structurally the same as the retraining run's policy (shared/training/run.ts), which is passed here
 * as is; the optional fields extend it.
 */
export interface GatePolicy {
  /** The family's main metric (recommender: NDCG@10). */
  mainMetric: string;
  /** Least gain on the main metric over the champion (absolute metric points unless `comparison: 'relative'`); may be negative. */
  minImprovement: number;
  /** Largest drop tolerated on any other guarded metric versus the champion (same unit). */
  tolerance: number;
  /** Metrics checked for regressions (the main metric may be listed; it is judged by minImprovement). Default: every metric both report but `count`. */
  guardedMetrics?: string[];
  /** Fewest holdout cases a decision may rest on. */
  minCases: number;
  /** `absolute` (default): metric points; `relative`: fractions of the champion's value. */
  comparison?: 'absolute' | 'relative';
  /** Metrics on which the candidate must strictly beat the popularity baseline (default: the main metric). */
  baselineMetrics?: string[];
  /** Candidate and champion must have been scored on as many cases, i.e. the same holdout (default true). */
  requireSameCases?: boolean;
}

/** Main metric per model family. */
export const FAMILY_MAIN_METRIC: Readonly<Record<string, string>> = { recommender: 'NDCG@10', sequence: 'NDCG@10' };

/** The default policy; the retraining run's defaults (GATE_MIN_IMPROVEMENT, GATE_TOLERANCE, GATE_MIN_CASES) are the same numbers. */
export function defaultGatePolicy(family = 'recommender'): GatePolicy {
  const mainMetric = FAMILY_MAIN_METRIC[family] ?? 'NDCG@10';
  return {
    mainMetric,
    minImprovement: 0.001,
    tolerance: 0.01,
    guardedMetrics: [mainMetric, 'HR@10', 'MRR@10', 'HR@20'],
    minCases: 10,
    comparison: 'absolute',
    baselineMetrics: [mainMetric],
    requireSameCases: true,
  };
}

/**
 * The policy a family is judged by outside a retraining run (uploads): the defaults with the same
 * variables the run reads (GATE_MIN_IMPROVEMENT, GATE_TOLERANCE, GATE_MIN_CASES), then GATE_POLICY
 * (JSON overrides, validated).
 */
export function gatePolicyFromEnv(family = 'recommender', env: NodeJS.ProcessEnv = process.env): GatePolicy {
  const base = defaultGatePolicy(family);
  const number = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new GatePolicyError([{ field: name, reason: `must be a number, got "${raw}"` }]);
    return value;
  };
  const fromVariables = parseGatePolicy(
    {
      minImprovement: number('GATE_MIN_IMPROVEMENT', base.minImprovement),
      tolerance: number('GATE_TOLERANCE', base.tolerance),
      minCases: number('GATE_MIN_CASES', base.minCases),
    },
    family,
    base,
  );
  return parseGatePolicy(env.GATE_POLICY, family, fromVariables);
}

const metricName = z.string().regex(/^[A-Za-z]+@\d+$/, 'must be a metric name such as NDCG@10');
const bounded = (min: number) => z.number({ message: 'must be a number' }).min(min, `must be ≥ ${min}`).max(1, 'must be ≤ 1');

/** Overrides of the default policy (e.g. a GATE_POLICY JSON variable); unknown fields are refused. */
export const gatePolicySchema = z.strictObject({
  mainMetric: metricName.optional(),
  minImprovement: bounded(-1).optional(),
  tolerance: bounded(0).optional(),
  comparison: z.enum(['relative', 'absolute'], { message: "must be 'relative' or 'absolute'" }).optional(),
  guardedMetrics: z.array(metricName).optional(),
  baselineMetrics: z.array(metricName).min(1, 'must name at least one metric').optional(),
  minCases: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be ≥ 1').optional(),
  requireSameCases: z.boolean({ message: 'must be true or false' }).optional(),
});

export class GatePolicyError extends Error {
  constructor(readonly issues: { field: string; reason: string }[]) {
    super(`invalid gate policy: ${issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`);
    this.name = 'GatePolicyError';
  }
}

/** Default policy of a family with validated overrides (a JSON string or an object); bad fields are named. */
export function parseGatePolicy(overrides: unknown, family = 'recommender', base: GatePolicy = defaultGatePolicy(family)): GatePolicy {
  if (overrides === undefined || overrides === null || overrides === '') return base;
  let value = overrides;
  if (typeof overrides === 'string') {
    try {
      value = JSON.parse(overrides);
    } catch (error) {
      throw new GatePolicyError([{ field: '(root)', reason: `is not valid JSON: ${(error as Error).message}` }]);
    }
  }
  const parsed = gatePolicySchema.safeParse(value);
  if (!parsed.success) {
    throw new GatePolicyError(
      parsed.error.issues.map((i) =>
        i.code === 'unrecognized_keys'
          ? { field: (i as { keys: string[] }).keys.join(', '), reason: 'unknown field' }
          : { field: i.path.join('.') || '(root)', reason: i.message },
      ),
    );
  }
  const policy: GatePolicy = { ...base };
  for (const [k, v] of Object.entries(parsed.data)) if (v !== undefined) (policy as unknown as Record<string, unknown>)[k] = v;
  if (parsed.data.mainMetric && !parsed.data.baselineMetrics) policy.baselineMetrics = [parsed.data.mainMetric];
  return policy;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
const EPSILON = 1e-12;
const usable = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Decides whether `candidate` may replace `champion` (null: there is none yet). Every failed rule is a
 * reason; when it passes, the reasons say why.
 */
export function gateAgainstChampion(
  candidate: Metrics,
  champion: Metrics | null | undefined,
  baseline: Metrics,
  policy: GatePolicy = defaultGatePolicy(),
): GateDecision {
  const outcome: Outcome = { failures: [], passes: [] };
  const cases = candidate.count;
  if (!usable(cases) || cases < policy.minCases) outcome.failures.push(`only ${usable(cases) ? cases : 0} holdout cases, at least ${policy.minCases} needed`);
  if (!usable(candidate[policy.mainMetric]))
    outcome.failures.push(`candidate has no usable ${policy.mainMetric} (got ${String(candidate[policy.mainMetric])})`);
  if (champion) {
    checkMainMetric(candidate, champion, policy, outcome);
    checkGuardedMetrics(candidate, champion, policy, outcome);
  } else {
    outcome.passes.push('no champion yet: compared with the popularity baseline only');
  }
  checkBaseline(candidate, baseline, policy, outcome);
  return outcome.failures.length ? { passed: false, reasons: outcome.failures } : { passed: true, reasons: outcome.passes };
}

interface Outcome {
  failures: string[];
  passes: string[];
}

const inUnit = (policy: GatePolicy, x: number) => (policy.comparison === 'relative' ? `${(x * 100).toFixed(2)} %` : fmt(x));

/** Rule 1 (and the same-holdout check): the main metric improves on the champion's by minImprovement. */
function checkMainMetric(candidate: Metrics, champion: Metrics, policy: GatePolicy, outcome: Outcome): void {
  const main = policy.mainMetric;
  const c = candidate[main];
  const ch = champion[main];
  const rel = policy.comparison === 'relative';
  if ((policy.requireSameCases ?? true) && usable(candidate.count) && champion.count !== candidate.count) {
    outcome.failures.push(`candidate was scored on ${candidate.count} cases, champion on ${String(champion.count)}: not the same holdout`);
  }
  if (!usable(ch)) {
    outcome.failures.push(`champion has no usable ${main} to compare with (got ${String(ch)})`);
    return;
  }
  if (!usable(c)) return;
  const required = rel ? ch * (1 + policy.minImprovement) : ch + policy.minImprovement;
  const gain = rel ? (ch > 0 ? inUnit(policy, (c - ch) / ch) : c > ch ? '+∞ %' : '0 %') : fmt(c - ch);
  const needed = inUnit(policy, policy.minImprovement);
  if (c + EPSILON < required) outcome.failures.push(`${main} ${fmt(c)} improves on the champion's ${fmt(ch)} by ${gain}, at least ${needed} needed`);
  else outcome.passes.push(`${main} ${fmt(c)} improves on the champion's ${fmt(ch)} by ${gain} (at least ${needed} needed)`);
}

/** Rule 2: no other guarded metric is worse than the champion's by more than the tolerance. */
function checkGuardedMetrics(candidate: Metrics, champion: Metrics, policy: GatePolicy, outcome: Outcome): void {
  const guarded = (policy.guardedMetrics ?? Object.keys(champion).filter((k) => k in candidate)).filter((k) => k !== policy.mainMetric && k !== 'count');
  const before = outcome.failures.length;
  for (const metric of guarded) {
    const cm = candidate[metric];
    const chm = champion[metric];
    if (!usable(chm)) continue; // the champion never reported it: nothing to guard
    if (!usable(cm)) {
      outcome.failures.push(`candidate has no usable ${metric} (got ${String(cm)}); the champion has ${fmt(chm)}`);
      continue;
    }
    const floor = policy.comparison === 'relative' ? chm * (1 - policy.tolerance) : chm - policy.tolerance;
    if (cm + EPSILON < floor) {
      outcome.failures.push(`${metric} ${fmt(cm)} is worse than the champion's ${fmt(chm)} by more than the ${inUnit(policy, policy.tolerance)} tolerance`);
    }
  }
  if (outcome.failures.length === before) outcome.passes.push(`no other metric worse than the champion's by more than ${inUnit(policy, policy.tolerance)}`);
}

/** Rule 3: strictly better than the popularity baseline on baselineMetrics. */
function checkBaseline(candidate: Metrics, baseline: Metrics, policy: GatePolicy, outcome: Outcome): void {
  for (const metric of policy.baselineMetrics ?? [policy.mainMetric]) {
    const cm = candidate[metric];
    const b = baseline[metric];
    if (!usable(b)) outcome.failures.push(`baseline has no usable ${metric} (got ${String(b)})`);
    else if (!usable(cm)) {
      if (metric !== policy.mainMetric) outcome.failures.push(`candidate has no usable ${metric} (got ${String(cm)})`);
    } else if (!(cm > b)) outcome.failures.push(`${metric} ${fmt(cm)} does not beat the popularity baseline ${fmt(b)}`);
    else outcome.passes.push(`${metric} ${fmt(cm)} beats the popularity baseline ${fmt(b)}`);
  }
}
