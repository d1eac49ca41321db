/**
 * Sparse top-K item-item recommender: the scale path of the recommender family.
 *
 * A dense item-item model stores N² floats (50,000 items → 10 GB): impossible. Here each item keeps
 * only its K strongest neighbours, as two [N, K] tables (neighbour index, weight), and the ONNX graph
 * meets the SAME contract as the dense export (./contract):
 *
 *   item_ids int64 [1,L], item_weights float32 [1,L] → scores float32 [1,N]
 *
 *   Gather(nbr_idx [N,K] int32, item_ids)  → [1,L,K]  → Cast int64 → Reshape [-1]       (where)
 *   Gather(nbr_w   [N,K] f32,   item_ids)  → [1,L,K]  × Unsqueeze(item_weights, 2) → Reshape [-1] (what)
 *   ScatterElements(ConstantOfShape([N], 0), where, what, axis 0, reduction 'add') → [N]
 *   Unsqueeze(axes 0) → scores [1,N]
 *
 * ScatterElements with reduction='add' needs opset ≥ 16 (we write 17); duplicate indices are summed,
 * so an item that is a neighbour of several history items collects every contribution. A padded
 * position (id 0, weight 0) adds exact zeros. The model is ~12·N·K bytes (50k × 50: 30 MB).
 *
 * Trainer: item-kNN (cosine with shrinkage on the implicit-feedback matrix) for any N, or EASE rows
 * truncated to their top K when N ≤ EASE_MAX_ITEMS (EASE is dense n×n while training).
 */
import { buildModel, floatTensor, int64Tensor, node, onnx, valueInfo, attr } from '../../shared/onnx/graph';
import type { Interaction } from '../../shared/snapshots/snapshot';
import { DIM_HISTORY, INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, META_FAMILY, META_KIND, META_N_ITEMS, OUTPUT_SCORES, RECOMMENDER_FAMILY } from './contract';
import { EASE_MAX_ITEMS, trainEase } from './ease';
import { buildItemIndex, DEFAULT_TRAIN_OPTIONS, interactionMatrix, type RecommenderTrainOptions, type TrainedRecommender } from './train';

export const SPARSE_KIND = 'item-item-sparse';
/** Initializer names, also read back at serving time to explain scores (see readSparseNeighbours). */
export const NBR_INDEX = 'nbr_idx';
export const NBR_WEIGHT = 'nbr_w';
export const META_NEIGHBOURS = 'neighbours_k';

/** Row i lists the K items that history item i votes for, with the weight of each vote. */
export interface SparseNeighbours {
  nItems: number;
  k: number;
  /** [N*K] row-major; unused slots hold the row's own index with weight 0. */
  indices: Int32Array;
  /** [N*K] row-major. */
  weights: Float32Array;
}

function checkNeighbours(n: SparseNeighbours): void {
  const { nItems, k, indices, weights } = n;
  if (!Number.isInteger(nItems) || nItems < 1) throw new Error(`sparse model: nItems must be a positive integer, got ${nItems}`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`sparse model: k must be a positive integer, got ${k}`);
  if (indices.length !== nItems * k || weights.length !== nItems * k) {
    throw new Error(`sparse model: indices and weights must hold nItems·k = ${nItems * k} values (got ${indices.length} and ${weights.length})`);
  }
  for (let p = 0; p < indices.length; p++) {
    const j = indices[p]!;
    if (j < 0 || j >= nItems) throw new Error(`sparse model: neighbour index ${j} at row ${Math.floor(p / k)} is not in [0, ${nItems})`);
    if (!Number.isFinite(weights[p]!)) throw new Error(`sparse model: weight at row ${Math.floor(p / k)} is not finite`);
  }
}

/** The ONNX serving graph of a sparse top-K item-item model (recommender contract). */
export function buildSparseItemItemOnnx(neighbours: SparseNeighbours, metadata: Record<string, string> = {}): Uint8Array {
  checkNeighbours(neighbours);
  const { nItems: n, k } = neighbours;
  return buildModel({
    inputs: [valueInfo(INPUT_ITEM_IDS, 'int64', [1, DIM_HISTORY]), valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, DIM_HISTORY])],
    outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, n])],
    initializers: [
      {
        name: NBR_INDEX,
        dims: [n, k],
        dataType: onnx.TensorProto.DataType.INT32,
        rawData: new Uint8Array(neighbours.indices.buffer, neighbours.indices.byteOffset, neighbours.indices.byteLength),
      },
      floatTensor(NBR_WEIGHT, [n, k], neighbours.weights),
      int64Tensor('n_shape', [1], [n]),
      int64Tensor('flat', [1], [-1]),
      int64Tensor('axes_2', [1], [2]),
      int64Tensor('axes_0', [1], [0]),
    ],
    nodes: [
      node('Gather', [NBR_INDEX, INPUT_ITEM_IDS], ['where32'], { axis: 0 }), // [1,L,K]
      node('Cast', ['where32'], ['where3'], { to: onnx.TensorProto.DataType.INT64 }),
      node('Reshape', ['where3', 'flat'], ['where']), // [L*K]
      node('Gather', [NBR_WEIGHT, INPUT_ITEM_IDS], ['votes'], { axis: 0 }), // [1,L,K]
      node('Unsqueeze', [INPUT_ITEM_WEIGHTS, 'axes_2'], ['w3']), // [1,L,1]
      node('Mul', ['votes', 'w3'], ['weighted']),
      node('Reshape', ['weighted', 'flat'], ['what']), // [L*K]
      node('ConstantOfShape', ['n_shape'], ['zeros'], { value: attr.tensor(floatTensor('zero', [1], new Float32Array(1))) }), // [N]
      node('ScatterElements', ['zeros', 'where', 'what'], ['summed'], { axis: 0, reduction: 'add' }), // [N]
      node('Unsqueeze', ['summed', 'axes_0'], [OUTPUT_SCORES]), // [1,N]
    ],
    graphName: 'item_item_sparse',
    producer: 'recommender-export',
    metadata: { ...metadata, [META_FAMILY]: RECOMMENDER_FAMILY, [META_KIND]: SPARSE_KIND, [META_N_ITEMS]: String(n), [META_NEIGHBOURS]: String(k) },
  });
}

/** JS reference of the graph (parity tests; also what serving uses to explain a score). */
export function sparseScores(neighbours: SparseNeighbours, itemIds: ArrayLike<number | bigint>, itemWeights: ArrayLike<number>): Float32Array {
  const { nItems: n, k, indices, weights } = neighbours;
  const scores = new Float32Array(n);
  for (let l = 0; l < itemIds.length; l++) {
    const h = Number(itemIds[l]);
    const w = itemWeights[l]!;
    const base = h * k;
    for (let s = 0; s < k; s++) scores[indices[base + s]!]! += weights[base + s]! * w;
  }
  return scores;
}

/** Reads the neighbour tables back from a sparse model's bytes (views, no copy); undefined for other kinds. */
export function readSparseNeighbours(bytes: Uint8Array): SparseNeighbours | undefined {
  const model = onnx.ModelProto.decode(bytes);
  const kind = model.metadataProps.find((p) => p.key === META_KIND)?.value;
  if (kind !== SPARSE_KIND) return undefined;
  const init = new Map((model.graph?.initializer ?? []).map((t) => [t.name, t]));
  const idx = init.get(NBR_INDEX);
  const w = init.get(NBR_WEIGHT);
  if (!idx?.rawData || !w?.rawData || idx.dims?.length !== 2) return undefined;
  const nItems = Number(idx.dims[0]);
  const k = Number(idx.dims[1]);
  return { nItems, k, indices: alignedView(idx.rawData, Int32Array, nItems * k), weights: alignedView(w.rawData, Float32Array, nItems * k) };
}

/** A typed view over protobuf bytes; copies only when the bytes are not aligned for the element type. */
export function alignedView<T extends Int32Array | Float32Array>(
  raw: Uint8Array,
  Type: { new (b: ArrayBufferLike, o: number, l: number): T; new (l: number): T; BYTES_PER_ELEMENT: number },
  length: number,
): T {
  if (raw.byteLength !== length * Type.BYTES_PER_ELEMENT) throw new Error(`tensor has ${raw.byteLength} bytes, expected ${length * Type.BYTES_PER_ELEMENT}`);
  if (raw.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(raw.buffer, raw.byteOffset, length);
  const copy = new Type(length);
  new Uint8Array(copy.buffer).set(raw);
  return copy;
}

// ------------------------------------------------------------------------------------------ training

/**
 * Keeps the K largest entries of each row of a dense row-major n×n matrix (e.g. EASE's B; its
 * diagonal is 0 and never kept). Rows with fewer than K positive entries keep their best negatives too:
 * the scores stay a truncation of the dense model's, which is what the parity with EASE needs.
 */
export function topKRows(B: Float32Array, n: number, k: number): SparseNeighbours {
  if (B.length !== n * n) throw new Error(`topKRows: matrix has ${B.length} values, expected ${n}² = ${n * n}`);
  const K = Math.min(k, Math.max(1, n - 1));
  const indices = new Int32Array(n * K);
  const weights = new Float32Array(n * K);
  const heap = new TopHeap(K);
  for (let i = 0; i < n; i++) {
    heap.clear();
    const row = i * n;
    for (let j = 0; j < n; j++) if (j !== i) heap.push(B[row + j]!, j);
    heap.drainInto(indices, weights, i * K, i);
  }
  return { nItems: n, k: K, indices, weights };
}

export interface ItemKnnOptions {
  k: number;
  /** Shrinkage added to the cosine denominator: damps similarities backed by few co-occurrences. */
  shrink?: number;
}

/**
 * Item-kNN on the implicit-feedback matrix X (users × items): sim(i,j) = (XᵀX)_ij / (‖x_i‖‖x_j‖ + shrink),
 * top K per item. Rows are accumulated one item at a time over its users (sparse, O(Σ_i Σ_{u∈U(i)} |I(u)|))
 * with one dense accumulator reset through a touched list, so memory stays O(nnz + N·K).
 */
export function itemKnn(
  matrix: { rows: Int32Array; cols: Int32Array; values: Float32Array; nUsers: number },
  nItems: number,
  options: ItemKnnOptions,
): SparseNeighbours {
  const { rows, cols, values, nUsers } = matrix;
  const K = Math.min(options.k, Math.max(1, nItems - 1));
  const shrink = options.shrink ?? 10;
  const nnz = rows.length;
  // CSR by user and by item.
  const byUser = csr(rows, cols, values, nUsers, nnz);
  const byItem = csr(cols, rows, values, nItems, nnz);
  const norms = new Float64Array(nItems);
  for (let p = 0; p < nnz; p++) norms[cols[p]!]! += values[p]! * values[p]!;
  for (let i = 0; i < nItems; i++) norms[i] = Math.sqrt(norms[i]!);

  const acc = new Float64Array(nItems);
  const stamp = new Int32Array(nItems).fill(-1);
  const touched = new Int32Array(nItems);
  const indices = new Int32Array(nItems * K);
  const weights = new Float32Array(nItems * K);
  const heap = new TopHeap(K);
  for (let i = 0; i < nItems; i++) {
    let m = 0;
    for (let a = byItem.offsets[i]!; a < byItem.offsets[i + 1]!; a++) {
      const u = byItem.other[a]!;
      const xu = byItem.values[a]!;
      for (let b = byUser.offsets[u]!; b < byUser.offsets[u + 1]!; b++) {
        const j = byUser.other[b]!;
        if (j === i) continue;
        if (stamp[j] !== i) {
          stamp[j] = i;
          touched[m++] = j;
        }
        acc[j]! += xu * byUser.values[b]!;
      }
    }
    heap.clear();
    for (let t = 0; t < m; t++) {
      const j = touched[t]!;
      heap.push(acc[j]! / (norms[i]! * norms[j]! + shrink), j);
      acc[j] = 0;
    }
    heap.drainInto(indices, weights, i * K, i);
  }
  return { nItems, k: K, indices, weights };
}

function csr(primary: Int32Array, secondary: Int32Array, values: Float32Array, n: number, nnz: number) {
  const offsets = new Int32Array(n + 1);
  for (let p = 0; p < nnz; p++) offsets[primary[p]! + 1]! += 1;
  for (let r = 0; r < n; r++) offsets[r + 1]! += offsets[r]!;
  const fill = offsets.slice(0, n);
  const other = new Int32Array(nnz);
  const vals = new Float64Array(nnz);
  for (let p = 0; p < nnz; p++) {
    const slot = fill[primary[p]!]!++;
    other[slot] = secondary[p]!;
    vals[slot] = values[p]!;
  }
  return { offsets, other, values: vals };
}

/** Fixed-size min-heap keeping the K largest (score, index) pairs; ties keep the lower index. */
class TopHeap {
  private readonly s: Float64Array;
  private readonly i: Int32Array;
  private size = 0;
  constructor(private readonly k: number) {
    this.s = new Float64Array(k);
    this.i = new Int32Array(k);
  }
  clear(): void {
    this.size = 0;
  }
  private worse(a: number, b: number): boolean {
    return this.s[a]! < this.s[b]! || (this.s[a] === this.s[b] && this.i[a]! > this.i[b]!);
  }
  private swap(a: number, b: number): void {
    const s = this.s[a]!;
    const i = this.i[a]!;
    this.s[a] = this.s[b]!;
    this.i[a] = this.i[b]!;
    this.s[b] = s;
    this.i[b] = i;
  }
  private down(p: number): void {
    for (;;) {
      const l = 2 * p + 1;
      if (l >= this.size) return;
      const r = l + 1;
      const c = r < this.size && this.worse(r, l) ? r : l;
      if (!this.worse(c, p)) return;
      this.swap(c, p);
      p = c;
    }
  }
  push(score: number, index: number): void {
    if (Number.isNaN(score)) return;
    if (this.size < this.k) {
      let p = this.size++;
      this.s[p] = score;
      this.i[p] = index;
      while (p > 0) {
        const parent = (p - 1) >> 1;
        if (!this.worse(p, parent)) break;
        this.swap(p, parent);
        p = parent;
      }
    } else if (score > this.s[0]! || (score === this.s[0] && index < this.i[0]!)) {
      this.s[0] = score;
      this.i[0] = index;
      this.down(0);
    }
  }
  /** Writes the kept pairs best first at `offset`; unused slots get (self, 0). */
  drainInto(indices: Int32Array, weights: Float32Array, offset: number, self: number): void {
    const n = this.size;
    for (let p = n - 1; p >= 0; p--) {
      indices[offset + p] = this.i[0]!;
      weights[offset + p] = this.s[0]!;
      this.size -= 1;
      this.swap(0, this.size);
      this.down(0);
    }
    for (let p = n; p < this.k; p++) {
      indices[offset + p] = self;
      weights[offset + p] = 0;
    }
    this.size = 0;
  }
}

export interface SparseTrainOptions extends RecommenderTrainOptions {
  /** Neighbours kept per item (default 50). */
  neighbours?: number;
  /** `ease`: EASE truncated to top K (needs N ≤ EASE_MAX_ITEMS); `knn`: item-kNN; `auto`: EASE when it fits. */
  method?: 'auto' | 'ease' | 'knn';
  /** Item-kNN shrinkage (default 10). */
  shrink?: number;
}

export type TrainedSparseRecommender = TrainedRecommender & { neighbours: SparseNeighbours; method: 'ease' | 'knn' };

/**
 * Trains a sparse item-item recommender and exports it as an ONNX model of the recommender contract.
 * Unlike `trainRecommender` (dense EASE), `maxItems` defaults to no limit: the whole catalogue with
 * enough interactions is kept.
 */
export async function trainSparseRecommender(
  interactions: readonly Interaction[],
  options: SparseTrainOptions = {},
  metadata: Record<string, string> = {},
): Promise<TrainedSparseRecommender> {
  const started = performance.now();
  const hyperparameters = { ...DEFAULT_TRAIN_OPTIONS, maxItems: Number.MAX_SAFE_INTEGER, ...options };
  const items = buildItemIndex(interactions, hyperparameters);
  const n = items.itemIds.length;
  if (n === 0) throw new Error('No item has enough interactions to train a recommender');
  const k = options.neighbours ?? 50;
  const requested = options.method ?? 'auto';
  if (requested === 'ease' && n > EASE_MAX_ITEMS) {
    throw new Error(`trainSparseRecommender: method 'ease' needs at most ${EASE_MAX_ITEMS} items, the index has ${n}; use 'knn' or 'auto'`);
  }
  const method = requested === 'auto' ? (n <= EASE_MAX_ITEMS ? 'ease' : 'knn') : requested;
  const index = new Map(items.itemIds.map((id, i) => [id, i]));
  const matrix = interactionMatrix(interactions, index);
  const neighbours =
    method === 'ease'
      ? topKRows(await trainEase({ ...matrix, nItems: n, lambda: hyperparameters.lambda }), n, k)
      : itemKnn(matrix, n, { k, shrink: options.shrink ?? 10 });
  const onnxBytes = buildSparseItemItemOnnx(neighbours, {
    ...metadata,
    algorithm: method === 'ease' ? 'ease-topk' : 'item-knn',
    neighbours: String(neighbours.k),
  });
  return {
    items,
    onnx: onnxBytes,
    neighbours,
    method,
    stats: { users: matrix.nUsers, items: n, interactions: matrix.rows.length, seconds: (performance.now() - started) / 1000 },
    hyperparameters: {
      lambda: hyperparameters.lambda,
      maxItems: hyperparameters.maxItems,
      minItemInteractions: hyperparameters.minItemInteractions,
      popularityHalfLifeDays: hyperparameters.popularityHalfLifeDays,
    },
  };
}
