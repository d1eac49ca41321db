import { INTERACTION_WEIGHT } from '../../shared/events/canonical';
import type { CanonicalType } from '../../shared/events/canonical';

/** One past interaction of a shopper, oldest first. */
export interface HistoryEntry {
  itemId: string;
  type: CanonicalType;
  ts: number;
}

/** Longest history fed to a recommender (most recent interactions win). */
export const MAX_HISTORY = 50;
/** Weight of an interaction halves every this many later interactions (recency weighting). */
export const RECENCY_HALF_LIFE = 10;

export interface EncodedHistory {
  itemIds: BigInt64Array;
  weights: Float32Array;
  /** Model indices of every known item in the history (for exclusion). */
  seen: Set<number>;
}

/**
 * The recommender family's input features: the recent history, one position per interaction, oldest
 * first, as item indices with weights strength × 0.5^(age / RECENCY_HALF_LIFE), where age counts the
 * later interactions with items of the model's index (items the model does not know are invisible to
 * it: they take no position and do not age the others). Repeated items keep one position per
 * interaction, so order-aware models (sequence models, short-half-life transition terms) see the real
 * sequence; for models linear in the weights (item-item) this equals summing the repeats. Shared by
 * training-time evaluation and serving so both score the exact same input.
 */
export function encodeHistory(history: readonly HistoryEntry[], index: ReadonlyMap<string, number>): EncodedHistory {
  const known: { idx: number; strength: number }[] = [];
  for (const entry of history.slice(-MAX_HISTORY)) {
    const idx = index.get(entry.itemId);
    const strength = INTERACTION_WEIGHT[entry.type];
    if (idx !== undefined && strength !== undefined) known.push({ idx, strength });
  }
  const n = known.length;
  if (n === 0) return { itemIds: BigInt64Array.from([0n]), weights: Float32Array.from([0]), seen: new Set() };
  const itemIds = new BigInt64Array(n);
  const weights = new Float32Array(n);
  const seen = new Set<number>();
  known.forEach(({ idx, strength }, position) => {
    itemIds[position] = BigInt(idx);
    weights[position] = strength * 0.5 ** ((n - 1 - position) / RECENCY_HALF_LIFE);
    seen.add(idx);
  });
  return { itemIds, weights, seen };
}
