import * as ort from 'onnxruntime-node';
import type { Interaction } from '../../shared/snapshots/snapshot';
import { MetricAccumulator, type MetricSummary, rankOf } from '../evaluation/metrics';
import { INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from './contract';
import { type EncodedHistory, encodeHistory, type HistoryEntry } from './history';
import { runChecked } from '../../shared/onnx/session';

/** One held-out case: what the shopper did before the cutoff, and the first new item after it. */
export interface TestCase {
  profileId: string;
  history: HistoryEntry[];
  target: string;
}

/**
 * Time-based holdout: training sees only interactions before `holdoutStartMs`; each shopper with
 * history before the cutoff is tested on the first item after it that they had not interacted with
 * before (the "next new item"). Nothing after the cutoff reaches the history.
 */
export function buildTestCases(interactions: readonly Interaction[], holdoutStartMs: number): TestCase[] {
  const byUser = new Map<string, Interaction[]>();
  for (const x of interactions) (byUser.get(x.p) ?? byUser.set(x.p, []).get(x.p))?.push(x);
  const cases: TestCase[] = [];
  for (const [profileId, own] of byUser) {
    own.sort((a, b) => a.ts - b.ts);
    const before = own.filter((x) => x.ts < holdoutStartMs);
    if (before.length === 0) continue;
    const known = new Set(before.map((x) => x.i));
    const next = own.find((x) => x.ts >= holdoutStartMs && !known.has(x.i));
    if (!next) continue;
    cases.push({ profileId, history: before.map((x) => ({ itemId: x.i, type: x.t, ts: x.ts })), target: next.i });
  }
  return cases.sort((a, b) => (a.profileId < b.profileId ? -1 : 1));
}

export type Scorer = (encoded: EncodedHistory) => Promise<ArrayLike<number>>;

/** Ranks every case's target among all items not already in the shopper's history. */
export async function evaluateScorer(cases: readonly TestCase[], itemIds: readonly string[], score: Scorer): Promise<MetricSummary> {
  const index = new Map(itemIds.map((id, i) => [id, i]));
  const metrics = new MetricAccumulator();
  for (const testCase of cases) {
    const target = index.get(testCase.target);
    if (target === undefined) {
      metrics.add(Number.POSITIVE_INFINITY); // an item the model cannot rank is a miss, not a skipped case
      continue;
    }
    const encoded = encodeHistory(testCase.history, index);
    metrics.add(rankOf(await score(encoded), target, encoded.seen));
  }
  return metrics.summary([5, 10, 20]);
}

/** Scorer backed by an ONNX session of the recommender contract (the exact artifact that is served). */
export function onnxScorer(session: ort.InferenceSession): Scorer {
  return async (encoded) => {
    const L = encoded.itemIds.length;
    const out = await runChecked(session, {
      [INPUT_ITEM_IDS]: new ort.Tensor('int64', encoded.itemIds, [1, L]),
      [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', encoded.weights, [1, L]),
    });
    return out[OUTPUT_SCORES]?.data as Float32Array;
  };
}

/** The popularity baseline: the same ranking for everyone. */
export function popularityScorer(popularity: readonly number[]): Scorer {
  const scores = Float32Array.from(popularity);
  return async () => scores;
}

export interface GateDecision {
  passed: boolean;
  reasons: string[];
}

/** Promotion gate of the foundation: beat the popularity baseline on both HR@10 and NDCG@10. */
export function gateAgainstBaseline(model: MetricSummary, baseline: MetricSummary, minCases = 10): GateDecision {
  const reasons: string[] = [];
  if (model.count < minCases) reasons.push(`only ${model.count} holdout cases, at least ${minCases} needed`);
  for (const metric of ['HR@10', 'NDCG@10']) {
    const m = model[metric] ?? 0;
    const b = baseline[metric] ?? 0;
    if (!(m > b)) reasons.push(`${metric} ${m.toFixed(4)} does not beat the popularity baseline ${b.toFixed(4)}`);
  }
  return reasons.length === 0
    ? { passed: true, reasons: [`HR@10 ${model['HR@10']?.toFixed(4)} > ${baseline['HR@10']?.toFixed(4)} and NDCG@10 ${model['NDCG@10']?.toFixed(4)} > ${baseline['NDCG@10']?.toFixed(4)}`] }
    : { passed: false, reasons };
}
