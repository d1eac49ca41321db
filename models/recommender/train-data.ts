/** Matrices built from the evaluation TrainData (integer-indexed sequences) shared by the item-item candidates. */
import type { TrainData } from '../evaluation/candidate';

export interface UserItemCoo {
  rows: Int32Array;
  cols: Int32Array;
  values: Float32Array;
  nUsers: number;
  nItems: number;
}

/**
 * One row per sequence, one cell per distinct item: 1 (binary), or log1p of the summed interaction
 * weights when the data carries weights (as trainRecommender's interactionMatrix does).
 */
export function userItemMatrix(data: TrainData): UserItemCoo {
  const rows: number[] = [];
  const cols: number[] = [];
  const values: number[] = [];
  const cell = new Map<number, number>();
  data.sequences.forEach((seq, u) => {
    cell.clear();
    const w = data.weights?.[u];
    seq.forEach((item, p) => {
      cell.set(item, (cell.get(item) ?? 0) + (w ? w[p]! : 1));
    });
    for (const [item, sum] of cell) {
      rows.push(u);
      cols.push(item);
      values.push(w ? Math.log1p(sum) : 1);
    }
  });
  return {
    rows: Int32Array.from(rows),
    cols: Int32Array.from(cols),
    values: Float32Array.from(values),
    nUsers: data.sequences.length,
    nItems: data.nItems,
  };
}

/** Number of interactions of every item (weighted when the data has weights). */
export function itemCounts(data: TrainData): Float64Array {
  const counts = new Float64Array(data.nItems);
  data.sequences.forEach((seq, u) => {
    const w = data.weights?.[u];
    seq.forEach((item, p) => {
      counts[item]! += w ? w[p]! : 1;
    });
  });
  return counts;
}

export function seconds(startedMs: number): number {
  return (performance.now() - startedMs) / 1000;
}

const cache = new WeakMap<TrainData, Map<string, Promise<unknown>>>();

/**
 * Memoises an expensive training step per TrainData object and key, so that variants differing only at
 * scoring time (e.g. the history half-life) share one trained matrix. Entries live as long as the data.
 */
export function memoByData<T>(data: TrainData, key: string, compute: () => Promise<T>): Promise<T> {
  let entries = cache.get(data);
  if (!entries) {
    entries = new Map();
    cache.set(data, entries);
  }
  let hit = entries.get(key) as Promise<T> | undefined;
  if (!hit) {
    hit = compute();
    entries.set(key, hit);
    hit.catch(() => entries.delete(key));
  }
  return hit;
}

/** Drops memoised entries whose key starts with `prefix` (e.g. matrices of variants not selected). */
export function forgetMemo(data: TrainData, keep: (key: string) => boolean): void {
  const entries = cache.get(data);
  if (!entries) return;
  for (const key of [...entries.keys()]) if (!keep(key)) entries.delete(key);
}
