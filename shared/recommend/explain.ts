/**
 * Why an item was recommended: for item-item models the score is a sum over history items
 * (score_j = Σ_h w_h · W[h, j]), so the history item contributing most is the reason. The weights are
 * read once from the model file itself (the ONNX initializers: dense B for `item-item`, the neighbour
 * tables for `item-item-sparse`), never recomputed; models of other kinds get no explainer.
 */
import { alignedView, readSparseNeighbours, SPARSE_KIND, type SparseNeighbours } from '../../models/recommender/sparse';
import { BLEND_KIND } from '../../models/recommender/blend';
import { type ExportedLinearTerm, LINEAR_KIND, readLinearTerms } from '../../models/recommender/linear';
import { onnx } from '../onnx/graph';

export interface HistoryWeight {
  index: number;
  weight: number;
}

export interface Contribution {
  /** Model index of the history item contributing most. */
  source: number;
  value: number;
}

export interface Explainer {
  /** For each candidate, the history item with the largest positive contribution (absent if none). */
  explain(history: readonly HistoryWeight[], candidates: readonly number[]): Map<number, Contribution>;
  /**
   * Sparse models: the only items a history can score non-zero (its items' neighbour rows). The array
   * is the explainer's scratch, valid until its next call: use it before any await.
   */
  support?(history: readonly HistoryWeight[]): Int32Array;
}

class DenseExplainer implements Explainer {
  constructor(
    private readonly B: Float32Array,
    private readonly n: number,
  ) {}

  explain(history: readonly HistoryWeight[], candidates: readonly number[]): Map<number, Contribution> {
    const out = new Map<number, Contribution>();
    for (const j of candidates) {
      let best: Contribution | undefined;
      for (const h of history) {
        const value = h.weight * this.B[h.index * this.n + j]!;
        if (value > 0 && (!best || value > best.value)) best = { source: h.index, value };
      }
      if (best) out.set(j, best);
    }
    return out;
  }
}

class SparseExplainer implements Explainer {
  private readonly stamp: Uint32Array;
  private epoch = 0;
  /** Grown to the largest support seen (at most 50 history items × K): no per-request allocation. */
  private out = new Int32Array(0);

  constructor(private readonly nb: SparseNeighbours) {
    this.stamp = new Uint32Array(nb.nItems);
  }

  support(history: readonly HistoryWeight[]): Int32Array {
    const { k, indices } = this.nb;
    this.epoch = (this.epoch + 1) >>> 0;
    if (this.epoch === 0) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
    if (this.out.length < history.length * k) this.out = new Int32Array(Math.max(history.length * k, this.out.length * 2));
    const out = this.out;
    let m = 0;
    for (const h of history) {
      for (let p = h.index * k, end = p + k; p < end; p++) {
        const j = indices[p]!;
        if (this.stamp[j] === this.epoch) continue;
        this.stamp[j] = this.epoch;
        out[m++] = j;
      }
    }
    return out.subarray(0, m);
  }

  explain(history: readonly HistoryWeight[], candidates: readonly number[]): Map<number, Contribution> {
    const wanted = new Set(candidates);
    const out = new Map<number, Contribution>();
    const { k, indices, weights } = this.nb;
    // L·K work: walk each history item's neighbour row once.
    for (const h of history) {
      const base = h.index * k;
      for (let s = 0; s < k; s++) {
        const j = indices[base + s]!;
        if (!wanted.has(j)) continue;
        const value = h.weight * weights[base + s]!;
        const best = out.get(j);
        if (value > 0 && (!best || value > best.value)) out.set(j, { source: h.index, value });
      }
    }
    return out;
  }
}

/**
 * Linear item-item models (`linear-item-item`, and the folded linear part `c0/` of a composed `blend`):
 * score_j = Σ_t k_t · Σ_l w_l · e^(age_l·r_t) · M_t[h_l, j], with age_l the number of history positions after l
 * (the history arrives one position per interaction, oldest first). The reason is the position whose term sum
 * is the largest positive contribution.
 */
class LinearExplainer implements Explainer {
  constructor(
    private readonly terms: readonly ExportedLinearTerm[],
    private readonly n: number,
  ) {}

  explain(history: readonly HistoryWeight[], candidates: readonly number[]): Map<number, Contribution> {
    const out = new Map<number, Contribution>();
    const L = history.length;
    const factors = history.map((h, l) => this.terms.map((t) => t.scale * h.weight * Math.exp((L - 1 - l) * t.rate)));
    for (const j of candidates) {
      let best: Contribution | undefined;
      history.forEach((h, l) => {
        let value = 0;
        this.terms.forEach((t, k) => {
          value += factors[l]![k]! * t.matrix[h.index * this.n + j]!;
        });
        if (value > 0 && (!best || value > best.value)) best = { source: h.index, value };
      });
      if (best) out.set(j, best);
    }
    return out;
  }
}

function readDense(bytes: Uint8Array, n: number): Float32Array | undefined {
  const model = onnx.ModelProto.decode(bytes);
  const B = model.graph?.initializer?.find((t) => t.name === 'B');
  if (!B?.rawData || B.dims?.length !== 2 || Number(B.dims[0]) !== n || Number(B.dims[1]) !== n) return undefined;
  return alignedView(B.rawData, Float32Array, n * n);
}

/** An explainer for the model's kind, reading its weights from the ONNX bytes (views, no copy). */
export function explainerFor(kind: string, bytes: Uint8Array, nItems: number): Explainer | undefined {
  try {
    if (kind === SPARSE_KIND) {
      const nb = readSparseNeighbours(bytes);
      return nb && nb.nItems === nItems ? new SparseExplainer(nb) : undefined;
    }
    if (kind === 'item-item') {
      const B = readDense(bytes, nItems);
      return B ? new DenseExplainer(B, nItems) : undefined;
    }
    if (kind === LINEAR_KIND || kind === BLEND_KIND) {
      const terms = readLinearTerms(bytes, nItems, kind === BLEND_KIND ? 'c0/' : '');
      return terms ? new LinearExplainer(terms, nItems) : undefined;
    }
  } catch {
    // An unreadable weight table only costs the reasons, never the serving.
  }
  return undefined;
}
