import { gunzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { CatalogCache } from '../../../../shared/catalog/cache';
import type { CatalogItem, CatalogItemInput } from '../../../../shared/catalog/item';
import type { CatalogRepository, UpsertOutcome } from '../../../../shared/catalog/repository';
import { upsertItems } from '../../../../shared/catalog/service';
import type { CatalogPointer, CatalogSnapshots } from '../../../../shared/catalog/snapshot';
import { logger, metrics } from '../../../../shared/observability/powertools';
import { RulesCache, parseBusinessRules } from '../../../../shared/recommend/rules';
import { readServed, ServedLog, type ServedRecord } from '../../../../shared/recommend/served-log';
import type { BlobStore } from '../../../../shared/storage/blob';

logger.setLogLevel('SILENT');

const item = (itemId: string, overrides: Partial<CatalogItem> = {}): CatalogItem => ({
  itemId,
  title: itemId,
  category: 'tea',
  price: 5,
  stock: 1,
  promoted: false,
  active: true,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-09-01T00:00:00.000Z',
  ...overrides,
});

/** An in-memory bucket with the BlobStore methods these modules use. */
function memoryBlobs() {
  const objects = new Map<string, unknown>();
  let failPuts = 0;
  const blobs = {
    objects,
    failNextPuts(n: number) {
      failPuts = n;
    },
    async putNdjsonGz(key: string, rows: unknown[]) {
      if (failPuts > 0) {
        failPuts -= 1;
        throw new Error('S3 unavailable');
      }
      objects.set(key, [...rows]);
    },
    async putBytes(key: string, body: Uint8Array) {
      if (failPuts > 0) {
        failPuts -= 1;
        throw new Error('S3 unavailable');
      }
      objects.set(
        key,
        gunzipSync(body)
          .toString('utf8')
          .split('\n')
          .map((line) => JSON.parse(line)),
      );
    },
    async getNdjson(key: string) {
      return (objects.get(key) as unknown[]) ?? [];
    },
    async listKeys(prefix: string) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    },
    async getBytes(key: string) {
      const v = objects.get(key);
      return v === undefined ? undefined : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
    },
  };
  return blobs as typeof blobs & BlobStore;
}

describe('upsertItems', () => {
  it('stores valid items, rejects invalid ones one by one, and merges two entries for one item in order', async () => {
    // Prepare
    const seen: CatalogItemInput[] = [];
    const repository = {
      async upsertMany(inputs: CatalogItemInput[]): Promise<UpsertOutcome[]> {
        seen.push(...inputs);
        return inputs.map((i) =>
          i.itemId === 'ghost'
            ? { status: 'rejected', itemId: 'ghost', issues: [{ field: 'title', reason: 'is required for a new item' }] }
            : { status: 'upserted', item: item(i.itemId) },
        );
      },
    } as unknown as CatalogRepository;

    // Act
    const out = await upsertItems(
      repository,
      [
        { itemId: 'a', title: 'A', category: 'tea', price: 1 },
        { itemId: 'b', price: 'free' },
        { itemId: 'a', stock: 0 },
        { itemId: 'ghost', stock: 2 },
        'not an object',
      ],
      new Date(),
    );

    // Assess
    expect(seen).toEqual([
      { itemId: 'a', title: 'A', category: 'tea', price: 1, stock: 0 },
      { itemId: 'ghost', stock: 2 },
    ]);
    expect(out.upserted).toBe(1);
    expect(out.rejected).toEqual([
      { index: 1, itemId: 'b', issues: [{ field: 'price', reason: 'must be a number' }] },
      { index: 3, itemId: 'ghost', issues: [{ field: 'title', reason: 'is required for a new item' }] },
      { index: 4, issues: [{ field: '(root)', reason: expect.any(String) }] },
    ]);
  });
});

describe('CatalogCache (snapshot + deltas in a serving container)', () => {
  function fakeSnapshots() {
    const state = {
      pointer: { version: 's1', key: 'snap-1', builtAt: '', items: 2, deltasAfter: 'catalog/deltas/0' } as CatalogPointer | undefined,
      snapshots: new Map<string, CatalogItem[]>([['snap-1', [item('a'), item('b')]]]),
      deltas: new Map<string, CatalogItem[]>(),
      fail: false,
    };
    const snapshots = {
      async getPointer() {
        if (state.fail) throw new Error('S3 down');
        return state.pointer;
      },
      async readSnapshot(p: CatalogPointer) {
        return state.snapshots.get(p.key) ?? [];
      },
      async listDeltas(after?: string) {
        return [...state.deltas.keys()].filter((k) => !after || k > after).sort();
      },
      async readDelta(key: string) {
        return state.deltas.get(key) ?? [];
      },
    } as unknown as CatalogSnapshots;
    return { state, snapshots };
  }

  it('loads the snapshot once, then applies only newer deltas within the TTL; stock changes do not touch the text revision', async () => {
    // Prepare
    const { state, snapshots } = fakeSnapshots();
    let now = 0;
    const cache = new CatalogCache(snapshots, 1000, () => now);
    const first = await cache.get();

    // Act
    state.deltas.set('catalog/deltas/1', [item('a', { stock: 0, updatedAt: '2026-09-02T00:00:00.000Z' })]);
    state.deltas.set('catalog/deltas/2', [item('b', { stock: 9, updatedAt: '2026-08-01T00:00:00.000Z' })]); // older than stored: ignored
    const withinTtl = await cache.get();
    now = 1500;
    const refreshed = await cache.get();

    // Assess
    expect(first.items.size).toBe(2);
    expect(withinTtl.revision).toBe(first.revision);
    expect(refreshed.revision).toBe(first.revision + 1);
    expect(refreshed.textRevision).toBe(first.textRevision);
    expect(refreshed.items.get('a')?.stock).toBe(0);
    expect(refreshed.items.get('b')?.stock).toBe(1);
  });

  it('a new item or title in a delta bumps the text revision (the content index is rebuilt)', async () => {
    // Prepare
    const { state, snapshots } = fakeSnapshots();
    let now = 0;
    const cache = new CatalogCache(snapshots, 1000, () => now);
    const first = await cache.get();

    // Act
    state.deltas.set('catalog/deltas/1', [item('c', { title: 'New' })]);
    now = 2000;
    const next = await cache.get();

    // Assess
    expect(next.textRevision).toBe(first.textRevision + 1);
    expect(next.items.has('c')).toBe(true);
  });

  it('keeps serving the previous catalogue when a refresh fails (metric + log)', async () => {
    // Prepare
    const { state, snapshots } = fakeSnapshots();
    let now = 0;
    const cache = new CatalogCache(snapshots, 1000, () => now);
    await cache.get();
    const metric = vi.spyOn(metrics, 'addMetric');

    // Act
    state.fail = true;
    now = 5000;
    const out = await cache.get();

    // Assess
    expect(out.items.size).toBe(2);
    expect(metric).toHaveBeenCalledWith('CatalogRefreshFailures', 'Count', 1);
    metric.mockRestore();
  });
});

describe('business rules', () => {
  it('names every invalid field', () => {
    // Act
    const parsed = parseBusinessRules({ maxPerCategory: 0, promotions: { slots: [0] }, categories: { wine: { boost: -2 } }, discount: true });

    // Assess
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.issues).toEqual(
      expect.arrayContaining([
        { field: 'maxPerCategory', reason: 'must be at least 1' },
        { field: 'promotions.slots.0', reason: 'must be at least 1' },
        { field: 'categories.wine.boost', reason: 'must be greater than 0' },
        { field: 'discount', reason: 'unknown field' },
      ]),
    );
  });

  it('an invalid file never replaces working rules; a missing file means no rules', async () => {
    // Prepare
    const blobs = memoryBlobs();
    let now = 0;
    const cache = new RulesCache(blobs, 1000, () => now);
    blobs.objects.set('config/business-rules.json', JSON.stringify({ maxPerCategory: 2 }));
    const error = vi.spyOn(logger, 'error');

    // Act
    const good = await cache.get();
    blobs.objects.set('config/business-rules.json', '{"maxPerCategory": "two"');
    now = 2000;
    const afterBroken = await cache.get();
    blobs.objects.delete('config/business-rules.json');
    now = 4000;
    const afterDelete = await cache.get();

    // Assess
    expect(good.maxPerCategory).toBe(2);
    expect(afterBroken.maxPerCategory).toBe(2);
    expect(error).toHaveBeenCalledWith(
      'business rules file is invalid; the previous rules stay in force',
      expect.objectContaining({ issues: [{ field: '(file)', reason: expect.stringMatching(/malformed JSON/) }] }),
    );
    expect(afterDelete.maxPerCategory).toBeUndefined();
    error.mockRestore();
  });
});

describe('ServedLog', () => {
  const record = (id: string, servedAt = '2026-10-05T10:00:00.000Z'): ServedRecord => ({
    recommendationId: id,
    servedAt,
    endpoint: 'user',
    profileId: 'p',
    variant: 'champion',
    modelVersion: 'v1',
    strategy: 'personalized',
    items: [{ itemId: 'a', position: 1, source: 'model', reason: 'history' }],
  });

  it('with age 0 writes after every request, one object per day partition, and reads them back', async () => {
    // Prepare
    const blobs = memoryBlobs();
    const log = new ServedLog(blobs, { maxAgeMs: 0, maxRecords: 500 });

    // Act
    log.add(record('r1'));
    await log.flushIfDue();
    log.add(record('r2', '2026-10-06T00:00:01.000Z'));
    await log.flushIfDue();
    const back = await readServed(blobs, '2026-10-05', '2026-10-06');

    // Assess
    expect([...blobs.objects.keys()].map((k) => k.replace(/\/[^/]+$/, ''))).toEqual([
      'serving/recommendations/dt=2026-10-05',
      'serving/recommendations/dt=2026-10-06',
    ]);
    expect(back.map((r) => r.recommendationId)).toEqual(['r1', 'r2']);
  });

  it('batches by age or count, and keeps records whose write failed for the next flush', async () => {
    // Prepare
    const blobs = memoryBlobs();
    let now = 0;
    const log = new ServedLog(
      blobs,
      { maxAgeMs: 60_000, maxRecords: 3 },
      () => now,
      () => true,
    );
    vi.spyOn(logger, 'error').mockImplementation(() => undefined);

    // Act / Assess
    log.add(record('r1'));
    log.add(record('r2'));
    await log.flushIfDue();
    expect(blobs.objects.size).toBe(0); // young and few: buffered
    log.add(record('r3'));
    blobs.failNextPuts(1);
    await log.flushIfDue(); // count reached, write fails: nothing lost
    expect(log.pending).toBe(3);
    now = 61_000;
    await log.flushIfDue();
    expect(log.pending).toBe(0);
    expect((await readServed(blobs, '2026-10-05', '2026-10-05')).map((r) => r.recommendationId)).toEqual(['r1', 'r2', 'r3']);
    vi.restoreAllMocks();
  });

  it('while batching, also keeps each record in the invocation EMF line (a reclaimed container loses none)', () => {
    // Prepare
    const blobs = memoryBlobs();
    const metadata = vi.spyOn(metrics, 'addMetadata');
    const batched = new ServedLog(blobs, { maxAgeMs: 10_000, maxRecords: 500 }, Date.now, () => true);
    const perRequest = new ServedLog(blobs, { maxAgeMs: 0, maxRecords: 500 }, Date.now, () => true);

    // Act
    batched.add(record('r1'));
    perRequest.add(record('r2'));

    // Assess
    expect(batched.batching).toBe(true);
    expect(perRequest.batching).toBe(false);
    expect(metadata).toHaveBeenCalledTimes(1);
    expect(metadata.mock.calls[0]?.[0]).toBe('servedList');
    expect(JSON.parse(String(metadata.mock.calls[0]?.[1]))).toEqual(record('r1'));
    vi.restoreAllMocks();
  });

  it('without that durable copy (metrics disabled: the local stack, tests) writes after every request whatever the age', async () => {
    // Prepare
    const blobs = memoryBlobs();
    const log = new ServedLog(blobs, { maxAgeMs: 10_000, maxRecords: 500 }, Date.now, () => false);

    // Act
    log.add(record('r1'));
    await log.flushIfDue();

    // Assess
    expect(log.batching).toBe(false);
    expect(log.pending).toBe(0);
    expect((await readServed(blobs, '2026-10-05', '2026-10-05')).map((r) => r.recommendationId)).toEqual(['r1']);
  });
});
