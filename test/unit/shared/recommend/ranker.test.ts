import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildItemItemOnnx, buildPopularityOnnx } from '../../../../models/recommender/export';
import { buildSparseItemItemOnnx, type SparseNeighbours, sparseScores } from '../../../../models/recommender/sparse';
import type { CatalogueState } from '../../../../shared/catalog/cache';
import type { CatalogItem } from '../../../../shared/catalog/item';
import { logger, metrics } from '../../../../shared/observability/powertools';
import type { ModelRegistry } from '../../../../shared/registry/registry';
import { AliasCache, ChampionCache, type LoadedModel, loadModel } from '../../../../shared/recommend/model-cache';
import { type RankRequest, rank } from '../../../../shared/recommend/ranker';
import { NO_RULES, parseBusinessRules } from '../../../../shared/recommend/rules';
import { type HistoryRequest, recommendFromHistory, similarItems } from '../../../../shared/recommend/service';
import { buildView, type ServingView } from '../../../../shared/recommend/view';
import { TfidfIndex } from '../../../../models/content/tfidf';
import { itemText } from '../../../../shared/catalog/item';
import { mulberry32 } from '../../../../shared/random';

logger.setLogLevel('SILENT');

const NOW = Date.parse('2026-10-01T12:00:00Z');
const DAY = 86_400_000;

// Model index: 12 items in 4 categories (+ catalogue-only items further down).
const IDS = ['t1', 't2', 't3', 't4', 'c1', 'c2', 'c3', 'w1', 'w2', 'w3', 'y1', 'y2'];
const CATEGORY: Record<string, string> = { t: 'tea', c: 'coffee', w: 'wine', y: 'toys' };
const TITLES: Record<string, string> = {
  t1: 'Jasmine Green Tea',
  t2: 'Organic Green Tea',
  t3: 'Smoky Black Tea',
  t4: 'Highland Oolong Tea',
  c1: 'Espresso Coffee Beans',
  c2: 'Decaf Coffee Beans',
  c3: 'Cold Brew Coffee',
  w1: 'Reserve Rioja',
  w2: 'Dry Riesling',
  w3: 'Sparkling Prosecco',
  y1: 'Wooden Puzzle',
  y2: 'Robot Kit',
  n1: 'Jasmine Green Tea Gift Box',
  n2: 'Espresso Coffee Pods',
  o1: 'Old Teapot',
};

function item(itemId: string, overrides: Partial<CatalogItem> = {}): CatalogItem {
  return {
    itemId,
    title: TITLES[itemId] ?? itemId,
    category: CATEGORY[itemId[0] ?? ''] ?? 'tea',
    price: 10 + IDS.indexOf(itemId),
    stock: 5,
    promoted: false,
    active: true,
    createdAt: new Date(NOW - 200 * DAY).toISOString(),
    updatedAt: new Date(NOW - DAY).toISOString(),
    ...overrides,
  };
}

function catalogue(items: CatalogItem[], revision = 1): CatalogueState {
  return { items: new Map(items.map((i) => [i.itemId, i])), version: 'v', revision, textRevision: revision };
}

const baseItems = (): CatalogItem[] => [
  ...IDS.map((id) => item(id)),
  item('n1', { category: 'tea', createdAt: new Date(NOW - 2 * DAY).toISOString() }),
  item('n2', { category: 'coffee', createdAt: new Date(NOW - 3 * DAY).toISOString() }),
  item('o1', { category: 'tea', createdAt: new Date(NOW - 100 * DAY).toISOString() }),
];

function fakeModel(popularity = IDS.map((_, i) => 1 - i / IDS.length)): LoadedModel {
  return {
    family: 'recommender',
    version: 'v-test',
    kind: 'test',
    session: undefined as never,
    itemIds: IDS,
    categories: IDS.map((id) => CATEGORY[id[0] ?? ''] ?? null),
    index: new Map(IDS.map((id, i) => [id, i])),
    popularity: Float32Array.from(popularity),
    popularOrder: Int32Array.from(IDS.keys()),
    explainer: undefined,
    loadMs: 0,
    scoreBuffers: [],
  };
}

const scoresOf = (byId: Record<string, number>) => Float32Array.from(IDS, (id) => byId[id] ?? 0);

function request(view: ServingView, overrides: Partial<RankRequest> = {}): RankRequest {
  return { view, scores: scoresOf({}), source: 'model', k: 5, filters: {}, exclude: [], rules: NO_RULES, promotions: true, ...overrides };
}

const ids = (items: { itemId: string }[]) => items.map((i) => i.itemId);

describe('rank: filters and exclusions', () => {
  const scores = scoresOf({ t1: 9, t2: 8, c1: 7, w1: 6, t3: 5, c2: 4, w2: 3, y1: 2, y2: 1 });

  it('keeps only the requested category, price range (inclusive) and channel', () => {
    // Prepare
    const items = baseItems().map((i) => (i.itemId === 'c2' ? { ...i, channels: ['pos'] } : i));
    const view = buildView(fakeModel(), catalogue(items));

    // Act
    const tea = rank(request(view, { scores, k: 10, filters: { category: 'tea' } }));
    const priced = rank(request(view, { scores, k: 10, filters: { minPrice: 14, maxPrice: 18 } })); // c1=14 … w2=18
    const web = rank(request(view, { scores, k: 10, filters: { channel: 'web' } }));
    const pos = rank(request(view, { scores, k: 10, filters: { channel: 'pos' } }));

    // Assess
    expect(ids(tea)).toEqual(['t1', 't2', 't3', 't4']);
    expect(ids(priced)).toEqual(['c1', 'w1', 'c2', 'w2', 'c3']);
    expect(ids(web)).not.toContain('c2');
    expect(ids(pos)).toContain('c2');
  });

  it('never returns bought, seen, out-of-stock or withdrawn items; untracked stock (null) is available', () => {
    // Prepare
    const items = baseItems().map((i) =>
      i.itemId === 't2' ? { ...i, stock: 0 } : i.itemId === 'c1' ? { ...i, active: false } : i.itemId === 'w1' ? { ...i, stock: null } : i,
    );
    const view = buildView(fakeModel(), catalogue(items));

    // Act
    const out = rank(request(view, { scores, k: 6, exclude: ['t1', 't3'] }));

    // Assess
    expect(ids(out)).toEqual(['w1', 'c2', 'w2', 'y1', 'y2', 't4']); // then ties at 0 by index
  });

  it('an item missing from the catalogue is served (stock unknown) but fails any price filter', () => {
    // Prepare
    const view = buildView(fakeModel(), catalogue(baseItems().filter((i) => i.itemId !== 't1')));

    // Act / Assess
    expect(ids(rank(request(view, { scores, k: 1 })))).toEqual(['t1']);
    expect(ids(rank(request(view, { scores, k: 1, filters: { minPrice: 0 } })))).toEqual(['t2']);
  });
});

describe('rank: diversity, boosts and promotions', () => {
  const teaFirst = scoresOf({ t1: 10, t2: 9, t3: 8, t4: 7, c1: 6, c2: 5, w1: 4, w2: 3 });

  it('caps items per category, and relaxes the cap only when nothing else can fill the list', () => {
    // Prepare
    const view = buildView(fakeModel(), catalogue(baseItems()));

    // Act
    const capped = rank(request(view, { scores: teaFirst, k: 5, maxPerCategory: 2 }));
    const onlyTea = rank(request(view, { scores: teaFirst, k: 4, maxPerCategory: 2, filters: { category: 'tea' } }));
    const scarce = rank(request(view, { scores: teaFirst, k: 5, maxPerCategory: 1, filters: { maxPrice: 14 } })); // t1..t4, c1 only

    // Assess
    expect(ids(capped)).toEqual(['t1', 't2', 'c1', 'c2', 'w1']);
    expect(ids(onlyTea)).toEqual(['t1', 't2', 't3', 't4']); // a category filter lifts the cap
    expect(ids(scarce)).toEqual(['t1', 'c1', 't2', 't3', 't4']);
  });

  it('boosts and buries categories from the rules', () => {
    // Prepare
    const rules = parseBusinessRules({ categories: { wine: { boost: 3 }, tea: { bury: true } } });
    if (!rules.ok) throw new Error('rules');
    const view = buildView(fakeModel(), catalogue(baseItems()));

    // Act: prices ≤ 17 leave t1–t4, c1–c3 and w1
    const out = rank(request(view, { scores: teaFirst, k: 6, rules: rules.rules, filters: { maxPrice: 17 } }));

    // Assess: wine 4×3 = 12 leads; buried tea only after every other eligible item, even those scoring 0
    expect(ids(out)).toEqual(['w1', 'c1', 'c2', 'c3', 't1', 't2']);
  });

  it('pins the best eligible promoted items into slots 3 and 7', () => {
    // Prepare: w3 (score 0) and y2 promoted in the catalogue, c3 by the rules file; y2 out of stock
    const items = baseItems().map((i) => (i.itemId === 'w3' ? { ...i, promoted: true } : i.itemId === 'y2' ? { ...i, promoted: true, stock: 0 } : i));
    const rules = parseBusinessRules({ promotions: { slots: [3, 7], itemIds: ['c3'] } });
    if (!rules.ok) throw new Error('rules');
    const view = buildView(fakeModel(), catalogue(items));
    const scores = scoresOf({ t1: 10, t2: 9, t3: 8, t4: 7, c1: 6, c2: 5, w1: 4, w2: 3, c3: 0.5, w3: 0.1 });

    // Act
    const out = rank(request(view, { scores, k: 8, rules: rules.rules }));

    // Assess
    expect(out[2]).toMatchObject({ itemId: 'c3', source: 'promotion' });
    expect(out[6]).toMatchObject({ itemId: 'w3', source: 'promotion' });
    expect(ids(out)).toEqual(['t1', 't2', 'c3', 't3', 't4', 'c1', 'w3', 'c2']);
    expect(ids(out)).not.toContain('y2');
  });

  it('leaves a promotion slot to the model when no promoted item is eligible', () => {
    // Prepare
    const rules = parseBusinessRules({ promotions: { slots: [1], itemIds: ['t1'] } });
    if (!rules.ok) throw new Error('rules');
    const view = buildView(fakeModel(), catalogue(baseItems()));

    // Act
    const out = rank(request(view, { scores: teaFirst, k: 3, rules: rules.rules, exclude: ['t1'] }));

    // Assess
    expect(ids(out)).toEqual(['t2', 't3', 't4']);
    expect(out.every((i) => i.source === 'model')).toBe(true);
  });
});

describe('rank: new-item exploration', () => {
  const scores = scoresOf({ t1: 10, t2: 9, t3: 8, t4: 7, c1: 6, c2: 5, w1: 4, w2: 3, y1: 2, y2: 1 });

  it('reserves floor(k·share) slots for items younger than maxAgeDays that the model does not know', () => {
    // Prepare
    const view = buildView(fakeModel(), catalogue(baseItems()));

    // Act
    const out = rank(request(view, { scores, k: 8, newItems: { share: 0.25, maxAgeDays: 14, nowMs: NOW, rng: mulberry32(7) } }));

    // Assess
    const fresh = out.filter((i) => i.source === 'new');
    expect(ids(fresh).sort()).toEqual(['n1', 'n2']); // o1 is 100 days old
    expect(out.findIndex((i) => i.source === 'new')).toBeGreaterThanOrEqual(2);
    expect(out).toHaveLength(8);
  });

  it('is deterministic for one seed and ranks new items by the given (content) score', () => {
    // Prepare
    const view = buildView(fakeModel(), catalogue(baseItems()));
    const ask = (seed: number) =>
      rank(
        request(view, {
          scores,
          k: 8,
          newItems: { share: 0.125, maxAgeDays: 14, nowMs: NOW, rng: mulberry32(seed), score: (i) => (i.itemId === 'n2' ? 0.9 : 0.1) },
        }),
      );

    // Act
    const a = ask(11);
    const b = ask(11);

    // Assess
    expect(a).toEqual(b);
    expect(ids(a.filter((i) => i.source === 'new'))).toEqual(['n2']);
  });
});

// ----------------------------------------------------------------------------------- real models

/** A sparse model over IDS: t1 → t2, t3, c1; c1 → c2, c3; everyone weakly → y1. */
function sparseFixture(): SparseNeighbours {
  const k = 3;
  const indices = new Int32Array(IDS.length * k);
  const weights = new Float32Array(IDS.length * k);
  const at = (id: string) => IDS.indexOf(id);
  const set = (from: string, to: [string, number][]) => {
    to.forEach(([id, w], s) => {
      indices[at(from) * k + s] = at(id);
      weights[at(from) * k + s] = w;
    });
  };
  for (const id of IDS) set(id, [[id === 'y1' ? 'y2' : 'y1', 0.01]]);
  set('t1', [
    ['t2', 0.9],
    ['t3', 0.8],
    ['c1', 0.5],
  ]);
  set('c1', [
    ['c2', 0.6],
    ['c3', 0.4],
    ['t3', 0.1],
  ]);
  return { nItems: IDS.length, k, indices, weights };
}

function fakeRegistry(
  versions: Record<string, { model?: Uint8Array; items?: unknown }>,
  alias: { champion?: string; challenger?: string },
): ModelRegistry & { aliasReads: number } {
  const reg = {
    aliasReads: 0,
    async getAlias(_family: string, name: string) {
      reg.aliasReads += 1;
      const version = alias[name as 'champion'];
      return version ? { version, updatedAt: '', reason: '' } : undefined;
    },
    async getModelBytes(_family: string, version: string) {
      return versions[version]?.model;
    },
    async getJson(_family: string, version: string) {
      return versions[version]?.items;
    },
  };
  return reg as unknown as ModelRegistry & { aliasReads: number };
}

const itemsArtifact = { itemIds: IDS, popularity: IDS.map((_, i) => 1 - i / IDS.length), categories: IDS.map((id) => CATEGORY[id[0] ?? ''] ?? null) };

describe('recommendFromHistory and similarItems with a real sparse ONNX model', () => {
  let model: LoadedModel;
  let view: ServingView;
  let content: TfidfIndex;
  const cat = catalogue(baseItems());

  beforeAll(async () => {
    model = await loadModel(fakeRegistry({ v1: { model: buildSparseItemItemOnnx(sparseFixture()), items: itemsArtifact } }, {}), 'recommender', 'v1');
    view = buildView(model, cat);
    content = TfidfIndex.fit(baseItems().map((i) => ({ id: i.itemId, text: itemText(i) })));
  });

  const ask = (overrides: Partial<HistoryRequest>) =>
    recommendFromHistory({
      model,
      view,
      rules: NO_RULES,
      settings: { maxPerCategory: 10, newItemDays: 14, newItemShare: 0 },
      content: () => content,
      history: [],
      purchased: [],
      personalize: true,
      k: 4,
      filters: {},
      recommendationId: 'rec-1',
      nowMs: NOW,
      ...overrides,
    });

  it('explains each item by the history item contributing most to its score', async () => {
    // Act: t3 gets 0.8·w(t1) from t1 and 0.1·w(c1) from c1; c1 was bought (weight 5 ≫ view 1)
    const out = await ask({
      history: [
        { itemId: 't1', type: 'view', ts: 1 },
        { itemId: 'c1', type: 'purchase', ts: 2 },
      ],
    });

    // Assess
    expect(out.strategy).toBe('personalized');
    // Scores: c2 0.6·5, c3 0.4·5, t3 0.8·0.93 + 0.1·5 (t1 contributes more), t2 0.9·0.93
    expect(out.items.map((i) => [i.itemId, i.reason])).toEqual([
      ['c2', 'because you bought Espresso Coffee Beans'],
      ['c3', 'because you bought Espresso Coffee Beans'],
      ['t3', 'because you viewed Jasmine Green Tea'],
      ['t2', 'because you viewed Jasmine Green Tea'],
    ]);
    expect(out.items[0]).toMatchObject({ position: 1, reasonCode: 'history', reasonItemId: 'c1', title: 'Decaf Coffee Beans', category: 'coffee', price: 15 });
  });

  it('reuses score buffers across requests without leaking one answer into the next', async () => {
    // Act
    const a1 = await ask({ history: [{ itemId: 't1', type: 'view', ts: 1 }] });
    const b = await ask({ history: [{ itemId: 'c1', type: 'view', ts: 1 }] });
    const a2 = await ask({ history: [{ itemId: 't1', type: 'view', ts: 1 }] });

    // Assess
    expect(a2).toEqual(a1);
    expect(b.items.map((i) => [i.itemId, i.source])).toEqual([
      ['c2', 'model'],
      ['c3', 'model'],
      ['t3', 'model'],
      ['t1', 'popular'], // no positive score left: the most popular eligible item
    ]);
    expect(model.scoreBuffers.length).toBeGreaterThan(0);
  });

  it('labels the cold start: popular items, "trending in <category>", and why', async () => {
    // Act
    const out = await ask({ history: [{ itemId: 'unknown-item', type: 'view', ts: 1 }] });

    // Assess
    expect(out.strategy).toBe('popular');
    expect(out.strategyReason).toMatch(/cold start/);
    expect(out.items.map((i) => i.itemId)).toEqual(['t1', 't2', 't3', 't4']);
    expect(out.items[0]).toMatchObject({ reason: 'trending in tea', reasonCode: 'trending', source: 'popular' });
  });

  it('serves popular items when personalisation consent is withdrawn, even with a history', async () => {
    // Act
    const out = await ask({ history: [{ itemId: 't1', type: 'view', ts: 1 }], personalize: false });

    // Assess
    expect(out.strategy).toBe('popular');
    expect(out.strategyReason).toBe('personalisation consent withdrawn');
  });

  it('fills a new-item slot with the new item closest in text to the history', async () => {
    // Act
    const out = await ask({ history: [{ itemId: 't1', type: 'view', ts: 1 }], k: 4, settings: { maxPerCategory: 10, newItemDays: 14, newItemShare: 0.25 } });

    // Assess: n1 "Jasmine Green Tea Gift Box" beats n2 "Espresso Coffee Pods"
    const fresh = out.items.filter((i) => i.source === 'new');
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ itemId: 'n1', reason: 'new in tea', reasonCode: 'new_item' });
  });

  it('similar items: the item row of the model first, then content neighbours, then popular in its category', async () => {
    // Act
    const known = await similarItems({ model, view, rules: NO_RULES, content: () => content, itemId: 't1', k: 6, filters: {} });
    const fresh = await similarItems({ model, view, rules: NO_RULES, content: () => content, itemId: 'n1', k: 2, filters: {} });
    const noText = await similarItems({ model, view, rules: NO_RULES, itemId: 'w1', k: 2, filters: {} });
    const unknown = await similarItems({ model, view, rules: NO_RULES, content: () => content, itemId: 'nope', k: 2, filters: {} });

    // Assess
    expect(known?.strategy).toBe('item-item');
    expect(known?.items.map((i) => [i.itemId, i.reasonCode])).toEqual([
      ['t2', 'also_chosen'], // t1's neighbour row: t2 0.9, t3 0.8, c1 0.5
      ['t3', 'also_chosen'],
      ['c1', 'also_chosen'],
      ['n1', 'similar_content'], // "Jasmine Green Tea Gift Box", then the other titles sharing "tea"
      ['t4', 'similar_content'],
      ['o1', 'similar_content'],
    ]);
    expect(known?.items[0]?.reason).toBe('often chosen with Jasmine Green Tea');
    expect(fresh?.strategy).toBe('content');
    expect(fresh?.items[0]).toMatchObject({ itemId: 't1', reason: 'similar to Jasmine Green Tea Gift Box', reasonCode: 'similar_content' });
    expect(unknown).toBeUndefined();
    // w1's row only votes for y1; without a content index the rest is the most popular wine
    expect(noText?.items.map((i) => [i.itemId, i.reason])).toEqual([
      ['y1', 'often chosen with Reserve Rioja'],
      ['w2', 'trending in wine'],
    ]);
  });
});

describe('AliasCache: a new version that cannot be served never replaces a working one', () => {
  const good = () => ({ model: buildSparseItemItemOnnx(sparseFixture()), items: itemsArtifact });

  it.each([
    ['missing model.onnx', { items: itemsArtifact }],
    ['unloadable bytes', { model: new Uint8Array([1, 2, 3, 4]), items: itemsArtifact }],
    ['a model breaking the contract (scores for 5 items, index of 12)', { model: buildPopularityOnnx(new Float32Array(5)), items: itemsArtifact }],
  ])('%s: the previous version keeps serving, with a metric and a log line', async (_label, broken) => {
    // Prepare
    const alias: { champion?: string } = { champion: 'v1' };
    let now = 0;
    const cache = new ChampionCache(fakeRegistry({ v1: good(), v2: broken }, alias), 'recommender', 1000, () => now);
    expect((await cache.get())?.version).toBe('v1');
    const metric = vi.spyOn(metrics, 'addMetric');
    const log = vi.spyOn(logger, 'error').mockImplementation(() => undefined);

    // Act
    alias.champion = 'v2';
    now += 2000;
    const served = await cache.get();

    // Assess
    expect(served?.version).toBe('v1');
    expect(metric).toHaveBeenCalledWith('ModelLoadFailures', 'Count', 1);
    expect(log).toHaveBeenCalledWith(
      'model load failed; the previous version keeps serving',
      expect.objectContaining({ modelVersion: 'v2', servingVersion: 'v1' }),
    );
    metric.mockRestore();
    log.mockRestore();
  });

  it('re-reads the alias at most once per TTL and switches to a valid new version', async () => {
    // Prepare
    const alias: { champion?: string } = { champion: 'v1' };
    let now = 0;
    const registry = fakeRegistry({ v1: good(), v3: good() }, alias);
    const cache = new ChampionCache(registry, 'recommender', 1000, () => now);
    await cache.get();

    // Act
    alias.champion = 'v3';
    const beforeTtl = await cache.get();
    now += 1500;
    const afterTtl = await cache.get();

    // Assess
    expect(beforeTtl?.version).toBe('v1');
    expect(afterTtl?.version).toBe('v3');
    expect(registry.aliasReads).toBe(2);
  });

  it('stops serving a challenger whose alias was removed', async () => {
    // Prepare
    const alias: { challenger?: string } = { challenger: 'v1' };
    let now = 0;
    const cache = new AliasCache(fakeRegistry({ v1: good() }, alias), 'recommender', 'challenger', 1000, () => now, false);
    expect((await cache.get())?.version).toBe('v1');

    // Act
    delete alias.challenger;
    now += 2000;

    // Assess
    expect(await cache.get()).toBeUndefined();
  });

  it('loads a dense item-item model too, explaining from its B matrix', async () => {
    // Prepare: B[t1][t2] = 2, B[c1][t2] = 3
    const n = IDS.length;
    const B = new Float32Array(n * n);
    B[0 * n + 1] = 2;
    B[4 * n + 1] = 3;
    const registry = fakeRegistry({ d1: { model: buildItemItemOnnx(B, n), items: itemsArtifact } }, { champion: 'd1' });

    // Act
    const dense = await new ChampionCache(registry, 'recommender', 1000).get();
    const why = dense?.explainer?.explain(
      [
        { index: 0, weight: 1 },
        { index: 4, weight: 0.5 },
      ],
      [1],
    );

    // Assess
    expect(dense?.kind).toBe('item-item');
    expect(why?.get(1)).toEqual({ source: 0, value: 2 });
  });
});

describe('rank: the sparse shortcut (support) ranks exactly like the full scan', () => {
  it('for random models, histories, filters, caps, boosts and burials', async () => {
    // Prepare: 400 items in 12 categories, K = 6, popularity with ties
    const n = 400;
    const k = 6;
    const ids = Array.from({ length: n }, (_, i) => `i${i}`);
    const cats = ids.map((_, i) => `cat${i % 12}`);
    const popularity = Float32Array.from(ids, (_, i) => ((i * 7919) % 97) / 97);
    const model: LoadedModel = {
      ...fakeModel(),
      itemIds: ids,
      categories: cats,
      index: new Map(ids.map((id, i) => [id, i])),
      popularity,
      popularOrder: Int32Array.from(ids.keys()).sort((a, b) => popularity[b]! - popularity[a]! || a - b),
    };
    const items = ids.map((id, i) => item(id, { category: cats[i] as string, price: i % 50, stock: i % 17 === 0 ? 0 : 3 }));
    const view = buildView(model, catalogue(items));

    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 8 }),
        fc.record({
          k: fc.integer({ min: 1, max: 30 }),
          cap: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
          category: fc.option(fc.constantFrom('cat1', 'cat5'), { nil: undefined }),
          maxPrice: fc.option(fc.integer({ min: 0, max: 49 }), { nil: undefined }),
          boost: fc.boolean(),
          bury: fc.boolean(),
        }),
        async (seed, history, o) => {
          const r = mulberry32(seed);
          const nb: SparseNeighbours = {
            nItems: n,
            k,
            indices: Int32Array.from({ length: n * k }, () => Math.floor(r() * n)),
            weights: Float32Array.from({ length: n * k }, () => (r() < 0.15 ? -r() : r() < 0.2 ? 0 : r())),
          };
          const explainer = (await import('../../../../shared/recommend/explain')).explainerFor('item-item-sparse', buildSparseItemItemOnnx(nb), n);
          const weights = history.map(() => 0.5 + r());
          const scores = sparseScores(nb, history, weights);
          const support = explainer?.support?.(history.map((index, l) => ({ index, weight: weights[l] ?? 0 })));
          const parsed = parseBusinessRules({ categories: { ...(o.boost ? { cat3: { boost: 2 } } : {}), ...(o.bury ? { cat4: { bury: true } } : {}) } });
          if (!parsed.ok) throw new Error('rules');
          const base = {
            view,
            scores,
            source: 'model' as const,
            k: o.k,
            filters: { ...(o.category ? { category: o.category } : {}), ...(o.maxPrice !== undefined ? { maxPrice: o.maxPrice } : {}) },
            exclude: history.map((h) => `i${h}`),
            ...(o.cap !== undefined ? { maxPerCategory: o.cap } : {}),
            rules: parsed.rules,
            promotions: false,
            tieBreak: popularity,
          };
          expect(support).toBeDefined();
          expect(rank({ ...base, support: support as Int32Array })).toEqual(rank(base));
        },
      ),
      { numRuns: 150 },
    );
  });
});
