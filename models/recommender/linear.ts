/**
 * Linear item-item scoring shared by EASE, item-kNN, transition, SLIST and their blends:
 *
 *   score = columnScale ⊙ Σ_t weight_t · Σ_l h_t(age_l) · M_t[item_l, :]  +  bias
 *
 * where age_l = L−1−l is the position of history item l counted from the most recent one, and
 * h_t(age) = 0.5^(age / halfLife_t) is term t's recency weighting (halfLife = Infinity: every position 1).
 * Only the last `maxHistory` items count (as in serving).
 *
 * ONNX export within the recommender contract (item_ids, item_weights → scores). Serving feeds one
 * position per interaction, oldest first, with item_weights = strength · 0.5^(age / RECENCY_HALF_LIFE)
 * (models/recommender/history.ts). The graph recovers each position's age in-graph — the number of
 * non-padded positions after it: CumSum(Sign(w), exclusive, reverse) — and re-weights every position to
 * term t's own recency, w · 0.5^(age·(1/halfLife_t − 1/RECENCY_HALF_LIFE)) = strength · 0.5^(age/halfLife_t).
 * So a term with a short half-life (a "last item → next item" transition matrix) and a term with a long
 * one (EASE) live in ONE model without a second input, the interaction strength stays a linear factor
 * (a purchase counts 5× a view in every term), and padding (id 0, weight 0, at the end) changes nothing.
 * With strength 1 the ONNX scores equal score() to float precision.
 */
import { buildModel, floatTensor, int64Tensor, type INodeProto, type ITensorProto, node, onnx, valueInfo } from '../../shared/onnx/graph';
import { alignedView } from './sparse';
import { DIM_HISTORY, INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, META_FAMILY, META_KIND, META_N_ITEMS, OUTPUT_SCORES, RECOMMENDER_FAMILY } from './contract';
import type { TrainedCandidate } from '../evaluation/candidate';
import { MAX_HISTORY, RECENCY_HALF_LIFE } from './history';

export interface DenseMatrix {
  kind: 'dense';
  n: number;
  /** n×n row-major: row i = contribution of history item i to every item. */
  data: Float32Array;
}

export interface SparseMatrix {
  kind: 'sparse';
  n: number;
  /** CSR: row i is cols/values[offsets[i] .. offsets[i+1]). */
  offsets: Int32Array;
  cols: Int32Array;
  values: Float32Array;
}

/** A dense matrix over a subset of the catalogue (e.g. EASE on the most popular items); other rows/columns are 0. */
export interface BlockMatrix {
  kind: 'block';
  n: number;
  /** Global index of each local row/column. */
  items: Int32Array;
  /** Local position of each global item, −1 when outside the block (length n). */
  local: Int32Array;
  /** m×m row-major, m = items.length. */
  data: Float32Array;
}

export type ItemItemMatrix = DenseMatrix | SparseMatrix | BlockMatrix;

export interface LinearTerm {
  matrix: ItemItemMatrix;
  /** Recency half-life in history positions; Infinity weighs every position 1. */
  halfLife: number;
  weight: number;
}

export interface LinearItemModel {
  nItems: number;
  terms: LinearTerm[];
  /** Multiplies the summed terms item by item (e.g. popularity debiasing pop^−β). */
  columnScale?: Float32Array;
  /** Added last (e.g. a weighted popularity prior). */
  bias?: Float32Array;
  maxHistory?: number;
}

/** Recency weight of a position `age` steps before the most recent one. */
export function recencyWeight(age: number, halfLife: number): number {
  return halfLife === Number.POSITIVE_INFINITY ? 1 : 0.5 ** (age / halfLife);
}

export function addRow(out: Float32Array, matrix: ItemItemMatrix, row: number, w: number): void {
  if (matrix.kind === 'dense') {
    const n = matrix.n;
    const data = matrix.data;
    const base = row * n;
    for (let j = 0; j < n; j++) out[j]! += w * data[base + j]!;
  } else if (matrix.kind === 'sparse') {
    const { offsets, cols, values } = matrix;
    for (let p = offsets[row]!; p < offsets[row + 1]!; p++) out[cols[p]!]! += w * values[p]!;
  } else {
    const r = matrix.local[row]!;
    if (r < 0) return;
    const { items, data } = matrix;
    const m = items.length;
    const base = r * m;
    for (let c = 0; c < m; c++) out[items[c]!]! += w * data[base + c]!;
  }
}

/** Scores of every item for a time-ordered history (item indices; out-of-range indices are ignored). */
export function scoreLinear(model: LinearItemModel, history: Int32Array): Float32Array {
  const n = model.nItems;
  const out = new Float32Array(n);
  const maxHistory = model.maxHistory ?? MAX_HISTORY;
  const start = Math.max(0, history.length - maxHistory);
  const last = history.length - 1;
  for (const term of model.terms) {
    if (term.weight === 0) continue;
    for (let l = start; l <= last; l++) {
      const item = history[l]!;
      if (item < 0 || item >= n) continue;
      addRow(out, term.matrix, item, term.weight * recencyWeight(last - l, term.halfLife));
    }
  }
  if (model.columnScale) for (let j = 0; j < n; j++) out[j]! *= model.columnScale[j]!;
  if (model.bias) for (let j = 0; j < n; j++) out[j]! += model.bias[j]!;
  return out;
}

export function toDense(matrix: ItemItemMatrix): Float32Array {
  if (matrix.kind === 'dense') return matrix.data;
  const n = matrix.n;
  const out = new Float32Array(n * n);
  if (matrix.kind === 'block') {
    const { items, data } = matrix;
    const m = items.length;
    for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) out[items[r]! * n + items[c]!] = data[r * m + c]!;
    return out;
  }
  for (let i = 0; i < n; i++) {
    for (let p = matrix.offsets[i]!; p < matrix.offsets[i + 1]!; p++) out[i * n + matrix.cols[p]!] = matrix.values[p]!;
  }
  return out;
}

/** `model_kind` of buildLinearOnnx's models. */
export const LINEAR_KIND = 'linear-item-item';

/** Largest catalogue exported as dense n×n initializers (a 12k² float32 matrix is 586 MB per term). */
export const LINEAR_ONNX_MAX_ITEMS = 16_000;
/**
 * Initializer budget of one exported model. Protobuf cannot encode 2 GiB or more; 1 GiB keeps clear of it
 * (a 12,101-item EASE, 586 MB, was exported and run; nothing larger was tried).
 */
export const LINEAR_ONNX_MAX_BYTES = 2 ** 30;

/** Terms grouped by half-life (one matrix per distinct half-life: Σ weight·M), the way they are exported. */
function termGroups(model: LinearItemModel): { halfLife: number; terms: LinearTerm[] }[] {
  const groups = new Map<number, LinearTerm[]>();
  for (const term of model.terms) if (term.weight !== 0) (groups.get(term.halfLife) ?? groups.set(term.halfLife, []).get(term.halfLife))?.push(term);
  return [...groups].map(([halfLife, terms]) => ({ halfLife, terms }));
}

/** Size of the dense initializers buildLinearOnnx would write. */
export function linearOnnxBytes(model: LinearItemModel): number {
  return termGroups(model).length * model.nItems * model.nItems * 4;
}

function groupMatrix(terms: readonly LinearTerm[], n: number): { data: Float32Array; weight: number } {
  if (terms.length === 1) return { data: toDense(terms[0]!.matrix), weight: terms[0]!.weight };
  const data = new Float32Array(n * n);
  for (const term of terms) {
    const dense = toDense(term.matrix);
    for (let k = 0; k < data.length; k++) data[k]! += term.weight * dense[k]!;
  }
  return { data, weight: 1 };
}

/** ONNX model of the recommender contract computing exactly scoreLinear (see the header). */
export function buildLinearOnnx(model: LinearItemModel, metadata: Record<string, string> = {}): Uint8Array {
  const n = model.nItems;
  if (n > LINEAR_ONNX_MAX_ITEMS) throw new Error(`buildLinearOnnx: ${n} items is over the export limit of ${LINEAR_ONNX_MAX_ITEMS}`);
  if (linearOnnxBytes(model) > LINEAR_ONNX_MAX_BYTES) {
    throw new Error(`buildLinearOnnx: ${termGroups(model).length} dense ${n}×${n} matrices exceed the ${LINEAR_ONNX_MAX_BYTES} B protobuf budget`);
  }
  const groups = termGroups(model);
  if (groups.length === 0) throw new Error('buildLinearOnnx: the model has no term with a non-zero weight');
  const initializers: ITensorProto[] = [int64Tensor('axes_1', [1], [1]), int64Tensor('axes_2', [1], [2]), int64Tensor('cum_axis', [], [1])];
  // age of each position = non-padded positions after it (padding has weight 0, so Sign is 0 there).
  const nodes: INodeProto[] = [
    node('Sign', [INPUT_ITEM_WEIGHTS], ['present']),
    node('CumSum', ['present', 'cum_axis'], ['age'], { exclusive: 1, reverse: 1 }),
  ];
  const sums: string[] = [];
  groups.forEach((group, t) => {
    // w · 0.5^(age·(1/h − 1/R)) = strength · 0.5^(age/h); h = Infinity gives strength alone.
    const rate = Math.log(0.5) * (1 / group.halfLife - 1 / RECENCY_HALF_LIFE);
    const { data, weight } = groupMatrix(group.terms, n);
    initializers.push(floatTensor(`M${t}`, [n, n], data), floatTensor(`k${t}`, [], new Float32Array([weight])));
    let positionWeights: string = INPUT_ITEM_WEIGHTS;
    if (rate !== 0) {
      initializers.push(floatTensor(`r${t}`, [], new Float32Array([rate])));
      nodes.push(
        node('Mul', ['age', `r${t}`], [`ar${t}`]),
        node('Exp', [`ar${t}`], [`f${t}`]),
        node('Mul', [INPUT_ITEM_WEIGHTS, `f${t}`], [`p${t}`]),
      );
      positionWeights = `p${t}`;
    }
    nodes.push(
      node('Mul', [positionWeights, `k${t}`], [`w${t}`]), // [1,L]
      node('Unsqueeze', [`w${t}`, 'axes_2'], [`w3_${t}`]), // [1,L,1]
      node('Gather', [`M${t}`, INPUT_ITEM_IDS], [`rows${t}`], { axis: 0 }), // [1,L,N]
      node('Mul', [`rows${t}`, `w3_${t}`], [`weighted${t}`]),
      node('ReduceSum', [`weighted${t}`, 'axes_1'], [`s${t}`], { keepdims: 0 }), // [1,N]
    );
    sums.push(`s${t}`);
  });
  let current = sums[0]!;
  for (let t = 1; t < sums.length; t++) {
    nodes.push(node('Add', [current, sums[t]!], [`acc${t}`]));
    current = `acc${t}`;
  }
  if (model.columnScale) {
    initializers.push(floatTensor('column_scale', [1, n], model.columnScale));
    nodes.push(node('Mul', [current, 'column_scale'], ['scaled']));
    current = 'scaled';
  }
  if (model.bias) {
    initializers.push(floatTensor('bias', [1, n], model.bias));
    nodes.push(node('Add', [current, 'bias'], ['biased']));
    current = 'biased';
  }
  nodes.push(node('Identity', [current], [OUTPUT_SCORES]));
  return buildModel({
    inputs: [valueInfo(INPUT_ITEM_IDS, 'int64', [1, DIM_HISTORY]), valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, DIM_HISTORY])],
    outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, n])],
    initializers,
    nodes,
    graphName: 'linear_item_item',
    producer: 'recommender-linear',
    metadata: {
      ...metadata,
      history_weights: `item_weights = strength * 0.5^(age/${RECENCY_HALF_LIFE}); term half-lives ${groups.map((g) => g.halfLife).join(',')}`,
      [META_FAMILY]: RECOMMENDER_FAMILY,
      [META_KIND]: LINEAR_KIND,
      [META_N_ITEMS]: String(n),
    },
  });
}

/** Per-position serving weights 0.5^(age / RECENCY_HALF_LIFE) for a history (what encodeHistory feeds, strength 1). */
export function servingWeights(length: number): Float32Array {
  return Float32Array.from({ length }, (_, l) => 0.5 ** ((length - 1 - l) / RECENCY_HALF_LIFE));
}

/** A trained candidate whose scores are a LinearItemModel (so blends of them fold into one ONNX model). */
export interface LinearTrainedCandidate extends TrainedCandidate {
  linear: LinearItemModel;
}

export function isLinearTrained(trained: TrainedCandidate): trained is LinearTrainedCandidate {
  return typeof (trained as Partial<LinearTrainedCandidate>).linear === 'object';
}

/** The TrainedCandidate of a linear model: score() = scoreLinear, toOnnx() = buildLinearOnnx. */
export function linearTrained(
  name: string,
  model: LinearItemModel,
  trainingSeconds: number,
  params: Record<string, number | string | boolean>,
  metadata: Record<string, string> = {},
): LinearTrainedCandidate {
  const trained: LinearTrainedCandidate = { name, trainingSeconds, params, linear: model, score: (history) => scoreLinear(model, history) };
  // Dense initializers only: a catalogue over the export limit has no serving artifact.
  if (model.nItems <= LINEAR_ONNX_MAX_ITEMS && linearOnnxBytes(model) <= LINEAR_ONNX_MAX_BYTES && termGroups(model).length > 0) {
    trained.toOnnx = () => buildLinearOnnx(model, { ...metadata, candidate: name });
  }
  return trained;
}

/** One exported term group as read back from a linear model's ONNX file (see buildLinearOnnx). */
export interface ExportedLinearTerm {
  /** Dense n×n, row-major (a view of the model bytes when aligned). */
  matrix: Float32Array;
  /** Group weight k_t. */
  scale: number;
  /** Per-position factor exp(age · rate) applied to the fed weight (0: the fed weight as is). */
  rate: number;
}

/**
 * Reads the term groups of a `linear-item-item` ONNX file, so serving can say which history item
 * contributed most to a score: contribution of position l to item j = Σ_t k_t · w_l · e^(age_l·r_t) · M_t[h_l, j].
 * `prefix` selects the linear part of a composed blend (`c0/`). Undefined when the file is not one of ours
 * (names or shapes differ).
 */
export function readLinearTerms(bytes: Uint8Array, n: number, prefix = ''): ExportedLinearTerm[] | undefined {
  const graph = onnx.ModelProto.decode(bytes).graph;
  const byName = new Map((graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  const scalar = (name: string): number | undefined => {
    const t = byName.get(name);
    if (!t) return undefined;
    if (t.floatData && t.floatData.length === 1) return t.floatData[0];
    return t.rawData && t.rawData.byteLength === 4 ? new DataView(t.rawData.buffer, t.rawData.byteOffset, 4).getFloat32(0, true) : undefined;
  };
  const terms: ExportedLinearTerm[] = [];
  // A composed blend (shared/onnx/compose) keeps the folded linear part under a prefix, scaled by its blend weight.
  const outer = prefix ? (scalar(`${prefix}blend_weight`) ?? 1) : 1;
  for (let t = 0; byName.has(`${prefix}M${t}`); t++) {
    const M = byName.get(`${prefix}M${t}`)!;
    if (!M.rawData || M.dims?.length !== 2 || Number(M.dims[0]) !== n || Number(M.dims[1]) !== n) return undefined;
    const scale = scalar(`${prefix}k${t}`);
    if (scale === undefined) return undefined;
    terms.push({ matrix: alignedView(M.rawData, Float32Array, n * n), scale: scale * outer, rate: scalar(`${prefix}r${t}`) ?? 0 });
  }
  return terms.length > 0 ? terms : undefined;
}
