import { describe, expect, it } from 'vitest';
import type { MetricSummary } from '../../../../models/evaluation/metrics';
import { buildTestCases, gateAgainstBaseline } from '../../../../models/recommender/evaluate';
import { encodeHistory, type HistoryEntry, MAX_HISTORY, RECENCY_HALF_LIFE } from '../../../../models/recommender/history';
import type { Interaction } from '../../../../shared/snapshots/snapshot';

const CUTOFF = 1_000;

function x(p: string, i: string, ts: number, t: Interaction['t'] = 'view'): Interaction {
  return { p, i, t, ts, c: 'web' };
}

function summary(hr: number, ndcg: number, count = 50): MetricSummary {
  return { 'HR@10': hr, 'NDCG@10': ndcg, count };
}

describe('buildTestCases', () => {
  it('builds the history from interactions before the cutoff only, oldest first', () => {
    // Prepare: deliberately unsorted input.
    const interactions = [x('u1', 'b', 500, 'add_to_cart'), x('u1', 'c', 1_500), x('u1', 'a', 100), x('u1', 'd', 1_200)];

    // Act
    const cases = buildTestCases(interactions, CUTOFF);

    // Assess
    expect(cases).toEqual([
      {
        profileId: 'u1',
        history: [
          { itemId: 'a', type: 'view', ts: 100 },
          { itemId: 'b', type: 'add_to_cart', ts: 500 },
        ],
        target: 'd',
      },
    ]);
    expect(cases[0]?.history.every((h) => h.ts < CUTOFF)).toBe(true);
  });

  it('targets the first item after the cutoff that was not seen before it', () => {
    // Prepare: 'a' is re-viewed after the cutoff (not new), then 'e' is new.
    const interactions = [x('u1', 'a', 100), x('u1', 'a', 1_000), x('u1', 'e', 1_100), x('u1', 'f', 1_200)];

    // Act
    const cases = buildTestCases(interactions, CUTOFF);

    // Assess
    expect(cases.map((c) => c.target)).toEqual(['e']);
  });

  it('treats an interaction exactly at the cutoff as holdout, not history', () => {
    // Prepare
    const interactions = [x('u1', 'a', 100), x('u1', 'b', CUTOFF)];

    // Act
    const cases = buildTestCases(interactions, CUTOFF);

    // Assess
    expect(cases).toEqual([{ profileId: 'u1', history: [{ itemId: 'a', type: 'view', ts: 100 }], target: 'b' }]);
  });

  it('skips users with no history before the cutoff and users with nothing new after it', () => {
    // Prepare
    const interactions = [
      x('new-user', 'a', 1_100),
      x('new-user', 'b', 1_200),
      x('only-repeats', 'a', 100),
      x('only-repeats', 'a', 1_100),
      x('only-before', 'a', 100),
      x('ok', 'a', 100),
      x('ok', 'b', 1_100),
    ];

    // Act
    const cases = buildTestCases(interactions, CUTOFF);

    // Assess
    expect(cases.map((c) => c.profileId)).toEqual(['ok']);
  });

  it('never leaks a holdout interaction into any history (many users)', () => {
    // Prepare
    const interactions: Interaction[] = [];
    for (let u = 0; u < 30; u++) {
      for (let k = 0; k < 10; k++) interactions.push(x(`u${u}`, `i${(u * 7 + k * 3) % 17}`, (u * 97 + k * 211) % 2_000));
    }

    // Act
    const cases = buildTestCases(interactions, CUTOFF);

    // Assess
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      expect(c.history.every((h) => h.ts < CUTOFF)).toBe(true);
      expect(c.history.map((h) => h.itemId)).not.toContain(c.target);
    }
    expect(cases.map((c) => c.profileId)).toEqual([...cases.map((c) => c.profileId)].sort());
  });
});

describe('gateAgainstBaseline', () => {
  it('passes a model that beats the baseline on HR@10 and NDCG@10 with enough cases', () => {
    // Act
    const gate = gateAgainstBaseline(summary(0.3, 0.2), summary(0.2, 0.1));

    // Assess
    expect(gate.passed).toBe(true);
    expect(gate.reasons).toHaveLength(1);
    expect(gate.reasons[0]).toContain('HR@10 0.3000 > 0.2000');
  });

  it('fails a model that only ties the baseline (it must beat it)', () => {
    // Act
    const gate = gateAgainstBaseline(summary(0.2, 0.1), summary(0.2, 0.1));

    // Assess
    expect(gate.passed).toBe(false);
    expect(gate.reasons).toEqual(['HR@10 0.2000 does not beat the popularity baseline 0.2000', 'NDCG@10 0.1000 does not beat the popularity baseline 0.1000']);
  });

  it('fails when only one of the two metrics improves', () => {
    // Act
    const gate = gateAgainstBaseline(summary(0.3, 0.05), summary(0.2, 0.1));

    // Assess
    expect(gate.passed).toBe(false);
    expect(gate.reasons).toEqual(['NDCG@10 0.0500 does not beat the popularity baseline 0.1000']);
  });

  it('fails on too few holdout cases even when the metrics are better', () => {
    // Act
    const gate = gateAgainstBaseline(summary(0.9, 0.9, 3), summary(0.1, 0.1, 3), 10);

    // Assess
    expect(gate).toEqual({ passed: false, reasons: ['only 3 holdout cases, at least 10 needed'] });
  });

  it('treats a missing or NaN metric as not beating the baseline', () => {
    // Act
    const missing = gateAgainstBaseline({ count: 50 }, summary(0, 0));
    const nan = gateAgainstBaseline(summary(Number.NaN, Number.NaN), summary(0.1, 0.1));

    // Assess
    expect(missing.passed).toBe(false);
    expect(nan.passed).toBe(false);
  });
});

describe('encodeHistory', () => {
  const index = new Map([
    ['a', 0],
    ['b', 1],
    ['c', 2],
  ]);

  function weights(history: HistoryEntry[]): Map<string, number> {
    const encoded = encodeHistory(history, index);
    const byId = new Map<string, number>();
    const ids = [...index.keys()];
    encoded.itemIds.forEach((idx, n) => {
      byId.set(ids[Number(idx)] as string, encoded.weights[n] as number);
    });
    return byId;
  }

  it('weights a recent interaction more than an older one of the same type', () => {
    // Act
    const w = weights([
      { itemId: 'a', type: 'view', ts: 1 },
      { itemId: 'b', type: 'view', ts: 2 },
    ]);

    // Assess
    expect(w.get('b')).toBeCloseTo(1, 6);
    expect(w.get('a')).toBeCloseTo(0.5 ** (1 / RECENCY_HALF_LIFE), 6);
    expect(w.get('b')!).toBeGreaterThan(w.get('a')!);
  });

  it('halves the weight every RECENCY_HALF_LIFE later interactions', () => {
    // Prepare
    const history: HistoryEntry[] = [{ itemId: 'a', type: 'view', ts: 0 }];
    for (let n = 1; n <= RECENCY_HALF_LIFE; n++) history.push({ itemId: 'b', type: 'view', ts: n });

    // Act
    const w = weights(history);

    // Assess
    expect(w.get('a')).toBeCloseTo(0.5, 6);
  });

  it('keeps one position per interaction, in order, scaled by interaction strength', () => {
    // Act
    const encoded = encodeHistory(
      [
        { itemId: 'a', type: 'view', ts: 1 },
        { itemId: 'a', type: 'purchase', ts: 2 },
        { itemId: 'c', type: 'add_to_cart', ts: 3 },
      ],
      index,
    );

    // Assess
    const decay = (age: number) => 0.5 ** (age / RECENCY_HALF_LIFE);
    expect(Array.from(encoded.itemIds)).toEqual([0n, 0n, 2n]);
    expect(encoded.weights[0]).toBeCloseTo(1 * decay(2), 5);
    expect(encoded.weights[1]).toBeCloseTo(5 * decay(1), 5);
    expect(encoded.weights[2]).toBeCloseTo(3, 5);
    expect([...encoded.seen].sort()).toEqual([0, 2]);
  });

  it('does not age known items by interactions with items the model does not know', () => {
    // Act
    const encoded = encodeHistory(
      [
        { itemId: 'a', type: 'view', ts: 1 },
        { itemId: 'zzz', type: 'view', ts: 2 },
        { itemId: 'b', type: 'view', ts: 3 },
      ],
      index,
    );

    // Assess
    expect(Array.from(encoded.itemIds)).toEqual([0n, 1n]);
    expect(encoded.weights[0]).toBeCloseTo(0.5 ** (1 / RECENCY_HALF_LIFE), 6);
  });

  it('ignores unknown items and types without interaction strength', () => {
    // Act
    const encoded = encodeHistory(
      [
        { itemId: 'zzz', type: 'purchase', ts: 1 },
        { itemId: 'b', type: 'search', ts: 2 },
        { itemId: 'b', type: 'view', ts: 3 },
      ],
      index,
    );

    // Assess
    expect(Array.from(encoded.itemIds)).toEqual([1n]);
    expect([...encoded.seen]).toEqual([1]);
  });

  it('returns a single zero-weight placeholder and no seen items for an empty history', () => {
    // Act
    const encoded = encodeHistory([], index);

    // Assess
    expect(Array.from(encoded.itemIds)).toEqual([0n]);
    expect(Array.from(encoded.weights)).toEqual([0]);
    expect(encoded.seen.size).toBe(0);
  });

  it(`keeps only the last ${MAX_HISTORY} interactions`, () => {
    // Prepare
    const history: HistoryEntry[] = [{ itemId: 'a', type: 'purchase', ts: 0 }];
    for (let n = 1; n <= MAX_HISTORY; n++) history.push({ itemId: 'b', type: 'view', ts: n });

    // Act
    const encoded = encodeHistory(history, index);

    // Assess
    expect([...encoded.seen]).toEqual([1]);
  });
});
