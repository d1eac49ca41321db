/**
 * Serving graphs for the recommender contract (see ./contract):
 *   item_ids int64 [1,L], item_weights float32 [1,L] → scores float32 [1,N].
 */
import { buildModel, floatTensor, int64Tensor, node, valueInfo } from '../../shared/onnx/graph';
import {
  DIM_HISTORY,
  INPUT_ITEM_IDS,
  INPUT_ITEM_WEIGHTS,
  META_FAMILY,
  META_KIND,
  META_N_ITEMS,
  OUTPUT_SCORES,
  RECOMMENDER_FAMILY,
} from './contract';

function contractIo(nItems: number) {
  return {
    inputs: [
      valueInfo(INPUT_ITEM_IDS, 'int64', [1, DIM_HISTORY]),
      valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, DIM_HISTORY]),
    ],
    outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, nItems])],
  };
}

function contractMetadata(kind: string, nItems: number, metadata: Record<string, string>) {
  // Structural keys are computed and win over caller-supplied values.
  return { ...metadata, [META_FAMILY]: RECOMMENDER_FAMILY, [META_KIND]: kind, [META_N_ITEMS]: String(nItems) };
}

/**
 * Item-item model (e.g. EASE): scores = Σ_l item_weights[l] · B[item_ids[l], :].
 * Gather(B [N,N], item_ids) → [1,L,N]; × Unsqueeze(item_weights, [2]) → [1,L,1];
 * ReduceSum(axes [1], keepdims 0) → [1,N]. A padded position (id 0, weight 0) adds 0.
 * Ids must be in [0,N): ORT rejects larger ids; negative ids wrap around (ONNX Gather).
 */
export function buildItemItemOnnx(
  B: Float32Array,
  nItems: number,
  metadata: Record<string, string> = {},
): Uint8Array {
  if (!Number.isInteger(nItems) || nItems < 1) throw new Error(`buildItemItemOnnx: invalid nItems ${nItems}`);
  if (B.length !== nItems * nItems) {
    throw new Error(`buildItemItemOnnx: B has ${B.length} values, expected nItems² = ${nItems * nItems}`);
  }
  return buildModel({
    ...contractIo(nItems),
    initializers: [
      floatTensor('B', [nItems, nItems], B),
      int64Tensor('axes_2', [1], [2]),
      int64Tensor('axes_1', [1], [1]),
    ],
    nodes: [
      node('Gather', ['B', INPUT_ITEM_IDS], ['rows'], { axis: 0 }), // [1,L,N]
      node('Unsqueeze', [INPUT_ITEM_WEIGHTS, 'axes_2'], ['w3']), // [1,L,1] (axes as input, opset ≥ 13)
      node('Mul', ['rows', 'w3'], ['weighted']), // [1,L,N]
      node('ReduceSum', ['weighted', 'axes_1'], [OUTPUT_SCORES], { keepdims: 0 }), // [1,N]
    ],
    graphName: 'item_item',
    producer: 'recommender-export',
    metadata: contractMetadata('item-item', nItems, metadata),
  });
}

/**
 * Popularity model: scores = popularity for every history (broadcast to [1,N]).
 * Both contract inputs are declared but unused: ONNX allows this and onnxruntime accepts
 * it while still validating the fed names, types and shapes (measured with ORT 1.30).
 */
export function buildPopularityOnnx(
  popularity: Float32Array,
  metadata: Record<string, string> = {},
): Uint8Array {
  const nItems = popularity.length;
  if (nItems < 1) throw new Error('buildPopularityOnnx: popularity is empty');
  return buildModel({
    ...contractIo(nItems),
    initializers: [floatTensor('popularity', [1, nItems], popularity)],
    nodes: [node('Identity', ['popularity'], [OUTPUT_SCORES])],
    graphName: 'popularity',
    producer: 'recommender-export',
    metadata: contractMetadata('popularity', nItems, metadata),
  });
}
