import { describe, expect, it } from 'vitest';
import { segmentMessageSchema } from '../../../../shared/capture/schema';
import { createRng } from '../../../../shared/random';
import { SHOP_CHANNELS, simulateShop } from '../../../../shared/simulator/shop';
import type { SegmentMessage, SimulatedShop } from '../../../../shared/simulator/shop';

const DAY_MS = 86_400_000;

let cached: { shop: SimulatedShop; ms: number } | undefined;
/** The default-size shop, generated once for the whole file. */
function defaultShop(): { shop: SimulatedShop; ms: number } {
  if (!cached) {
    const t0 = performance.now();
    const shop = simulateShop();
    cached = { shop, ms: performance.now() - t0 };
  }
  return cached;
}

const SMALL = { items: 60, categories: 6, shoppers: 80, days: 14 } as const;
const dayOf = (shop: SimulatedShop, timestamp: string): number => Math.floor((Date.parse(timestamp) - Date.parse(shop.period.start)) / DAY_MS);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const countEvent = (events: SegmentMessage[], name: string): number => events.filter((e) => e.event === name).length;

/** Profile key per event, stitching anonymousIds to userIds through identify calls. */
function profileKeys(events: SegmentMessage[]): string[] {
  const owner = new Map<string, string>();
  for (const e of events) if (e.type === 'identify') owner.set(e.anonymousId, e.userId);
  return events.map((e) => e.userId ?? owner.get(e.anonymousId ?? '') ?? (e.anonymousId as string));
}

/** Product ids an event touches (views, adds and purchases). */
function productsOf(e: SegmentMessage): string[] {
  if (e.event === 'Product Viewed' || e.event === 'Product Added') return [e.properties.product_id];
  if (e.event === 'Order Completed') return e.properties.products.map((p) => p.product_id);
  return [];
}

interface Holdout {
  items: number;
  train: Map<string, Set<number>>;
  test: Map<string, Set<number>>;
}

/** Items each stitched profile touched before / during the last `testDays` days. */
function splitHoldout(shop: SimulatedShop, testDays: number): Holdout {
  const index = new Map(shop.catalogue.map((item, i) => [item.itemId, i]));
  const split = shop.period.days - testDays;
  const keys = profileKeys(shop.events);
  const train = new Map<string, Set<number>>();
  const test = new Map<string, Set<number>>();
  shop.events.forEach((e, i) => {
    const bucket = dayOf(shop, e.timestamp) < split ? train : test;
    const key = keys[i] as string;
    for (const p of productsOf(e)) bucket.set(key, (bucket.get(key) ?? new Set()).add(index.get(p) as number));
  });
  return { items: shop.catalogue.length, train, test };
}

/** Per-item profile counts and item × item co-occurrence counts over the training histories. */
function cooccurrence({ items: n, train }: Holdout): { counts: Float64Array; pairs: Float64Array } {
  const counts = new Float64Array(n);
  const pairs = new Float64Array(n * n);
  for (const history of train.values()) {
    for (const a of history) {
      counts[a] = (counts[a] as number) + 1;
      for (const b of history) if (a !== b) pairs[a * n + b] = (pairs[a * n + b] as number) + 1;
    }
  }
  return { counts, pairs };
}

/** Share of profiles whose top-10 (items they had not touched yet) hits an item they touch in the test period. */
function hitRate({ train, test }: Holdout, recommend: (history: Set<number>) => number[]): { users: number; rate: number } {
  let users = 0;
  let hits = 0;
  for (const [key, future] of test) {
    const history = train.get(key);
    if (!history || ![...future].some((p) => !history.has(p))) continue;
    users++;
    if (recommend(history).some((p) => future.has(p))) hits++;
  }
  return { users, rate: hits / Math.max(1, users) };
}

describe('random', () => {
  it('is deterministic by seed and its helpers stay in range', () => {
    // Prepare
    const a = createRng(1);
    const b = createRng(1);
    const c = createRng(2);
    // Act
    const seqA = Array.from({ length: 50 }, () => a.float());
    const seqB = Array.from({ length: 50 }, () => b.float());
    const seqC = Array.from({ length: 50 }, () => c.float());
    const ints = Array.from({ length: 2000 }, () => a.int(3, 6));
    const picks = Array.from({ length: 3000 }, () => a.weightedIndex([1, 0, 3]));
    const poissonMean = mean(Array.from({ length: 5000 }, () => a.poisson(4)));
    const normals = Array.from({ length: 5000 }, () => a.normal(10, 2));
    const shuffled = a.shuffle([1, 2, 3, 4, 5]);
    // Assess
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(ints)).toEqual(new Set([3, 4, 5, 6]));
    expect(picks.includes(1)).toBe(false);
    expect(picks.filter((i) => i === 2).length / picks.length).toBeCloseTo(0.75, 1);
    expect(poissonMean).toBeCloseTo(4, 0);
    expect(mean(normals)).toBeCloseTo(10, 0);
    expect([...shuffled].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(a.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.fork('x').float()).toBe(createRng(1).fork('x').float());
  });
});

describe('simulateShop', () => {
  it('is deterministic by seed', () => {
    // Prepare
    const options = { ...SMALL, seed: 7 };
    // Act
    const first = simulateShop(options);
    const again = simulateShop(options);
    const other = simulateShop({ ...options, seed: 8 });
    // Assess
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(other.events[0]?.messageId).not.toBe(first.events[0]?.messageId);
  });

  it('scales with its options', () => {
    // Prepare
    const small = { ...SMALL, seed: 3 };
    const larger = { ...SMALL, seed: 3, items: 120, categories: 10, shoppers: 200, days: 28 };
    // Act
    const a = simulateShop(small);
    const b = simulateShop(larger);
    const webOnly = simulateShop({ ...small, channels: ['web'] });
    // Assess
    expect(a.catalogue).toHaveLength(60);
    expect(b.catalogue).toHaveLength(120);
    expect(new Set(a.catalogue.map((i) => i.category)).size).toBe(6);
    expect(new Set(b.catalogue.map((i) => i.category)).size).toBe(10);
    expect(a.shoppers).toHaveLength(80);
    expect(b.shoppers).toHaveLength(200);
    expect(b.events.length).toBeGreaterThan(3 * a.events.length);
    expect(Object.values(a.truth.dailyUnits).every((units) => units.length === 14)).toBe(true);
    expect(b.period.end).toBe('2026-09-29T00:00:00.000Z');
    expect(webOnly.events.every((e) => e.context.channel === 'web')).toBe(true);
  });

  it('generates 20k–60k events at default size, well under 2 s', () => {
    // Prepare / Act
    const { shop, ms } = defaultShop();
    // Assess
    expect(shop.events.length).toBeGreaterThan(20_000);
    expect(shop.events.length).toBeLessThan(60_000);
    expect(ms).toBeLessThan(2_000);
    expect(shop.catalogue).toHaveLength(400);
    expect(shop.shoppers).toHaveLength(600);
  });

  it('builds a readable, consistent catalogue and price history', () => {
    // Prepare
    const { shop } = defaultShop();
    // Act
    const changes = new Map<string, number>();
    for (const p of shop.priceHistory) changes.set(p.itemId, (changes.get(p.itemId) ?? 0) + 1);
    // Assess
    expect(shop.catalogue[0]?.itemId).toBe('SKU-0001');
    expect(new Set(shop.catalogue.map((i) => i.itemId)).size).toBe(400);
    for (const item of shop.catalogue) {
      expect(item.title).toMatch(/^[A-Z].* .+/);
      expect(item.unitCost).toBeLessThan(item.price);
      expect(item.elasticity).toBeGreaterThanOrEqual(-3);
      expect(item.elasticity).toBeLessThanOrEqual(-0.5);
      expect(Number.isInteger(item.stock)).toBe(true);
      expect(changes.get(item.itemId)).toBeGreaterThanOrEqual(2);
      expect(changes.get(item.itemId)).toBeLessThanOrEqual(4);
    }
    const groupSizes = shop.truth.complementGroups.map((g) => g.length);
    expect(groupSizes.flat().reduce((a, b) => a + b, 0)).toBe(400);
    expect(mean(groupSizes)).toBeGreaterThanOrEqual(3);
  });

  it('emits well-formed, sorted Segment messages with unique ids', () => {
    // Prepare
    const { shop } = defaultShop();
    const start = Date.parse(shop.period.start);
    const end = Date.parse(shop.period.end);
    // Act
    const times = shop.events.map((e) => Date.parse(e.timestamp));
    const invalid = shop.events.filter((_, i) => i % 10 === 0 && !segmentMessageSchema.safeParse(shop.events[i]).success);
    // Assess
    expect(new Set(shop.events.map((e) => e.messageId)).size).toBe(shop.events.length);
    expect(shop.events.every((e) => Boolean(e.userId ?? e.anonymousId))).toBe(true);
    expect(shop.events.every((e) => SHOP_CHANNELS.includes(e.context.channel))).toBe(true);
    expect(times.every((t, i) => i === 0 || t >= (times[i - 1] as number))).toBe(true);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start);
    expect(Math.max(...times)).toBeLessThan(end);
    expect(invalid).toEqual([]);
    const order = shop.events.find((e) => e.event === 'Order Completed');
    expect(order?.event === 'Order Completed' && order.properties.currency).toBe('EUR');
  });

  it('follows view → cart → purchase funnels where most sessions stop at views', () => {
    // Prepare
    const { shop } = defaultShop();
    const online = shop.events.filter((e) => e.context.channel !== 'pos');
    // Act
    const views = countEvent(shop.events, 'Product Viewed');
    const adds = countEvent(shop.events, 'Product Added');
    const orders = countEvent(shop.events, 'Order Completed');
    const sessions = new Set(online.map((e) => e.context.session_id));
    const sessionsWithAdds = new Set(online.filter((e) => e.event === 'Product Added').map((e) => e.context.session_id));
    const onlineOrderLines = online.flatMap((e) => (e.event === 'Order Completed' ? e.properties.products : [])).length;
    // Assess
    expect(orders).toBeGreaterThan(0);
    expect(orders).toBeLessThanOrEqual(adds);
    expect(adds).toBeLessThanOrEqual(views);
    expect(onlineOrderLines).toBeLessThanOrEqual(adds);
    expect(sessionsWithAdds.size / sessions.size).toBeLessThan(0.5);
  });

  it('lets identities be stitched across channels', () => {
    // Prepare
    const { shop } = defaultShop();
    const members = shop.shoppers.filter((s) => s.userId !== undefined);
    // Act
    const multiChannel = members.filter((s) => s.channels.length >= 2).length / members.length;
    const identifies = shop.events.filter((e) => e.type === 'identify');
    const firstSeen = new Map<string, number>();
    shop.events.forEach((e, i) => {
      if (e.anonymousId && !e.userId && !firstSeen.has(e.anonymousId)) firstSeen.set(e.anonymousId, i);
    });
    const browsedBeforeLogin = identifies.filter((e) => firstSeen.has(e.anonymousId)).length;
    const loyaltyReceipts = shop.events.filter((e) => e.context.channel === 'pos' && e.userId !== undefined);
    // Assess
    expect(multiChannel).toBeGreaterThanOrEqual(0.3);
    expect(identifies.length).toBeGreaterThan(0);
    for (const e of identifies) {
      const shopper = members.find((s) => s.userId === e.userId);
      expect(e.type === 'identify' && e.traits.email).toBe(shopper?.email);
      expect(Object.values(shopper?.anonymousIds ?? {})).toContain(e.anonymousId);
    }
    expect(browsedBeforeLogin).toBeGreaterThan(0);
    expect(loyaltyReceipts.length).toBeGreaterThan(0);
    expect(shop.events.filter((e) => e.userId && !members.some((s) => s.userId === e.userId))).toEqual([]);
  });

  it('shows weekend uplift and a holiday peak in daily event counts', () => {
    // Prepare
    const { shop } = defaultShop();
    const holiday = shop.truth.holidayDay;
    const moved = simulateShop({ ...SMALL, shoppers: 300, holiday: '2026-09-08' });
    // Act
    const perDay = Array.from({ length: shop.period.days }, () => 0);
    for (const e of shop.events) perDay[dayOf(shop, e.timestamp)]! += 1;
    const weekdayOf = (d: number): number => new Date(Date.parse(shop.period.start) + d * DAY_MS).getUTCDay();
    const regular = perDay.filter((_, d) => Math.abs(d - holiday) > 1);
    const weekend = perDay.filter((_, d) => Math.abs(d - holiday) > 1 && [0, 6].includes(weekdayOf(d)));
    const weekdays = perDay.filter((_, d) => Math.abs(d - holiday) > 1 && ![0, 6].includes(weekdayOf(d)));
    const movedPerDay = Array.from({ length: 14 }, () => 0);
    for (const e of moved.events) movedPerDay[dayOf(moved, e.timestamp)]! += 1;
    // Assess
    expect(holiday).toBe(51);
    expect(mean(weekend)).toBeGreaterThan(1.15 * mean(weekdays));
    expect(perDay[holiday]).toBeGreaterThan(1.8 * mean(regular));
    expect(moved.truth.holidayDay).toBe(7);
    expect(movedPerDay.indexOf(Math.max(...movedPerDay))).toBeGreaterThanOrEqual(6);
    expect(movedPerDay.indexOf(Math.max(...movedPerDay))).toBeLessThanOrEqual(8);
  });

  it('records daily units that match the Order Completed events', () => {
    // Prepare
    const { shop } = defaultShop();
    const fromEvents = new Map<string, number>();
    // Act
    for (const e of shop.events) {
      if (e.event !== 'Order Completed') continue;
      for (const p of e.properties.products) {
        const key = `${p.product_id}@${dayOf(shop, e.timestamp)}`;
        fromEvents.set(key, (fromEvents.get(key) ?? 0) + p.quantity);
      }
    }
    const fromTruth = new Map<string, number>();
    for (const [itemId, units] of Object.entries(shop.truth.dailyUnits)) {
      units.forEach((u, d) => {
        if (u > 0) fromTruth.set(`${itemId}@${d}`, u);
      });
    }
    // Assess
    expect(fromTruth).toEqual(fromEvents);
  });

  it('makes elasticity recoverable: units move against price (log-log slope < 0)', () => {
    // Prepare
    const { shop } = defaultShop();
    const days = shop.period.days;
    const start = Date.parse(shop.period.start);
    // Act: per item and price level, log(units/day) vs log(price), demeaned within item, pooled.
    let sxy = 0;
    let sxx = 0;
    for (const item of shop.catalogue) {
      const steps = shop.priceHistory.filter((p) => p.itemId === item.itemId);
      const units = shop.truth.dailyUnits[item.itemId] ?? [];
      const levels = steps.map((step, k) => {
        const from = Math.round((Date.parse(step.from) - start) / DAY_MS);
        const next = steps[k + 1];
        const to = next ? Math.round((Date.parse(next.from) - start) / DAY_MS) : days;
        const sold = units.slice(from, to).reduce((a, b) => a + b, 0);
        return { x: Math.log(step.price), y: Math.log((sold + 0.5) / Math.max(1, to - from)), w: to - from };
      });
      const weight = levels.reduce((a, l) => a + l.w, 0);
      const mx = levels.reduce((a, l) => a + l.w * l.x, 0) / weight;
      const my = levels.reduce((a, l) => a + l.w * l.y, 0) / weight;
      for (const l of levels) {
        sxy += l.w * (l.x - mx) * (l.y - my);
        sxx += l.w * (l.x - mx) ** 2;
      }
    }
    const slope = sxy / sxx;
    // Assess
    expect(slope).toBeLessThan(-0.3);
    expect(slope).toBeGreaterThan(-4);
  });

  it('has learnable structure: co-occurrence beats popularity on a time-based holdout', () => {
    // Prepare
    const { shop } = defaultShop();
    const holdout = splitHoldout(shop, 14);
    const { counts, pairs } = cooccurrence(holdout);
    const n = holdout.items;
    const popular = Array.from({ length: n }, (_, i) => i).sort((a, b) => (counts[b] as number) - (counts[a] as number));
    const byPopularity = (history: Set<number>): number[] => popular.filter((p) => !history.has(p)).slice(0, 10);
    const byCooccurrence = (history: Set<number>): number[] => {
      const scores = new Float64Array(n);
      for (const h of history) {
        const norm = Math.sqrt(Math.max(1, counts[h] as number));
        for (let j = 0; j < n; j++) scores[j] = (scores[j] as number) + (pairs[h * n + j] as number) / (norm * Math.sqrt(Math.max(1, counts[j] as number)));
      }
      return popular
        .filter((p) => !history.has(p))
        .sort((a, b) => (scores[b] as number) - (scores[a] as number))
        .slice(0, 10);
    };
    // Act
    const pop = hitRate(holdout, byPopularity);
    const cf = hitRate(holdout, byCooccurrence);
    // Assess
    expect(cf.users).toBeGreaterThan(100);
    expect(cf.rate).toBeGreaterThan(1.3 * pop.rate);
  });
});
