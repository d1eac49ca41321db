/**
 * Ranking metrics for next-item evaluation with a single held-out target per case.
 *
 * Conventions:
 * - Ranks are 1-based. A rank of Infinity (target not rankable) counts as a miss.
 * - Ties are counted PESSIMISTICALLY in `rankOf`: every other eligible item whose score
 *   equals the target's is ranked ahead of it.
 * - NaN scores are never selected by `topK` and never ranked ahead of the target; a NaN
 *   target score gets the worst rank (the number of eligible items).
 * - `exclude` is a Set of item indices or a mask (mask[i] !== 0 → excluded).
 */

export type Exclusion = Set<number> | Uint8Array;

function excluder(exclude: Exclusion | undefined): ((i: number) => boolean) | null {
  if (!exclude) return null;
  if (exclude instanceof Uint8Array) return (i) => exclude[i] !== undefined && exclude[i] !== 0;
  if (exclude.size === 0) return null;
  return (i) => exclude.has(i);
}

/**
 * Indices of the k highest scores, best first (ties: lower index first, i.e. the same
 * order as a stable sort by descending score). One pass with a size-k min-heap: O(N log k).
 * Returns fewer than k indices if fewer items are eligible.
 */
export function topK(scores: ArrayLike<number>, k: number, exclude?: Exclusion): Int32Array {
  const n = scores.length;
  if (!(k > 0)) return new Int32Array(0);
  k = Math.min(Math.floor(k), n);
  const isExcluded = excluder(exclude);
  // Min-heap of (score, index) by "worse first": lower score, or equal score and higher index.
  const hs = new Float64Array(k);
  const hi = new Int32Array(k);
  let size = 0;
  const worse = (sa: number, ia: number, sb: number, ib: number) => sa < sb || (sa === sb && ia > ib);

  const siftDown = (pos: number) => {
    const s = hs[pos]!;
    const idx = hi[pos]!;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= size) break;
      const r = l + 1;
      let c = l;
      if (r < size && worse(hs[r]!, hi[r]!, hs[l]!, hi[l]!)) c = r;
      if (!worse(hs[c]!, hi[c]!, s, idx)) break;
      hs[pos] = hs[c]!;
      hi[pos] = hi[c]!;
      pos = c;
    }
    hs[pos] = s;
    hi[pos] = idx;
  };

  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (Number.isNaN(s) || isExcluded?.(i)) continue;
    if (size < k) {
      // sift up
      let pos = size++;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        if (!worse(s, i, hs[parent]!, hi[parent]!)) break;
        hs[pos] = hs[parent]!;
        hi[pos] = hi[parent]!;
        pos = parent;
      }
      hs[pos] = s;
      hi[pos] = i;
    } else if (worse(hs[0]!, hi[0]!, s, i)) {
      hs[0] = s;
      hi[0] = i;
      siftDown(0);
    }
  }

  // Pop worst-first into the back of the result.
  const out = new Int32Array(size);
  for (let p = size - 1; p >= 0; p--) {
    out[p] = hi[0]!;
    size--;
    if (size > 0) {
      hs[0] = hs[size]!;
      hi[0] = hi[size]!;
      siftDown(0);
    }
  }
  return out;
}

/**
 * 1-based rank of `target` among the non-excluded items (the target itself is always
 * ranked, even if it is in `exclude`). Ties are pessimistic: equal scores rank ahead.
 */
export function rankOf(scores: ArrayLike<number>, target: number, exclude?: Exclusion): number {
  const n = scores.length;
  if (!Number.isInteger(target) || target < 0 || target >= n) {
    throw new Error(`rankOf: target ${target} is not in [0, ${n})`);
  }
  const isExcluded = excluder(exclude);
  const st = scores[target]!;
  let ahead = 0;
  let eligible = 0;
  for (let i = 0; i < n; i++) {
    if (i === target) continue;
    if (isExcluded?.(i)) continue;
    eligible++;
    if (scores[i]! >= st) ahead++; // false for NaN on either side
  }
  if (Number.isNaN(st)) return eligible + 1; // NaN target: worst
  return ahead + 1;
}

/** 1 if the target is in the top k, else 0. */
export function hitRate(rank: number, k: number): number {
  return rank <= k ? 1 : 0;
}

/** Binary relevance, single target: 1 / log2(rank + 1) if rank ≤ k, else 0. */
export function ndcg(rank: number, k: number): number {
  return rank <= k ? 1 / Math.log2(rank + 1) : 0;
}

/** Reciprocal rank truncated at k: 1 / rank if rank ≤ k, else 0. */
export function mrr(rank: number, k: number): number {
  return rank <= k ? 1 / rank : 0;
}

export type MetricSummary = Record<string, number> & { count: number };

/** Collects ranks (one per evaluation case) and reports mean HR/NDCG/MRR at several K. */
export class MetricAccumulator {
  private readonly ranks: number[] = [];

  /** Adds one case; `rank` is 1-based, or Infinity when the target could not be ranked. */
  add(rank: number): void {
    if (!(rank >= 1)) throw new Error(`MetricAccumulator.add: rank must be >= 1 (or Infinity), got ${rank}`);
    this.ranks.push(rank);
  }

  get count(): number {
    return this.ranks.length;
  }

  /** `{ 'HR@5', 'NDCG@5', 'MRR@5', ..., count }`; all metrics are 0 when count is 0. */
  summary(ks: readonly number[] = [5, 10, 20]): MetricSummary {
    const out: Record<string, number> = {};
    const c = this.ranks.length;
    for (const k of ks) {
      let hr = 0;
      let nd = 0;
      let rr = 0;
      for (const r of this.ranks) {
        hr += hitRate(r, k);
        nd += ndcg(r, k);
        rr += mrr(r, k);
      }
      out[`HR@${k}`] = c ? hr / c : 0;
      out[`NDCG@${k}`] = c ? nd / c : 0;
      out[`MRR@${k}`] = c ? rr / c : 0;
    }
    return { ...out, count: c };
  }
}
