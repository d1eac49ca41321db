import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../../../shared/events/canonical';
import { checkJob, finishFeatures, mergePartials, partialFromEvents } from '../../../../shared/features/partials';

const DAY0 = Date.parse('2026-10-01T00:00:00Z');

const eventArb = fc.record({
  ms: fc.integer({ min: 0, max: 5 * 86_400_000 - 1 }),
  profile: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
  type: fc.constantFrom('view', 'add_to_cart', 'purchase', 'refund', 'page_view'),
  channel: fc.constantFrom('web', 'app', 'pos'),
  revenue: fc.option(
    fc.integer({ min: 1, max: 50_000 }).map((c) => c / 100),
    { nil: undefined },
  ),
  items: fc.array(
    fc.record({
      itemId: fc.constantFrom('i1', 'i2', 'i3', 'i4', 'i5', 'i6'),
      category: fc.option(fc.constantFrom('shoes', 'bags', 'hats'), { nil: undefined }),
      name: fc.option(fc.constantFrom('A', 'B'), { nil: undefined }),
      price: fc.option(
        fc.integer({ min: 100, max: 9_900 }).map((c) => c / 100),
        { nil: undefined },
      ),
      quantity: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    }),
    { minLength: 0, maxLength: 3 },
  ),
});

/** Canonical events in readRawEvents' order (timestamp, then event id). */
type RawEvent = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function toEvents(raw: RawEvent[]): CanonicalEvent[] {
  return raw
    .map((r, i): CanonicalEvent => {
      const items = r.items.map(
        (it) => Object.fromEntries(Object.entries(it).filter(([, v]) => v !== undefined)) as unknown as CanonicalEvent['items'][number],
      );
      const timestamp = new Date(DAY0 + r.ms).toISOString();
      return {
        eventId: `e${String(i).padStart(4, '0')}`,
        type: r.type as CanonicalEvent['type'],
        profileId: r.profile,
        channel: r.channel as CanonicalEvent['channel'],
        timestamp,
        receivedAt: timestamp,
        items,
        ...(r.revenue !== undefined && r.type === 'purchase' ? { revenue: r.revenue } : {}),
      };
    })
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.eventId < b.eventId ? -1 : 1));
}

const withoutRevenue = <T extends { revenue: number }>(rows: T[]) => rows.map(({ revenue: _r, ...rest }) => rest);

describe('feature partials (map → merge → finish)', () => {
  it('give the same features however the events are split into day partitions and merged', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 1000 }), (raw, seed) => {
        // Prepare
        const events = toEvents(raw);
        const asOfMs = Date.parse(events.at(-1)?.timestamp as string);
        const byDay = new Map<string, CanonicalEvent[]>();
        for (const e of events) (byDay.get(e.timestamp.slice(0, 10)) ?? byDay.set(e.timestamp.slice(0, 10), []).get(e.timestamp.slice(0, 10)))?.push(e);
        const partials = [...byDay.values()].map(partialFromEvents);
        const shuffled = partials
          .map((p, i) => ({ p, k: (i * 7919 + seed) % 101 }))
          .sort((a, b) => a.k - b.k)
          .map((x) => x.p);

        // Act
        const whole = finishFeatures(partialFromEvents(events), asOfMs);
        const merged = finishFeatures(mergePartials(shuffled), asOfMs);

        // Assess
        expect(withoutRevenue(merged.users)).toEqual(withoutRevenue(whole.users));
        expect(withoutRevenue(merged.items)).toEqual(withoutRevenue(whole.items));
        for (const [i, u] of merged.users.entries()) expect(Math.abs(u.revenue - (whole.users[i]?.revenue ?? Number.NaN))).toBeLessThanOrEqual(0.011);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps the last category, name and price seen and breaks category ties by first appearance', () => {
    // Prepare
    const events = toEvents([
      {
        ms: 1000,
        profile: 'p1',
        type: 'view',
        channel: 'web',
        revenue: undefined,
        items: [{ itemId: 'i1', category: 'bags', name: 'A', price: 10, quantity: undefined }],
      },
      {
        ms: 2000,
        profile: 'p1',
        type: 'view',
        channel: 'app',
        revenue: undefined,
        items: [{ itemId: 'i2', category: 'shoes', name: undefined, price: undefined, quantity: undefined }],
      },
      {
        ms: 86_400_000 + 5,
        profile: 'p1',
        type: 'purchase',
        channel: 'web',
        revenue: 12,
        items: [{ itemId: 'i1', category: undefined, name: 'B', price: 12, quantity: 2 }],
      },
    ]);
    const [day1, day2] = [partialFromEvents(events.slice(0, 2)), partialFromEvents(events.slice(2))];

    // Act
    const { users, items } = finishFeatures(mergePartials([day2, day1]), Date.parse(events[2]?.timestamp as string));

    // Assess
    expect(users[0]).toMatchObject({ profileId: 'p1', topCategory: 'bags', channels: ['app', 'web'], activeDays: 2, purchases: 1, orders: 1, revenue: 12 });
    expect(items.map((i) => i.itemId)).toEqual(['i1', 'i2']);
    expect(items[0]).toMatchObject({
      category: 'bags',
      name: 'B',
      lastPrice: 12,
      minPrice: 10,
      maxPrice: 12,
      unitsSold: 2,
      unitsLast7Days: 2,
      revenue: 24,
      buyers: 1,
      viewers: 1,
    });
  });

  it('names a bad job id or asOf', () => {
    expect(() => checkJob('../x', {})).toThrow(/jobId: must match/);
    expect(() => checkJob('job-1', { asOf: 'soon' })).toThrow(/request\.asOf: must be an ISO 8601 date-time/);
    expect(checkJob('job-1', { asOf: '2026-10-01T00:00:00Z' })).toEqual({ jobId: 'job-1', asOfMs: DAY0 });
  });
});
