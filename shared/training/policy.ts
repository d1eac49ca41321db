/**
 * Each family's gate policy: its descriptor's defaults, completed, then the environment (the
 * retraining run and the upload validator read the same variables), then a run's request. The gate
 * itself (shared/registry/gate.ts) is pure and knows no family.
 */
import { getFamily, hasFamily, PRIMARY_FAMILY } from '../../models/families';
import { type GatePolicy, GatePolicyError, parseGatePolicy } from '../registry/gate';

/** The family's default policy (its `policy`, completed): the retraining run's defaults start from it. */
export function defaultGatePolicy(family = PRIMARY_FAMILY): GatePolicy {
  const policy = getFamily(family).policy;
  return {
    direction: 'higher',
    comparison: 'absolute',
    requireSameCases: true,
    baselineName: 'baseline',
    ...policy,
    // Without a list the gate guards every metric both models report (shared/registry/gate.ts).
    ...(policy.guardedMetrics ? { guardedMetrics: [...policy.guardedMetrics] } : {}),
    baselineMetrics: [...(policy.baselineMetrics ?? [policy.mainMetric])],
  };
}

/**
 * The policy a family is judged by, from its defaults and the environment:
 *   GATE_MIN_IMPROVEMENT, GATE_TOLERANCE, GATE_MIN_CASES   numbers in the primary family's (recommender's) units: they apply to it only
 *   GATE_POLICY   JSON overrides, either `{ "<family>": { …overrides } , … }` or a flat `{ …overrides }` for the primary family (older form)
 */
export function gatePolicyFromEnv(family = PRIMARY_FAMILY, env: NodeJS.ProcessEnv = process.env): GatePolicy {
  let policy = defaultGatePolicy(family);
  if (family === PRIMARY_FAMILY) {
    const number = (name: string, fallback: number) => {
      const raw = env[name];
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new GatePolicyError([{ field: name, reason: `must be a number, got "${raw}"` }]);
      return value;
    };
    policy = parseGatePolicy(
      {
        minImprovement: number('GATE_MIN_IMPROVEMENT', policy.minImprovement),
        tolerance: number('GATE_TOLERANCE', policy.tolerance),
        minCases: number('GATE_MIN_CASES', policy.minCases),
      },
      policy,
    );
  }
  const raw = env.GATE_POLICY;
  if (raw === undefined || raw.trim() === '') return policy;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new GatePolicyError([{ field: 'GATE_POLICY', reason: `is not valid JSON: ${(error as Error).message}` }]);
  }
  const perFamily = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.keys(parsed).some(hasFamily);
  if (perFamily) {
    // A typo in a family name would silently leave that family on its defaults: refuse it by name.
    const unknown = Object.keys(parsed as object).filter((k) => !hasFamily(k));
    if (unknown.length) throw new GatePolicyError(unknown.map((k) => ({ field: `GATE_POLICY.${k}`, reason: 'is not a model family' })));
    const own = (parsed as Record<string, unknown>)[family];
    try {
      return parseGatePolicy(own, policy);
    } catch (error) {
      if (error instanceof GatePolicyError) throw new GatePolicyError(error.issues.map((i) => ({ ...i, field: `GATE_POLICY.${family}.${i.field}` })));
      throw error;
    }
  }
  return family === PRIMARY_FAMILY ? parseGatePolicy(parsed, policy) : policy;
}
