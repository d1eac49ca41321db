/**
 * SLIST (Choi, Kim, Lee, Shim, Lee, "Session-aware Linear Item-Item Models for Session-based
 * Recommendation", WWW 2021), closed form, 'part' direction as in the authors' code:
 *
 *   SLIS rows (one per sequence):    input  x̃ = l1-normalised binary item set,  target x = binary item set
 *   SLIT rows (one per prefix t):    input  s̃ = l1-normalised Σ_{p≤t} e^{−(t−p)/τ_train} 1_{item_p}
 *                                    target y = Σ_{q>t} e^{−(q−t−1)/τ_train} 1_{item_q}
 *   each row weighted by the sequence's timeliness  w = e^{(t_seq − t_max)/τ_session}  (1 without timestamps)
 *
 *   A = [√α X̃; √(1−α) S̃],  Y = [√α X; √(1−α) Y]
 *   B = (AᵀWA + λI)⁻¹ AᵀWY           (α < 1; no diagonal constraint: repeats are legal in sessions)
 *
 * Scoring: Σ_l e^{−age_l/τ_predict} B[item_l] (τ_predict ≤ 0: every position 1), i.e. a recency half-life
 * of τ_predict·ln 2 positions — which is what makes it exportable through buildLinearOnnx.
 * The inverse runs in onnxruntime (./block-inverse: com.microsoft Inverse at the leaves), B = P·M as an
 * ORT MatMul. Cost: one n×n inverse and one n×n product.
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { invertSpd, matmul } from '../recommender/block-inverse';
import { type LinearItemModel, linearTrained } from '../recommender/linear';
import { memoByData, seconds } from '../recommender/train-data';

export interface SlistOptions {
  /** Weight of SLIS (whole-sequence similarity) against SLIT (prefix → future transitions), in [0, 1). */
  alpha: number;
  /** L2 regularisation λ. */
  reg: number;
  /** τ_train: decay of positions inside SLIT rows (≤ 0: no decay). */
  trainWeight: number;
  /** τ_predict: decay of history positions at scoring (≤ 0: no decay). */
  predictWeight: number;
  /** τ_session in days: timeliness of training sequences (≤ 0 or no timestamps: all 1). */
  sessionWeightDays: number;
  name?: string;
}

interface SparseRow {
  cols: number[];
  vals: number[];
}

/** Sums duplicate columns. */
function coalesce(cols: number[], vals: number[]): SparseRow {
  const m = new Map<number, number>();
  cols.forEach((c, k) => {
    m.set(c, (m.get(c) ?? 0) + vals[k]!);
  });
  return { cols: [...m.keys()], vals: [...m.values()] };
}

function l1(row: SparseRow): SparseRow {
  let s = 0;
  for (const v of row.vals) s += Math.abs(v);
  return s === 0 ? row : { cols: row.cols, vals: row.vals.map((v) => v / s) };
}

/** Accumulates G += w·aᵀa and M += w·aᵀy for one row pair, in float64 scratch then float32. */
function accumulate(G: Float32Array, M: Float32Array, n: number, a: SparseRow, y: SparseRow, w: number): void {
  for (let p = 0; p < a.cols.length; p++) {
    const i = a.cols[p]!;
    const ai = w * a.vals[p]!;
    const base = i * n;
    for (let q = 0; q < a.cols.length; q++) G[base + a.cols[q]!]! += ai * a.vals[q]!;
    for (let q = 0; q < y.cols.length; q++) M[base + y.cols[q]!]! += ai * y.vals[q]!;
  }
}

/** G = AᵀWA and M = AᵀWY of the SLIST objective (dense n×n float32). */
export function slistSystem(data: TrainData, options: SlistOptions): { G: Float32Array; M: Float32Array } {
  const n = data.nItems;
  const G = new Float32Array(n * n);
  const M = new Float32Array(n * n);
  const sqrtA = Math.sqrt(options.alpha);
  const sqrtT = Math.sqrt(1 - options.alpha);
  const tMax = data.timestamps ? Math.max(...data.timestamps.map((t) => t[t.length - 1] ?? Number.NEGATIVE_INFINITY)) : 0;
  const tauSession = options.sessionWeightDays * 86_400_000;
  const decay = (d: number) => (options.trainWeight > 0 ? Math.exp(-d / options.trainWeight) : 1);
  data.sequences.forEach((seq, s) => {
    const len = seq.length;
    if (len === 0) return;
    const tEnd = data.timestamps?.[s]?.[len - 1];
    const w = tauSession > 0 && tEnd !== undefined ? Math.exp((tEnd - tMax) / tauSession) : 1;
    if (options.alpha > 0) {
      const set = [...new Set(seq)];
      const x: SparseRow = { cols: set, vals: set.map(() => 1) };
      const xs = l1(x);
      accumulate(G, M, n, { cols: xs.cols, vals: xs.vals.map((v) => v * sqrtA) }, { cols: x.cols, vals: x.vals.map((v) => v * sqrtA) }, w);
    }
    if (options.alpha < 1) {
      for (let t = 0; t + 1 < len; t++) {
        const inCols: number[] = [];
        const inVals: number[] = [];
        for (let p = 0; p <= t; p++) {
          inCols.push(seq[p]!);
          inVals.push(decay(t - p));
        }
        const outCols: number[] = [];
        const outVals: number[] = [];
        for (let q = t + 1; q < len; q++) {
          outCols.push(seq[q]!);
          outVals.push(decay(q - t - 1));
        }
        const a = l1(coalesce(inCols, inVals));
        const y = coalesce(outCols, outVals);
        accumulate(G, M, n, { cols: a.cols, vals: a.vals.map((v) => v * sqrtT) }, { cols: y.cols, vals: y.vals.map((v) => v * sqrtT) }, w);
      }
    }
  });
  return { G, M };
}

export async function slistWeights(data: TrainData, options: SlistOptions): Promise<Float32Array> {
  if (!(options.alpha >= 0 && options.alpha < 1)) throw new Error(`slist: alpha must be in [0, 1), got ${options.alpha}`);
  const n = data.nItems;
  const { G, M } = slistSystem(data, options);
  for (let i = 0; i < n; i++) G[i * n + i]! += options.reg;
  const P = await invertSpd(G, n);
  return matmul(P, M, n, n, n);
}

/** Recency half-life (positions) equivalent to SLIST's e^{−age/τ_predict}. */
export function predictHalfLife(predictWeight: number): number {
  return predictWeight > 0 ? predictWeight * Math.LN2 : Number.POSITIVE_INFINITY;
}

export function slistCandidate(options: SlistOptions): Candidate {
  const name = options.name ?? 'slist';
  const { alpha, reg, trainWeight, sessionWeightDays, predictWeight } = options;
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const fit = await memoByData(data, `slist:${alpha}:${reg}:${trainWeight}:${sessionWeightDays}`, async () => {
        const started = performance.now();
        const B = await slistWeights(data, options);
        return { B, seconds: seconds(started) };
      });
      const model: LinearItemModel = {
        nItems: data.nItems,
        terms: [{ matrix: { kind: 'dense', n: data.nItems, data: fit.B }, halfLife: predictHalfLife(predictWeight), weight: 1 }],
      };
      return linearTrained(name, model, fit.seconds, { alpha, reg, trainWeight, predictWeight, sessionWeightDays }, { algorithm: 'slist' });
    },
  };
}
