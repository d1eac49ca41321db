/**
 * Merged shoppers in the feature aggregation (shared/features/partials.ts): moving a partial's users
 * to their survivor (redirectPartial, what the reduce step and buildFeatures do) must give exactly the
 * features of the events as if each had been captured under the survivor (redirectEvents), however
 * the events were split into day partitions and merged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../../../shared/events/canonical';
import { finishFeatures, mergePartials, partialFromEvents, redirectPartial } from '../../../../shared/features/partials';
import { followRedirects, redirectEvents } from '../../../../shared/identity/redirects';

const DAY0 = Date.parse('2026-10-01T00:00:00Z');
const PROFILES = ['p1', 'p2', 'p3', 'p4', 'p5'] as const;

const eventArb = fc.record({
  ms: fc.integer({ min: 0, max: 5 * 86_400_000 - 1 }),
  profile: fc.constantFrom(...PROFILES),
  type: fc.constantFrom('view', 'add_to_cart', 'purchase', 'page_view'),
  channel: fc.constantFrom('web', 'app', 'pos'),
  revenue: fc.integer({ min: 1, max: 50_000 }).map((c) => c / 100),
  items: fc.array(
    fc.record({
      itemId: fc.constantFrom('i1', 'i2', 'i3', 'i4'),
      category: fc.constantFrom('shoes', 'bags', 'hats'),
      price: fc.integer({ min: 100, max: 9_900 }).map((c) => c / 100),
      quantity: fc.integer({ min: 1, max: 3 }),
    }),
    { maxLength: 3 },
  ),
});

type RawEvent = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

/** Canonical events in readRawEvents' order (timestamp, then event id). */
function toEvents(raw: RawEvent[]): CanonicalEvent[] {
  return raw
    .map((r, i): CanonicalEvent => {
      const timestamp = new Date(DAY0 + r.ms).toISOString();
      return {
        eventId: `e${String(i).padStart(4, '0')}`,
        type: r.type as CanonicalEvent['type'],
        profileId: r.profile,
        channel: r.channel as CanonicalEvent['channel'],
        timestamp,
        receivedAt: timestamp,
        items: r.items,
        ...(r.type === 'purchase' ? { revenue: r.revenue } : {}),
      };
    })
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.eventId < b.eventId ? -1 : 1));
}

function byDay(events: CanonicalEvent[]): CanonicalEvent[][] {
  const days = new Map<string, CanonicalEvent[]>();
  for (const e of events) {
    const day = e.timestamp.slice(0, 10);
    days.set(day, [...(days.get(day) ?? []), e]);
  }
  return [...days.values()];
}

/** Rows compared by value: money to the cent (sums in another order), channel shares as a map. */
const comparable = <T extends { revenue: number }>(rows: T[]) => rows.map((r) => ({ ...r, revenue: Math.round(r.revenue * 100) }));

describe('merge redirects in the feature aggregation', () => {
  it('give, on partials merged in any order, the features of events captured under the survivor', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 60 }),
        fc.array(fc.tuple(fc.constantFrom(...PROFILES), fc.constantFrom(...PROFILES)), { maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        (raw, pairs, seed) => {
          // Prepare: a redirect map as the graph writes it: chains allowed, never a cycle (older → newer id here)
          const events = toEvents(raw);
          const direct = new Map(pairs.filter(([a, b]) => a < b));
          const redirects = followRedirects(direct);
          const asOfMs = Date.parse(events.at(-1)?.timestamp as string);
          const partials = byDay(events).map(partialFromEvents);
          const shuffled = partials
            .map((p, i) => ({ p, k: (i * 7919 + seed) % 101 }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.p);

          // Act
          const expected = finishFeatures(partialFromEvents(redirectEvents(events, redirects)), asOfMs);
          const distributed = finishFeatures(redirectPartial(mergePartials(shuffled), redirects), asOfMs);
          const single = finishFeatures(redirectPartial(partialFromEvents(events), redirects), asOfMs);

          // Assess
          for (const actual of [distributed, single]) {
            expect(comparable(actual.users)).toEqual(comparable(expected.users));
            expect(comparable(actual.items)).toEqual(comparable(expected.items));
          }
          const absorbed = new Set(redirects.keys());
          expect(distributed.users.filter((u) => absorbed.has(u.profileId))).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('count a shopper who browsed anonymously and bought after logging in as one user, one viewer and one buyer', () => {
    // Prepare
    const events = toEvents([
      { ms: 1_000, profile: 'p1', type: 'view', channel: 'web', revenue: 0, items: [{ itemId: 'i1', category: 'shoes', price: 50, quantity: 1 }] },
      { ms: 2_000, profile: 'p1', type: 'add_to_cart', channel: 'web', revenue: 0, items: [{ itemId: 'i1', category: 'shoes', price: 50, quantity: 1 }] },
      { ms: 86_400_000, profile: 'p2', type: 'view', channel: 'app', revenue: 0, items: [{ itemId: 'i1', category: 'shoes', price: 50, quantity: 1 }] },
      { ms: 86_400_500, profile: 'p2', type: 'purchase', channel: 'app', revenue: 50, items: [{ itemId: 'i1', category: 'shoes', price: 50, quantity: 1 }] },
    ]);
    const asOfMs = Date.parse(events.at(-1)?.timestamp as string);
    const [day1, day2] = byDay(events).map(partialFromEvents);

    // Act
    const without = finishFeatures(mergePartials([day1!, day2!]), asOfMs);
    const merged = finishFeatures(redirectPartial(mergePartials([day2!, day1!]), new Map([['p1', 'p2']])), asOfMs);

    // Assess
    expect(without.users.map((u) => u.profileId)).toEqual(['p1', 'p2']);
    expect(merged.users).toHaveLength(1);
    expect(merged.users[0]).toMatchObject({
      profileId: 'p2',
      events: 4,
      views: 2,
      addsToCart: 1,
      purchases: 1,
      channels: ['app', 'web'],
      channelShare: { web: 0.5, app: 0.5 },
      firstSeen: events[0]?.timestamp,
      activeDays: 2,
      cartToPurchaseRate: 1,
    });
    expect(without.items[0]).toMatchObject({ viewers: 2, buyers: 1, conversionRate: 0.5 });
    expect(merged.items[0]).toMatchObject({ viewers: 1, buyers: 1, conversionRate: 1 });
  });

  it('leave a partial unchanged without redirects', () => {
    const partial = partialFromEvents(toEvents([{ ms: 5, profile: 'p1', type: 'view', channel: 'web', revenue: 0, items: [] }]));
    expect(redirectPartial(partial, undefined)).toBe(partial);
    expect(redirectPartial(partial, new Map())).toBe(partial);
  });
});
