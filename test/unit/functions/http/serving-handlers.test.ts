/**
 * The serving and catalogue HTTP handlers through their real middy stacks, with S3 as an in-memory
 * bucket behind aws-sdk-client-mock and DynamoDB mocked; profiles come from an in-memory stub.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildSparseItemItemOnnx } from '../../../../models/recommender/sparse';
import type { CatalogItem } from '../../../../shared/catalog/item';
import type { Profile } from '../../../../shared/profiles/profile';
import type { ServedRecord } from '../../../../shared/recommend/served-log';
import { SERVING_STAGES_CHANNEL, type StageTiming } from '../../../../shared/recommend/stages';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness, memoryBucket, stubEnv } from '../../../helpers/handler-harness';

interface Body {
  error?: string;
  issues?: { field: string; reason: string }[];
  recommendationId?: string;
  modelVersion?: string;
  variant?: string;
  strategy?: string;
  strategyReason?: string;
  items?: { itemId: string; reason: string; position: number }[];
  upserted?: number;
  rejected?: { index: number; issues: { field: string; reason: string }[] }[];
}

const api = handlerHarness({
  env: { CATALOG_TABLE: 'catalog-table' },
  handlers: {
    getRecommendations: () => import('../../../../functions/http/get-recommendations'),
    sessionRecommendations: () => import('../../../../functions/http/session-recommendations'),
    similar: () => import('../../../../functions/http/similar-items'),
    putItems: () => import('../../../../functions/http/items'),
  },
});
const { s3: s3Mock, ddb: ddbMock } = api;
const objects = new Map<string, Uint8Array>();

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const IDS = ['t1', 't2', 't3', 'c1', 'c2', 'w1'];

function writeModel(version: string, alias: 'champion' | 'challenger'): void {
  const k = 2;
  const indices = new Int32Array(IDS.length * k);
  const weights = new Float32Array(IDS.length * k);
  // t1 → t2 (0.9), c1 (0.4); everything else → w1 (0.1)
  IDS.forEach((_, i) => {
    indices[i * k] = 5;
    weights[i * k] = 0.1;
    indices[i * k + 1] = i;
  });
  indices[0] = 1;
  weights[0] = 0.9;
  indices[1] = 3;
  weights[1] = 0.4;
  const prefix = `models/recommender/versions/${version}/`;
  objects.set(`${prefix}model.onnx`, buildSparseItemItemOnnx({ nItems: IDS.length, k, indices, weights }));
  objects.set(
    `${prefix}items.json`,
    json({ itemIds: IDS, popularity: [1, 0.9, 0.8, 0.7, 0.6, 0.5], categories: ['tea', 'tea', 'tea', 'coffee', 'coffee', 'wine'] }),
  );
  objects.set(`models/recommender/aliases/${alias}.json`, json({ version, updatedAt: '2026-10-01T00:00:00Z', reason: 'test' }));
}

function writeCatalogue(items: Partial<CatalogItem>[]): void {
  const full = items.map((i) => ({
    title: i.itemId,
    category: 'tea',
    price: 10,
    stock: 3,
    promoted: false,
    active: true,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-09-01T00:00:00.000Z',
    ...i,
  }));
  objects.set('catalog/snapshots/s1.ndjson.gz', new Uint8Array(gzipSync(full.map((i) => JSON.stringify(i)).join('\n'))));
  objects.set(
    'catalog/current.json',
    json({ version: 's1', key: 'catalog/snapshots/s1.ndjson.gz', builtAt: '', items: full.length, deltasAfter: 'catalog/deltas/20260101' }),
  );
}

const profile = (recent: { itemId: string; type: 'view' | 'purchase' }[], extra: Partial<Profile> = {}): Profile =>
  ({
    profileId: 'p-123',
    createdAt: '',
    updatedAt: '',
    counts: {},
    channels: {},
    recentItems: recent.map((r, i) => ({ ...r, ts: i, channel: 'web' })),
    purchased: recent.filter((r) => r.type === 'purchase').map((r) => r.itemId),
    totalRevenue: 0,
    cart: [],
    identifiers: [],
    mergedFrom: [],
    ...extra,
  }) as Profile;

const getRecommendations: ApiHandler = (event, context) => api.handlers.getRecommendations(event, context);
const sessionRecommendations: ApiHandler = (event, context) => api.handlers.sessionRecommendations(event, context);
const similar: ApiHandler = (event, context) => api.handlers.similar(event, context);
const putItems: ApiHandler = (event, context) => api.handlers.putItems(event, context);
let runtime: typeof import('../../../../shared/recommend/runtime');
let catalogRuntime: typeof import('../../../../shared/catalog/runtime');
let profileStub: Profile | undefined;

function useRuntime(env: Record<string, string> = {}) {
  stubEnv(env);
  runtime.resetServingRuntime();
  const rt = runtime.servingRuntime();
  vi.spyOn(rt.shoppers, 'get').mockImplementation(async () => profileStub);
  return rt;
}

beforeAll(async () => {
  // After the harness's environment: the runtimes read it when first used.
  runtime = await import('../../../../shared/recommend/runtime');
  catalogRuntime = await import('../../../../shared/catalog/runtime');
});

beforeEach(() => {
  objects.clear();
  memoryBucket(s3Mock, objects);
  writeModel('v1', 'champion');
  writeCatalogue([
    { itemId: 't1', title: 'Jasmine Tea' },
    { itemId: 't2', title: 'Green Tea', price: 12 },
    { itemId: 't3', stock: 0 },
    { itemId: 'c1', category: 'coffee', price: 20 },
    { itemId: 'c2', category: 'coffee' },
    { itemId: 'w1', category: 'wine', price: 30 },
  ]);
  profileStub = profile([{ itemId: 't1', type: 'view' }]);
  useRuntime({ AB_CHALLENGER_SHARE: '0', NEW_ITEM_SHARE: '0' });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const user = (query?: Record<string, string>, userId = 'u-1') =>
  apiEvent({ method: 'GET', path: `/v1/users/${userId}/recommendations`, pathParameters: { userId }, ...(query ? { queryStringParameters: query } : {}) });
const bodyOf = (r: APIGatewayProxyStructuredResultV2) => JSON.parse(r.body ?? '{}') as Body;
const servedRecords = (): ServedRecord[] =>
  [...objects]
    .filter(([k]) => k.startsWith('serving/recommendations/'))
    .flatMap(([, v]) =>
      gunzipSync(v)
        .toString('utf8')
        .split('\n')
        .map((l) => JSON.parse(l) as ServedRecord),
    );

describe('GET /v1/users/{userId}/recommendations', () => {
  it('answers with a recommendationId, the model version, reasons, and records the served list', async () => {
    // Act
    const result = await getRecommendations(user({ k: '3' }), lambdaContext());

    // Assess
    const body = bodyOf(result);
    expect(result.statusCode).toBe(200);
    expect(body).toMatchObject({ modelVersion: 'v1', variant: 'champion', strategy: 'personalized' });
    expect(body.recommendationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.items?.map((i) => [i.itemId, i.reason])).toEqual([
      ['t2', 'because you viewed Jasmine Tea'],
      ['c1', 'because you viewed Jasmine Tea'],
      ['c2', 'trending in coffee'], // no positive model score left: the most popular eligible item
    ]);
    const served = servedRecords();
    expect(served).toHaveLength(1);
    expect(served[0]).toMatchObject({ recommendationId: body.recommendationId, endpoint: 'user', profileId: 'p-123', variant: 'champion', modelVersion: 'v1' });
    expect(served[0]?.items.map((i) => [i.itemId, i.reason])).toEqual([
      ['t2', 'history'],
      ['c1', 'history'],
      ['c2', 'trending'],
    ]);
    expect(served[0]?.userId).toMatch(/^[0-9a-f]{64}$/); // keyed hash, never the raw user id
    expect([...objects.keys()].find((k) => k.startsWith('serving/'))).toMatch(/^serving\/recommendations\/dt=\d{4}-\d{2}-\d{2}\/.+\.ndjson\.gz$/);
  });

  it('publishes the time of each serving stage once per request while something subscribes (the serving bench)', async () => {
    // Prepare
    const stages: string[] = [];
    const onStage = (m: unknown) => stages.push((m as StageTiming).stage);
    subscribe(SERVING_STAGES_CHANNEL, onStage);

    // Act
    const result = await getRecommendations(user({ k: '3' }), lambdaContext());
    unsubscribe(SERVING_STAGES_CHANNEL, onStage);
    await getRecommendations(user({ k: '3' }), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(200);
    expect([...stages].sort()).toEqual(['core', 'encode', 'explain', 'parse', 'profile', 'rank', 'record', 'resolve', 'score', 'serialise']);
  });

  it('applies category and price filters and never returns the out-of-stock item', async () => {
    // Act
    const tea = bodyOf(await getRecommendations(user({ k: '5', category: 'tea' }), lambdaContext()));
    const priced = bodyOf(await getRecommendations(user({ k: '5', minPrice: '11', maxPrice: '20' }), lambdaContext()));

    // Assess
    expect(tea.items?.map((i) => i.itemId)).toEqual(['t2']); // t1 seen, t3 out of stock
    expect(priced.items?.map((i) => i.itemId)).toEqual(['t2', 'c1']);
  });

  it.each([
    [{ k: '0' }, 'k', 'must be at least 1'],
    [{ k: 'ten' }, 'k', 'must be a number'],
    [{ minPrice: 'cheap' }, 'minPrice', 'must be a number'],
    [{ minPrice: '-1' }, 'minPrice', 'must be at least 0'],
    [{ minPrice: '50', maxPrice: '10' }, 'maxPrice', 'must be at least minPrice'],
    [{ channel: 'fax' }, 'channel', 'must be one of web, app, mini_program, pos, call_center, marketplace, server'],
    [{ category: ' ' }, 'category', 'must not be empty'],
    [{ maxPerCategory: '0' }, 'maxPerCategory', 'must be at least 1'],
    [{ sort: 'price' }, 'sort', 'unknown field'],
  ])('answers 400 naming the field for %j', async (query, field, reason) => {
    // Act
    const result = await getRecommendations(user(query), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues).toContainEqual({ field, reason });
  });

  it('labels the cold start for a shopper without a profile', async () => {
    // Prepare
    profileStub = undefined;

    // Act
    const body = bodyOf(await getRecommendations(user({ k: '2' }), lambdaContext()));

    // Assess
    expect(body.strategy).toBe('popular');
    expect(body.strategyReason).toMatch(/cold start/);
    expect(body.items?.map((i) => [i.itemId, i.reason])).toEqual([
      ['t1', 'trending in tea'],
      ['t2', 'trending in tea'],
    ]);
  });

  it('honours withdrawn personalisation consent (profile.consent.personalization = false)', async () => {
    // Prepare
    profileStub = profile([{ itemId: 't1', type: 'view' }], { consent: { personalization: false } } as Partial<Profile>);

    // Act
    const body = bodyOf(await getRecommendations(user({ k: '2' }), lambdaContext()));

    // Assess
    expect(body.strategy).toBe('popular');
    expect(body.strategyReason).toBe('personalisation consent withdrawn');
  });

  it('A/B: with share 1 every shopper is served by the challenger, and the assignment is recorded', async () => {
    // Prepare
    writeModel('v2', 'challenger');
    useRuntime({ AB_CHALLENGER_SHARE: '1' });

    // Act
    const body = bodyOf(await getRecommendations(user({ k: '2' }), lambdaContext()));

    // Assess
    expect(body).toMatchObject({ variant: 'challenger', modelVersion: 'v2' });
    expect(servedRecords()[0]).toMatchObject({ variant: 'challenger', modelVersion: 'v2' });
  });

  it('A/B: a challenger share without a challenger alias serves the champion', async () => {
    // Prepare
    useRuntime({ AB_CHALLENGER_SHARE: '1' });

    // Act
    const body = bodyOf(await getRecommendations(user({ k: '2' }), lambdaContext()));

    // Assess
    expect(body).toMatchObject({ variant: 'champion', modelVersion: 'v1' });
  });

  it('refuses to start with an A/B share outside [0, 1], naming the variable', async () => {
    // Prepare
    vi.stubEnv('AB_CHALLENGER_SHARE', '1.5');
    runtime.resetServingRuntime();

    // Act
    const result = await getRecommendations(user(), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(500);
    expect(() => runtime.servingRuntime()).toThrow('Environment variable AB_CHALLENGER_SHARE must be between 0 and 1, got 1.5');
  });
});

describe('POST /v1/recommendations (anonymous session)', () => {
  const post = (body: unknown) => apiEvent({ method: 'POST', path: '/v1/recommendations', body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('recommends from the items the session viewed and records the list under the anonymous id', async () => {
    // Act
    const result = await sessionRecommendations(post({ items: [{ itemId: 't1' }], k: 2, anonymousId: 'anon-9' }), lambdaContext());

    // Assess
    const body = bodyOf(result);
    expect(result.statusCode).toBe(200);
    expect(body).toMatchObject({ strategy: 'personalized', modelVersion: 'v1' });
    expect(body.items?.map((i) => i.itemId)).toEqual(['t2', 'c1']);
    expect(servedRecords()[0]).toMatchObject({ endpoint: 'session', anonymousId: 'anon-9', recommendationId: body.recommendationId });
  });

  it.each([
    [{ items: [{ itemId: 't1', type: 'like' }] }, 'items.0.type', 'must be one of view, add_to_cart, checkout, purchase'],
    [{ items: [{ itemId: '' }] }, 'items.0.itemId', 'must not be empty'],
    [{ k: 2.5 }, 'k', 'must be an integer'],
    [{ k: '3' }, 'k', 'must be a number'],
    [{ minPrice: 5, maxPrice: 1 }, 'maxPrice', 'must be at least minPrice'],
    ['{not json', 'body', expect.stringMatching(/JSON/)],
  ])('answers 400 naming the field for %j', async (payload, field, reason) => {
    // Act
    const result = await sessionRecommendations(post(payload), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues).toContainEqual({ field, reason });
  });
});

describe('GET /v1/items/{itemId}/similar', () => {
  const get = (itemId: string, query?: Record<string, string>) =>
    apiEvent({ method: 'GET', path: `/v1/items/${itemId}/similar`, pathParameters: { itemId }, ...(query ? { queryStringParameters: query } : {}) });

  it("returns the item's row of the champion model", async () => {
    // Act
    const body = bodyOf(await similar(get('t1', { k: '2' }), lambdaContext()));

    // Assess
    expect(body).toMatchObject({ strategy: 'item-item', modelVersion: 'v1' });
    expect(body.items?.map((i) => [i.itemId, i.reason])).toEqual([
      ['t2', 'often chosen with Jasmine Tea'],
      ['c1', 'often chosen with Jasmine Tea'],
    ]);
  });

  it('answers 404 for an item neither the model nor the catalogue knows', async () => {
    // Act
    const result = await similar(get('nope'), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(404);
    expect(bodyOf(result).error).toMatch(/Unknown item nope/);
  });

  it('answers 400 naming k', async () => {
    const result = await similar(get('t1', { k: '500' }), lambdaContext());
    expect(bodyOf(result).issues).toEqual([{ field: 'k', reason: 'must be at most 100' }]);
  });
});

describe('PUT /v1/items', () => {
  const put = (body: unknown) => apiEvent({ method: 'PUT', path: '/v1/items', body: JSON.stringify(body) });

  beforeEach(() => {
    catalogRuntime.resetCatalogRuntime();
    ddbMock.on(UpdateCommand).callsFake((input: { Key: { itemId: string }; ExpressionAttributeValues: Record<string, unknown> }) => ({
      Attributes: {
        itemId: input.Key.itemId,
        title: input.ExpressionAttributeValues[':title'] ?? 'stored',
        category: 'tea',
        price: 3,
        stock: input.ExpressionAttributeValues[':stock'] ?? null,
        updatedAt: input.ExpressionAttributeValues[':updatedAt'],
      },
    }));
  });

  it('stores the valid items, reports the invalid ones by field, and publishes a delta for serving', async () => {
    // Act
    const result = await putItems(
      put({
        items: [
          { itemId: 'n1', title: 'New Tea', category: 'tea', price: 4.5, stock: 10 },
          { itemId: 'n2', title: 'Bad', category: 'tea', price: -1 },
          { itemId: 't1', stock: 0 },
        ],
      }),
      lambdaContext(),
    );

    // Assess
    const body = bodyOf(result);
    expect(result.statusCode).toBe(200);
    expect(body.upserted).toBe(2);
    expect(body.rejected).toEqual([{ index: 1, itemId: 'n2', issues: [{ field: 'price', reason: 'must be at least 0' }] }]);
    const updates = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates.map((u) => u.Key)).toEqual([{ itemId: 'n1' }, { itemId: 't1' }]);
    expect(updates[1]?.ConditionExpression).toContain('attribute_exists(itemId)'); // a partial update must not create an item
    const delta = [...objects.keys()].find((k) => k.startsWith('catalog/deltas/'));
    expect(delta).toMatch(/\.ndjson\.gz$/);
  });

  it('rejects a partial update of an unknown item, naming the missing fields', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));
    ddbMock.on(GetCommand).resolves({});

    // Act
    const result = await putItems(put({ items: [{ itemId: 'ghost', stock: 3 }] }), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues).toEqual([
      { field: 'items.0.title', reason: 'is required for a new item' },
      { field: 'items.0.category', reason: 'is required for a new item' },
      { field: 'items.0.price', reason: 'is required for a new item' },
    ]);
  });

  it('skips an older write of an existing item as stale (safe retries and replays)', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'failed', $metadata: {} }));
    ddbMock.on(GetCommand).resolves({ Item: { itemId: 't1', title: 'x', category: 'tea', price: 1, updatedAt: '2026-10-02T00:00:00.000Z' } });

    // Act
    const body = bodyOf(await putItems(put({ items: [{ itemId: 't1', stock: 1, updatedAt: '2026-10-01T00:00:00Z' }] }), lambdaContext()));

    // Assess
    expect(body).toMatchObject({ upserted: 0, stale: 1, rejected: [] });
  });

  it.each([
    [{ items: [] }, 'items', 'must hold at least one item'],
    [{ items: [{ itemId: 'a', stock: 1.5 }] }, 'items.0.stock', 'must be an integer'],
    [{ items: [{ itemId: 'a', colour: 'red' }] }, 'items.0.colour', 'unknown field'],
    [{ items: [{ itemId: 'a', channels: ['fax'] }] }, 'items.0.channels.0', expect.stringMatching(/must be one of/)],
    [{ items: [{ itemId: 'a', updatedAt: 'yesterday' }] }, 'items.0.updatedAt', 'must be an ISO 8601 date-time'],
  ])('answers 400 naming the field for %j', async (payload, field, reason) => {
    // Act
    const result = await putItems(put(payload), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues).toContainEqual({ field, reason });
  });
});
