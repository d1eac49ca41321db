/**
 * Serving end to end on the embedded local stack, over real HTTP: catalogue by PUT /v1/items and by an
 * S3 upload under imports/catalog/, a sparse model in the registry, business rules in S3, a shopper's
 * events through the capture API, then the three recommendation routes, stock updates reaching serving,
 * a model version that cannot load, and the A/B report joining a click to its served list.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSparseItemItemOnnx } from '../../models/recommender/sparse';
import type { AbReport } from '../../shared/ab/report';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { type ModelCard, ModelRegistry, newVersionId } from '../../shared/registry/registry';
import type { ServedRecord } from '../../shared/recommend/served-log';
import { BlobStore } from '../../shared/storage/blob';

const projectRoot = resolve(import.meta.dirname, '../..');
const DAY = 86_400_000;

interface Answer {
  recommendationId: string;
  modelVersion: string;
  variant: string;
  strategy: string;
  strategyReason?: string;
  items: { itemId: string; position: number; source: string; reason: string; category?: string; price?: number }[];
  issues?: { field: string; reason: string }[];
  error?: string;
}

// 4 categories × 8 items; the model knows the first 6 of each, the rest are catalogue-only.
const CATS = ['tea', 'coffee', 'wine', 'toys'];
const itemId = (c: number, i: number) => `${CATS[c]}-${i}`;
const MODEL_ITEMS = CATS.flatMap((_, c) => Array.from({ length: 6 }, (_, i) => itemId(c, i)));

describe('serving on the local stack', () => {
  let stack: LocalStack;
  let dataDir: string;
  let blobs: BlobStore;
  let registry: ModelRegistry;
  let bucket: string;
  const now = Date.now();

  const http = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Answer & Record<string, unknown> };
  };

  async function registerModel(version: string, files: { model?: Uint8Array; items?: unknown }) {
    const k = 3;
    const n = MODEL_ITEMS.length;
    const indices = new Int32Array(n * k);
    const weights = new Float32Array(n * k);
    // Each item votes for the next two of its category (and weakly for the first toy).
    for (let p = 0; p < n; p++) {
      const c = Math.floor(p / 6);
      const i = p % 6;
      indices.set([c * 6 + ((i + 1) % 6), c * 6 + ((i + 2) % 6), 18], p * k);
      weights.set([0.9, 0.6, 0.05], p * k);
    }
    const model = files.model ?? buildSparseItemItemOnnx({ nItems: n, k, indices, weights });
    await registry.putArtifact('recommender', version, 'model.onnx', model);
    if (files.items !== null) {
      await registry.putArtifact(
        'recommender',
        version,
        'items.json',
        files.items ?? { itemIds: MODEL_ITEMS, popularity: MODEL_ITEMS.map((_, p) => 1 - p / n), categories: MODEL_ITEMS.map((id) => id.split('-')[0]) },
      );
    }
    const card: ModelCard = {
      family: 'recommender',
      version,
      createdAt: new Date().toISOString(),
      algorithm: 'item-knn-sparse',
      hyperparameters: { neighbours: k },
      signature: { inputs: [], outputs: [] },
      data: { snapshot: 'test', asOf: new Date().toISOString(), holdoutStart: new Date().toISOString(), users: 0, items: n, interactions: 0 },
      trainingSeconds: 0,
      codeVersion: 'test',
    };
    await registry.putCard(card);
    await registry.setAlias('recommender', 'champion', version, 'serving integration test');
  }

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    // Serving containers re-read the alias, the catalogue and the rules on every request here.
    process.env.MODEL_ALIAS_TTL_SECONDS = '0';
    process.env.CATALOG_TTL_SECONDS = '0';
    process.env.RULES_TTL_SECONDS = '0';
    dataDir = mkdtempSync(join(tmpdir(), 'serving-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'srvtest', quiet: true });
    bucket = stack.config.provider.environment.DATA_BUCKET as string;
    blobs = new BlobStore(stack.emulators.s3Client(), bucket);
    registry = new ModelRegistry(blobs, { s3: stack.emulators.s3Client() });

    const items = CATS.flatMap((category, c) =>
      Array.from({ length: 8 }, (_, i) => ({
        itemId: itemId(c, i),
        title: `${category} number ${i}`,
        category,
        price: 5 + 5 * i,
        stock: i === 3 ? 0 : 10,
        promoted: c === 2 && i === 5,
        // items 6 and 7 are catalogue-only; 6 was launched yesterday (new), 7 long ago
        createdAt: new Date(now - (i === 6 ? 1 : 400) * DAY).toISOString(),
      })),
    );
    const put = await http('PUT', '/v1/items', { items: [...items, { itemId: 'broken', title: 'x', category: 'tea', price: 'free' }] });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ upserted: 32, rejected: [{ index: 32, itemId: 'broken', issues: [{ field: 'price', reason: 'must be a number' }] }] });

    await registerModel(newVersionId(new Date(now - 60_000), 'v1'), {});
    await stack.emulators
      .s3Client()
      .send(
        new PutObjectCommand({ Bucket: bucket, Key: 'config/business-rules.json', Body: JSON.stringify({ maxPerCategory: 2, promotions: { slots: [3] } }) }),
      );
    const ts = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    const batch = [
      {
        type: 'track',
        event: 'Product Viewed',
        messageId: 'srv-1',
        userId: 'alice',
        properties: { product_id: 'tea-0' },
        context: { channel: 'web' },
        timestamp: ts(30),
      },
      {
        type: 'track',
        event: 'Product Viewed',
        messageId: 'srv-2',
        userId: 'alice',
        properties: { product_id: 'coffee-0' },
        context: { channel: 'web' },
        timestamp: ts(20),
      },
      {
        type: 'track',
        event: 'Order Completed',
        messageId: 'srv-3',
        userId: 'alice',
        properties: { order_id: 'o-1', revenue: 10, products: [{ product_id: 'tea-1', price: 10, quantity: 1 }] },
        context: { channel: 'web' },
        timestamp: ts(10),
      },
    ];
    const captured = await http('POST', '/v1/batch', { batch });
    expect(captured.status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves a known shopper: no bought, seen or out-of-stock item, the promotion in slot 3, the cap, reasons, and the list recorded', async () => {
    // Act
    const { status, body } = await http('GET', '/v1/users/alice/recommendations?k=6');

    // Assess
    expect(status).toBe(200);
    expect(body.strategy).toBe('personalized');
    const ids = body.items.map((i) => i.itemId);
    expect(ids).not.toContain('tea-1'); // bought
    expect(ids).not.toContain('tea-0'); // seen
    expect(ids.filter((id) => id.endsWith('-3'))).toEqual([]); // out of stock
    expect(body.items[2]).toMatchObject({ itemId: 'wine-5', source: 'promotion', reason: 'featured offer' });
    for (const category of CATS) expect(body.items.filter((i) => i.category === category && i.source !== 'promotion').length).toBeLessThanOrEqual(2);
    // The purchase of tea-1 weighs most (5 × 0.9 for tea-2); coffee-0 (viewed) votes for coffee-1
    expect(body.items[0]).toMatchObject({ itemId: 'tea-2', reason: 'because you bought tea number 1' });
    expect(body.items.find((i) => i.itemId === 'coffee-1')?.reason).toBe('because you viewed coffee number 0');
    const served = (await blobs.listKeys('serving/recommendations/')).filter((k) => k.endsWith('.ndjson.gz'));
    const records = (await Promise.all(served.map((k) => blobs.getNdjson<ServedRecord>(k)))).flat();
    expect(records.find((r) => r.recommendationId === body.recommendationId)).toMatchObject({
      endpoint: 'user',
      variant: 'champion',
      modelVersion: body.modelVersion,
    });
  });

  it('filters by category and price range, and answers 400 naming the field', async () => {
    // Act
    const coffee = await http('GET', '/v1/users/alice/recommendations?k=10&category=coffee&minPrice=10&maxPrice=20');
    const bad = await http('GET', '/v1/users/alice/recommendations?k=0&minPrice=abc');

    // Assess
    expect(coffee.body.items.length).toBeGreaterThan(0);
    expect(coffee.body.items.every((i) => i.category === 'coffee' && (i.price ?? 0) >= 10 && (i.price ?? 0) <= 20)).toBe(true);
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual(
      expect.arrayContaining([
        { field: 'k', reason: 'must be at least 1' },
        { field: 'minPrice', reason: 'must be a number' },
      ]),
    );
  });

  it('recommends for an anonymous session and labels the cold start', async () => {
    // Act
    const session = await http('POST', '/v1/recommendations', { items: [{ itemId: 'wine-0' }], k: 2, anonymousId: 'visitor-1' });
    const stranger = await http('GET', '/v1/users/nobody/recommendations?k=3');

    // Assess
    expect(session.body.strategy).toBe('personalized');
    expect(session.body.items.map((i) => i.itemId)).toEqual(['wine-1', 'wine-2']);
    expect(stranger.body).toMatchObject({ strategy: 'popular', strategyReason: expect.stringMatching(/cold start/) });
    expect(stranger.body.items[0]?.reason).toMatch(/^trending in /);
  });

  it('similar items: the model row, TF-IDF for a new item, 404 for an unknown one', async () => {
    // Act
    const known = await http('GET', '/v1/items/toys-0/similar?k=2');
    const fresh = await http('GET', '/v1/items/toys-6/similar?k=2');
    const unknown = await http('GET', '/v1/items/nothing-here/similar');

    // Assess
    expect(known.body).toMatchObject({ strategy: 'item-item' });
    expect(known.body.items.map((i) => i.itemId)).toEqual(['toys-1', 'toys-2']);
    expect(fresh.body.strategy).toBe('content');
    expect(fresh.body.items.every((i) => i.category === 'toys')).toBe(true);
    expect(unknown.status).toBe(404);
  });

  it('a stock update by PUT /v1/items reaches serving without a snapshot rebuild', async () => {
    // Prepare
    const before = await http('GET', '/v1/items/coffee-0/similar?k=1');
    expect(before.body.items[0]?.itemId).toBe('coffee-1');

    // Act
    await http('PUT', '/v1/items', { items: [{ itemId: 'coffee-1', stock: 0 }] });
    const after = await http('GET', '/v1/items/coffee-0/similar?k=1');

    // Assess
    expect(after.body.items[0]?.itemId).toBe('coffee-2');
  });

  it('imports a catalogue upload under imports/catalog/ (row errors reported, re-upload idempotent); event uploads go to importEvents', async () => {
    // Prepare
    const lines = [
      JSON.stringify({ itemId: 'garden-1', title: 'Solar Garden Lights', category: 'garden', price: 19 }),
      '{broken json',
      JSON.stringify({ itemId: 'garden-2', title: 'Herb Pot', category: 'garden', price: -3 }),
    ];
    const key = 'imports/catalog/2026-10-01.ndjson.gz';
    const upload = () => stack.emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: gzipSync(lines.join('\n')) }));
    const before = stack.s3Events.invocations.length;

    // Act
    await upload();
    await stack.s3Events.waitForIdle();
    const report = await blobs.getJson<{
      upserted: number;
      rejected: number;
      errors: { line: number; issues: { field: string }[] }[];
      snapshot: { items: number };
    }>('import-reports/catalog/2026-10-01.ndjson.gz.report.json');
    await upload();
    await stack.s3Events.waitForIdle();
    const again = await blobs.getJson<{ upserted: number; snapshot: { items: number } }>('import-reports/catalog/2026-10-01.ndjson.gz.report.json');
    await stack.emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: 'imports/events/pos/empty.ndjson', Body: Buffer.alloc(0) }));
    await stack.s3Events.waitForIdle();

    // Assess
    expect(stack.s3Events.errors).toEqual([]);
    expect(report).toMatchObject({ upserted: 1, rejected: 2 });
    expect(report?.errors.map((e) => [e.line, e.issues[0]?.field])).toEqual([
      [2, '(line)'],
      [3, 'price'],
    ]);
    expect(report?.snapshot.items).toBe(33);
    expect(again).toMatchObject({ upserted: 1, snapshot: { items: 33 } });
    const routed = stack.s3Events.invocations.slice(before).map((i) => [i.functionName, i.key]);
    expect(routed).toEqual([
      ['importCatalog', key],
      ['importCatalog', key],
      ['importEvents', 'imports/events/pos/empty.ndjson'],
    ]);
    const similar = await http('GET', '/v1/items/garden-1/similar?k=1');
    expect(similar.status).toBe(200);
  });

  it('keeps serving the previous version when the new champion cannot be loaded, then switches to a valid one', async () => {
    // Prepare
    const serving = (await http('GET', '/v1/users/alice/recommendations?k=2')).body.modelVersion;

    // Act
    await registerModel(newVersionId(new Date(now), 'broken'), { items: null });
    const during = await http('GET', '/v1/users/alice/recommendations?k=2');
    const good = newVersionId(new Date(now + 60_000), 'v2');
    await registerModel(good, {});
    const after = await http('GET', '/v1/users/alice/recommendations?k=2');

    // Assess
    expect(during.status).toBe(200);
    expect(during.body.modelVersion).toBe(serving);
    expect(after.body.modelVersion).toBe(good);
  });

  it('the A/B report attributes a click sent with the recommendation id to its variant', async () => {
    // Prepare
    const served = await http('GET', '/v1/users/alice/recommendations?k=3');
    const clicked = served.body.items[0]?.itemId;
    const click = {
      type: 'track',
      event: 'Product Clicked',
      messageId: 'srv-click-1',
      userId: 'alice',
      properties: { product_id: clicked, recommendation_id: served.body.recommendationId },
      context: { channel: 'web' },
      timestamp: new Date().toISOString(),
    };
    expect((await http('POST', '/v1/batch', { batch: [click] })).status).toBe(200);
    const day = new Date().toISOString().slice(0, 10);

    // Act
    const out = (await stack.invoke('abReport', { day })) as { key: string };
    const report = await blobs.getJson<AbReport>(out.key);

    // Assess
    expect(out.key).toBe(`reports/ab/dt=${day}.json`);
    expect(report?.variants.champion.lists).toBeGreaterThanOrEqual(1);
    expect(report?.variants.champion.clickedLists).toBeGreaterThanOrEqual(1);
    expect(report?.variants.champion.attributed.explicit).toBeGreaterThanOrEqual(1);
    expect(report?.variants.challenger.lists).toBe(0);
  });
});
