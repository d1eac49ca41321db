/**
 * Item-kNN: cosine similarity between the item columns of the binary user × item matrix,
 * sim(i, j) = |U_i ∩ U_j| / √(|U_i|·|U_j|), keeping the k most similar neighbours of every item (self excluded).
 * Scored as Σ_l 0.5^(age_l / halfLife) · sim[h_l, :]. Sparse CSR; exportable via buildLinearOnnx.
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { topK } from '../evaluation/metrics';
import { type LinearItemModel, linearTrained, type SparseMatrix } from './linear';
import { memoByData, seconds } from './train-data';

export interface ItemKnnOptions {
  neighbours: number;
  halfLife: number;
  name?: string;
}

interface ItemUsers {
  /** Distinct items of every user. */
  userItems: Int32Array[];
  /** Number of users of every item. */
  degree: Int32Array;
  /** CSR item → users. */
  itemOffsets: Int32Array;
  itemUsers: Int32Array;
}

function itemUsersOf(data: TrainData): ItemUsers {
  const n = data.nItems;
  const userItems = data.sequences.map((seq) => Int32Array.from(new Set(seq)));
  const degree = new Int32Array(n);
  for (const items of userItems) for (const i of items) degree[i]! += 1;
  const itemOffsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) itemOffsets[i + 1] = itemOffsets[i]! + degree[i]!;
  const itemUsers = new Int32Array(itemOffsets[n]!);
  const fill = itemOffsets.slice(0, n);
  userItems.forEach((items, u) => {
    for (const i of items) itemUsers[fill[i]!++] = u;
  });
  return { userItems, degree, itemOffsets, itemUsers };
}

/** The k most cosine-similar items of item i (co = co-occurrence scratch, all zero on entry and on exit). */
function neighboursOf(i: number, graph: ItemUsers, k: number, co: Float64Array, touched: Int32Array): { cols: Int32Array; values: Float32Array } {
  const { userItems, degree, itemOffsets, itemUsers } = graph;
  let m = 0;
  for (let p = itemOffsets[i]!; p < itemOffsets[i + 1]!; p++) {
    for (const j of userItems[itemUsers[p]!]!) {
      if (j === i) continue;
      if (co[j] === 0) touched[m++] = j;
      co[j]! += 1;
    }
  }
  const candidates = touched.slice(0, m).sort();
  const sims = Float32Array.from(candidates, (j) => co[j]! / Math.sqrt(degree[i]! * degree[j]!));
  for (let t = 0; t < m; t++) co[touched[t]!] = 0;
  const keep = m <= k ? candidates.map((_, t) => t) : topK(sims, k).sort();
  return { cols: Int32Array.from(keep, (t) => candidates[t]!), values: Float32Array.from(keep, (t) => sims[t]!) };
}

export function cosineNeighbours(data: TrainData, k: number): SparseMatrix {
  const n = data.nItems;
  const graph = itemUsersOf(data);
  const co = new Float64Array(n);
  const touched = new Int32Array(n);
  const rows = Array.from({ length: n }, (_, i) => neighboursOf(i, graph, k, co, touched));
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + rows[i]!.cols.length;
  const cols = new Int32Array(offsets[n]!);
  const values = new Float32Array(offsets[n]!);
  rows.forEach((row, i) => {
    cols.set(row.cols, offsets[i]!);
    values.set(row.values, offsets[i]!);
  });
  return { kind: 'sparse', n, offsets, cols, values };
}

export function itemKnnCandidate(options: ItemKnnOptions): Candidate {
  const name = options.name ?? 'itemknn';
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const fit = await memoByData(data, `itemknn:${options.neighbours}`, async () => {
        const started = performance.now();
        return { S: cosineNeighbours(data, options.neighbours), seconds: seconds(started) };
      });
      const model: LinearItemModel = { nItems: data.nItems, terms: [{ matrix: fit.S, halfLife: options.halfLife, weight: 1 }] };
      return linearTrained(name, model, fit.seconds, { neighbours: options.neighbours, halfLife: options.halfLife }, { algorithm: 'item-knn-cosine' });
    },
  };
}
