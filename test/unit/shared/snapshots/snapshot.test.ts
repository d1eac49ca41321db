import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { storeRawEvents } from '../../../../shared/capture/raw-events';
import type { CanonicalEvent } from '../../../../shared/events/canonical';
import { followRedirects } from '../../../../shared/identity/redirects';
import { suppressProfiles } from '../../../../shared/privacy/suppression';
import { simulateShop } from '../../../../shared/simulator/shop';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import type { ObjectStore } from '../../../../shared/storage/object-store';
import {
  loadItemDaily,
  loadOrders,
  loadSequences,
  loadSnapshot,
  loadSnapshotTables,
  prepareSnapshot,
  type SnapshotManifest,
  SnapshotTableMissingError,
  SnapshotTablesBuilder,
  snapshotDays,
} from '../../../../shared/snapshots/snapshot';
import { gzipNdjson } from '../../../../shared/snapshots/ndjson';
import { ev, HAND_MADE_AS_OF, handMadeEvents, simulatedEvents } from '../../../helpers/snapshot-fixture';

const ms = (iso: string) => Date.parse(iso);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const REDIRECTS = followRedirects(new Map([['p_anon', 'p_b']]));
const SHOP = { seed: 5, shoppers: 80, items: 60, days: 21 };
const bytes = async (blobs: ObjectStore, key: string) => (await blobs.getBytes(key)) ?? new Uint8Array();
const text = async (blobs: ObjectStore, key: string) =>
  Buffer.from(key.endsWith('.gz') ? gunzipSync(await bytes(blobs, key)) : await bytes(blobs, key)).toString('utf8');

async function handMadeSnapshot(events: CanonicalEvent[] = handMadeEvents()) {
  const blobs = new MemoryObjectStore();
  await storeRawEvents(blobs, events);
  await suppressProfiles(blobs, ['p_erased'], 'p_erased', new Date('2026-03-07T00:00:00.000Z'));
  const manifest = await prepareSnapshot(blobs, { runId: 'r1', asOf: HAND_MADE_AS_OF, redirects: REDIRECTS });
  return { blobs, manifest };
}

describe('prepareSnapshot: tables for every family', () => {
  it('writes one order row per order, refunds as negative rows, without erased shoppers or events after asOf', async () => {
    // Act
    const { blobs, manifest } = await handMadeSnapshot();
    const orders = await loadOrders(blobs, manifest);

    // Assess: o1 twice captured counts once; p_anon's o2 belongs to p_b; the full refund of o2 repeats its lines.
    expect(orders).toEqual([
      {
        o: 'o1',
        k: 'purchase',
        p: 'p_a',
        ts: ms('2026-03-01T08:10:00.000Z'),
        c: 'web',
        r: 25,
        cur: 'EUR',
        cp: 'SPRING',
        dc: 2.5,
        l: [
          { i: 'i1', q: 2, up: 10 },
          { i: 'i2', q: 1, up: 5 },
        ],
      },
      { o: 'o2', k: 'purchase', p: 'p_b', ts: ms('2026-03-02T09:05:00.000Z'), c: 'app', r: 9, l: [{ i: 'i1', q: 1, up: 9 }] },
      { o: 'o3', k: 'purchase', p: 'p_b', ts: ms('2026-03-05T07:05:00.000Z'), c: 'pos', r: 40, l: [{ i: 'i3', q: 1 }] },
      { o: 'o1', k: 'refund', p: 'p_a', ts: ms('2026-03-05T10:00:00.000Z'), c: 'web', r: -5, l: [{ i: 'i2', q: -1, up: 5 }] },
      { o: 'o2', k: 'refund', p: 'p_b', ts: ms('2026-03-05T11:00:00.000Z'), c: 'app', r: -9, l: [{ i: 'i1', q: -1, up: 9 }] },
    ]);
    expect(manifest.counts).toMatchObject({ orders: 3, refunds: 2, duplicateOrders: 1 });
  });

  it('writes per-shopper sequences in time order, merged shoppers as their survivor, identity events left out', async () => {
    // Act
    const { blobs, manifest } = await handMadeSnapshot();
    const sequences = await loadSequences(blobs, manifest);

    // Assess
    expect(sequences.map((s) => s.p)).toEqual(['p_a', 'p_b', 'p_c']);
    const pb = sequences[1]?.e ?? [];
    expect(pb).toEqual([
      { ts: ms('2026-03-02T09:00:00.000Z'), t: 'search', c: 'app' },
      { ts: ms('2026-03-02T09:01:00.000Z'), t: 'view', c: 'app', i: ['i1'] },
      { ts: ms('2026-03-02T09:05:00.000Z'), t: 'purchase', c: 'app', i: ['i1'], o: 'o2' },
      { ts: ms('2026-03-05T07:05:00.000Z'), t: 'purchase', c: 'pos', i: ['i3'], o: 'o3' },
      { ts: ms('2026-03-05T11:00:00.000Z'), t: 'refund', c: 'app', o: 'o2' },
    ]);
    expect(sequences[0]?.e.filter((e) => e.t === 'purchase')).toHaveLength(1); // o1's duplicate capture left out
    expect(sequences[2]?.e.map((e) => e.ts).every((ts) => ts <= ms(HAND_MADE_AS_OF))).toBe(true); // p_c's o4 is after asOf
    for (const s of sequences) expect(s.e.map((e) => e.ts)).toEqual([...s.e.map((e) => e.ts)].sort((a, b) => a - b));
    expect(manifest.counts).toMatchObject({ sequences: 3, sequenceEvents: 13 });
  });

  it('writes sparse item × day × channel rows and the whole day range, zero-sale days included', async () => {
    // Act
    const { blobs, manifest } = await handMadeSnapshot();
    const daily = await loadItemDaily(blobs, manifest);

    // Assess
    expect(manifest.window).toEqual({ firstDay: '2026-03-01', lastDay: '2026-03-05', days: 5 });
    expect(daily.days).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']);
    expect(daily.rows).toEqual([
      { i: 'i1', d: '2026-03-01', c: 'web', u: 2, r: 20, p: 10, o: 1, po: 1, v: 1, a: 1, vp: 10 },
      { i: 'i1', d: '2026-03-02', c: 'app', u: 1, r: 9, p: 9, o: 1, v: 1, a: 0, vp: 9 },
      { i: 'i1', d: '2026-03-03', c: 'web', u: 0, r: 0, o: 0, v: 1, a: 0, vp: 11 },
      { i: 'i1', d: '2026-03-05', c: 'app', u: 0, r: 0, o: 0, v: 0, a: 0, ru: 1, rr: 9 },
      { i: 'i2', d: '2026-03-01', c: 'web', u: 1, r: 5, p: 5, o: 1, po: 1, v: 1, a: 0, vp: 5 },
      { i: 'i2', d: '2026-03-03', c: 'app', u: 0, r: 0, o: 0, v: 1, a: 0 },
      { i: 'i2', d: '2026-03-05', c: 'web', u: 0, r: 0, o: 0, v: 0, a: 0, ru: 1, rr: 5 },
      { i: 'i3', d: '2026-03-05', c: 'pos', u: 1, r: 0, o: 1, v: 0, a: 0 },
    ]);
    expect(daily.rows.some((r) => r.d === '2026-03-04')).toBe(false); // a day of the window with no row: zero of everything
    expect(manifest.counts.itemDays).toBe(8);
  });

  it('keeps erased shoppers and events after asOf out of every table', async () => {
    // Act
    const { blobs, manifest } = await handMadeSnapshot();

    // Assess
    for (const key of [manifest.interactionsKey, manifest.itemsKey, manifest.sequencesKey, manifest.ordersKey, manifest.itemDailyKey]) {
      const written = await text(blobs, key);
      for (const hidden of ['p_erased', 'i9', 'o5', 'o4', 'p_anon']) expect(written, key).not.toContain(hidden);
    }
  });

  it('writes the same bytes when the run is retried, whatever the raw objects were', async () => {
    // Prepare: the same events, stored once in one batch and once in two.
    const events = handMadeEvents();
    const first = await handMadeSnapshot(events);
    const blobs = new MemoryObjectStore();
    await storeRawEvents(blobs, events.slice(0, 7));
    await storeRawEvents(blobs, events.slice(7));
    await suppressProfiles(blobs, ['p_erased'], 'p_erased', new Date('2026-03-07T00:00:00.000Z'));

    // Act
    await prepareSnapshot(blobs, { runId: 'r1', asOf: HAND_MADE_AS_OF, redirects: REDIRECTS });
    const retried = await prepareSnapshot(blobs, { runId: 'r1', asOf: HAND_MADE_AS_OF, redirects: REDIRECTS });

    // Assess
    const keys = await blobs.listKeys('snapshots/');
    expect(keys).toEqual(await first.blobs.listKeys('snapshots/'));
    expect(keys).toHaveLength(6);
    for (const key of keys) expect(sha256(await bytes(blobs, key)), key).toBe(sha256(await bytes(first.blobs, key)));
    expect(retried).toEqual(first.manifest);
  });

  it('writes interactions and items byte for byte as before the new tables', async () => {
    // Prepare: digests of what prepareSnapshot wrote before the new tables (commit fccf856), for the same inputs.
    const before = {
      handMade: {
        interactions: '250717969d5a61372c610873ead65d41ff3fbec3cc6209e6b548fac4ca4b7ca3',
        items: 'dba1a43d8c04cb00f89f9270c2050c00a97196f053c5f2fae42df9aefeebc3c9',
        counts: { events: 16, interactions: 12, users: 3, items: 3, holdoutUsers: 0 },
      },
      shop: {
        interactions: 'd665dfb4717323852014ededfbfe142ba305995d505819a4d0337c31faa24d20',
        items: 'd10fee072d799df0d139189195739abb4d03210344996c14162d7e0d2d9ef35e',
        counts: { events: 2714, interactions: 2083, users: 94, items: 59, holdoutUsers: 62 },
      },
    };
    const shop = new MemoryObjectStore();
    await storeRawEvents(shop, simulatedEvents(SHOP));

    // Act
    const hand = await handMadeSnapshot();
    const shopManifest = await prepareSnapshot(shop, { runId: 'r2', holdoutDays: 5 });

    // Assess: the same text (digest of the uncompressed NDJSON), gzipped the same way, and the same items.json.
    for (const [name, { blobs, manifest }] of Object.entries({ handMade: hand, shop: { blobs: shop, manifest: shopManifest } })) {
      const expected = before[name as keyof typeof before];
      const gz = await bytes(blobs, manifest.interactionsKey);
      const ndjson = gunzipSync(gz);
      expect(sha256(ndjson), name).toBe(expected.interactions);
      expect(Buffer.compare(Buffer.from(gz), gzipSync(ndjson)), name).toBe(0);
      expect(sha256(await bytes(blobs, manifest.itemsKey)), name).toBe(expected.items);
      expect(manifest.counts, name).toMatchObject(expected.counts);
    }
  });

  it('adds up, for a simulated shop, to the units the simulator sold per item and day', async () => {
    // Prepare
    const shop = simulateShop(SHOP);
    const blobs = new MemoryObjectStore();
    await storeRawEvents(blobs, simulatedEvents(SHOP));

    // Act
    const manifest = await prepareSnapshot(blobs, { runId: 'sim' });
    const { itemDaily, orders } = await loadSnapshotTables(blobs, manifest, ['itemDaily', 'orders']);

    // Assess: every sold unit lands on its UTC day, whatever the channel; the days cover the simulated period.
    const units = new Map<string, number>();
    for (const row of itemDaily.rows) units.set(`${row.i}|${row.d}`, (units.get(`${row.i}|${row.d}`) ?? 0) + row.u);
    for (const [itemId, perDay] of Object.entries(shop.truth.dailyUnits)) {
      perDay.forEach((sold, day) => {
        expect(units.get(`${itemId}|${itemDaily.days[day]}`) ?? 0, `${itemId} day ${day}`).toBe(sold);
      });
    }
    expect(itemDaily.days[0]).toBe(shop.period.start.slice(0, 10));
    expect(new Set(itemDaily.rows.map((r) => r.c)).size).toBeGreaterThan(1);
    expect(orders.every((o) => o.k === 'purchase' && o.r !== undefined && o.l.length > 0)).toBe(true);
    const lineUnits = orders.reduce((n, o) => n + o.l.reduce((m, l) => m + l.q, 0), 0);
    expect(itemDaily.rows.reduce((n, r) => n + r.u, 0)).toBe(lineUnits);
    expect(lineUnits).toBe(Object.values(shop.truth.dailyUnits).reduce((n, perDay) => n + perDay.reduce((m, u) => m + u, 0), 0));
    expect(lineUnits).toBeGreaterThan(0);
  });
});

describe('snapshot loaders', () => {
  it('loads only the tables asked for, and the days of the window', async () => {
    // Prepare
    const { blobs, manifest } = await handMadeSnapshot();

    // Act
    const tables = await loadSnapshotTables(blobs, manifest, ['orders', 'itemDaily']);

    // Assess
    expect(Object.keys(tables).sort()).toEqual(['itemDaily', 'orders']);
    expect(tables.orders).toHaveLength(5);
    expect(tables.itemDaily.days).toEqual(snapshotDays(manifest));
  });

  it('still loads a manifest written before the new tables, and refuses the tables it does not have', async () => {
    // Prepare: an old manifest (no table keys, no window, old counts only).
    const { blobs, manifest } = await handMadeSnapshot();
    const old: SnapshotManifest = {
      runId: manifest.runId,
      asOf: manifest.asOf,
      holdoutStart: manifest.holdoutStart,
      interactionsKey: manifest.interactionsKey,
      itemsKey: manifest.itemsKey,
      counts: { events: 16, interactions: 12, users: 3, items: 3, holdoutUsers: 0 },
    };

    // Act
    const legacy = await loadSnapshot(blobs, old);
    const recommender = await loadSnapshotTables(blobs, old, ['interactions', 'items']);

    // Assess
    expect(legacy.interactions).toHaveLength(12);
    expect(recommender).toEqual(legacy);
    await expect(loadSnapshotTables(blobs, old, ['interactions', 'orders'])).rejects.toThrow(SnapshotTableMissingError);
    await expect(loadSequences(blobs, old)).rejects.toThrow(/no sequences table/);
    expect(() => snapshotDays(old)).toThrow(SnapshotTableMissingError);
  });
});

describe('SnapshotTablesBuilder', () => {
  const build = (events: CanonicalEvent[], asOf = '2026-04-30T00:00:00.000Z') => {
    const builder = new SnapshotTablesBuilder(ms(asOf));
    for (const e of events) builder.add(e, ms(e.timestamp));
    return builder;
  };

  it('fills refund lines from the original order, flags cancellations, and keeps amount-only refunds', () => {
    // Prepare
    const events = [
      ev(
        'p1',
        'purchase',
        '2026-04-01T10:00:00.000Z',
        'web',
        [
          { itemId: 'a', price: 4, quantity: 3 },
          { itemId: 'b', price: 10 },
        ],
        { orderId: 'x1' },
      ),
      ev('p1', 'refund', '2026-04-02T10:00:00.000Z', 'server', [{ itemId: 'a' }], { orderId: 'x1' }),
      ev('p1', 'refund', '2026-04-02T11:00:00.000Z', 'server', [], { orderId: 'x1', revenue: 1.5 }),
      ev('p2', 'purchase', '2026-04-03T10:00:00.000Z', 'app', [{ itemId: 'a', price: 5, quantity: 1 }], { orderId: 'x2', revenue: 5.9 }),
      ev('p2', 'order_cancel', '2026-04-03T12:00:00.000Z', 'app', [], { orderId: 'x2' }),
      ev('p3', 'refund', '2026-04-04T10:00:00.000Z', 'web', [], { orderId: 'before-window', revenue: 20 }),
    ];

    // Act
    const orders = build(events).orders;

    // Assess
    expect(orders.map(({ o, k, r, l }) => ({ o, k, r, l }))).toEqual([
      {
        o: 'x1',
        k: 'purchase',
        r: 22,
        l: [
          { i: 'a', q: 3, up: 4 },
          { i: 'b', q: 1, up: 10 },
        ],
      },
      { o: 'x1', k: 'refund', r: -12, l: [{ i: 'a', q: -3, up: 4 }] },
      { o: 'x1', k: 'refund', r: -1.5, l: [] },
      { o: 'x2', k: 'purchase', r: 5.9, l: [{ i: 'a', q: 1, up: 5 }] },
      { o: 'x2', k: 'cancel', r: -5.9, l: [{ i: 'a', q: -1, up: 5 }] },
      { o: 'before-window', k: 'refund', r: -20, l: [] },
    ]);
  });

  it('weights the price paid by units, and the price shown by events', () => {
    // Prepare: 3 units at 10 and 1 unit at 6 on one day; views at 10 and 8.
    const events = [
      ev('p1', 'view', '2026-04-01T09:00:00.000Z', 'web', [{ itemId: 'a', price: 10 }]),
      ev('p2', 'view', '2026-04-01T09:30:00.000Z', 'web', [{ itemId: 'a', price: 8 }]),
      ev('p1', 'purchase', '2026-04-01T10:00:00.000Z', 'web', [{ itemId: 'a', price: 10, quantity: 3 }], { orderId: 'y1' }),
      ev('p2', 'purchase', '2026-04-01T11:00:00.000Z', 'web', [{ itemId: 'a', price: 6, quantity: 1 }], { orderId: 'y2', coupon: 'SALE' }),
    ];

    // Act
    const rows = [...build(events).itemDayRows()];

    // Assess: (3 × 10 + 1 × 6) / 4 units = 9; shown (10 + 8) / 2 = 9.
    expect(rows).toEqual([{ i: 'a', d: '2026-04-01', c: 'web', u: 4, r: 36, p: 9, o: 2, po: 1, v: 2, a: 0, vp: 9 }]);
  });

  it('gives a one-day window on the asOf day when no event is kept', () => {
    // Act
    const builder = build([], '2026-04-30T12:00:00.000Z');

    // Assess
    expect(builder.window()).toEqual({ firstDay: '2026-04-30', lastDay: '2026-04-30', days: 1 });
    expect(builder.counts).toEqual({ sequences: 0, sequenceEvents: 0, orders: 0, refunds: 0, duplicateOrders: 0, itemDays: 0 });
  });
});

describe('gzipNdjson', () => {
  it('writes, row by row, the bytes of gzipping the whole NDJSON text at once', async () => {
    // Prepare: enough rows for several 1 MB pieces, and non-ASCII text.
    const rows = Array.from({ length: 40_000 }, (_, k) => ({ k, name: `ärticle ${k} — ${'x'.repeat(k % 50)}` }));

    // Act
    const streamed = await gzipNdjson(rows.values());

    // Assess
    expect(Buffer.compare(streamed, gzipSync(rows.map((r) => JSON.stringify(r)).join('\n')))).toBe(0);
    expect(Buffer.compare(await gzipNdjson([]), gzipSync(''))).toBe(0);
  });
});
