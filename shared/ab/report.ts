/**
 * The daily A/B report: click and purchase rates per variant (champion / challenger) of the lists
 * served on one day, from the served lists (serving/recommendations/) and the raw events (raw/events/).
 *
 * Attribution rule (one list per outcome, first match wins):
 *  1. Explicit — an event carrying the list's recommendation id (`properties.recommendation_id`; on a
 *     canonical event `recommendationId` or `properties.recommendation_id`) within the window after the
 *     list was served: 'Product List Viewed' confirms the impression, 'Product Clicked' is a click,
 *     'Order Completed' a purchase (its revenue is counted).
 *  2. Implicit — without an id, a 'Product Clicked' or 'Order Completed' event of the same shopper
 *     (same profile id, user id or anonymous id as the list) for an item that was on one of the shopper's
 *     lists served in the previous AB_ATTRIBUTION_HOURS (default 24) is attributed to the most recent
 *     such list.
 * A list counts once as clicked and once as purchased however many events match. Rates are over
 * served lists; over confirmed impressions too when 'Product List Viewed' events arrive.
 */
import { readRawEvents } from '../capture/raw-events';
import { daysBetween, readServed, type ServedRecord } from '../recommend/served-log';
import type { ObjectStore } from '../storage/object-store';
import type { Variant } from '../recommend/ab-assignment';

export const AB_REPORTS_PREFIX = 'reports/ab/';

/** The fields of a raw (canonical) event the attribution reads. */
export interface AttributableEvent {
  eventId: string;
  type: string;
  name?: string;
  profileId?: string;
  userId?: string;
  anonymousId?: string;
  timestamp: string;
  items: { itemId: string }[];
  revenue?: number;
  recommendationId?: string;
  properties?: { recommendation_id?: unknown };
}

export interface VariantStats {
  lists: number;
  shoppers: number;
  modelVersions: string[];
  /** Lists with a confirmed impression ('Product List Viewed' with their id). */
  impressions: number;
  clickedLists: number;
  purchasedLists: number;
  clicks: number;
  orders: number;
  revenue: number;
  clickRate: number;
  purchaseRate: number;
  /** Over confirmed impressions (null when none were reported). */
  clickRatePerImpression: number | null;
  attributed: { explicit: number; implicit: number };
}

export interface RateComparison {
  champion: number;
  challenger: number;
  /** challenger − champion. */
  difference: number;
  /** Two-proportion z-test (pooled); null when a variant has no lists. */
  z: number | null;
  pValue: number | null;
}

export interface AbReport {
  day: string;
  generatedAt: string;
  attributionHours: number;
  rule: string;
  variants: Record<Variant, VariantStats>;
  comparison: { clickRate: RateComparison; purchaseRate: RateComparison };
}

const CLICK = 'Product Clicked';
const ORDER = 'Order Completed';
const LIST_VIEWED = 'Product List Viewed';

export const ATTRIBUTION_RULE =
  'explicit recommendation_id within the window, else the same shopper acting on an item of one of their lists served in the previous N hours (most recent list); each list counted once per outcome';

function recommendationIdOf(e: AttributableEvent): string | undefined {
  const id = e.recommendationId ?? e.properties?.recommendation_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

const subjectKeys = (x: { profileId?: string | undefined; userId?: string | undefined; anonymousId?: string | undefined }) => [
  ...(x.profileId ? [`p:${x.profileId}`] : []),
  ...(x.userId ? [`u:${x.userId}`] : []),
  ...(x.anonymousId ? [`a:${x.anonymousId}`] : []),
];

/** Standard normal CDF (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7): four lines, no stats library needed. */
function normalCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export function compareRates(successA: number, nA: number, successB: number, nB: number): RateComparison {
  const pA = nA > 0 ? successA / nA : 0;
  const pB = nB > 0 ? successB / nB : 0;
  const out: RateComparison = { champion: pA, challenger: pB, difference: pB - pA, z: null, pValue: null };
  if (nA === 0 || nB === 0) return out;
  const pooled = (successA + successB) / (nA + nB);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / nA + 1 / nB));
  if (se === 0) return { ...out, z: 0, pValue: 1 };
  const z = (pB - pA) / se;
  return { ...out, z, pValue: 2 * (1 - normalCdf(Math.abs(z))) };
}

interface ListState {
  record: ServedRecord;
  servedMs: number;
  items: Set<string>;
  impression: boolean;
  clicked: boolean;
  purchased: boolean;
  clicks: number;
  orders: number;
  revenue: number;
  explicit: number;
  implicit: number;
}

function indexLists(served: readonly ServedRecord[]) {
  const lists = new Map<string, ListState>();
  const bySubject = new Map<string, ListState[]>();
  for (const record of served) {
    const state: ListState = {
      record,
      servedMs: Date.parse(record.servedAt),
      items: new Set(record.items.map((i) => i.itemId)),
      impression: false,
      clicked: false,
      purchased: false,
      clicks: 0,
      orders: 0,
      revenue: 0,
      explicit: 0,
      implicit: 0,
    };
    lists.set(record.recommendationId, state);
    for (const key of subjectKeys(record)) (bySubject.get(key) ?? bySubject.set(key, []).get(key))?.push(state);
  }
  return { lists, bySubject };
}

/** Rule 2: the most recent list of this shopper within the window holding one of the event's items. */
function implicitMatch(event: AttributableEvent, at: number, bySubject: ReadonlyMap<string, ListState[]>, windowMs: number): ListState | undefined {
  let match: ListState | undefined;
  for (const key of subjectKeys(event)) {
    for (const list of bySubject.get(key) ?? []) {
      if (list.servedMs > at || at - list.servedMs > windowMs) continue;
      if (!event.items.some((i) => list.items.has(i.itemId))) continue;
      if (!match || list.servedMs > match.servedMs) match = list;
    }
  }
  return match;
}

function credit(list: ListState, event: AttributableEvent, kind: 'click' | 'order', how: 'explicit' | 'implicit'): void {
  list[how] += 1;
  if (kind === 'click') {
    list.clicks += 1;
    list.clicked = true;
  } else {
    list.orders += 1;
    list.revenue += event.revenue ?? 0;
    list.purchased = true;
  }
}

/** Applies the attribution rule to every event once (de-duplicated by event id, in time order). */
function attribute(
  events: readonly AttributableEvent[],
  lists: ReadonlyMap<string, ListState>,
  bySubject: ReadonlyMap<string, ListState[]>,
  windowMs: number,
): void {
  const seen = new Set<string>();
  const sorted = [...events].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  for (const event of sorted) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    const name = event.name ?? '';
    const kind = name === CLICK ? 'click' : name === ORDER || event.type === 'purchase' ? 'order' : undefined;
    const at = Date.parse(event.timestamp);
    const explicitId = recommendationIdOf(event);
    if (explicitId) {
      // A minute of clock skew before the list was served is tolerated.
      const list = lists.get(explicitId);
      if (!list || at < list.servedMs - 60_000 || at > list.servedMs + windowMs) continue;
      if (name === LIST_VIEWED) list.impression = true;
      if (kind) credit(list, event, kind, 'explicit');
      continue;
    }
    const match = kind ? implicitMatch(event, at, bySubject, windowMs) : undefined;
    if (match && kind) credit(match, event, kind, 'implicit');
  }
}

const emptyStats = (): VariantStats => ({
  lists: 0,
  shoppers: 0,
  modelVersions: [],
  impressions: 0,
  clickedLists: 0,
  purchasedLists: 0,
  clicks: 0,
  orders: 0,
  revenue: 0,
  clickRate: 0,
  purchaseRate: 0,
  clickRatePerImpression: null,
  attributed: { explicit: 0, implicit: 0 },
});

/** Per-variant totals of the lists served on `day`. */
function summarise(day: string, lists: Iterable<ListState>): Record<Variant, VariantStats> {
  const variants: Record<Variant, VariantStats> = { champion: emptyStats(), challenger: emptyStats() };
  const shoppers: Record<Variant, Set<string>> = { champion: new Set(), challenger: new Set() };
  const versions: Record<Variant, Set<string>> = { champion: new Set(), challenger: new Set() };
  const clickedImpressions: Record<Variant, number> = { champion: 0, challenger: 0 };
  for (const list of lists) {
    if (list.record.servedAt.slice(0, 10) !== day) continue;
    const variant = list.record.variant;
    const v = variants[variant];
    v.lists += 1;
    const subject = list.record.profileId ?? list.record.anonymousId ?? list.record.userId;
    if (subject) shoppers[variant].add(subject);
    versions[variant].add(list.record.modelVersion);
    v.impressions += list.impression ? 1 : 0;
    clickedImpressions[variant] += list.impression && list.clicked ? 1 : 0;
    v.clickedLists += list.clicked ? 1 : 0;
    v.purchasedLists += list.purchased ? 1 : 0;
    v.clicks += list.clicks;
    v.orders += list.orders;
    v.revenue += list.revenue;
    v.attributed.explicit += list.explicit;
    v.attributed.implicit += list.implicit;
  }
  for (const name of ['champion', 'challenger'] as const) {
    const v = variants[name];
    v.shoppers = shoppers[name].size;
    v.modelVersions = [...versions[name]].sort();
    v.revenue = Math.round(v.revenue * 100) / 100;
    v.clickRate = v.lists > 0 ? v.clickedLists / v.lists : 0;
    v.purchaseRate = v.lists > 0 ? v.purchasedLists / v.lists : 0;
    v.clickRatePerImpression = v.impressions > 0 ? clickedImpressions[name] / v.impressions : null;
  }
  return variants;
}

/**
 * Attributes events to the lists served on `day` (records of the previous day may be passed too: they
 * only serve as implicit-attribution candidates and are not reported).
 */
export function buildAbReport(
  day: string,
  served: readonly ServedRecord[],
  events: readonly AttributableEvent[],
  options: { attributionHours: number; now?: Date },
): AbReport {
  const { lists, bySubject } = indexLists(served);
  for (const candidates of bySubject.values()) candidates.sort((a, b) => a.servedMs - b.servedMs);
  attribute(events, lists, bySubject, options.attributionHours * 3_600_000);
  const variants = summarise(day, lists.values());
  const { champion: a, challenger: b } = variants;
  return {
    day,
    generatedAt: (options.now ?? new Date()).toISOString(),
    attributionHours: options.attributionHours,
    rule: ATTRIBUTION_RULE,
    variants,
    comparison: {
      clickRate: compareRates(a.clickedLists, a.lists, b.clickedLists, b.lists),
      purchaseRate: compareRates(a.purchasedLists, a.lists, b.purchasedLists, b.lists),
    },
  };
}

export const abReportKey = (day: string) => `${AB_REPORTS_PREFIX}dt=${day}.json`;

/** The latest day whose attribution window has closed at `now`. */
export function defaultReportDay(now: Date, attributionHours: number): string {
  return new Date(now.getTime() - attributionHours * 3_600_000 - 86_400_000).toISOString().slice(0, 10);
}

const addDays = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

/**
 * Reads the lists served on `day` (and the day before, as implicit-attribution candidates) and the raw
 * events from `day` to the end of the window, writes `reports/ab/dt=<day>.json` (overwritten on a re-run).
 */
export async function runAbReport(
  blobs: ObjectStore,
  options: { day: string; attributionHours: number; now?: Date },
): Promise<{ key: string; report: AbReport }> {
  const { day, attributionHours } = options;
  const lastEventDay = addDays(day, Math.ceil(attributionHours / 24));
  const [served, events] = await Promise.all([readServed(blobs, addDays(day, -1), day), readRawEvents(blobs, { fromDay: day, toDay: lastEventDay })]);
  const report = buildAbReport(day, served, events as unknown as AttributableEvent[], { attributionHours, ...(options.now ? { now: options.now } : {}) });
  const key = abReportKey(day);
  await blobs.putJson(key, {
    ...report,
    inputs: { servedDays: daysBetween(addDays(day, -1), day), eventDays: daysBetween(day, lastEventDay), served: served.length, events: events.length },
  });
  return { key, report };
}
