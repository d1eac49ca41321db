import { describe, expect, it } from 'vitest';
import { type GatePolicy, gateAgainstChampion, GatePolicyError, type Metrics, parseGatePolicy as parseOver, withCases } from '../../../../shared/registry/gate';
import { defaultGatePolicy, gatePolicyFromEnv } from '../../../../shared/training/policy';

const parseGatePolicy = (overrides: unknown) => parseOver(overrides, defaultGatePolicy('recommender'));

const m = (ndcg: number, hr: number, extra: Record<string, number> = {}): Metrics => ({
  'NDCG@10': ndcg,
  'HR@10': hr,
  'MRR@10': ndcg * 0.8,
  count: 200,
  ...extra,
});
const baseline = m(0.1, 0.2);
const policy = defaultGatePolicy('recommender');

describe('gateAgainstChampion', () => {
  const cases: { name: string; candidate: Metrics; champion: Metrics | null; policy?: Partial<GatePolicy>; passed: boolean; reasons: RegExp[] }[] = [
    {
      name: 'passes a candidate that improves NDCG@10 enough and regresses nothing',
      candidate: m(0.3, 0.5),
      champion: m(0.25, 0.5),
      passed: true,
      reasons: [/improves on the champion's 0\.2500 by 0\.0500/, /beats the popularity baseline/],
    },
    { name: 'with no champion, judges against the baseline only', candidate: m(0.3, 0.5), champion: null, passed: true, reasons: [/no champion yet/] },
    {
      name: 'fails an improvement below minImprovement',
      candidate: m(0.2505, 0.5),
      champion: m(0.25, 0.5),
      passed: false,
      reasons: [/NDCG@10 0\.2505 improves on the champion's 0\.2500 by 0\.0005, at least 0\.0010 needed/],
    },
    { name: 'fails a candidate worse than the champion', candidate: m(0.2, 0.5), champion: m(0.25, 0.5), passed: false, reasons: [/by -0\.0500, at least/] },
    {
      name: 'fails a guarded metric worse than the tolerance',
      candidate: m(0.3, 0.48),
      champion: m(0.25, 0.5),
      passed: false,
      reasons: [/HR@10 0\.4800 is worse than the champion's 0\.5000 by more than the 0\.0100 tolerance/],
    },
    {
      name: 'tolerates a guarded metric within the tolerance',
      candidate: m(0.3, 0.495),
      champion: m(0.25, 0.5),
      passed: true,
      reasons: [/no other metric worse/],
    },
    {
      name: 'fails a candidate that does not beat popularity',
      candidate: m(0.09, 0.5),
      champion: null,
      passed: false,
      reasons: [/NDCG@10 0\.0900 does not beat the popularity baseline 0\.1000/],
    },
    {
      name: 'fails too few holdout cases',
      candidate: m(0.3, 0.5, { count: 5 }),
      champion: null,
      passed: false,
      reasons: [/only 5 evaluation cases, at least 10 needed/],
    },
    {
      name: 'fails a comparison on different holdouts',
      candidate: m(0.3, 0.5),
      champion: m(0.25, 0.5, { count: 150 }),
      passed: false,
      reasons: [/scored on 200 cases, champion on 150: not the same evaluation set/],
    },
    {
      name: 'fails a NaN metric',
      candidate: m(Number.NaN, 0.5),
      champion: m(0.25, 0.5),
      passed: false,
      reasons: [/candidate has no usable NDCG@10 \(got NaN\)/],
    },
    {
      name: 'fails when the champion has no main metric',
      candidate: m(0.3, 0.5),
      champion: { 'HR@10': 0.5, count: 200 },
      passed: false,
      reasons: [/champion has no usable NDCG@10/],
    },
    {
      name: 'lists every reason of a candidate worse in every way',
      candidate: m(0.05, 0.1),
      champion: m(0.25, 0.5),
      passed: false,
      reasons: [
        /NDCG@10 0\.0500 improves on the champion's 0\.2500 by -0\.2000/,
        /HR@10 0\.1000 is worse/,
        /MRR@10 0\.0400 is worse/,
        /does not beat the popularity baseline/,
      ],
    },
    {
      name: 'relative comparison: 1 % needed',
      candidate: m(0.251, 0.5),
      champion: m(0.25, 0.5),
      policy: { comparison: 'relative', minImprovement: 0.01 },
      passed: false,
      reasons: [/by 0\.40 %, at least 1\.00 % needed/],
    },
    {
      name: 'relative comparison: 2 % is enough',
      candidate: m(0.255, 0.5),
      champion: m(0.25, 0.5),
      policy: { comparison: 'relative', minImprovement: 0.01 },
      passed: true,
      reasons: [/by 2\.00 %/],
    },
    {
      name: 'a negative minImprovement accepts a slightly worse main metric',
      candidate: m(0.249, 0.5),
      champion: m(0.25, 0.5),
      policy: { minImprovement: -0.005 },
      passed: true,
      reasons: [/by -0\.0010/],
    },
    {
      name: 'guards only the listed metrics when guardedMetrics is given',
      candidate: m(0.3, 0.1),
      champion: m(0.25, 0.5),
      policy: { guardedMetrics: ['NDCG@10'] },
      passed: true,
      reasons: [],
    },
    {
      name: 'can ask to beat the baseline on several metrics',
      candidate: m(0.3, 0.15),
      champion: null,
      policy: { baselineMetrics: ['NDCG@10', 'HR@10'] },
      passed: false,
      reasons: [/HR@10 0\.1500 does not beat the popularity baseline 0\.2000/],
    },
  ];

  it.each(cases)('$name', ({ candidate, champion, policy: override, passed, reasons }) => {
    // Act
    const decision = gateAgainstChampion(candidate, champion, baseline, { ...policy, ...override });

    // Assess
    expect(decision.passed).toBe(passed);
    for (const r of reasons)
      expect(
        decision.reasons.some((x) => r.test(x)),
        `${r} in ${JSON.stringify(decision.reasons)}`,
      ).toBe(true);
    if (!passed) expect(decision.reasons.every((x) => !/beats the popularity|no champion yet|no other metric/.test(x))).toBe(true);
  });

  it('accepts the retraining run policy shape as is (no optional fields)', () => {
    // Prepare
    const runPolicy = { mainMetric: 'NDCG@10', minImprovement: 0.001, tolerance: 0.01, guardedMetrics: ['NDCG@10', 'HR@10'], minCases: 10 };

    // Act
    const decision = gateAgainstChampion(m(0.3, 0.5), m(0.25, 0.5), baseline, runPolicy);

    // Assess
    expect(decision.passed).toBe(true);
  });
});

describe('gateAgainstChampion, lower-is-better metrics', () => {
  // A forecasting-like family: WAPE (main) and MAE lower is better, bias_abs too; coverage higher is better.
  const lower: GatePolicy = {
    mainMetric: 'WAPE',
    direction: 'lower',
    directions: { coverage: 'higher' },
    minImprovement: 0.01,
    tolerance: 0.5,
    guardedMetrics: ['MAE', 'coverage'],
    minCases: 10,
    baselineName: 'seasonal naive',
  };
  const f = (wape: number, mae: number, coverage = 0.8): Metrics => ({ WAPE: wape, MAE: mae, coverage, count: 100 });
  const naive = f(0.5, 5, 0.5);

  it('passes a candidate whose WAPE goes DOWN enough, and says it beats the named baseline', () => {
    const decision = gateAgainstChampion(f(0.3, 3), f(0.35, 3.2), naive, lower);
    expect(decision.passed).toBe(true);
    expect(decision.reasons.join(' ')).toMatch(/WAPE 0\.3000 improves on the champion's 0\.3500 by 0\.0500 \(lower is better\)/);
    expect(decision.reasons.join(' ')).toMatch(/WAPE 0\.3000 beats the seasonal naive baseline 0\.5000/);
  });

  it('rejects a candidate whose WAPE goes UP, or not down by minImprovement', () => {
    expect(gateAgainstChampion(f(0.4, 3), f(0.35, 3), naive, lower).reasons.join(' ')).toMatch(/by -0\.0500 \(lower is better\), at least 0\.0100 needed/);
    expect(gateAgainstChampion(f(0.345, 3), f(0.35, 3), naive, lower).passed).toBe(false);
  });

  it('guards each metric in its own direction: MAE may not rise, coverage may not fall, by more than the tolerance', () => {
    const maeUp = gateAgainstChampion(f(0.3, 4), f(0.35, 3), naive, lower);
    const coverageDown = gateAgainstChampion(f(0.3, 3, 0.2), f(0.35, 3, 0.8), naive, { ...lower, tolerance: 0.1, guardedMetrics: ['coverage'] });
    const coverageUp = gateAgainstChampion(f(0.3, 3, 0.95), f(0.35, 3, 0.8), naive, { ...lower, tolerance: 0.1, guardedMetrics: ['coverage'] });
    expect(maeUp.reasons.join(' ')).toMatch(/MAE 4\.0000 is worse than the champion's 3\.0000/);
    expect(coverageDown.reasons.join(' ')).toMatch(/coverage 0\.2000 is worse than the champion's 0\.8000/);
    expect(coverageUp.passed).toBe(true);
  });

  it('requires beating the baseline downwards, and relative comparisons work on the absolute champion value', () => {
    expect(gateAgainstChampion(f(0.6, 3), null, naive, lower).reasons.join(' ')).toMatch(/WAPE 0\.6000 does not beat the seasonal naive baseline 0\.5000/);
    const relative = { ...lower, comparison: 'relative' as const, minImprovement: 0.1 };
    expect(gateAgainstChampion(f(0.3, 3), f(0.35, 3), naive, relative).passed).toBe(true); // 14.3 % lower
    expect(gateAgainstChampion(f(0.33, 3), f(0.35, 3), naive, relative).passed).toBe(false); // 5.7 % lower
  });
});

describe('gateAgainstChampion, edge cases of any family', () => {
  const lower: GatePolicy = { mainMetric: 'MAE', direction: 'lower', minImprovement: 0.05, tolerance: 0.1, minCases: 5, comparison: 'relative' };

  it('needs a real gain, in relative mode, over a champion whose main metric is 0', () => {
    const zero = { 'NDCG@10': 0, 'HR@10': 0, count: 200 };
    const decision = gateAgainstChampion(zero, zero, { 'NDCG@10': -1, count: 200 }, { ...policy, comparison: 'relative', minImprovement: 0.05 });
    expect(decision.passed).toBe(false);
    expect(decision.reasons.join(' ')).toMatch(/improves on the champion's 0\.0000 by 0 %, at least 5\.00 % needed/);
  });

  it('handles negative metric values by their magnitude in relative mode', () => {
    // e.g. a log-likelihood (higher is better) of -2.0 → -1.8 is a 10 % gain
    const ll: GatePolicy = { mainMetric: 'loglik', minImprovement: 0.05, tolerance: 0.1, minCases: 5, comparison: 'relative', guardedMetrics: [] };
    expect(gateAgainstChampion({ loglik: -1.8, count: 10 }, { loglik: -2, count: 10 }, { loglik: -3, count: 10 }, ll).passed).toBe(true);
    expect(gateAgainstChampion({ loglik: -1.95, count: 10 }, { loglik: -2, count: 10 }, { loglik: -3, count: 10 }, ll).passed).toBe(false);
  });

  it('guards every metric both models report when the policy lists none (a family that leaves out guardedMetrics)', () => {
    const decision = gateAgainstChampion({ MAE: 1, RMSE: 100, count: 10 }, { MAE: 2, RMSE: 2, count: 10 }, { MAE: 3, count: 10 }, lower);
    expect(decision.passed).toBe(false);
    expect(decision.reasons.join(' ')).toMatch(/RMSE 100\.0000 is worse than the champion's 2\.0000/);
  });

  it('reads the number of cases a family reports beside its metrics (withCases) for minCases and the same-cases rule', () => {
    const bare = gateAgainstChampion({ MAE: 1 }, null, { MAE: 3 }, lower);
    const counted = gateAgainstChampion(withCases({ MAE: 1 }, 50), null, withCases({ MAE: 3 }, 50), lower);
    expect(bare.reasons.join(' ')).toMatch(/only 0 evaluation cases/);
    expect(counted.passed).toBe(true);
    expect(withCases({ MAE: 1, count: 7 }, 50).count).toBe(7);
  });
});

describe('gate policy configuration', () => {
  it('overrides the defaults from JSON and names every bad field', () => {
    // Act
    const parsed = parseGatePolicy('{"minImprovement": 0.02, "comparison": "relative"}');
    const attempt = () => parseGatePolicy({ minImprovement: 'a lot', tolerance: -2, direction: 'up', colour: 'red' });

    // Assess
    expect(parsed).toMatchObject({ mainMetric: 'NDCG@10', minImprovement: 0.02, comparison: 'relative', tolerance: 0.01 });
    expect(attempt).toThrow(GatePolicyError);
    try {
      attempt();
    } catch (error) {
      expect((error as GatePolicyError).issues).toEqual(
        expect.arrayContaining([
          { field: 'minImprovement', reason: 'must be a number' },
          { field: 'tolerance', reason: 'must be ≥ 0' },
          { field: 'direction', reason: "must be 'higher' or 'lower'" },
          { field: 'colour', reason: 'unknown field' },
        ]),
      );
    }
  });

  it('reads the retraining run variables, then GATE_POLICY', () => {
    // Act
    const policy = gatePolicyFromEnv('recommender', { GATE_MIN_IMPROVEMENT: '0.005', GATE_MIN_CASES: '50', GATE_POLICY: '{"tolerance": 0.02}' });
    const bad = () => gatePolicyFromEnv('recommender', { GATE_TOLERANCE: 'loose' });

    // Assess
    expect(policy).toMatchObject({ minImprovement: 0.005, minCases: 50, tolerance: 0.02 });
    expect(bad).toThrow(/GATE_TOLERANCE: must be a number, got "loose"/);
  });
});
