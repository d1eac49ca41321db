import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Candidate, TrainData, TrainedCandidate } from '../../../../models/evaluation/candidate';
import { loadAmazonSequences } from '../../../../models/evaluation/datasets';
import { rankOf } from '../../../../models/evaluation/metrics';
import { type EvalSplit, leaveOneOutSplit } from '../../../../models/evaluation/protocols';
import { type BlendCase, blendMetric, type SlotState, searchSlots } from '../../../../models/evaluation/blend-search';
import { runEvaluation } from '../../../../models/evaluation/runner';
import { evaluateTrained } from '../../../../models/evaluation/scoring';
import { popularityCandidate } from '../../../../models/recommender/popularity';
import { transitionCandidate } from '../../../../models/recommender/transition';

const FIXTURES = resolve(import.meta.dirname, '../../../fixtures/eval');

interface ScoreCall {
  stage: 'validation' | 'test';
  history: string;
  order: number;
}

/** Wraps a candidate and records which stage's model scored which history, in call order. */
function recording(inner: Candidate, split: EvalSplit, calls: ScoreCall[]): Candidate {
  return {
    name: inner.name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const stage = data === split.validation.train ? 'validation' : data === split.test.train ? 'test' : undefined;
      if (!stage) throw new Error('trained on data that is neither stage');
      const trained = await inner.train(data);
      return {
        ...trained,
        score: (history: Int32Array) => {
          calls.push({ stage, history: history.join(','), order: calls.length });
          return trained.score(history);
        },
      };
    },
  };
}

describe('runEvaluation', () => {
  it('selects on validation cases only, then scores each test case once with models trained on the test stage', async () => {
    // Prepare
    const split = leaveOneOutSplit(loadAmazonSequences(resolve(FIXTURES, 'sequences.txt')));
    const calls: ScoreCall[] = [];
    const specs = [
      { name: 'popularity', variants: [recording(popularityCandidate(), split, calls)] },
      {
        name: 'transition',
        variants: [1, 2].map((window) => recording(transitionCandidate({ window, halfLife: 1, name: `t${window}` }), split, calls)),
      },
      { name: 'blend', components: ['popularity', 'transition'] },
    ];

    // Act
    const report = await runEvaluation(split, specs, { ks: [10] });

    // Assess
    const validationHistories = new Set(split.validation.cases.map((c) => c.history.join(',')));
    const testHistories = new Set(split.test.cases.map((c) => c.history.join(',')));
    const validationCalls = calls.filter((c) => c.stage === 'validation');
    const testCalls = calls.filter((c) => c.stage === 'test');
    expect(validationCalls.every((c) => validationHistories.has(c.history))).toBe(true);
    expect(testCalls.every((c) => testHistories.has(c.history))).toBe(true);
    expect(Math.max(...validationCalls.map((c) => c.order))).toBeLessThan(Math.min(...testCalls.map((c) => c.order)));
    // popularity and transition rank every test case once (the blend folds its linear components into one
    // model, whose scores do not go through the recorded score()).
    expect(testCalls.length).toBe(split.test.cases.length * 2);
    expect(report.models.map((m) => m.name)).toEqual(['popularity', 'transition', 'blend']);
  });
});

describe('evaluateTrained', () => {
  it('excludes history items from the ranking and the coverage lists only when the protocol says so', async () => {
    // Prepare: item 0 has the top score and is in the history; the target is item 2.
    const base = leaveOneOutSplit({ users: ['u'], sequences: [['a', 'b', 'c', 'd']] });
    const trained: TrainedCandidate = { name: 'fixed', trainingSeconds: 0, score: () => Float32Array.from([4, 1, 3, 2]) };
    const cases = [{ group: 'u', history: Int32Array.from([0]), target: 2 }];

    // Act
    const excluded = await evaluateTrained(trained, { ...base, excludeSeen: true }, cases, [1], 1);
    const kept = await evaluateTrained(trained, { ...base, excludeSeen: false }, cases, [1], 1);

    // Assess
    expect(excluded.metrics['HR@1']).toBe(1);
    expect(excluded.coverage).toBe(0.25); // item 2 only
    expect(kept.metrics['HR@1']).toBe(0);
    expect(kept.coverage).toBe(0.25); // item 0 only
  });
});

describe('blend search', () => {
  it('blendMetric ranks like rankOf when every item is in the candidate union', () => {
    // Prepare: 2 columns over 4 items; the target is row 0.
    const columns = [Float32Array.from([0.5, 0.9, 0.1, 0.4]), Float32Array.from([0.8, 0.1, 0.3, 0.2])];
    const scores = new Float32Array(8);
    for (let u = 0; u < 4; u++) for (let k = 0; k < 2; k++) scores[u * 2 + k] = columns[k]![u]!;
    const cases: BlendCase[] = [{ scores, size: 4, target: 0 }];
    const weights = new Map([
      [0, 1],
      [1, 0.5],
    ]);
    const blended = Float32Array.from({ length: 4 }, (_, u) => columns[0]![u]! + 0.5 * columns[1]![u]!);

    // Act
    const mrr = blendMetric(cases, 2, weights, 'MRR@5');

    // Assess
    expect(mrr).toBeCloseTo(1 / rankOf(blended, 0), 10);
  });

  it('searchSlots finds the best alternative and weight of each slot', () => {
    // Prepare: slot 0 (anchor) has columns 0/1, slot 1 has columns 2/3; the optimum is column 1 + column 3 × 0.5.
    const slots = [
      [0, 1],
      [2, 3],
    ];
    const objective = (state: readonly SlotState[]) => (state[0]!.column === 1 ? 1 : 0) + (state[1]!.column === 3 ? 1 : 0) - Math.abs(state[1]!.weight - 0.5);

    // Act
    const { state, value } = searchSlots(slots, 0, objective, () => {});

    // Assess
    expect(state).toEqual([
      { column: 1, weight: 1 },
      { column: 3, weight: 0.5 },
    ]);
    expect(value).toBe(2);
  });
});
