import { describe, expect, it } from 'vitest';
import { abBucket, assignVariant } from '../../../../shared/recommend/ab-assignment';
import { type AttributableEvent, buildAbReport, compareRates, defaultReportDay } from '../../../../shared/ab/report';
import type { ServedRecord } from '../../../../shared/recommend/served-log';

describe('A/B assignment', () => {
  it('is stable: the same shopper always gets the same variant', () => {
    // Act
    const first = Array.from({ length: 200 }, (_, i) => assignVariant(`shopper-${i}`, 0.3, 'exp').variant);
    const again = Array.from({ length: 200 }, (_, i) => assignVariant(`shopper-${i}`, 0.3, 'exp').variant);

    // Assess
    expect(again).toEqual(first);
  });

  it('sends the configured share to the challenger (20,000 shoppers, ±1.5 points)', () => {
    for (const share of [0.1, 0.5]) {
      // Act
      const challengers = Array.from({ length: 20_000 }, (_, i) => assignVariant(`u:${i}`, share, 'exp')).filter((a) => a.variant === 'challenger').length;

      // Assess
      expect(Math.abs(challengers / 20_000 - share)).toBeLessThan(0.015);
    }
  });

  it('share 0 or no subject → champion; raising the share only moves shoppers to the challenger; a new salt reshuffles', () => {
    // Prepare
    const subjects = Array.from({ length: 2000 }, (_, i) => `s${i}`);

    // Act
    const at10 = subjects.filter((s) => assignVariant(s, 0.1, 'exp').variant === 'challenger');
    const at30 = new Set(subjects.filter((s) => assignVariant(s, 0.3, 'exp').variant === 'challenger'));
    const otherSalt = subjects.filter((s) => assignVariant(s, 0.1, 'exp-2').variant === 'challenger');

    // Assess
    expect(subjects.every((s) => assignVariant(s, 0, 'exp').variant === 'champion')).toBe(true);
    expect(assignVariant(undefined, 1, 'exp').variant).toBe('champion');
    expect(at10.every((s) => at30.has(s))).toBe(true);
    expect(otherSalt.filter((s) => at10.includes(s)).length).toBeLessThan(at10.length / 2);
    expect(abBucket('s1', 'exp')).toBe(abBucket('s1', 'exp'));
  });
});

// ---------------------------------------------------------------------------------------- report

const DAY = '2026-10-05';
const t = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;

function list(
  id: string,
  variant: 'champion' | 'challenger',
  servedAt: string,
  subject: { profileId?: string; userId?: string; anonymousId?: string },
  items: string[],
): ServedRecord {
  return {
    recommendationId: id,
    servedAt,
    endpoint: 'user',
    ...subject,
    variant,
    modelVersion: variant === 'champion' ? 'v1' : 'v2',
    strategy: 'personalized',
    items: items.map((itemId, p) => ({ itemId, position: p + 1, source: 'model', reason: 'history' })),
  };
}

function event(eventId: string, name: string, timestamp: string, extra: Partial<AttributableEvent> = {}): AttributableEvent {
  return { eventId, type: name === 'Order Completed' ? 'purchase' : 'view', name, timestamp, items: [], ...extra };
}

describe('A/B report on a fixture', () => {
  const served: ServedRecord[] = [
    list('r-prev', 'champion', t('22:00', '2026-10-04'), { profileId: 'p1' }, ['A', 'B']), // previous day: a candidate only
    list('r1', 'champion', t('09:00'), { profileId: 'p1', userId: 'h1' }, ['A', 'C']),
    list('r2', 'champion', t('10:00'), { profileId: 'p2' }, ['D', 'E']),
    list('r3', 'challenger', t('09:30'), { profileId: 'p3' }, ['F', 'G']),
    list('r4', 'challenger', t('11:00'), { anonymousId: 'anon-4', profileId: 'a4' }, ['H']),
    list('r5', 'challenger', t('12:00'), { profileId: 'p5' }, ['K']),
  ];
  const events: AttributableEvent[] = [
    // explicit: list viewed + click on r1, duplicate delivery of the click counted once
    event('e1', 'Product List Viewed', t('09:01'), { recommendationId: 'r1' }),
    event('e2', 'Product Clicked', t('09:02'), { recommendationId: 'r1', items: [{ itemId: 'C' }] }),
    event('e2', 'Product Clicked', t('09:02'), { recommendationId: 'r1', items: [{ itemId: 'C' }] }),
    // implicit: p1 (matched by hashed user id) orders A at 12:00: most recent list holding A is r1 (not r-prev)
    event('e3', 'Order Completed', t('12:00'), { userId: 'h1', profileId: 'merged-p1', items: [{ itemId: 'A' }], revenue: 20 }),
    // implicit via properties.recommendation_id on a raw-shaped event for the challenger
    event('e4', 'Product Clicked', t('09:40'), { profileId: 'p3', properties: { recommendation_id: 'r3' }, items: [{ itemId: 'F' }] }),
    event('e5', 'Order Completed', t('09:00', '2026-10-06') /* 23.5 h after r3 */, { profileId: 'p3', items: [{ itemId: 'G' }], revenue: 35.5 }),
    // anonymous session clicked by anonymous id
    event('e6', 'Product Clicked', t('11:05'), { anonymousId: 'anon-4', items: [{ itemId: 'H' }] }),
    // not attributable: an item that was not on p2's list, a click 30 h after r5, an unknown recommendation id
    event('e7', 'Product Clicked', t('10:30'), { profileId: 'p2', items: [{ itemId: 'Z' }] }),
    event('e8', 'Product Clicked', t('18:00', '2026-10-06'), { profileId: 'p5', items: [{ itemId: 'K' }] }),
    event('e9', 'Product Clicked', t('10:00'), { recommendationId: 'r-unknown', items: [{ itemId: 'A' }] }),
    // a click before the list was served is not caused by it
    event('e10', 'Product Clicked', t('08:00'), { profileId: 'p2', items: [{ itemId: 'D' }] }),
  ];

  const report = buildAbReport(DAY, served, events, { attributionHours: 24, now: new Date('2026-10-07T03:00:00Z') });

  it('reports lists, clicks and purchases per variant with the documented attribution rule', () => {
    // Assess
    expect(report.variants.champion).toMatchObject({
      lists: 2,
      shoppers: 2,
      modelVersions: ['v1'],
      impressions: 1,
      clickedLists: 1,
      purchasedLists: 1,
      clicks: 1,
      orders: 1,
      revenue: 20,
      clickRate: 0.5,
      purchaseRate: 0.5,
      clickRatePerImpression: 1,
      attributed: { explicit: 1, implicit: 1 },
    });
    expect(report.variants.challenger).toMatchObject({
      lists: 3,
      shoppers: 3,
      modelVersions: ['v2'],
      impressions: 0,
      clickedLists: 2,
      purchasedLists: 1,
      clicks: 2,
      orders: 1,
      revenue: 35.5,
      clickRatePerImpression: null,
      attributed: { explicit: 1, implicit: 2 },
    });
    expect(report.variants.challenger.clickRate).toBeCloseTo(2 / 3, 10);
    expect(report.rule).toMatch(/recommendation_id/);
  });

  it('compares rates with a two-proportion z-test', () => {
    // Assess
    expect(report.comparison.clickRate.difference).toBeCloseTo(2 / 3 - 0.5, 10);
    // Known values: 45/100 vs 60/100 → z ≈ 2.124, p ≈ 0.0337
    const c = compareRates(45, 100, 60, 100);
    expect(c.z).toBeCloseTo(2.1239, 3);
    expect(c.pValue).toBeCloseTo(0.0337, 3);
    expect(compareRates(1, 0, 1, 10).z).toBeNull();
  });

  it('by default reports the latest day whose attribution window has closed', () => {
    expect(defaultReportDay(new Date('2026-10-07T03:00:00Z'), 24)).toBe('2026-10-05');
  });
});
