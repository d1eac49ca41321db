/**
 * The serving hot path's shortcuts rank exactly like the plain computation: the cold start's early
 * stop over popularity order, and the per-view scratch (selection heap, category counters, rule
 * tables) reused by every request. Plus the stage clock the serving bench subscribes to.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CatalogItem } from '../../../../shared/catalog/item';
import type { LoadedModel } from '../../../../shared/recommend/model-cache';
import { mulberry32 } from '../../../../shared/random';
import { type RankRequest, rank } from '../../../../shared/recommend/ranker';
import { parseBusinessRules } from '../../../../shared/recommend/rules';
import { SERVING_STAGES_CHANNEL, type StageTiming, stageClock, timedStage } from '../../../../shared/recommend/stages';
import { buildView, type ServingView } from '../../../../shared/recommend/view';

const NOW = Date.parse('2026-10-01T12:00:00Z');
const DAY = 86_400_000;
const CHANNEL_SETS = [undefined, undefined, ['web', 'app'], ['pos']];

/** A model of n items in c categories; popularity has ties and a few negative values (BYO items.json). */
function world(n: number, c: number, seed: number, popularity?: Float32Array) {
  const r = mulberry32(seed);
  const itemIds = Array.from({ length: n }, (_, i) => `i${i}`);
  const pop = Float32Array.from(itemIds, () => (r() < 0.3 ? Math.floor(r() * 4) / 4 : r() < 0.05 ? -r() : r()));
  const model: LoadedModel = {
    family: 'recommender',
    version: 'v',
    kind: 'test',
    session: undefined as never,
    itemIds,
    categories: itemIds.map((_, i) => `c${i % c}`),
    index: new Map(itemIds.map((id, i) => [id, i])),
    popularity: popularity ?? pop,
    popularOrder: Int32Array.from(itemIds.keys()).sort((a, b) => pop[b]! - pop[a]! || a - b),
    explainer: undefined,
    loadMs: 0,
    scoreBuffers: [],
  };
  const items: CatalogItem[] = itemIds.map((itemId, i) => {
    const channels = CHANNEL_SETS[Math.floor(r() * CHANNEL_SETS.length)];
    return {
      itemId,
      title: itemId,
      category: `c${i % c}`,
      price: Math.floor(r() * 100),
      stock: r() < 0.1 ? 0 : 3,
      promoted: r() < 0.05,
      active: true,
      ...(channels ? { channels } : {}),
      createdAt: new Date(NOW - 300 * DAY).toISOString(),
      updatedAt: new Date(NOW - DAY).toISOString(),
    };
  });
  for (let j = 0; j < 6; j++) {
    items.push({
      itemId: `new${j}`,
      title: `new ${j}`,
      category: `c${j % c}`,
      price: 20,
      stock: 2,
      promoted: false,
      active: true,
      createdAt: new Date(NOW - j * DAY).toISOString(),
      updatedAt: '',
    });
  }
  const view = buildView(model, { items: new Map(items.map((x) => [x.itemId, x])), version: 'v', revision: 1, textRevision: 1 });
  return { model, view };
}

const options = fc.record({
  k: fc.integer({ min: 1, max: 25 }),
  cap: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  category: fc.option(fc.constantFrom('c1', 'c4'), { nil: undefined }),
  maxPrice: fc.option(fc.integer({ min: 0, max: 99 }), { nil: undefined }),
  channel: fc.option(fc.constantFrom('app', 'pos'), { nil: undefined }),
  boost: fc.constantFrom(undefined, 0.5, 2, 4),
  bury: fc.boolean(),
  promotions: fc.boolean(),
  exclude: fc.array(fc.integer({ min: 0, max: 299 }), { maxLength: 12 }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

interface Options {
  k: number;
  cap?: number | undefined;
  category?: string | undefined;
  maxPrice?: number | undefined;
  channel?: string | undefined;
  boost?: number | undefined;
  bury: boolean;
  promotions: boolean;
  exclude: number[];
  seed: number;
}

function buildRequest(view: ServingView, scores: ArrayLike<number>, o: Options): RankRequest {
  const parsed = parseBusinessRules({
    categories: { ...(o.boost ? { c3: { boost: o.boost } } : {}), ...(o.bury ? { c2: { bury: true } } : {}) },
    ...(o.promotions ? { promotions: { slots: [2, 5] } } : {}),
  });
  if (!parsed.ok) throw new Error('rules');
  return {
    view,
    scores,
    source: 'popular',
    k: o.k,
    filters: {
      ...(o.category ? { category: o.category } : {}),
      ...(o.maxPrice !== undefined ? { maxPrice: o.maxPrice } : {}),
      ...(o.channel ? { channel: o.channel } : {}),
    },
    exclude: o.exclude.map((i) => `i${i}`),
    ...(o.cap !== undefined ? { maxPerCategory: o.cap } : {}),
    rules: parsed.rules,
    promotions: o.promotions,
    newItems: { share: 0.2, maxAgeDays: 14, nowMs: NOW, rng: mulberry32(o.seed) },
    tieBreak: view.model.popularity,
  };
}

describe('rank: the cold start over popularity', () => {
  it('walks popularity order and stops early, ranking exactly like a full scan (random filters, caps, boosts, burials, ties)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), options, (seed, o) => {
        // Prepare: the same popularity values in another array take the full-scan path
        const { model, view } = world(300, 7, seed);
        const copy = Float32Array.from(model.popularity);

        // Act
        const early = rank(buildRequest(view, model.popularity, o));
        const full = rank(buildRequest(view, copy, o));

        // Assess
        expect(early).toEqual(full);
      }),
      { numRuns: 200 },
    );
  });

  it('reads a few popularity values, not one per model item', () => {
    // Prepare: 20,000 items; count the reads of the popularity array
    let reads = 0;
    const base = world(20_000, 50, 7).model.popularity;
    const counted = new Proxy(base, {
      get(target, key) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads += 1;
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { view } = world(20_000, 50, 7, counted);
    const o = { k: 10, cap: 2, bury: false, promotions: false, exclude: [], seed: 1 };

    // Act
    reads = 0;
    const answer = rank(buildRequest(view, counted, o));

    // Assess
    expect(answer).toHaveLength(10);
    expect(reads).toBeLessThan(2_000);
  });
});

describe('rank: per-view scratch reused across requests', () => {
  it('never leaks one request into the next: each answer equals the same request on a fresh view', () => {
    // Prepare
    const r = mulberry32(99);
    const shared = world(300, 7, 5);
    const requests = Array.from({ length: 60 }, (_, q) => ({
      scores: Float32Array.from(shared.model.itemIds, () => (r() < 0.7 ? 0 : r() < 0.1 ? -r() : r())),
      o: {
        k: 1 + Math.floor(r() * 20),
        ...(r() < 0.5 ? { cap: 1 + Math.floor(r() * 3) } : {}),
        ...(r() < 0.3 ? { category: 'c1' } : {}),
        ...(r() < 0.3 ? { channel: 'pos' } : {}),
        ...(r() < 0.5 ? { boost: 2 } : {}),
        bury: r() < 0.5,
        promotions: r() < 0.5,
        exclude: Array.from({ length: Math.floor(r() * 10) }, () => Math.floor(r() * 300)),
        seed: q + 1,
      },
    }));

    for (const { scores, o } of requests) {
      // Act
      const reused = rank({ ...buildRequest(shared.view, scores, o), source: 'model' });
      const fresh = world(300, 7, 5);
      const alone = rank({ ...buildRequest(fresh.view, scores, o), source: 'model' });

      // Assess
      expect(reused).toEqual(alone);
    }
  });
});

describe('stage clock', () => {
  it('measures nothing without a subscriber, and publishes each lap while subscribed', async () => {
    // Prepare
    const seen: StageTiming[] = [];
    const onStage = (m: unknown) => seen.push(m as StageTiming);

    // Act
    const idle = stageClock();
    subscribe(SERVING_STAGES_CHANNEL, onStage);
    const clock = stageClock();
    clock?.lap('parse');
    await timedStage(clock, 'profile', Promise.resolve(1));
    clock?.mark();
    clock?.lap('rank');
    unsubscribe(SERVING_STAGES_CHANNEL, onStage);

    // Assess
    expect(idle).toBeUndefined();
    expect(seen.map((s) => s.stage)).toEqual(['parse', 'profile', 'rank']);
    expect(seen.every((s) => s.ms >= 0 && Number.isFinite(s.ms))).toBe(true);
  });
});
