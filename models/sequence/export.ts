/**
 * ONNX export of the sequence model in the recommender contract (models/recommender/contract.ts):
 *   item_ids int64 [1, L], item_weights float32 [1, L] → scores float32 [1, N]   (L dynamic)
 *
 * Ids. The contract's ids are item indices in [0, N) padded with (id 0, weight 0); the network reserves
 * id 0 for padding and reads item i as id i + 1. The graph therefore computes
 *   net_id = (item_id + 1) · (item_weight > 0)
 * so every weight-0 position becomes the padding id 0, and otherwise ignores the weights (a GRU reads an
 * order, not a bag of weighted items).
 *
 * Order. Training saw the last `maxLength` (Lt) items LEFT-padded with 0 (./examples). Contract callers pad
 * on the right and may send any L, so the graph moves padded positions to the front, keeping the order of
 * the real items (TopK ascending on the unique key position + L · is_item), then prepends Lt padding ids
 * and keeps the last Lt: exactly the training window, whatever L and wherever the padding was. Padding
 * therefore never changes the scores, and the tfjs model and this graph agree on every history.
 *
 * Network. Gather(embedding) → GRU (or LSTM) over the Lt positions → last hidden state → MatMul + Add.
 * Gate layouts: tfjs GRU kernels are [in, 3H] with gates z, r, h — ONNX's order — so W = kernelᵀ
 * [1, 3H, in], R = recurrentKernelᵀ [1, 3H, H], B = [bias, 0] (tfjs has input biases only) and
 * linear_before_reset = 0 (tfjs GRUs are reset_after = false). tfjs LSTM gates i, f, c, o are reordered to
 * ONNX's i, o, f, c. Both use ONNX's default activations (Sigmoid, Tanh[, Tanh]): the model trains with
 * recurrentActivation 'sigmoid'. A parity test (test/unit/models/sequence/export.test.ts) checks all of this.
 */
import { buildModel, floatTensor, int64Tensor, type INodeProto, node, valueInfo } from '../../shared/onnx/graph';
import {
  DIM_HISTORY,
  INPUT_ITEM_IDS,
  INPUT_ITEM_WEIGHTS,
  META_FAMILY,
  META_KIND,
  META_N_ITEMS,
  OUTPUT_SCORES,
  RECOMMENDER_FAMILY,
} from '../recommender/contract';
import type { RecurrentCell } from './model';

/** Trained weights in tfjs layouts (row-major). G = 3 gates for a GRU, 4 for an LSTM. */
export interface SequenceWeights {
  cell: RecurrentCell;
  nItems: number;
  maxLength: number;
  embeddingDim: number;
  hiddenUnits: number;
  /** [nItems + 1, embeddingDim]; row 0 is the padding id. */
  embedding: Float32Array;
  /** [embeddingDim, G·H] */
  kernel: Float32Array;
  /** [H, G·H] */
  recurrentKernel: Float32Array;
  /** [G·H] */
  bias: Float32Array;
  /** [H, nItems] */
  denseKernel: Float32Array;
  /** [nItems] */
  denseBias: Float32Array;
}

/** For each ONNX gate slot, the tfjs gate it takes. GRU: z, r, h in both. LSTM: ONNX i, o, f, c ← tfjs i, f, c, o. */
const GATE_SOURCE: Record<RecurrentCell, readonly number[]> = { gru: [0, 1, 2], lstm: [0, 3, 1, 2] };

/** tfjs [rows, G·H] (gates in tfjs order) → ONNX [G·H, rows] (gates in ONNX order). */
function gatesToOnnx(m: Float32Array, rows: number, units: number, cell: RecurrentCell): Float32Array {
  const sources = GATE_SOURCE[cell];
  const cols = sources.length * units;
  const out = new Float32Array(cols * rows);
  sources.forEach((src, slot) => {
    for (let j = 0; j < units; j++) {
      const from = src * units + j;
      const to = (slot * units + j) * rows;
      for (let k = 0; k < rows; k++) out[to + k] = m[k * cols + from]!;
    }
  });
  return out;
}

function checkSizes(w: SequenceWeights): void {
  const { nItems: n, embeddingDim: d, hiddenUnits: h, maxLength } = w;
  const gh = GATE_SOURCE[w.cell].length * h;
  const expected: Record<string, [Float32Array, number]> = {
    embedding: [w.embedding, (n + 1) * d],
    kernel: [w.kernel, d * gh],
    recurrentKernel: [w.recurrentKernel, h * gh],
    bias: [w.bias, gh],
    denseKernel: [w.denseKernel, h * n],
    denseBias: [w.denseBias, n],
  };
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`sequence export: maxLength must be a positive integer, got ${maxLength}`);
  for (const [name, [arr, len]] of Object.entries(expected)) {
    if (arr.length !== len) throw new Error(`sequence export: ${name} has ${arr.length} values, expected ${len}`);
  }
}

/** Nodes turning the contract inputs into the left-padded [1, Lt] window of network ids (see module comment). */
function windowNodes(): INodeProto[] {
  return [
    node('Greater', [INPUT_ITEM_WEIGHTS, 'zero_f'], ['is_item']),
    node('Cast', ['is_item'], ['item_mask'], { to: 7 /* int64 */ }),
    node('Add', [INPUT_ITEM_IDS, 'one_i64'], ['ids_plus_one']),
    node('Mul', ['ids_plus_one', 'item_mask'], ['net_ids']), // weight-0 positions → padding id 0
    node('Shape', [INPUT_ITEM_IDS], ['hist_len'], { start: 1, end: 2 }), // [1] = L
    node('Squeeze', ['hist_len', 'axes_0'], ['hist_len_scalar']),
    node('Range', ['zero_i64', 'hist_len_scalar', 'one_i64'], ['positions']), // [L]
    node('Mul', ['item_mask', 'hist_len'], ['item_shift']),
    node('Add', ['positions', 'item_shift'], ['order_key']), // unique: pads 0..L−1, items L..2L−1
    node('TopK', ['order_key', 'hist_len'], ['order_key_sorted', 'order'], { axis: 1, largest: 0, sorted: 1 }),
    node('GatherElements', ['net_ids', 'order'], ['compact_ids'], { axis: 1 }), // pads first, items in order
    node('Concat', ['pad_window', 'compact_ids'], ['padded_ids'], { axis: 1 }),
    node('Slice', ['padded_ids', 'window_start', 'window_end', 'axes_1'], ['window']), // last Lt ids
  ];
}

/** Builds the serving graph; `metadata` is written to metadata_props (structural keys win). */
export function buildSequenceOnnx(w: SequenceWeights, metadata: Record<string, string> = {}): Uint8Array {
  checkSizes(w);
  const { cell, nItems: n, embeddingDim: d, hiddenUnits: h, maxLength: lt } = w;
  const gh = GATE_SOURCE[cell].length * h;
  const recurrentOutputs = ['', 'h_last']; // Y omitted, Y_h [1, 1, H]
  return buildModel({
    inputs: [valueInfo(INPUT_ITEM_IDS, 'int64', [1, DIM_HISTORY]), valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, DIM_HISTORY])],
    outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, n])],
    initializers: [
      floatTensor('zero_f', [], new Float32Array([0])),
      int64Tensor('zero_i64', [], [0]),
      int64Tensor('one_i64', [], [1]),
      int64Tensor('axes_0', [1], [0]),
      int64Tensor('axes_1', [1], [1]),
      int64Tensor('pad_window', [1, lt], new Array<number>(lt).fill(0)),
      int64Tensor('window_start', [1], [-lt]),
      int64Tensor('window_end', [1], BigInt64Array.from([0x7fffffffffffffffn])),
      int64Tensor('hidden_shape', [2], [1, h]),
      floatTensor('embedding', [n + 1, d], w.embedding),
      floatTensor('W', [1, gh, d], gatesToOnnx(w.kernel, d, h, cell)),
      floatTensor('R', [1, gh, h], gatesToOnnx(w.recurrentKernel, h, h, cell)),
      floatTensor('B', [1, 2 * gh], concatZeros(gatesToOnnx(w.bias, 1, h, cell))),
      floatTensor('dense_kernel', [h, n], w.denseKernel),
      floatTensor('dense_bias', [n], w.denseBias),
    ],
    nodes: [
      ...windowNodes(),
      node('Gather', ['embedding', 'window'], ['embedded'], { axis: 0 }), // [1, Lt, d]
      node('Transpose', ['embedded'], ['time_major'], { perm: [1, 0, 2] }), // [Lt, 1, d]
      cell === 'gru'
        ? node('GRU', ['time_major', 'W', 'R', 'B'], recurrentOutputs, { hidden_size: h, linear_before_reset: 0 })
        : node('LSTM', ['time_major', 'W', 'R', 'B'], recurrentOutputs, { hidden_size: h }),
      node('Reshape', ['h_last', 'hidden_shape'], ['hidden']), // [1, H]
      node('MatMul', ['hidden', 'dense_kernel'], ['logits']),
      node('Add', ['logits', 'dense_bias'], [OUTPUT_SCORES]),
    ],
    graphName: `sequence_${cell}`,
    producer: 'sequence-export',
    metadata: {
      ...metadata,
      [META_FAMILY]: RECOMMENDER_FAMILY,
      [META_KIND]: `sequence-${cell}`,
      [META_N_ITEMS]: String(n),
      max_length: String(lt),
    },
  });
}

/** [x, 0…0]: ONNX B holds input biases then recurrent biases; tfjs has only the former. */
function concatZeros(x: Float32Array): Float32Array {
  const out = new Float32Array(2 * x.length);
  out.set(x);
  return out;
}
