import { INTERACTION_WEIGHT } from '../../shared/events/canonical';
import type { Interaction } from '../../shared/snapshots/snapshot';
import { trainEase } from './ease';
import { buildItemItemOnnx } from './export';

export interface RecommenderTrainOptions {
  /** EASE L2 regularisation. */
  lambda?: number;
  /** Items kept in the model (most popular first); EASE is dense n×n. */
  maxItems?: number;
  /** Items seen fewer times are left out of the index (they cannot be learned). */
  minItemInteractions?: number;
  /** Half-life of the popularity decay, in days. */
  popularityHalfLifeDays?: number;
}

export const DEFAULT_TRAIN_OPTIONS: Required<RecommenderTrainOptions> = {
  lambda: 50,
  maxItems: 3000,
  minItemInteractions: 2,
  popularityHalfLifeDays: 7,
};

/** The item index of a model: position → item id, popularity for cold start. */
export interface ItemIndex {
  itemIds: string[];
  /** Time-decayed popularity in [0, 1], same order as itemIds. */
  popularity: number[];
}

export interface TrainedRecommender {
  items: ItemIndex;
  onnx: Uint8Array;
  stats: { users: number; items: number; interactions: number; seconds: number };
  hyperparameters: Required<RecommenderTrainOptions>;
}

export function buildItemIndex(interactions: readonly Interaction[], options: Required<RecommenderTrainOptions>): ItemIndex {
  const counts = new Map<string, number>();
  const decayed = new Map<string, number>();
  const newest = interactions.reduce((max, x) => Math.max(max, x.ts), 0);
  const halfLifeMs = options.popularityHalfLifeDays * 86_400_000;
  for (const x of interactions) {
    counts.set(x.i, (counts.get(x.i) ?? 0) + 1);
    const strength = INTERACTION_WEIGHT[x.t] ?? 0;
    decayed.set(x.i, (decayed.get(x.i) ?? 0) + strength * 0.5 ** ((newest - x.ts) / halfLifeMs));
  }
  const itemIds = [...counts.entries()]
    .filter(([, n]) => n >= options.minItemInteractions)
    .sort((a, b) => (decayed.get(b[0]) ?? 0) - (decayed.get(a[0]) ?? 0) || (a[0] < b[0] ? -1 : 1))
    .slice(0, options.maxItems)
    .map(([id]) => id);
  const top = Math.max(...itemIds.map((id) => decayed.get(id) ?? 0), Number.MIN_VALUE);
  return { itemIds, popularity: itemIds.map((id) => (decayed.get(id) ?? 0) / top) };
}

/** Implicit-feedback matrix X: one cell per (user, item), log-damped sum of interaction strengths. */
export function interactionMatrix(interactions: readonly Interaction[], index: ReadonlyMap<string, number>) {
  const users = new Map<string, number>();
  const cells = new Map<string, number>();
  for (const x of interactions) {
    const item = index.get(x.i);
    const strength = INTERACTION_WEIGHT[x.t];
    if (item === undefined || strength === undefined) continue;
    const user = users.get(x.p) ?? users.set(x.p, users.size).get(x.p) ?? 0;
    const cell = `${user}:${item}`;
    cells.set(cell, (cells.get(cell) ?? 0) + strength);
  }
  const rows = new Int32Array(cells.size);
  const cols = new Int32Array(cells.size);
  const values = new Float32Array(cells.size);
  let k = 0;
  for (const [cell, sum] of cells) {
    const [u, i] = cell.split(':');
    rows[k] = Number(u);
    cols[k] = Number(i);
    values[k] = Math.log1p(sum);
    k += 1;
  }
  return { rows, cols, values, nUsers: users.size };
}

/** Trains the item-item recommender (EASE closed form) and exports it as an ONNX model of the recommender contract. */
export async function trainRecommender(
  interactions: readonly Interaction[],
  options: RecommenderTrainOptions = {},
  metadata: Record<string, string> = {},
): Promise<TrainedRecommender> {
  const started = performance.now();
  const hyperparameters = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const items = buildItemIndex(interactions, hyperparameters);
  if (items.itemIds.length === 0) throw new Error('No item has enough interactions to train a recommender');
  const index = new Map(items.itemIds.map((id, i) => [id, i]));
  const matrix = interactionMatrix(interactions, index);
  const B = await trainEase({ ...matrix, nItems: items.itemIds.length, lambda: hyperparameters.lambda });
  const onnx = buildItemItemOnnx(B, items.itemIds.length, { ...metadata, algorithm: 'ease', lambda: String(hyperparameters.lambda) });
  return {
    items,
    onnx,
    stats: { users: matrix.nUsers, items: items.itemIds.length, interactions: matrix.rows.length, seconds: (performance.now() - started) / 1000 },
    hyperparameters,
  };
}
