/**
 * EASE as an evaluation candidate: trainEase (models/recommender/ease.ts) on the user × item matrix of the
 * training sequences, scored with a recency-weighted history (0.5^(age / halfLife) per position).
 *
 * trainEase caps the catalogue at EASE_MAX_ITEMS (one single-threaded ORT Inverse). Above it the same
 * closed form runs with the block Schur-complement inverse of ./block-inverse (Gram matrix from ease.ts's
 * gramMatrix, B = −P / diag(P), zero diagonal): 12,101 items take about a minute instead of ~3.
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { invertSpd } from './block-inverse';
import { EASE_MAX_ITEMS, gramMatrix, trainEase } from './ease';
import { type ItemItemMatrix, type LinearItemModel, linearTrained } from './linear';
import { itemCounts, memoByData, seconds, userItemMatrix } from './train-data';

/** Default catalogue limit of the evaluation EASE (dense m×m float32: 13,000² is 676 MB per matrix). */
export const EASE_EVAL_MAX_ITEMS = 13_000;

export interface EaseCandidateOptions {
  lambda: number;
  /** Catalogues larger than this keep only their most interacted items (others score 0). */
  maxItems?: number;
  /** History recency half-life in positions (Infinity: plain EASE). */
  halfLife: number;
  name?: string;
}

export interface EaseSolverOptions {
  /** Catalogues up to this size use trainEase (one ORT Inverse); larger ones the block inverse. */
  blockAbove?: number;
  /** Leaf size of the block inverse (tests use small leaves to exercise the recursion). */
  leafSize?: number;
}

/** B = −P / diag(P) with a zero diagonal, for P = (XᵀX + λI)⁻¹ of any size. */
export async function easeWeights(data: TrainData, lambda: number, solver: EaseSolverOptions = {}): Promise<Float32Array> {
  const X = userItemMatrix(data);
  if (data.nItems <= (solver.blockAbove ?? EASE_MAX_ITEMS)) return trainEase({ ...X, lambda, intraOpNumThreads: 2 });
  const n = data.nItems;
  const G = gramMatrix(X);
  for (let i = 0; i < n; i++) G[i * n + i]! += lambda;
  const P = await invertSpd(G, n, solver.leafSize ? { leafSize: solver.leafSize } : {});
  const diag = new Float32Array(n);
  for (let j = 0; j < n; j++) diag[j] = P[j * n + j]!;
  for (let i = 0; i < n; i++) {
    const base = i * n;
    for (let j = 0; j < n; j++) P[base + j] = i === j ? 0 : -P[base + j]! / diag[j]!;
  }
  return P;
}

/** EASE over the whole catalogue, or over its `maxItems` most interacted items as a BlockMatrix. */
export async function easeMatrix(data: TrainData, lambda: number, maxItems: number): Promise<ItemItemMatrix> {
  const n = data.nItems;
  if (n <= maxItems) return { kind: 'dense', n, data: await easeWeights(data, lambda) };
  const counts = itemCounts(data);
  const items = Int32Array.from(
    Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => counts[b]! - counts[a]! || a - b)
      .slice(0, maxItems)
      .sort((a, b) => a - b),
  );
  const local = new Int32Array(n).fill(-1);
  items.forEach((item, r) => {
    local[item] = r;
  });
  const sequences: Int32Array[] = [];
  const weights: Float32Array[] = [];
  data.sequences.forEach((seq, u) => {
    const keep: number[] = [];
    seq.forEach((item, p) => {
      if (local[item]! >= 0) keep.push(p);
    });
    sequences.push(Int32Array.from(keep, (p) => local[seq[p]!]!));
    const w = data.weights?.[u];
    if (w) weights.push(Float32Array.from(keep, (p) => w[p]!));
  });
  const restricted: TrainData = { nItems: items.length, sequences, ...(data.weights ? { weights } : {}) };
  return { kind: 'block', n, items, local, data: await easeWeights(restricted, lambda) };
}

export function easeCandidate(options: EaseCandidateOptions): Candidate {
  const name = options.name ?? 'ease';
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const maxItems = options.maxItems ?? EASE_EVAL_MAX_ITEMS;
      const fit = await memoByData(data, `ease:${options.lambda}:${maxItems}`, async () => {
        const started = performance.now();
        const matrix = await easeMatrix(data, options.lambda, maxItems);
        return { matrix, seconds: seconds(started) };
      });
      const model: LinearItemModel = { nItems: data.nItems, terms: [{ matrix: fit.matrix, halfLife: options.halfLife, weight: 1 }] };
      const params = { lambda: options.lambda, halfLife: options.halfLife, items: fit.matrix.kind === 'block' ? fit.matrix.items.length : data.nItems };
      return linearTrained(name, model, fit.seconds, params, { algorithm: 'ease' });
    },
  };
}
