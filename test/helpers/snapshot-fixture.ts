import type { CanonicalEvent, CanonicalType, Channel, EventItem } from '../../shared/events/canonical';
import { validateMessages } from '../../shared/capture/service';
import { primaryProfileId } from '../../shared/profiles/profile';
import { simulateShop } from '../../shared/simulator/shop';

let seq = 0;

/** One hand-made canonical event (ids numbered in creation order). */
export function ev(
  profileId: string,
  type: CanonicalType,
  timestamp: string,
  channel: Channel,
  items: EventItem[] = [],
  extra: Partial<CanonicalEvent> & Record<string, unknown> = {},
): CanonicalEvent {
  seq += 1;
  return { eventId: `e${String(seq).padStart(3, '0')}`, type, profileId, channel, timestamp, receivedAt: timestamp, items, ...extra };
}

/**
 * A small shop over 2026-03-01 … 2026-03-06, as of 2026-03-05T18:00Z:
 * - p_a buys order o1 on the web (two lines, a coupon), refunds one line of it on day 5;
 * - p_anon buys o2 in the app on day 2 and is merged into p_b later; o2 is refunded in full (no lines, no amount);
 * - p_b buys o3 in a store (one line, no price, no quantity) on day 5; o1 is captured twice (same order id);
 * - p_erased (suppressed) buys o5; p_c only browses; day 3 has views only, day 4 has no events at all;
 * - o4 (day 5, after asOf) and everything on day 6 are after the point in time.
 */
export function handMadeEvents(): CanonicalEvent[] {
  seq = 0;
  return [
    ev('p_a', 'page_view', '2026-03-01T08:00:00.000Z', 'web', [], { name: 'Home' }),
    ev('p_a', 'view', '2026-03-01T08:01:00.000Z', 'web', [{ itemId: 'i1', price: 10, category: 'shoes', name: 'Runner' }]),
    ev('p_a', 'add_to_cart', '2026-03-01T08:02:00.000Z', 'web', [{ itemId: 'i1', price: 10, quantity: 2 }]),
    ev('p_a', 'view', '2026-03-01T08:03:00.000Z', 'web', [{ itemId: 'i2', price: 5, category: 'socks' }]),
    ev(
      'p_a',
      'purchase',
      '2026-03-01T08:10:00.000Z',
      'web',
      [
        { itemId: 'i1', price: 10, quantity: 2 },
        { itemId: 'i2', price: 5, quantity: 1 },
      ],
      {
        orderId: 'o1',
        revenue: 25,
        coupon: 'SPRING',
        currency: 'EUR',
        discount: 2.5,
      },
    ),
    // The same order captured twice (another event id): counted once in orders and item daily.
    ev(
      'p_a',
      'purchase',
      '2026-03-01T08:10:05.000Z',
      'web',
      [
        { itemId: 'i1', price: 10, quantity: 2 },
        { itemId: 'i2', price: 5, quantity: 1 },
      ],
      {
        orderId: 'o1',
        revenue: 25,
      },
    ),
    ev('p_anon', 'search', '2026-03-02T09:00:00.000Z', 'app', [], { query: 'runner' }),
    ev('p_anon', 'view', '2026-03-02T09:01:00.000Z', 'app', [{ itemId: 'i1', price: 9 }]),
    ev('p_anon', 'purchase', '2026-03-02T09:05:00.000Z', 'app', [{ itemId: 'i1', price: 9, quantity: 1 }], { orderId: 'o2', revenue: 9 }),
    ev('p_erased', 'view', '2026-03-02T10:00:00.000Z', 'web', [{ itemId: 'i9', price: 99, category: 'secret' }]),
    ev('p_erased', 'purchase', '2026-03-02T10:05:00.000Z', 'web', [{ itemId: 'i9', price: 99, quantity: 1 }], { orderId: 'o5', revenue: 99 }),
    ev('p_c', 'view', '2026-03-03T12:00:00.000Z', 'web', [{ itemId: 'i1', price: 11 }]),
    ev('p_c', 'view', '2026-03-03T12:05:00.000Z', 'app', [{ itemId: 'i2' }]),
    ev('p_b', 'identify', '2026-03-05T07:00:00.000Z', 'pos'),
    ev('p_b', 'purchase', '2026-03-05T07:05:00.000Z', 'pos', [{ itemId: 'i3', category: 'bags' }], { orderId: 'o3', revenue: 40, storeId: 's1' }),
    ev('p_a', 'refund', '2026-03-05T10:00:00.000Z', 'web', [{ itemId: 'i2' }], { orderId: 'o1' }),
    ev('p_b', 'refund', '2026-03-05T11:00:00.000Z', 'app', [], { orderId: 'o2' }),
    ev('p_c', 'purchase', '2026-03-05T19:00:00.000Z', 'web', [{ itemId: 'i1', price: 10, quantity: 1 }], { orderId: 'o4', revenue: 10 }),
    ev('p_c', 'view', '2026-03-06T09:00:00.000Z', 'web', [{ itemId: 'i2', price: 5 }]),
  ];
}

export const HAND_MADE_AS_OF = '2026-03-05T18:00:00.000Z';

/** A simulated shop's messages through validation/normalisation, anonymous ids linked to the user who logged in with them. */
export function simulatedEvents(options: { seed: number; shoppers: number; items: number; days: number }): CanonicalEvent[] {
  const shop = simulateShop(options);
  const { valid } = validateMessages(shop.events, new Date(shop.period.end));
  const userOf = new Map<string, string>();
  for (const e of valid) if (e.userId && e.anonymousId) userOf.set(e.anonymousId, e.userId);
  const profiles = new Map<string, string>();
  const profileOf = (key: string, ids: { userId: string } | { anonymousId: string }) =>
    profiles.get(key) ?? (profiles.set(key, primaryProfileId(ids)).get(key) as string);
  return valid.map((e) => {
    const userId = e.userId ?? (e.anonymousId ? userOf.get(e.anonymousId) : undefined);
    const { identitySource: _identitySource, ...event } = e;
    const profileId = userId ? profileOf(`u:${userId}`, { userId }) : profileOf(`a:${e.anonymousId}`, { anonymousId: e.anonymousId as string });
    return { ...event, profileId } as CanonicalEvent;
  });
}
