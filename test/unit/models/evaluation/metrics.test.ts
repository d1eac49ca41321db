import { describe, expect, it } from 'vitest';
import { hitRate, MetricAccumulator, mrr, ndcg, rankOf, topK } from '../../../../models/evaluation/metrics';
import { mulberry32 } from '../../../../shared/random';

/** Reference: full stable sort by descending score, then filter. */
function topKBySort(scores: Float32Array, k: number, excluded: (i: number) => boolean): number[] {
  return Array.from(scores.keys())
    .filter((i) => !excluded(i))
    .sort((a, b) => scores[b]! - scores[a]! || a - b)
    .slice(0, k);
}

describe('topK', () => {
  it('matches a full sort on random data with exclusions (Set and mask), including ties', () => {
    // Prepare
    const r = mulberry32(42);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(r() * 500);
      // Coarse values so that ties occur.
      const scores = Float32Array.from({ length: n }, () => Math.floor(r() * 50) / 7);
      const set = new Set<number>();
      const mask = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        if (r() < 0.2) {
          set.add(i);
          mask[i] = 1;
        }
      }
      const k = 1 + Math.floor(r() * 30);

      // Act
      const withSet = Array.from(topK(scores, k, set));
      const withMask = Array.from(topK(scores, k, mask));
      const plain = Array.from(topK(scores, k));

      // Assess
      expect(withSet).toEqual(topKBySort(scores, k, (i) => set.has(i)));
      expect(withMask).toEqual(withSet);
      expect(plain).toEqual(topKBySort(scores, k, () => false));
    }
  });

  it('handles k larger than the eligible items, k = 0 and NaN scores', () => {
    // Prepare
    const scores = new Float32Array([0.1, Number.NaN, 0.9, 0.5]);

    // Act / Assess
    expect(Array.from(topK(scores, 10, new Set([3])))).toEqual([2, 0]);
    expect(topK(scores, 0).length).toBe(0);
  });
});

describe('rankOf', () => {
  it('gives 1-based ranks among non-excluded items with pessimistic ties', () => {
    // Prepare
    const scores = new Float32Array([0.5, 0.9, 0.5, 0.1, 0.7]);

    // Act / Assess
    expect(rankOf(scores, 1)).toBe(1);
    expect(rankOf(scores, 4)).toBe(2);
    expect(rankOf(scores, 0)).toBe(4); // tie with item 2 counted ahead
    expect(rankOf(scores, 2)).toBe(4);
    expect(rankOf(scores, 3)).toBe(5);
    expect(rankOf(scores, 0, new Set([1, 2]))).toBe(2);
    expect(rankOf(scores, 3, Uint8Array.from([0, 1, 0, 0, 1]))).toBe(3);
    expect(() => rankOf(scores, 5)).toThrow(/not in \[0, 5\)/);
  });
});

describe('metric functions and accumulator', () => {
  it('match hand-computed values', () => {
    // Prepare
    const acc = new MetricAccumulator();

    // Act
    for (const r of [1, 3, 7, 25]) acc.add(r);
    const s = acc.summary([5, 10]);

    // Assess
    expect(hitRate(3, 5)).toBe(1);
    expect(hitRate(6, 5)).toBe(0);
    expect(ndcg(1, 5)).toBe(1);
    expect(ndcg(3, 5)).toBeCloseTo(0.5, 12); // 1 / log2(4)
    expect(ndcg(7, 10)).toBeCloseTo(1 / 3, 12); // 1 / log2(8)
    expect(ndcg(7, 5)).toBe(0);
    expect(mrr(4, 5)).toBe(0.25);
    expect(mrr(6, 5)).toBe(0);
    expect(s.count).toBe(4);
    expect(s['HR@5']).toBeCloseTo(2 / 4, 12);
    expect(s['HR@10']).toBeCloseTo(3 / 4, 12);
    expect(s['NDCG@5']).toBeCloseTo((1 + 0.5) / 4, 12);
    expect(s['NDCG@10']).toBeCloseTo((1 + 0.5 + 1 / 3) / 4, 12);
    expect(s['MRR@5']).toBeCloseTo((1 + 1 / 3) / 4, 12);
    expect(s['MRR@10']).toBeCloseTo((1 + 1 / 3 + 1 / 7) / 4, 12);
    expect(Object.keys(acc.summary()).sort()).toEqual(['HR@5', 'NDCG@5', 'MRR@5', 'HR@10', 'NDCG@10', 'MRR@10', 'HR@20', 'NDCG@20', 'MRR@20', 'count'].sort());
  });

  it('counts Infinity ranks as misses and reports zeros when empty', () => {
    // Prepare
    const acc = new MetricAccumulator();
    const empty = new MetricAccumulator();

    // Act
    acc.add(Number.POSITIVE_INFINITY);
    acc.add(1);

    // Assess
    expect(acc.summary([5])).toEqual({ 'HR@5': 0.5, 'NDCG@5': 0.5, 'MRR@5': 0.5, count: 2 });
    expect(empty.summary([5])).toEqual({ 'HR@5': 0, 'NDCG@5': 0, 'MRR@5': 0, count: 0 });
    expect(() => acc.add(0)).toThrow();
  });
});
