/**
 * "Next item" transition model (sequential rules, Ludewig & Jannach's SR generalised): for every training
 * sequence and every pair of positions p < q with q − p ≤ window, T[item_p, item_q] += decay(q − p)
 * (decay 1/d, 'div'). Rows are then divided by (row sum)^rowNorm (0: raw counts, 1: P(next | item)).
 * Scored with a short recency half-life so the last items dominate: score = Σ_l 0.5^(age_l/halfLife)·T[h_l].
 *
 * Sparse CSR; exportable through buildLinearOnnx (densified) within the recommender contract.
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { type LinearItemModel, linearTrained, type SparseMatrix } from './linear';
import { memoByData, seconds } from './train-data';

export interface TransitionOptions {
  /** Largest step q − p counted (1: only direct successors). */
  window: number;
  /** Weight of a pair d steps apart: 'div' 1/d, 'same' 1. */
  decay?: 'div' | 'same';
  /** Weight of the reverse pairs (item_q → item_p, "bought before"), relative to the forward ones (default 0). */
  backward?: number;
  /** Exponent of the row normalisation (0 none, 1 row-stochastic). */
  rowNorm?: number;
  /** History recency half-life in positions. */
  halfLife: number;
  name?: string;
}

export function transitionMatrix(data: TrainData, options: Pick<TransitionOptions, 'window' | 'decay' | 'rowNorm' | 'backward'>): SparseMatrix {
  const n = data.nItems;
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  const decay = options.decay ?? 'div';
  const backward = options.backward ?? 0;
  for (const seq of data.sequences) {
    for (let p = 0; p < seq.length; p++) {
      const row = rows[seq[p]!]!;
      for (let q = p + 1; q < seq.length && q - p <= options.window; q++) {
        const w = decay === 'div' ? 1 / (q - p) : 1;
        const j = seq[q]!;
        row.set(j, (row.get(j) ?? 0) + w);
        if (backward > 0) {
          const back = rows[j]!;
          back.set(seq[p]!, (back.get(seq[p]!) ?? 0) + backward * w);
        }
      }
    }
  }
  const offsets = new Int32Array(n + 1);
  rows.forEach((row, i) => {
    offsets[i + 1] = offsets[i]! + row.size;
  });
  const cols = new Int32Array(offsets[n]!);
  const values = new Float32Array(offsets[n]!);
  const beta = options.rowNorm ?? 0;
  rows.forEach((row, i) => {
    let sum = 0;
    for (const v of row.values()) sum += v;
    const scale = beta === 0 || sum === 0 ? 1 : 1 / sum ** beta;
    let p = offsets[i]!;
    for (const [j, v] of [...row.entries()].sort((a, b) => a[0] - b[0])) {
      cols[p] = j;
      values[p] = v * scale;
      p++;
    }
  });
  return { kind: 'sparse', n, offsets, cols, values };
}

export function transitionCandidate(options: TransitionOptions): Candidate {
  const name = options.name ?? 'transition';
  const decay = options.decay ?? 'div';
  const rowNorm = options.rowNorm ?? 0;
  const backward = options.backward ?? 0;
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const fit = await memoByData(data, `transition:${options.window}:${decay}:${rowNorm}:${backward}`, async () => {
        const started = performance.now();
        const T = transitionMatrix(data, { window: options.window, decay, rowNorm, backward });
        return { T, seconds: seconds(started) };
      });
      const model: LinearItemModel = { nItems: data.nItems, terms: [{ matrix: fit.T, halfLife: options.halfLife, weight: 1 }] };
      const params = { window: options.window, decay, rowNorm, backward, halfLife: options.halfLife };
      return linearTrained(name, model, fit.seconds, params, { algorithm: 'transition' });
    },
  };
}
