/**
 * Recommendation answers: score (model or popularity), rank (./ranker) and explain each item with a
 * short reason computed from the model. No AWS SDK here: inputs are a loaded model, its serving view,
 * the rules and an optional content index.
 */
import * as ort from 'onnxruntime-node';
import type { TfidfIndex } from '../../models/content/tfidf';
import { INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../models/recommender/contract';
import { type EncodedHistory, encodeHistory, type HistoryEntry } from '../../models/recommender/history';
import type { CanonicalType } from '../events/canonical';
import type { CatalogItem } from '../catalog/item';
import { describeFeedMismatch } from '../onnx/session';
import type { LoadedModel } from './model-cache';
import { mulberry32 } from '../random';
import { eligibility, type Filters, hash32, type RankedItem, rank, type Source } from './ranker';
import type { BusinessRules } from './rules';
import type { StageClock } from './stages';
import type { ServingView } from './view';

export type Strategy = 'personalized' | 'popular' | 'item-item' | 'content';

export interface RecommendedItem {
  itemId: string;
  /** 1-based. */
  position: number;
  score: number;
  title?: string;
  category?: string;
  price?: number;
  source: Source;
  /** Short, human-readable. */
  reason: string;
  reasonCode: 'history' | 'personalized' | 'trending' | 'popular' | 'promotion' | 'new_item' | 'also_chosen' | 'similar_content';
  /** The item the reason names (the history item that contributed most, or the anchor of /similar). */
  reasonItemId?: string;
}

export interface Answer {
  strategy: Strategy;
  /** Why a non-personalised strategy was used (cold start, withdrawn consent). */
  strategyReason?: string;
  items: RecommendedItem[];
}

export interface AnswerSettings {
  maxPerCategory: number;
  newItemDays: number;
  newItemShare: number;
}

export interface HistoryRequest {
  model: LoadedModel;
  view: ServingView;
  rules: BusinessRules;
  settings: AnswerSettings;
  /** Built on demand (only when new items compete for a slot). */
  content?: () => TfidfIndex | undefined;
  /** Oldest first. */
  history: readonly HistoryEntry[];
  /** Item ids never returned besides the history (e.g. the profile's purchases). */
  purchased: readonly string[];
  /** false: popular items only (withdrawn personalisation consent). */
  personalize: boolean;
  k: number;
  filters: Filters;
  /** Request override of the rules' / default diversity cap. */
  maxPerCategory?: number;
  recommendationId: string;
  nowMs: number;
  /** Stage timings (only when something subscribes to them, see ./stages). */
  clock?: StageClock;
}

const VERBS: Partial<Record<CanonicalType, string>> = {
  purchase: 'bought',
  add_to_cart: 'added to your cart',
  checkout: 'added to your cart',
  view: 'viewed',
};
const STRENGTH: Partial<Record<CanonicalType, number>> = { view: 1, add_to_cart: 2, checkout: 3, purchase: 4 };

/**
 * Runs the model into a score buffer borrowed from the model's pool (no 4·N-byte allocation per request;
 * ORT writes into it). Give it back with `model.scoreBuffers.push(buffer)` once the ranking is done.
 * Feeds are built here with the contract's exact types, and the contract was checked when the version
 * was loaded, so a failure here is reported with the feeds instead of re-checking them per request.
 */
async function score(model: LoadedModel, encoded: Pick<EncodedHistory, 'itemIds' | 'weights'>): Promise<Float32Array> {
  const L = encoded.itemIds.length;
  const n = model.itemIds.length;
  const buffer = model.scoreBuffers.pop() ?? new Float32Array(n);
  const feeds = {
    [INPUT_ITEM_IDS]: new ort.Tensor('int64', encoded.itemIds, [1, L]),
    [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', encoded.weights, [1, L]),
  };
  try {
    await model.session.run(feeds, { [OUTPUT_SCORES]: new ort.Tensor('float32', buffer, [1, n]) });
    return buffer;
  } catch (error) {
    model.scoreBuffers.push(buffer);
    throw new Error(`ONNX session run failed for model ${model.version}: ${(error as Error).message}. ${describeFeedMismatch(model.session, feeds)}`, {
      cause: error,
    });
  }
}

const release = (model: LoadedModel, scores: ArrayLike<number>) => {
  if (scores instanceof Float32Array && scores !== model.popularity && model.scoreBuffers.length < 8) model.scoreBuffers.push(scores);
};

const titleOf = (view: ServingView, itemId: string) => view.catalogue.get(itemId)?.title ?? itemId;

function decorate(
  view: ServingView,
  ranked: readonly RankedItem[],
  reasonOf: (r: RankedItem) => Pick<RecommendedItem, 'reason' | 'reasonCode' | 'reasonItemId'>,
): RecommendedItem[] {
  return ranked.map((r, p) => {
    const item = view.catalogue.get(r.itemId);
    const out: RecommendedItem = { itemId: r.itemId, position: p + 1, score: Number(r.score.toFixed(6)), source: r.source, ...reasonOf(r) };
    if (item?.title) out.title = item.title;
    const category = item?.category || r.category;
    if (category) out.category = category;
    if (item && Number.isFinite(item.price)) out.price = item.price;
    return out;
  });
}

function popularReason(r: RankedItem): Pick<RecommendedItem, 'reason' | 'reasonCode'> {
  return r.category ? { reason: `trending in ${r.category}`, reasonCode: 'trending' } : { reason: 'popular', reasonCode: 'popular' };
}

/** Personalised (or, without usable history / consent, popular) recommendations for a history. */
export async function recommendFromHistory(req: HistoryRequest): Promise<Answer> {
  const { model, view, rules, settings, clock } = req;
  const encoded = encodeHistory(req.history, model.index);
  const personal = req.personalize && encoded.seen.size > 0;
  clock?.lap('encode');
  const scores = personal ? await score(model, encoded) : model.popularity;
  clock?.lap('score');
  // --- synchronous from here on (the view's exclusion scratch is per request) ---
  const historyIds = new Set(req.history.map((h) => h.itemId));
  const newShare = rules.newItems?.share ?? settings.newItemShare;
  const maxAgeDays = rules.newItems?.maxAgeDays ?? settings.newItemDays;
  const rng = mulberry32(hash32(req.recommendationId));
  let contentQuery: { index: TfidfIndex; query: Map<number, number> } | undefined;
  const newItemScore = (item: CatalogItem): number => {
    if (!personal || !req.content) return 0;
    if (!contentQuery) {
      const index = req.content();
      if (!index) return 0;
      const docs = [...historyIds].flatMap((id) => {
        const doc = index.position.get(id);
        return doc === undefined ? [] : [{ doc, weight: 1 }];
      });
      contentQuery = { index, query: index.profile(docs.slice(-10)) };
    }
    const doc = contentQuery.index.position.get(item.itemId);
    return doc === undefined ? 0 : contentQuery.index.dot(doc, contentQuery.query);
  };
  const history = Array.from(encoded.itemIds, (id, l) => ({ index: Number(id), weight: encoded.weights[l] ?? 0 }));
  const support = personal ? model.explainer?.support?.(history) : undefined;
  let ranked: RankedItem[];
  try {
    ranked = rank({
      view,
      scores,
      source: personal ? 'model' : 'popular',
      k: req.k,
      filters: req.filters,
      exclude: [...req.purchased, ...historyIds],
      maxPerCategory: req.maxPerCategory ?? rules.maxPerCategory ?? settings.maxPerCategory,
      rules,
      promotions: true,
      newItems: { share: newShare, maxAgeDays, nowMs: req.nowMs, rng, score: newItemScore },
      tieBreak: model.popularity,
      ...(support ? { support } : {}),
    });
  } finally {
    release(model, scores);
  }
  clock?.lap('rank');

  // Reasons: the history item contributing most to each model-ranked item.
  const strongestType = new Map<string, CanonicalType>();
  for (const h of req.history) {
    const prev = strongestType.get(h.itemId);
    if (!prev || (STRENGTH[h.type] ?? 0) > (STRENGTH[prev] ?? 0)) strongestType.set(h.itemId, h.type);
  }
  const contributions =
    personal && model.explainer
      ? model.explainer.explain(
          history,
          ranked.flatMap((r) => (r.source === 'model' && r.index !== undefined ? [r.index] : [])),
        )
      : new Map();
  const items = decorate(view, ranked, (r) => {
    switch (r.source) {
      case 'model': {
        const c = r.index === undefined ? undefined : contributions.get(r.index);
        if (!c) return { reason: 'recommended for you', reasonCode: 'personalized' };
        const sourceId = model.itemIds[c.source] as string;
        const verb = VERBS[strongestType.get(sourceId) ?? 'view'] ?? 'viewed';
        return { reason: `because you ${verb} ${titleOf(view, sourceId)}`, reasonCode: 'history', reasonItemId: sourceId };
      }
      case 'promotion':
        return { reason: rules.promotions?.label ?? 'featured offer', reasonCode: 'promotion' };
      case 'new':
        return { reason: r.category ? `new in ${r.category}` : 'new arrival', reasonCode: 'new_item' };
      default:
        return popularReason(r);
    }
  });
  const answer: Answer = { strategy: personal ? 'personalized' : 'popular', items };
  if (!personal) answer.strategyReason = req.personalize ? 'cold start: no history the model knows' : 'personalisation consent withdrawn';
  clock?.lap('explain');
  return answer;
}

export interface SimilarRequest {
  model: LoadedModel;
  view: ServingView;
  rules: BusinessRules;
  content?: () => TfidfIndex | undefined;
  itemId: string;
  k: number;
  filters: Filters;
}

/**
 * Items similar to one item: the item's row of the champion item-item model (its neighbours), then
 * TF-IDF content neighbours (the only signal for a new item the model does not know), then the most
 * popular items of its category. Undefined when neither the model nor the catalogue knows the item.
 */
export async function similarItems(req: SimilarRequest): Promise<Answer | undefined> {
  const { model, view, rules, itemId, k } = req;
  const index = model.index.get(itemId);
  const anchor = view.catalogue.get(itemId);
  if (index === undefined && !anchor) return undefined;
  const anchorTitle = titleOf(view, itemId);
  const ranked: RankedItem[] = [];
  if (index !== undefined) {
    const scores = await score(model, { itemIds: BigInt64Array.of(BigInt(index)), weights: Float32Array.of(1) });
    try {
      const support = model.explainer?.support?.([{ index, weight: 1 }]);
      ranked.push(
        ...rank({
          view,
          scores,
          source: 'model',
          k,
          filters: req.filters,
          exclude: [itemId],
          rules,
          promotions: false,
          minScore: 0,
          ...(support ? { support } : {}),
        }),
      );
    } finally {
      release(model, scores);
    }
  }
  if (ranked.length < k && req.content) {
    const content = req.content();
    const doc = content?.position.get(itemId);
    if (content && doc !== undefined) {
      const taken = new Set([itemId, ...ranked.map((r) => r.itemId)]);
      const eligible = eligibility(view, req.filters, taken, rules);
      for (const hit of content.similar(doc, k - ranked.length, (d) => eligible(content.ids[d] as string))) {
        const id = content.ids[hit.doc] as string;
        const category = view.catalogue.get(id)?.category;
        ranked.push({ itemId: id, score: hit.score, source: 'content', ...(category ? { category } : {}) });
      }
    }
  }
  if (ranked.length < k) {
    const category = req.filters.category ?? anchor?.category ?? (index !== undefined ? (model.categories[index] ?? undefined) : undefined);
    const filters = category ? { ...req.filters, category } : req.filters;
    const exclude = [itemId, ...ranked.map((r) => r.itemId)];
    ranked.push(...rank({ view, scores: model.popularity, source: 'popular', k: k - ranked.length, filters, exclude, rules, promotions: false }));
  }
  const items = decorate(view, ranked, (r) => {
    if (r.source === 'model') return { reason: `often chosen with ${anchorTitle}`, reasonCode: 'also_chosen', reasonItemId: itemId };
    if (r.source === 'content') return { reason: `similar to ${anchorTitle}`, reasonCode: 'similar_content', reasonItemId: itemId };
    return popularReason(r);
  });
  return { strategy: index !== undefined ? 'item-item' : 'content', items };
}
