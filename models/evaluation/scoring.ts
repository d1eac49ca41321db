/** Ranking a trained candidate on evaluation cases (shared by the runner and the blend search). */
import type { TrainedCandidate } from './candidate';
import { type Exclusion, MetricAccumulator, type MetricSummary, rankOf, topK } from './metrics';
import type { EvalCase, EvalSplit } from './protocols';

export function metricK(metric: string): number {
  const k = Number(metric.split('@')[1]);
  if (!Number.isInteger(k) || k < 1) throw new Error(`runner: cannot read K from metric '${metric}'`);
  return k;
}

/** Reusable exclusion mask of a case's history (or none when the protocol keeps seen items). */
export function exclusionFor(split: EvalSplit, mask: Uint8Array, history: Int32Array): Exclusion | undefined {
  if (!split.excludeSeen) return undefined;
  for (const item of history) if (item >= 0 && item < mask.length) mask[item] = 1;
  return mask;
}

export function clearMask(mask: Uint8Array, history: Int32Array): void {
  for (const item of history) if (item >= 0 && item < mask.length) mask[item] = 0;
}

export async function scoresOf(trained: TrainedCandidate, history: Int32Array, nItems: number): Promise<Float32Array> {
  const scores = await trained.score(history);
  if (scores.length !== nItems) throw new Error(`${trained.name}: score() returned ${scores.length} scores for ${nItems} items`);
  return scores;
}

/** Ranks every case's target; coverage = share of items appearing in any top-`coverageK` list. */
export async function evaluateTrained(
  trained: TrainedCandidate,
  split: EvalSplit,
  cases: readonly EvalCase[],
  ks: readonly number[],
  coverageK = 10,
): Promise<{ metrics: MetricSummary; coverage: number }> {
  const n = split.nItems;
  const mask = new Uint8Array(n);
  const covered = new Uint8Array(n);
  const metrics = new MetricAccumulator();
  for (const c of cases) {
    const scores = await scoresOf(trained, c.history, n);
    const exclude = exclusionFor(split, mask, c.history);
    metrics.add(c.target < 0 ? Number.POSITIVE_INFINITY : rankOf(scores, c.target, exclude));
    for (const i of topK(scores, coverageK, exclude)) covered[i] = 1;
    clearMask(mask, c.history);
  }
  let count = 0;
  for (const v of covered) count += v;
  return { metrics: metrics.summary(ks), coverage: n ? count / n : 0 };
}
