import { INTERACTION_WEIGHT } from '../../shared/capture/events';
import type { CanonicalType } from '../../shared/capture/events';

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
 * The recommender family's input features: the recent history as item indices with weights
 * (interaction strength × recency decay), repeated items summed. Shared by training-time evaluation
 * and serving so both score the exact same input.
 */
export function encodeHistory(history: readonly HistoryEntry[], index: ReadonlyMap<string, number>): EncodedHistory {
  const recent = history.slice(-MAX_HISTORY);
  const byIndex = new Map<number, number>();
  const n = recent.length;
  recent.forEach((entry, position) => {
    const idx = index.get(entry.itemId);
    const strength = INTERACTION_WEIGHT[entry.type];
    if (idx === undefined || strength === undefined) return;
    const decay = 0.5 ** ((n - 1 - position) / RECENCY_HALF_LIFE);
    byIndex.set(idx, (byIndex.get(idx) ?? 0) + strength * decay);
  });
  const entries = [...byIndex.entries()];
  if (entries.length === 0) return { itemIds: BigInt64Array.from([0n]), weights: Float32Array.from([0]), seen: new Set() };
  return {
    itemIds: BigInt64Array.from(entries.map(([idx]) => BigInt(idx))),
    weights: Float32Array.from(entries.map(([, w]) => w)),
    seen: new Set(byIndex.keys()),
  };
}
