/**
 * The snapshot tables of the model families beyond the recommender, built in the same pass over the
 * run's events as the interactions (shared/snapshots/snapshot.ts):
 *
 * - sequences (`sequences.ndjson.gz`): one line per shopper, `{ p, e: [{ ts, t, c, i?, o? }] }`, the
 *   shopper's canonical events in time order (identity plumbing — identify, alias, group — and
 *   duplicate purchases of an order already seen left out);
 * - orders (`orders.ndjson.gz`): one line per order event, in time order: purchases (`k: 'purchase'`,
 *   one row per order id: a second purchase event with the same order id is a duplicate and dropped),
 *   refunds (`k: 'refund'`) and cancellations (`k: 'cancel'`) with negative amounts and quantities;
 * - item daily (`item-daily.ndjson.gz`): sparse rows per item × UTC day × channel with sales, returns,
 *   views, carts and observed prices; a row exists only where something happened, and the manifest's
 *   `window` names every day of the window, so a day without a row is a day with zero of everything.
 *
 * Every amount is as sent (the shop's currency); sums are rounded to 6 decimals. Rows are written in
 * a fixed order (shoppers and items by code-unit order of their ids, days ascending, channels by
 * code-unit order; orders and sequence events in input order), so the same events give the same bytes.
 */
import type { CanonicalEvent, CanonicalType, EventItem } from '../events/canonical';

export const DAY_MS = 86_400_000;

/** Event types that only carry identity (who is who), not behaviour: not part of a sequence. */
const IDENTITY_TYPES: ReadonlySet<CanonicalType> = new Set<CanonicalType>(['identify', 'alias', 'group']);

/** One event of a shopper's sequence. */
export interface SequenceEvent {
  /** epoch ms */
  ts: number;
  /** canonical type */
  t: CanonicalType;
  /** channel */
  c: string;
  /** item ids, in the event's order (absent when the event names no item) */
  i?: string[];
  /** order id (purchase, refund, cancellation, order update) */
  o?: string;
}

/** One line of sequences.ndjson.gz: a shopper (after merge redirects) and their events in time order. */
export interface ShopperSequence {
  /** profile id */
  p: string;
  /** events, oldest first */
  e: SequenceEvent[];
}

export type OrderKind = 'purchase' | 'refund' | 'cancel';

export interface OrderLine {
  /** item id */
  i: string;
  /** quantity (1 when the event gave none); negative on refund and cancellation rows */
  q: number;
  /** unit price as sent (absent when the event gave none) */
  up?: number;
}

/** One line of orders.ndjson.gz. */
export interface OrderRow {
  /** order id (the event id when the event carried none) */
  o: string;
  k: OrderKind;
  /** profile id of the event (after merge redirects) */
  p: string;
  /** epoch ms */
  ts: number;
  /** channel */
  c: string;
  /**
   * The order's revenue/total as sent, else Σ q × up over the lines with a unit price; absent when
   * neither is known. Negative on refund and cancellation rows.
   */
  r?: number;
  /** currency, when the event carries one */
  cur?: string;
  /** coupon code or id, when the event carries one */
  cp?: string;
  /** order-level discount, when the event carries one */
  dc?: number;
  /** item lines (empty when a refund or cancellation names neither lines nor a known order) */
  l: OrderLine[];
}

/** One line of item-daily.ndjson.gz: one item on one UTC day in one channel. Counters are never absent (0 when nothing happened). */
export interface ItemDayRow {
  /** item id */
  i: string;
  /** UTC day, YYYY-MM-DD */
  d: string;
  /** channel */
  c: string;
  /** units sold (purchase lines; quantity 1 when the line gave none) */
  u: number;
  /** revenue: Σ quantity × unit price over the purchase lines that carry a unit price */
  r: number;
  /** mean price paid, unit-weighted (r ÷ units of the priced lines); absent when no line carried a price */
  p?: number;
  /** orders with this item */
  o: number;
  /** orders with this item that carried a coupon (promotion flag); absent when none */
  po?: number;
  /** product views (events naming the item) */
  v: number;
  /** add-to-cart events naming the item */
  a: number;
  /** mean price shown on the views and add-to-carts that carry one (event-weighted): the observed price on days without sales; absent when none did */
  vp?: number;
  /** units refunded or cancelled on this day in this channel (positive); absent when none */
  ru?: number;
  /** revenue refunded or cancelled (positive, priced lines only); absent when none */
  rr?: number;
}

/** The UTC days a snapshot covers: from the day of its first event (the asOf day when there is none) to the asOf day, which is cut at asOf. */
export interface SnapshotWindow {
  firstDay: string;
  lastDay: string;
  /** number of days, both ends included */
  days: number;
}

interface Cell {
  u: number;
  r: number;
  pricedUnits: number;
  o: number;
  po: number;
  v: number;
  a: number;
  shownSum: number;
  shownCount: number;
  ru: number;
  rr: number;
  /** The last order or event counted in `o`, `v` or `a`: an order or event naming the item twice counts once. */
  last?: unknown;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const dayIso = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

function lineOf(item: EventItem): OrderLine {
  const line: OrderLine = { i: item.itemId, q: item.quantity ?? 1 };
  if (item.price !== undefined) line.up = item.price;
  return line;
}

function linesTotal(lines: readonly OrderLine[]): number | undefined {
  let total: number | undefined;
  for (const line of lines) if (line.up !== undefined) total = (total ?? 0) + line.q * line.up;
  return total === undefined ? undefined : round6(total);
}

/** Fields of a raw event line that normalise does not set today but an importer may (kept when present). */
type OrderExtras = { currency?: unknown; discount?: unknown };

/**
 * Accumulates the tables one event at a time. Feed it the snapshot's events in time order (as
 * readRawEvents returns them), after suppression and merge redirects, and only those at or before
 * asOf: it does not filter.
 */
export class SnapshotTablesBuilder {
  /** profile id → its events and their times (references to the input: the steps are made when written). */
  private readonly sequences = new Map<string, { events: CanonicalEvent[]; ts: number[] }>();
  private sequenceEventCount = 0;
  readonly orders: OrderRow[] = [];
  private readonly purchases = new Map<string, OrderRow>();
  private duplicates = 0;
  private refunds = 0;
  /** item → day number → cells by channel index (one Map lookup per item line; channels are few). */
  private readonly cells = new Map<string, Map<number, (Cell | undefined)[]>>();
  private readonly channelIndex = new Map<string, number>();
  private cellCount = 0;
  private firstDay: number | undefined;

  constructor(private readonly asOfMs: number) {}

  add(event: CanonicalEvent, ts: number): void {
    const day = Math.floor(ts / DAY_MS);
    if (this.firstDay === undefined || day < this.firstDay) this.firstDay = day;
    switch (event.type) {
      case 'purchase':
        // A purchase whose order id was already seen is the same order captured twice: left out everywhere.
        if (!this.addPurchase(event, ts, day)) return;
        break;
      case 'refund':
      case 'order_cancel':
        this.addReturn(event, ts, day, event.type === 'refund' ? 'refund' : 'cancel');
        break;
      case 'view':
      case 'add_to_cart':
        this.addBrowse(event, day);
        break;
      default:
    }
    this.addToSequence(event, ts);
  }

  private addToSequence(event: CanonicalEvent, ts: number): void {
    if (IDENTITY_TYPES.has(event.type)) return;
    const list = this.sequences.get(event.profileId);
    if (list) {
      list.events.push(event);
      list.ts.push(ts);
    } else {
      this.sequences.set(event.profileId, { events: [event], ts: [ts] });
    }
    this.sequenceEventCount += 1;
  }

  private cell(itemId: string, day: number, channel: string): Cell {
    let days = this.cells.get(itemId);
    if (!days) {
      days = new Map();
      this.cells.set(itemId, days);
    }
    let byChannel = days.get(day);
    if (!byChannel) {
      byChannel = [];
      days.set(day, byChannel);
    }
    let index = this.channelIndex.get(channel);
    if (index === undefined) {
      index = this.channelIndex.size;
      this.channelIndex.set(channel, index);
    }
    let cell = byChannel[index];
    if (!cell) {
      cell = { u: 0, r: 0, pricedUnits: 0, o: 0, po: 0, v: 0, a: 0, shownSum: 0, shownCount: 0, ru: 0, rr: 0 };
      byChannel[index] = cell;
      this.cellCount += 1;
    }
    return cell;
  }

  private orderRow(event: CanonicalEvent, ts: number, id: string, kind: OrderKind, r: number | undefined, lines: OrderLine[]): OrderRow {
    const extras = event as CanonicalEvent & OrderExtras;
    return {
      o: id,
      k: kind,
      p: event.profileId,
      ts,
      c: event.channel,
      ...(r !== undefined ? { r } : {}),
      ...(typeof extras.currency === 'string' && extras.currency !== '' ? { cur: extras.currency } : {}),
      ...(event.coupon ? { cp: event.coupon } : {}),
      ...(typeof extras.discount === 'number' && Number.isFinite(extras.discount) ? { dc: extras.discount } : {}),
      l: lines,
    };
  }

  /** False when the order id was already seen (a duplicate, not counted). */
  private addPurchase(event: CanonicalEvent, ts: number, day: number): boolean {
    const id = event.orderId ?? event.eventId;
    if (event.orderId !== undefined && this.purchases.has(id)) {
      this.duplicates += 1;
      return false;
    }
    const lines = event.items.map(lineOf);
    const row = this.orderRow(event, ts, id, 'purchase', event.revenue ?? linesTotal(lines), lines);
    this.orders.push(row);
    if (event.orderId !== undefined) this.purchases.set(id, row);
    for (const line of lines) {
      const cell = this.cell(line.i, day, event.channel);
      cell.u += line.q;
      if (line.up !== undefined) {
        cell.r += line.q * line.up;
        cell.pricedUnits += line.q;
      }
      if (cell.last !== row) {
        cell.last = row;
        cell.o += 1;
        if (row.cp) cell.po += 1;
      }
    }
    return true;
  }

  /**
   * A refund or cancellation: its own lines (quantity and unit price taken from the original order's
   * line when the event leaves them out); without lines, the whole original order when the event
   * names no amount or the order's amount, else an amount-only row.
   */
  private addReturn(event: CanonicalEvent, ts: number, day: number, kind: 'refund' | 'cancel'): void {
    const original = event.orderId !== undefined ? this.purchases.get(event.orderId) : undefined;
    const whole = event.items.length === 0 && original !== undefined && (event.revenue === undefined || Math.abs(event.revenue) === original.r);
    let lines: OrderLine[] = [];
    if (whole) {
      lines = original.l.map((line) => ({ ...line, q: -line.q }));
    } else if (event.items.length > 0) {
      const bought = new Map((original?.l ?? []).map((line) => [line.i, line]));
      lines = event.items.map((item) => {
        const base = bought.get(item.itemId);
        const line: OrderLine = { i: item.itemId, q: -Math.abs(item.quantity ?? base?.q ?? 1) };
        const up = item.price ?? base?.up;
        if (up !== undefined) line.up = up;
        return line;
      });
    }
    let r: number | undefined;
    if (event.revenue !== undefined) r = -Math.abs(event.revenue);
    else if (whole) r = original.r === undefined ? undefined : -original.r;
    else r = linesTotal(lines);
    this.orders.push(this.orderRow(event, ts, event.orderId ?? event.eventId, kind, r, lines));
    this.refunds += 1;
    for (const line of lines) {
      const cell = this.cell(line.i, day, event.channel);
      cell.ru -= line.q;
      if (line.up !== undefined) cell.rr -= line.q * line.up;
    }
  }

  private addBrowse(event: CanonicalEvent, day: number): void {
    for (const item of event.items) {
      const cell = this.cell(item.itemId, day, event.channel);
      if (cell.last !== event) {
        cell.last = event;
        if (event.type === 'view') cell.v += 1;
        else cell.a += 1;
        if (item.price !== undefined) {
          cell.shownSum += item.price;
          cell.shownCount += 1;
        }
      }
    }
  }

  get counts() {
    return {
      sequences: this.sequences.size,
      sequenceEvents: this.sequenceEventCount,
      orders: this.orders.length - this.refunds,
      refunds: this.refunds,
      duplicateOrders: this.duplicates,
      itemDays: this.cellCount,
    };
  }

  window(): SnapshotWindow {
    const last = Math.floor(this.asOfMs / DAY_MS);
    const first = Math.min(this.firstDay ?? last, last);
    return { firstDay: dayIso(first), lastDay: dayIso(last), days: last - first + 1 };
  }

  /** Shoppers by profile id, one at a time (each row is made as it is read). */
  *sequenceRows(): Generator<ShopperSequence> {
    for (const p of [...this.sequences.keys()].sort(byCodeUnit)) {
      const { events, ts } = this.sequences.get(p) as { events: CanonicalEvent[]; ts: number[] };
      yield { p, e: events.map((event, k) => sequenceEvent(event, ts[k] as number)) };
    }
  }

  /** Items by id, then days, then channels, one row at a time. */
  *itemDayRows(): Generator<ItemDayRow> {
    const channels = [...this.channelIndex].sort(([a], [b]) => byCodeUnit(a, b));
    const isoDays = new Map<number, string>();
    for (const itemId of [...this.cells.keys()].sort(byCodeUnit)) {
      const byDay = this.cells.get(itemId) as Map<number, (Cell | undefined)[]>;
      for (const day of [...byDay.keys()].sort((a, b) => a - b)) {
        let d = isoDays.get(day);
        if (d === undefined) {
          d = dayIso(day);
          isoDays.set(day, d);
        }
        const byChannel = byDay.get(day) as (Cell | undefined)[];
        for (const [channel, index] of channels) {
          const cell = byChannel[index];
          if (cell) yield itemDayRow(itemId, d, channel, cell);
        }
      }
    }
  }
}

function sequenceEvent(event: CanonicalEvent, ts: number): SequenceEvent {
  const step: SequenceEvent = { ts, t: event.type, c: event.channel };
  if (event.items.length > 0) step.i = event.items.map((item) => item.itemId);
  if (event.orderId) step.o = event.orderId;
  return step;
}

/** Plain assignments in the order of the JSON keys (no object spread: this runs once per row). */
function itemDayRow(i: string, d: string, c: string, cell: Cell): ItemDayRow {
  const row = { i, d, c, u: cell.u, r: round6(cell.r) } as ItemDayRow;
  if (cell.pricedUnits !== 0) row.p = round6(cell.r / cell.pricedUnits);
  row.o = cell.o;
  if (cell.po > 0) row.po = cell.po;
  row.v = cell.v;
  row.a = cell.a;
  if (cell.shownCount > 0) row.vp = round6(cell.shownSum / cell.shownCount);
  if (cell.ru !== 0) row.ru = cell.ru;
  if (cell.rr !== 0) row.rr = round6(cell.rr);
  return row;
}

/** Every UTC day of a window, in order. */
export function windowDays(window: SnapshotWindow): string[] {
  const first = Math.floor(Date.parse(`${window.firstDay}T00:00:00.000Z`) / DAY_MS);
  return Array.from({ length: window.days }, (_, k) => dayIso(first + k));
}
