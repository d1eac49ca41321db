/**
 * The promotion gate shared by our own retrained models (the state machine) and uploaded ones (bring your
 * own ONNX), for every model family: a candidate replaces the champion only if, on the same evaluation cases,
 *   1. it improves the family's main metric over the champion by at least `minImprovement`,
 *   2. no other guarded metric is worse than the champion's by more than `tolerance`,
 *   3. it strictly beats the family's baseline on `baselineMetrics` (default: the main metric),
 *   4. there are at least `minCases` cases (and the same number for candidate and champion).
 * "Better" follows each metric's direction (the policy's `direction` / `directions`: NDCG higher,
 * WAPE lower). With no champion yet, rules 1–2 are skipped. Pure: no I/O, and no family: each
 * family's descriptor gives its defaults, resolved with the environment by shared/training/policy.ts.
 */
import { z } from 'zod';

export type Metrics = Readonly<Record<string, number>>;

export interface GateDecision {
  passed: boolean;
  reasons: string[];
}

/** Whether a bigger value of a metric is better (NDCG, AUC) or a smaller one (WAPE, MAE, log loss). */
export type Direction = 'higher' | 'lower';

/**
 * How a family's candidates are judged against its champion and its baseline, on the same
 * evaluation cases (shared/registry/gate.ts applies it). A run may override the numbers
 * (request `policy.<family>`, GATE_POLICY); the family sets the defaults.
 */
export interface MetricPolicy {
  /** The metric a candidate must improve (recommender: NDCG@10; demand: WAPE). */
  mainMetric: string;
  /** Direction of the main metric; default `higher`. */
  direction?: Direction;
  /** Direction of other metrics when it differs from the main metric's (e.g. `{ 'log_loss': 'lower' }` for a family judged on AUC). */
  directions?: Record<string, Direction>;
  /** Least gain on the main metric over the champion, in the metric's better direction (absolute points unless `comparison: 'relative'`); may be negative. */
  minImprovement: number;
  /** Largest loss tolerated on any other guarded metric versus the champion (same unit). */
  tolerance: number;
  /** Metrics checked for regressions (the main metric is judged by minImprovement). Default: every metric both report but `count`. */
  guardedMetrics?: string[];
  /** Fewest evaluation cases a decision may rest on. */
  minCases: number;
  /** `absolute` (default): metric points; `relative`: fractions of the champion's value. */
  comparison?: 'absolute' | 'relative';
  /** Metrics on which the candidate must strictly beat the baseline (default: the main metric). */
  baselineMetrics?: string[];
  /** Candidate and champion must have been scored on as many cases, i.e. the same evaluation set (default true). */
  requireSameCases?: boolean;
  /** What the baseline is, in reports and gate reasons (default `baseline`): `popularity`, `seasonal naive`, … */
  baselineName?: string;
}

/** The policy the gate applies (the name the retraining run and uploads use). */
export type GatePolicy = MetricPolicy;

const metricName = z.string().regex(/^[A-Za-z][A-Za-z0-9_@.%-]{0,63}$/, 'must be a metric name such as NDCG@10, WAPE or log_loss');
const direction = z.enum(['higher', 'lower'], { message: "must be 'higher' or 'lower'" });
// Metric units differ by family (NDCG points, WAPE, units of MAE): any finite number, tolerance ≥ 0.
const finite = z.number({ message: 'must be a number' }).refine(Number.isFinite, 'must be a finite number');

/** Overrides of the default policy (e.g. a GATE_POLICY JSON variable); unknown fields are refused. */
export const gatePolicySchema = z.strictObject({
  mainMetric: metricName.optional(),
  direction: direction.optional(),
  directions: z.record(metricName, direction).optional(),
  baselineName: z.string().min(1).max(60).optional(),
  minImprovement: finite.optional(),
  tolerance: finite.refine((x) => x >= 0, 'must be ≥ 0').optional(),
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
export function parseGatePolicy(overrides: unknown, base: GatePolicy): GatePolicy {
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
 * Metrics with the number of evaluation cases as `count` (what rule 4 reads) when the family
 * reported only `cases` beside them (FamilyScores): a family need not know the gate's key.
 */
export function withCases(metrics: Metrics, cases: number): Metrics {
  return typeof metrics.count === 'number' ? metrics : { ...metrics, count: cases };
}

/** Direction of a metric under a policy: its own entry, else the main metric's, else higher. */
export function metricDirection(policy: GatePolicy, metric: string): Direction {
  return policy.directions?.[metric] ?? policy.direction ?? 'higher';
}

/** `value` expressed as a gain in the metric's better direction: bigger is better for both directions. */
const gainOf = (dir: Direction, value: number, reference: number) => (dir === 'higher' ? value - reference : reference - value);

/**
 * Decides whether `candidate` may replace `champion` (null: there is none yet). Every failed rule is a
 * reason; when it passes, the reasons say why. Lower-is-better metrics (the policy's `direction` /
 * `directions`) improve by going down.
 */
export function gateAgainstChampion(candidate: Metrics, champion: Metrics | null | undefined, baseline: Metrics, policy: GatePolicy): GateDecision {
  const outcome: Outcome = { failures: [], passes: [] };
  const cases = candidate.count;
  if (!usable(cases) || cases < policy.minCases)
    outcome.failures.push(`only ${usable(cases) ? cases : 0} evaluation cases, at least ${policy.minCases} needed`);
  if (!usable(candidate[policy.mainMetric]))
    outcome.failures.push(`candidate has no usable ${policy.mainMetric} (got ${String(candidate[policy.mainMetric])})`);
  if (champion) {
    checkMainMetric(candidate, champion, policy, outcome);
    checkGuardedMetrics(candidate, champion, policy, outcome);
  } else {
    outcome.passes.push(`no champion yet: compared with the ${baselineName(policy)} baseline only`);
  }
  checkBaseline(candidate, baseline, policy, outcome);
  return outcome.failures.length ? { passed: false, reasons: outcome.failures } : { passed: true, reasons: outcome.passes };
}

interface Outcome {
  failures: string[];
  passes: string[];
}

const baselineName = (policy: GatePolicy) => policy.baselineName ?? 'baseline';
const inUnit = (policy: GatePolicy, x: number) => (policy.comparison === 'relative' ? `${(x * 100).toFixed(2)} %` : fmt(x));
const better = (dir: Direction) => (dir === 'higher' ? 'higher is better' : 'lower is better');

/** Rule 1 (and the same-cases check): the main metric improves on the champion's by minImprovement, in its better direction. */
function checkMainMetric(candidate: Metrics, champion: Metrics, policy: GatePolicy, outcome: Outcome): void {
  const main = policy.mainMetric;
  const dir = metricDirection(policy, main);
  const c = candidate[main];
  const ch = champion[main];
  const rel = policy.comparison === 'relative';
  if ((policy.requireSameCases ?? true) && usable(candidate.count) && champion.count !== candidate.count) {
    outcome.failures.push(`candidate was scored on ${candidate.count} cases, champion on ${String(champion.count)}: not the same evaluation set`);
  }
  if (!usable(ch)) {
    outcome.failures.push(`champion has no usable ${main} to compare with (got ${String(ch)})`);
    return;
  }
  if (!usable(c)) return;
  const gain = gainOf(dir, c, ch);
  const required = rel ? Math.abs(ch) * policy.minImprovement : policy.minImprovement;
  const shown = rel ? (ch !== 0 ? inUnit(policy, gain / Math.abs(ch)) : gain > 0 ? '+∞ %' : '0 %') : fmt(gain);
  const needed = inUnit(policy, policy.minImprovement);
  const what = `${main} ${fmt(c)} improves on the champion's ${fmt(ch)} by ${shown}${dir === 'lower' ? ` (${better(dir)})` : ''}`;
  // Relative to a champion at 0, any required share of 0 is 0: a positive gain is needed then.
  const short = rel && ch === 0 && policy.minImprovement > 0 ? !(gain > EPSILON) : gain + EPSILON < required;
  if (short) outcome.failures.push(`${what}, at least ${needed} needed`);
  else outcome.passes.push(`${what} (at least ${needed} needed)`);
}

/** Rule 2: no other guarded metric is worse than the champion's by more than the tolerance, each in its own direction. */
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
    const dir = metricDirection(policy, metric);
    const allowedLoss = policy.comparison === 'relative' ? Math.abs(chm) * policy.tolerance : policy.tolerance;
    if (gainOf(dir, cm, chm) + EPSILON < -allowedLoss) {
      outcome.failures.push(
        `${metric} ${fmt(cm)} is worse than the champion's ${fmt(chm)} by more than the ${inUnit(policy, policy.tolerance)} tolerance${dir === 'lower' ? ` (${better(dir)})` : ''}`,
      );
    }
  }
  if (outcome.failures.length === before) outcome.passes.push(`no other metric worse than the champion's by more than ${inUnit(policy, policy.tolerance)}`);
}

/** Rule 3: strictly better than the baseline on baselineMetrics. */
function checkBaseline(candidate: Metrics, baseline: Metrics, policy: GatePolicy, outcome: Outcome): void {
  const name = baselineName(policy);
  for (const metric of policy.baselineMetrics ?? [policy.mainMetric]) {
    const cm = candidate[metric];
    const b = baseline[metric];
    if (!usable(b)) outcome.failures.push(`baseline has no usable ${metric} (got ${String(b)})`);
    else if (!usable(cm)) {
      if (metric !== policy.mainMetric) outcome.failures.push(`candidate has no usable ${metric} (got ${String(cm)})`);
    } else if (!(gainOf(metricDirection(policy, metric), cm, b) > 0))
      outcome.failures.push(`${metric} ${fmt(cm)} does not beat the ${name} baseline ${fmt(b)}`);
    else outcome.passes.push(`${metric} ${fmt(cm)} beats the ${name} baseline ${fmt(b)}`);
  }
}
