import * as ort from 'onnxruntime-node';
import { INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../models/recommender/contract';
import { encodeHistory } from '../../models/recommender/history';
import { topK } from '../../models/evaluation/metrics';
import { runChecked } from '../onnx/session';
import type { Profile } from '../profiles/profile';
import type { LoadedModel } from './model-cache';

export interface RecommendedItem {
  itemId: string;
  score: number;
  category?: string;
}

export interface Recommendations {
  items: RecommendedItem[];
  modelVersion: string;
  /** `personalized`: scored from the shopper's history; `popular`: cold start (no usable history). */
  strategy: 'personalized' | 'popular';
}

function exclusionMask(model: LoadedModel, itemIds: readonly string[]): Uint8Array {
  const mask = new Uint8Array(model.itemIds.length);
  for (const id of itemIds) {
    const idx = model.index.get(id);
    if (idx !== undefined) mask[idx] = 1;
  }
  return mask;
}

function toItems(model: LoadedModel, indices: ArrayLike<number>, score: (idx: number) => number): RecommendedItem[] {
  return Array.from(indices, (idx) => {
    const item: RecommendedItem = { itemId: model.itemIds[idx] as string, score: Number(score(idx).toFixed(6)) };
    const category = model.categories[idx];
    if (category) item.category = category;
    return item;
  });
}

function popular(model: LoadedModel, k: number, mask: Uint8Array): Recommendations {
  const picked: number[] = [];
  for (const idx of model.popularOrder) {
    if (picked.length >= k) break;
    if (!mask[idx]) picked.push(idx);
  }
  const n = model.popularOrder.length;
  const rank = new Map(Array.from(model.popularOrder, (idx, r) => [idx, r]));
  return { items: toItems(model, picked, (idx) => 1 - (rank.get(idx) ?? n) / n), modelVersion: model.version, strategy: 'popular' };
}

/** Scores a shopper's history with the champion model; items already bought are never recommended. */
export async function recommend(model: LoadedModel, profile: Profile | undefined, k: number): Promise<Recommendations> {
  const mask = exclusionMask(model, profile?.purchased ?? []);
  const history = (profile?.recentItems ?? []).map((r) => ({ itemId: r.itemId, type: r.type, ts: r.ts }));
  const encoded = encodeHistory(history, model.index);
  if (encoded.seen.size === 0) return popular(model, k, mask);
  const L = encoded.itemIds.length;
  const out = await runChecked(model.session, {
    [INPUT_ITEM_IDS]: new ort.Tensor('int64', encoded.itemIds, [1, L]),
    [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', encoded.weights, [1, L]),
  });
  const scores = out[OUTPUT_SCORES]?.data as Float32Array;
  const best = topK(scores, k, mask);
  return { items: toItems(model, best, (idx) => scores[idx] ?? 0), modelVersion: model.version, strategy: 'personalized' };
}
