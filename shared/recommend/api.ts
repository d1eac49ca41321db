/**
 * The serving API: request schemas (one place: types, runtime checks, documentation) and the three
 * answers — a known shopper, an anonymous session, similar items. Handlers in functions/http only
 * parse with these schemas and call these functions.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { HistoryEntry } from '../../models/recommender/history';
import { CHANNELS } from '../events/canonical';
import { notFound } from '../http/errors';
import { logger, metrics } from '../observability/powertools';
import { parseProfileRef, primaryProfileId } from '../profiles/profile';
import type { ServingProfile } from './profiles';
import type { Filters } from './ranker';
import { resolveServing, type Served, type ServingRuntime } from './runtime';
import type { ServedRecord } from './served-log';
import { type Answer, recommendFromHistory, similarItems } from './service';
import { type StageClock, timedStage } from './stages';

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const queryK = z.coerce
  .number({ message: 'must be a number' })
  .int('must be an integer')
  .min(1, 'must be at least 1')
  .max(100, 'must be at most 100')
  .default(10);
const queryPrice = z.coerce.number({ message: 'must be a number' }).min(0, 'must be at least 0').optional();
const bodyK = z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').default(10);
const bodyPrice = z.number({ message: 'must be a number' }).min(0, 'must be at least 0').optional();
const channel = z.enum(CHANNELS, { message: `must be one of ${CHANNELS.join(', ')}` }).optional();

const priceRange = <T extends { minPrice?: number | undefined; maxPrice?: number | undefined }>(value: T, ctx: z.RefinementCtx) => {
  if (value.minPrice !== undefined && value.maxPrice !== undefined && value.maxPrice < value.minPrice) {
    ctx.addIssue({ code: 'custom', path: ['maxPrice'], message: 'must be at least minPrice' });
  }
};

const queryFilters = {
  k: queryK,
  channel,
  category: text(200).optional(),
  minPrice: queryPrice,
  maxPrice: queryPrice,
};

export const userRequestSchema = z
  .strictObject({
    userId: text(200),
    ...queryFilters,
    maxPerCategory: z.coerce
      .number({ message: 'must be a number' })
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .optional(),
  })
  .superRefine(priceRange);
export type UserRequest = z.infer<typeof userRequestSchema>;

export const similarRequestSchema = z.strictObject({ itemId: text(200), ...queryFilters }).superRefine(priceRange);
export type SimilarRequest = z.infer<typeof similarRequestSchema>;

export const SESSION_ITEM_TYPES = ['view', 'add_to_cart', 'checkout', 'purchase'] as const;
export const sessionRequestSchema = z
  .strictObject({
    items: z
      .array(
        z.strictObject({ itemId: text(200), type: z.enum(SESSION_ITEM_TYPES, { message: `must be one of ${SESSION_ITEM_TYPES.join(', ')}` }).default('view') }),
      )
      .max(100, 'must hold at most 100 items')
      .default([]),
    /** The visitor's anonymous id: keeps the A/B variant stable across requests and joins later clicks. */
    anonymousId: text(200).optional(),
    k: bodyK,
    channel,
    category: text(200).optional(),
    minPrice: bodyPrice,
    maxPrice: bodyPrice,
    maxPerCategory: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').optional(),
  })
  .superRefine(priceRange);
export type SessionRequest = z.infer<typeof sessionRequestSchema>;

function filtersOf(r: { channel?: string | undefined; category?: string | undefined; minPrice?: number | undefined; maxPrice?: number | undefined }): Filters {
  const f: Filters = {};
  if (r.channel !== undefined) f.channel = r.channel;
  if (r.category !== undefined) f.category = r.category;
  if (r.minPrice !== undefined) f.minPrice = r.minPrice;
  if (r.maxPrice !== undefined) f.maxPrice = r.maxPrice;
  return f;
}

export interface RecommendationsBody extends Answer {
  recommendationId: string;
  modelVersion: string;
  variant: Served['variant'];
}

function record(
  rt: ServingRuntime,
  served: Served,
  answer: Answer,
  base: Omit<ServedRecord, 'servedAt' | 'variant' | 'modelVersion' | 'strategy' | 'items'>,
  now: Date,
): void {
  rt.servedLog.add({
    ...base,
    servedAt: now.toISOString(),
    variant: served.variant,
    modelVersion: served.model.version,
    strategy: answer.strategy,
    items: answer.items.map((i) => ({ itemId: i.itemId, position: i.position, source: i.source, reason: i.reasonCode })),
  });
}

function observe(served: Served, answer: Answer, started: number): void {
  metrics.addDimension('modelVersion', served.model.version);
  metrics.addDimension('variant', served.variant);
  metrics.addMetric('InferenceLatency', 'Milliseconds', performance.now() - started);
  if (answer.strategy === 'popular') metrics.addMetric('ColdStartFallbacks', 'Count', 1);
  logger.debug('recommendations served', {
    modelVersion: served.model.version,
    variant: served.variant,
    strategy: answer.strategy,
    items: answer.items.length,
  });
}

const settingsOf = (rt: ServingRuntime) => ({
  maxPerCategory: rt.config.maxPerCategory,
  newItemDays: rt.config.newItemDays,
  newItemShare: rt.config.newItemShare,
});

/** GET /v1/users/{userId}/recommendations */
export async function serveUser(
  rt: ServingRuntime,
  request: UserRequest,
  now = new Date(),
  clock?: StageClock,
): Promise<RecommendationsBody & { userId: string }> {
  const profileId = primaryProfileId({ userId: request.userId });
  const [served, profile] = await Promise.all([
    timedStage(clock, 'resolve', resolveServing(rt, profileId)),
    timedStage(clock, 'profile', rt.shoppers.get(profileId)),
  ]);
  clock?.mark();
  const started = performance.now();
  const recommendationId = randomUUID();
  const answer = await recommendFromHistory({
    model: served.model,
    view: served.view,
    rules: served.rules,
    settings: settingsOf(rt),
    content: () => rt.content.get(served.catalogue),
    history: historyOf(profile),
    purchased: profile?.purchased ?? [],
    personalize: profile?.consent?.personalization !== false,
    k: request.k,
    filters: filtersOf(request),
    ...(request.maxPerCategory !== undefined ? { maxPerCategory: request.maxPerCategory } : {}),
    recommendationId,
    nowMs: now.getTime(),
    ...(clock ? { clock } : {}),
  });
  observe(served, answer, started);
  // The keyed hash of the user id, as raw events store it (never the raw id): the profile reference carries it.
  const userHash = parseProfileRef(profileId)?.hash;
  const base = { recommendationId, endpoint: 'user' as const, profileId: profile?.profileId ?? profileId, ...(userHash ? { userId: userHash } : {}) };
  record(rt, served, answer, { ...base, ...(request.channel ? { channel: request.channel } : {}) }, now);
  await rt.servedLog.flushIfDue();
  clock?.lap('record');
  return { recommendationId, userId: request.userId, modelVersion: served.model.version, variant: served.variant, ...answer };
}

function historyOf(profile: ServingProfile | undefined): HistoryEntry[] {
  return (profile?.recentItems ?? []).map((r) => ({ itemId: r.itemId, type: r.type, ts: r.ts }));
}

/** POST /v1/recommendations: an anonymous session given the items it viewed (oldest first). */
export async function serveSession(rt: ServingRuntime, request: SessionRequest, now = new Date(), clock?: StageClock): Promise<RecommendationsBody> {
  const subject = request.anonymousId ? primaryProfileId({ anonymousId: request.anonymousId }) : undefined;
  const served = await timedStage(clock, 'resolve', resolveServing(rt, subject));
  clock?.mark();
  const started = performance.now();
  const recommendationId = randomUUID();
  const history = request.items.map((item, position) => ({ itemId: item.itemId, type: item.type, ts: position }));
  const answer = await recommendFromHistory({
    model: served.model,
    view: served.view,
    rules: served.rules,
    settings: settingsOf(rt),
    content: () => rt.content.get(served.catalogue),
    history,
    purchased: request.items.filter((i) => i.type === 'purchase').map((i) => i.itemId),
    personalize: true,
    k: request.k,
    filters: filtersOf(request),
    ...(request.maxPerCategory !== undefined ? { maxPerCategory: request.maxPerCategory } : {}),
    recommendationId,
    nowMs: now.getTime(),
    ...(clock ? { clock } : {}),
  });
  observe(served, answer, started);
  record(
    rt,
    served,
    answer,
    {
      recommendationId,
      endpoint: 'session',
      ...(subject ? { profileId: subject, anonymousId: request.anonymousId } : {}),
      ...(request.channel ? { channel: request.channel } : {}),
    },
    now,
  );
  await rt.servedLog.flushIfDue();
  clock?.lap('record');
  return { recommendationId, modelVersion: served.model.version, variant: served.variant, ...answer };
}

/** GET /v1/items/{itemId}/similar (champion model; 404 when neither the model nor the catalogue knows the item). */
export async function serveSimilar(
  rt: ServingRuntime,
  request: SimilarRequest,
  now = new Date(),
  clock?: StageClock,
): Promise<RecommendationsBody & { itemId: string }> {
  const served = await timedStage(clock, 'resolve', resolveServing(rt, undefined));
  clock?.mark();
  const started = performance.now();
  const answer = await similarItems({
    model: served.model,
    view: served.view,
    rules: served.rules,
    content: () => rt.content.get(served.catalogue),
    itemId: request.itemId,
    k: request.k,
    filters: filtersOf(request),
  });
  if (!answer) throw notFound(`Unknown item ${request.itemId}: neither the model nor the catalogue knows it`);
  clock?.lap('rank');
  const recommendationId = randomUUID();
  observe(served, answer, started);
  record(rt, served, answer, { recommendationId, endpoint: 'similar', itemId: request.itemId, ...(request.channel ? { channel: request.channel } : {}) }, now);
  await rt.servedLog.flushIfDue();
  clock?.lap('record');
  return { recommendationId, itemId: request.itemId, modelVersion: served.model.version, variant: served.variant, ...answer };
}
