import { describe, expect, it } from 'vitest';
import { DEFAULT_SELECTION } from '../../../../models/recommender/select';
import { DEFAULT_TRAIN_OPTIONS } from '../../../../models/recommender/train';
import { registerFamily } from '../../../../models/families';
import { recommenderFamily } from '../../../../models/recommender/family';
import type { FamilyTrainer, ModelFamily } from '../../../../shared/families/contract';
import { planFamilies } from '../../../../shared/training/pipeline';
import { buildRunReport, type RecordEvent } from '../../../../shared/reports/run-report';
import { InvalidRunRequestError, resolveRunConfig, type RunState, runDefaults } from '../../../../shared/training/run';

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidRunRequestError) return error.issues;
    throw error;
  }
  throw new Error('expected an InvalidRunRequestError');
};

describe('run configuration', () => {
  it('reads its defaults from the environment, with "none" meaning an empty list', () => {
    // Act
    const config = runDefaults({
      RETRAIN_HOLDOUT_DAYS: '14',
      TRAIN_ON_FARGATE_ABOVE_INTERACTIONS: '500',
      TRAINING_SUBNETS: 'subnet-a, subnet-b',
      TRAINING_SECURITY_GROUPS: 'none',
      GATE_MIN_IMPROVEMENT: '0.02',
      GATE_POLICY: '{"tolerance":0.05}',
    });

    // Assess
    expect(config.holdoutDays).toBe(14);
    expect(config.compute.fargateAboveInteractions).toBe(500);
    expect(config.compute.fargate).toEqual({ subnets: ['subnet-a', 'subnet-b'], securityGroups: [], assignPublicIp: 'DISABLED' });
    expect(config.policies.recommender).toMatchObject({ mainMetric: 'NDCG@10', minImprovement: 0.02, tolerance: 0.05 });
  });

  it('fails fast on a bad environment value, naming the variable', () => {
    expect(() => runDefaults({ RETRAIN_HOLDOUT_DAYS: 'seven' })).toThrow(/RETRAIN_HOLDOUT_DAYS/);
    expect(() => runDefaults({ TRAINING_ASSIGN_PUBLIC_IP: 'yes' })).toThrow(/TRAINING_ASSIGN_PUBLIC_IP must be ENABLED or DISABLED/);
    expect(() => runDefaults({ GATE_POLICY: '{"tolerance": -7}' })).toThrow(/tolerance/);
    expect(() => runDefaults({ GATE_POLICY: '{"recommender": {"direction": "sideways"}}' })).toThrow(/GATE_POLICY\.recommender\.direction/);
    expect(() => runDefaults({ RETRAIN_FAMILIES: 'recommender,nosuch' })).toThrow(/RETRAIN_FAMILIES names an unknown model family "nosuch"/);
    expect(() => runDefaults({ RETRAIN_FAMILIES: 'recommender,recommender' })).toThrow(/RETRAIN_FAMILIES names a family twice/);
    expect(() => runDefaults({ GATE_POLICY: '{"recommender": {}, "recomender": {"minCases": 500}}' })).toThrow(
      /GATE_POLICY\.recomender: is not a model family/,
    );
  });

  it('trains every registered family by default, or those RETRAIN_FAMILIES or the request names', () => {
    // Act
    const all = runDefaults({});
    const listed = runDefaults({ RETRAIN_FAMILIES: 'recommender' });
    const request = resolveRunConfig({ families: ['recommender'] }, all).config;

    // Assess
    expect(all.families).toContain('recommender');
    expect(listed.families).toEqual(['recommender']);
    expect(request.families).toEqual(['recommender']);
    expect(issuesOf(() => resolveRunConfig({ families: ['nosuch'] }, all))).toEqual([
      { field: 'families.0', reason: expect.stringMatching(/unknown model family "nosuch"/) },
    ]);
    expect(issuesOf(() => resolveRunConfig({ families: ['recommender', 'recommender'] }, all))).toEqual([
      { field: 'families', reason: 'must not name a family twice' },
    ]);
  });

  it('reads GATE_POLICY per family ({ "<family>": {…} }) or, in its older flat form, for the primary family', () => {
    // Act
    const perFamily = runDefaults({ GATE_POLICY: '{"recommender": {"tolerance": 0.2}}' });
    const flat = runDefaults({ GATE_POLICY: '{"tolerance": 0.3}' });

    // Assess
    expect(perFamily.policies.recommender?.tolerance).toBe(0.2);
    expect(flat.policies.recommender?.tolerance).toBe(0.3);
  });

  it('lays a request over the defaults: hyperparameters, policy and compute per run', () => {
    // Prepare
    const defaults = runDefaults({});

    // Act
    const { config, request } = resolveRunConfig(
      {
        trigger: 'manual',
        asOf: '2026-10-01T00:00:00Z',
        hyperparameters: { recommender: { lambda: 200 } },
        policy: { recommender: { minImprovement: 0.05 } },
        compute: { fargateAboveInteractions: 0 },
      },
      defaults,
    );

    // Assess
    expect(request.trigger).toBe('manual');
    expect(config.hyperparameters).toEqual({ recommender: { lambda: 200 } });
    expect(config.policies.recommender?.minImprovement).toBe(0.05);
    expect(config.policies.recommender?.tolerance).toBe(defaults.policies.recommender?.tolerance);
    expect(config.compute.fargateAboveInteractions).toBe(0);
    expect(resolveRunConfig(undefined, defaults).config).toEqual({ ...defaults, hyperparameters: {} });
  });

  it('names every bad field of a request and why, at once', () => {
    // Act
    const issues = issuesOf(() =>
      resolveRunConfig(
        {
          holdoutDays: 0,
          asOf: 'last tuesday',
          hyperparameters: { recommender: { lambda: -1, bogus: 1 }, unknownFamily: {} },
          policy: { recommender: { tolerance: -2 } },
          surprise: true,
        },
        runDefaults({}),
      ),
    );

    // Assess
    const fields = Object.fromEntries(issues.map((i) => [i.field, i.reason]));
    expect(fields).toMatchObject({
      holdoutDays: 'must be at least 1',
      asOf: 'must be an ISO 8601 date-time',
      'hyperparameters.recommender.lambda': 'must be > 0',
      'hyperparameters.recommender.bogus': 'unknown field',
      'hyperparameters.unknownFamily': 'unknown field',
      surprise: 'unknown field',
    });
    expect(fields['policy.recommender.tolerance']).toMatch(/≥ 0/);
  });

  it('accepts exactly the recommender trainer options (and the validation window) as hyperparameters', () => {
    // Prepare
    const schema = recommenderFamily.hyperparameters;
    const all = Object.fromEntries(
      [...Object.keys(DEFAULT_TRAIN_OPTIONS), ...Object.keys(DEFAULT_SELECTION).filter((k) => k === 'validationDays' || k === 'sequenceTrainingSeconds')].map(
        (k) => [k, 5],
      ),
    );

    // Act
    const parsed = schema?.safeParse(all);
    const extra = schema?.safeParse({ ...all, notAnOption: 1 });

    // Assess
    expect(parsed?.success).toBe(true);
    expect(extra?.success).toBe(false);
  });
});

describe('family plan', () => {
  const snapshot = {
    runId: 's',
    asOf: '2026-10-01T00:00:00.000Z',
    holdoutStart: '2026-09-24T00:00:00.000Z',
    interactionsKey: 'k',
    itemsKey: 'i',
    counts: { events: 10, interactions: 5000, users: 300, items: 40, holdoutUsers: 50 },
  };

  it('plans each family on its own: enough data, not enough (with the reason), Lambda or Fargate by the same size rule', () => {
    // Act
    const small = planFamilies(snapshot, runDefaults({}));
    const thin = planFamilies(snapshot, { ...runDefaults({}), minHoldoutUsers: 80 });
    const big = planFamilies(snapshot, runDefaults({ TRAIN_ON_FARGATE_ABOVE_INTERACTIONS: '1000', TRAINING_SUBNETS: 'a', TRAINING_SECURITY_GROUPS: 'b' }));

    // Assess
    const recommender = (plan: typeof small) => plan.find((p) => p.family === 'recommender');
    expect(recommender(small)).toEqual({ family: 'recommender', enough: true, compute: 'lambda', size: 5000 });
    expect(recommender(thin)).toMatchObject({ enough: false, reason: '50 shoppers with events before and in the holdout, at least 80 needed' });
    expect(recommender(big)).toMatchObject({ enough: true, compute: 'fargate' });
  });

  it('fails a family that must train on Fargate where no network is configured, or whose checks throw — that family only', () => {
    // Prepare
    const undo = registerFamily(
      {
        ...recommenderFamily,
        name: 'throws',
        sufficiency: () => {
          throw new Error('bad descriptor');
        },
      } as unknown as ModelFamily,
      {} as FamilyTrainer,
    );

    try {
      // Act
      const plan = planFamilies(snapshot, { ...runDefaults({ TRAIN_ON_FARGATE_ABOVE_INTERACTIONS: '1000' }), families: ['recommender', 'throws'] });

      // Assess
      expect(plan[0]).toMatchObject({
        family: 'recommender',
        enough: false,
        failed: true,
        reason: expect.stringMatching(/must train on ECS Fargate, but TRAINING_SUBNETS/),
      });
      expect(plan[1]).toMatchObject({ family: 'throws', enough: false, failed: true, reason: 'planning failed: bad descriptor' });
    } finally {
      undo();
    }
  });

  it('refuses a family whose snapshot lacks a table it needs, naming the table', () => {
    // Prepare
    const undo = registerFamily({ ...recommenderFamily, name: 'needs-orders', snapshotNeeds: ['orders'] } as unknown as ModelFamily, {} as FamilyTrainer);

    try {
      // Act
      const plan = planFamilies(snapshot, { ...runDefaults({}), families: ['needs-orders'] });

      // Assess
      expect(plan[0]).toMatchObject({ enough: false, reason: 'the snapshot has no orders table (it needs orders)' });
    } finally {
      undo();
    }
  });
});

describe('run report', () => {
  const state: Partial<RunState> = {
    runId: 'r-1',
    startedAt: '2026-10-01T00:00:00.000Z',
    candidateVersion: 'v2',
    snapshot: {
      runId: 'r-1',
      asOf: '2026-10-01T00:00:00.000Z',
      holdoutStart: '2026-09-24T00:00:00.000Z',
      interactionsKey: 'k',
      itemsKey: 'i',
      counts: { events: 10, interactions: 8, users: 3, items: 4, holdoutUsers: 2 },
    },
    results: [
      {
        family: 'recommender',
        evaluation: {
          family: 'recommender',
          candidate: { version: 'v2', trainingSeconds: 1.5, compute: 'lambda', hyperparameters: {} },
          metrics: { 'NDCG@10': 0.3, count: 20 },
          baseline: { 'NDCG@10': 0.1, count: 20 },
          champion: { version: 'v1', artifact: 'eval', metrics: { 'NDCG@10': 0.2, count: 20 } },
          cases: 20,
        },
        gate: { family: 'recommender', passed: true, reasons: ['better'], policy: runDefaults({}).policies.recommender!, championVersion: 'v1' },
        promotion: { family: 'recommender', version: 'v2', previous: 'v1' },
      },
    ],
  };

  it('keeps the primary family in the top-level fields older readers use', () => {
    // Act
    const report = buildRunReport({ run: state }, new Date('2026-10-01T01:00:00Z'));

    // Assess
    expect(report).toMatchObject({
      runId: 'r-1',
      outcome: 'promoted',
      reportKey: 'runs/r-1/report.json',
      htmlKey: 'runs/r-1/report.html',
      candidate: { family: 'recommender', version: 'v2', trainingSeconds: 1.5 },
      metrics: { 'NDCG@10': 0.3 },
      baseline: { 'NDCG@10': 0.1 },
      gate: { passed: true, reasons: ['better'] },
      promoted: { family: 'recommender', version: 'v2', previous: 'v1' },
      snapshot: { interactions: 8, holdoutStart: '2026-09-24T00:00:00.000Z' },
    });
    expect(report.families[0]?.champion?.version).toBe('v1');
  });

  it('derives the outcome from the families: a failed family is reported on its own and never hides another promotion', () => {
    // Prepare
    const failed = { family: 'other', error: { Error: 'Boom', Cause: 'x' } };
    const rejected = { ...state.results![0]!, promotion: undefined, gate: { ...state.results![0]!.gate!, passed: false } };

    // Act
    const promotedAndFailed = buildRunReport({ run: { ...state, results: [state.results![0]!, failed] } }, new Date());
    const rejectedAndFailed = buildRunReport({ run: { ...state, results: [rejected, failed] } }, new Date());
    const allFailed = buildRunReport({ run: { ...state, results: [failed] } }, new Date());

    // Assess
    expect(promotedAndFailed).toMatchObject({ outcome: 'promoted', failedFamilies: ['other'] });
    expect(promotedAndFailed.families.find((f) => f.family === 'other')?.error?.Error).toBe('Boom');
    expect(rejectedAndFailed).toMatchObject({ outcome: 'rejected', failedFamilies: ['other'] });
    expect(allFailed).toMatchObject({ outcome: 'failed', failedFamilies: ['other'] });
    expect(allFailed.candidate).toBeUndefined();
  });

  it('names a run that failed before it had an id after its execution', () => {
    // Prepare
    const event: RecordEvent = {
      outcome: 'failed',
      run: { error: { Error: 'InvalidRunRequest', Cause: 'x' } },
      executionName: 'exec/1',
      startedAt: '2026-10-01T00:00:00Z',
    };

    // Act
    const report = buildRunReport(event, new Date('2026-10-01T00:00:05Z'));

    // Assess
    expect(report.runId).toBe('exec-1');
    expect(report.startedAt).toBe('2026-10-01T00:00:00Z');
    expect(report.families).toEqual([]);
    expect(report.error?.Error).toBe('InvalidRunRequest');
  });
});
