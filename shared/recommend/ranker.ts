/**
 * Turns a score per model item into the answer: filters (category, price range, channel), exclusions
 * (bought, already seen, out of stock, withdrawn), category boosts and burials, a per-category
 * diversity cap, promotion slots and new-item exploration slots.
 *
 * Everything here is synchronous: exclusions live in the view's epoch-stamped scratch array, so no
 * await may run between `beginExclusions` and the end of `rank`.
 */
import type { CatalogItem } from '../catalog/item';
import type { BusinessRules } from './rules';
import { beginExclusions, type ColdItem, channelBit, excludeIndex, type ServingView } from './view';

export interface Filters {
  category?: string;
  minPrice?: number;
  maxPrice?: number;
  channel?: string;
}

export type Source = 'model' | 'popular' | 'promotion' | 'new' | 'content';

export interface RankedItem {
  itemId: string;
  /** Model index, when the model knows the item. */
  index?: number;
  score: number;
  source: Source;
  category?: string;
  /** For `new` items: the content similarity that chose it (0 = explored at random). */
  contentScore?: number;
}

export interface RankRequest {
  view: ServingView;
  /** One score per model item (model output, or popularity for the cold start). */
  scores: ArrayLike<number>;
  source: 'model' | 'popular';
  k: number;
  filters: Filters;
  /** Item ids never to return (bought, seen, the anchor of /similar). */
  exclude: Iterable<string>;
  /** Undefined = no cap. */
  maxPerCategory?: number;
  rules: BusinessRules;
  /** Apply the rules' promotion slots. */
  promotions: boolean;
  /** New-item exploration; `score` ranks eligible new items (e.g. content similarity to the history). */
  newItems?: { share: number; maxAgeDays: number; nowMs: number; rng: () => number; score?: (item: CatalogItem) => number };
  /** Only items scoring above this are taken from the model (e.g. 0 for /similar). */
  minScore?: number;
  /** Orders equal scores (popularity); model items without a positive score are then labelled `popular`. */
  tieBreak?: ArrayLike<number>;
  /**
   * Indices that may score non-zero (a sparse model's neighbours of the history): every other item
   * scores exactly 0. Lets the ranking skip the O(N) scan; requires `tieBreak` to be the model's
   * popularity (zero-score items are then taken in `popularOrder`).
   */
  support?: ArrayLike<number> & Iterable<number>;
}

/** New-item exploration considers at most this many of the newest eligible items (bounded work per request). */
export const NEW_ITEM_POOL = 100;

/** 32-bit FNV-1a of a string (seeds the per-recommendation PRNG). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The request's filters and the rules as plain values: the hot loops read these, never closures. */
interface Plan {
  epoch: number;
  wantCategory: number;
  priceFiltered: boolean;
  min: number;
  max: number;
  bit: number;
  boosted: boolean;
  boosts: Float64Array;
  /** The largest boost: bounds how much any score can grow. */
  maxBoost: number;
  hasBurials: boolean;
  burials: Uint8Array;
  excludedIds: ReadonlySet<string>;
}

/** Category boosts and burials of one rules object, as arrays indexed by the view's category ids. */
interface RuleTables {
  boosted: boolean;
  boosts: Float64Array;
  maxBoost: number;
  hasBurials: boolean;
  burials: Uint8Array;
}

/**
 * Per-view scratch, reused by every request: the ranking is synchronous, so one request owns it from
 * `rank` to its return. Nothing here is of catalogue size except the category counters; the selection
 * heap grows to the largest pass seen.
 */
interface Scratch {
  hs: Float64Array;
  ht: Float64Array;
  hi: Int32Array;
  /** Per-category counts for the diversity cap; valid where `catStamp[c] === view.epoch`. */
  catCount: Int32Array;
  catStamp: Uint32Array;
  rules: WeakMap<BusinessRules, RuleTables>;
}

const scratches = new WeakMap<ServingView, Scratch>();

function scratchOf(view: ServingView): Scratch {
  let s = scratches.get(view);
  const categories = view.categoryNames.length + 1;
  if (!s || s.catCount.length < categories) {
    s = {
      hs: s?.hs ?? new Float64Array(256),
      ht: s?.ht ?? new Float64Array(256),
      hi: s?.hi ?? new Int32Array(256),
      catCount: new Int32Array(categories),
      catStamp: new Uint32Array(categories),
      // Rule tables are indexed by category id: rebuilt for the new category count.
      rules: new WeakMap(),
    };
    scratches.set(view, s);
  }
  return s;
}

function heapOf(s: Scratch, m: number): Scratch {
  if (s.hi.length < m) {
    const size = Math.max(m, s.hi.length * 2);
    s.hs = new Float64Array(size);
    s.ht = new Float64Array(size);
    s.hi = new Int32Array(size);
  }
  return s;
}

function ruleTables(view: ServingView, rules: BusinessRules): RuleTables {
  const scratch = scratchOf(view);
  let t = scratch.rules.get(rules);
  if (t) return t;
  const boosts = new Float64Array(view.categoryNames.length + 1).fill(1);
  const burials = new Uint8Array(view.categoryNames.length + 1);
  let boosted = false;
  let hasBurials = false;
  for (const [name, rule] of Object.entries(rules.categories)) {
    const id = view.categoryIds.get(name);
    if (id === undefined) continue;
    if (rule.boost !== undefined && rule.boost !== 1) {
      boosts[id] = rule.boost;
      boosted = true;
    }
    if (rule.bury) {
      burials[id] = 1;
      hasBurials = true;
    }
  }
  let maxBoost = 1;
  if (boosted) for (let b = 0; b < boosts.length; b++) maxBoost = Math.max(maxBoost, boosts[b]!);
  t = { boosted, boosts, maxBoost, hasBurials, burials };
  scratch.rules.set(rules, t);
  return t;
}

function compile(req: Pick<RankRequest, 'view' | 'filters' | 'rules'>, excludedIds: ReadonlySet<string>): Plan {
  const { view, filters } = req;
  return {
    epoch: view.epoch,
    wantCategory: filters.category === undefined ? -1 : (view.categoryIds.get(filters.category) ?? -2),
    priceFiltered: filters.minPrice !== undefined || filters.maxPrice !== undefined,
    min: filters.minPrice ?? Number.NEGATIVE_INFINITY,
    max: filters.maxPrice ?? Number.POSITIVE_INFINITY,
    bit: filters.channel ? channelBit(filters.channel) : 0,
    ...ruleTables(view, req.rules),
    excludedIds,
  };
}

/** Category, price range and channel (not exclusions, stock or burial). */
function passesFilters(p: Plan, cat: number, price: number, channels: number): boolean {
  return (
    (p.wantCategory === -1 || cat === p.wantCategory) && (!p.priceFiltered || (price >= p.min && price <= p.max)) && (p.bit === 0 || (channels & p.bit) !== 0)
  );
}

/** A model item that may be returned: available, not excluded, passes the filters. */
function accepts(view: ServingView, p: Plan, i: number): boolean {
  return view.available[i] === 1 && view.stamp[i] !== p.epoch && passesFilters(p, view.category[i]!, view.price[i]!, view.channels[i]!);
}

/** A catalogue-only item (unknown to the model) that may be returned. */
function acceptsItem(p: Plan, item: CatalogItem, cat: number, channels: number): boolean {
  return !p.excludedIds.has(item.itemId) && passesFilters(p, cat, item.price, channels);
}

const isBuried = (p: Plan, cat: number) => p.hasBurials && cat >= 0 && p.burials[cat] === 1;

function adjust(view: ServingView, p: Plan, i: number, s: number): number {
  if (!p.boosted) return s;
  const c = view.category[i]!;
  const b = c >= 0 ? p.boosts[c]! : 1;
  return s >= 0 ? s * b : s / b;
}

/** a ranks below b: lower adjusted score, then lower tie-break, then higher index. */
const worse = (hs: Float64Array, ht: Float64Array, hi: Int32Array, a: number, b: number) =>
  hs[a]! < hs[b]! || (hs[a] === hs[b] && (ht[a]! < ht[b]! || (ht[a] === ht[b] && hi[a]! > hi[b]!)));

/** Restores the min-heap (worst at the root) below position p of a heap of `size` entries. */
function siftDown(hs: Float64Array, ht: Float64Array, hi: Int32Array, p: number, size: number): void {
  const s = hs[p]!;
  const t = ht[p]!;
  const i = hi[p]!;
  for (;;) {
    const l = 2 * p + 1;
    if (l >= size) break;
    const r = l + 1;
    const ch = r < size && worse(hs, ht, hi, r, l) ? r : l;
    // Stop when that child is not worse than the entry moving down.
    if (!(hs[ch]! < s || (hs[ch] === s && (ht[ch]! < t || (ht[ch] === t && hi[ch]! > i))))) break;
    hs[p] = hs[ch]!;
    ht[p] = ht[ch]!;
    hi[p] = hi[ch]!;
    p = ch;
  }
  hs[p] = s;
  ht[p] = t;
  hi[p] = i;
}

/**
 * The m best accepted indices of one burial tier by adjusted score, in one pass with a size-m min-heap
 * kept in the view's scratch, then sorted in place (best first). Returns how many were found: they
 * are `scratch.hi[0..count)` with their adjusted scores in `scratch.hs`. Ties (e.g. the many zero
 * scores of a sparse model) are broken by `tie` (popularity) when given, then by lower index.
 *
 * This loop may run over every model item: filters are inlined array reads, and once the heap is full
 * an item that cannot beat its worst entry is dropped before any other check. With `sortedDomain` (the
 * domain lists items by non-increasing score: the cold start walks `popularOrder` over popularity) the
 * pass stops at the first item that cannot enter, since none after it can.
 */
function topAccepted(
  view: ServingView,
  domain: ArrayLike<number> | undefined,
  sortedDomain: boolean,
  scores: ArrayLike<number>,
  m: number,
  p: Plan,
  buriedTier: boolean,
  minScore: number,
  tie: ArrayLike<number> | undefined,
): number {
  const { hs, ht, hi } = heapOf(scratchOf(view), m);
  let size = 0;
  const { available, stamp, category, price, channels } = view;
  const { epoch, wantCategory, priceFiltered, min, max, bit, boosted, boosts, maxBoost, hasBurials, burials } = p;
  const hasTie = tie !== undefined;
  const count = domain ? domain.length : view.n;
  for (let d = 0; d < count; d++) {
    const i = domain ? domain[d]! : d;
    const raw = scores[i]!;
    if (!(raw > minScore)) continue;
    // Early exit: a full heap whose worst entry this item cannot beat (ties may still win on the tie-break).
    if (size === m && (raw >= 0 ? raw * maxBoost : raw / maxBoost) < hs[0]!) {
      if (sortedDomain) break;
      continue;
    }
    if (available[i] !== 1 || stamp[i] === epoch) continue;
    const cat = category[i]!;
    if (wantCategory !== -1 && cat !== wantCategory) continue;
    if (priceFiltered) {
      const pr = price[i]!;
      if (!(pr >= min && pr <= max)) continue;
    }
    if (bit !== 0 && (channels[i]! & bit) === 0) continue;
    if ((hasBurials && cat >= 0 && burials[cat] === 1) !== buriedTier) continue;
    const s = boosted && cat >= 0 ? (raw >= 0 ? raw * boosts[cat]! : raw / boosts[cat]!) : raw;
    const t = hasTie ? tie[i]! : 0;
    if (size < m) {
      let q = size++;
      while (q > 0) {
        const parent = (q - 1) >> 1;
        // Stop when the parent is already worse than the new entry.
        if (hs[parent]! < s || (hs[parent] === s && (ht[parent]! < t || (ht[parent] === t && hi[parent]! > i)))) break;
        hs[q] = hs[parent]!;
        ht[q] = ht[parent]!;
        hi[q] = hi[parent]!;
        q = parent;
      }
      hs[q] = s;
      ht[q] = t;
      hi[q] = i;
    } else if (hs[0]! < s || (hs[0] === s && (ht[0]! < t || (ht[0] === t && hi[0]! > i)))) {
      hs[0] = s;
      ht[0] = t;
      hi[0] = i;
      siftDown(hs, ht, hi, 0, size);
    }
  }
  // Heap sort in place: the worst goes to the end each time, so the array ends best first.
  for (let end = size - 1; end > 0; end--) {
    const s = hs[end]!;
    const t = ht[end]!;
    const i = hi[end]!;
    hs[end] = hs[0]!;
    ht[end] = ht[0]!;
    hi[end] = hi[0]!;
    hs[0] = s;
    ht[0] = t;
    hi[0] = i;
    siftDown(hs, ht, hi, 0, end);
  }
  return size;
}

/**
 * Visits the accepted model items of one burial tier in ranking order — adjusted score desc, then the
 * tie-break (popularity) desc, then index — until `visit` returns true. Nothing is allocated per item.
 *
 * With `support` (a sparse model: every item outside it scores exactly 0) this costs O(|support|) plus
 * the popular items it takes, not O(N): the support's positive scores first, then zero-score items in
 * popularity order, then the support's negative scores. Without it, one heap pass over all N items
 * yields the best m (the cold start's pass over popularity stops early); in the rare case more are
 * needed (a diversity cap skipping many), a wider pass.
 */
function visitCandidates(req: RankRequest, p: Plan, buriedTier: boolean, open: number, cap: number, visit: (i: number, s: number) => boolean): void {
  const { view, scores } = req;
  const minScore = req.minScore ?? Number.NEGATIVE_INFINITY;
  const tie = req.tieBreak;
  const { model } = view;
  // One heap pass should usually be enough: with a diversity cap the best items may crowd into few
  // categories, so start wider (heap work grows with log m only; a rescan costs a full pass).
  const initial = Number.isFinite(cap) ? open * 16 + 64 : open * 4 + 16;
  /** True when `visit` asked to stop. */
  const passes = (domain: ArrayLike<number> | undefined, sorted: boolean, floor: number): boolean => {
    const size = domain ? domain.length : view.n;
    let m = Math.min(size, initial);
    let visited = 0;
    for (;;) {
      const found = topAccepted(view, domain, sorted, scores, m, p, buriedTier, floor, tie);
      const { hi, hs } = scratchOf(view);
      for (let q = visited; q < found; q++) {
        visited += 1;
        if (visit(hi[q]!, hs[q]!)) return true;
      }
      if (found < m || m >= size) return false;
      m = Math.min(size, m * 4);
    }
  };
  if (!req.support) {
    // The cold start ranks by popularity itself: walk it in popularity order and stop early.
    const byPopularity = scores === model.popularity && (tie === undefined || tie === model.popularity);
    passes(byPopularity ? model.popularOrder : undefined, byPopularity, minScore);
    return;
  }
  // Sparse model: positive scores live in the support only.
  if (passes(req.support, false, Math.max(minScore, 0)) || !(minScore < 0)) return;
  const zeros = tie ? model.popularOrder : undefined;
  for (let r = 0; r < view.n; r++) {
    const i = zeros ? zeros[r]! : r;
    if (scores[i] === 0 && accepts(view, p, i) && isBuried(p, view.category[i]!) === buriedTier && visit(i, 0)) return;
  }
  const negative: { i: number; s: number }[] = [];
  for (const i of req.support) {
    const raw = scores[i]!;
    if (raw < 0 && raw > minScore && accepts(view, p, i) && isBuried(p, view.category[i]!) === buriedTier) negative.push({ i, s: adjust(view, p, i, raw) });
  }
  negative.sort((a, b) => b.s - a.s || (tie ? tie[b.i]! - tie[a.i]! : 0) || a.i - b.i);
  for (const { i, s } of negative) if (visit(i, s)) return;
}

function newItemSlots(k: number, count: number, taken: ReadonlySet<number>, rng: () => number): number[] {
  const from = k > 3 ? 2 : 0; // keep the model's top two picks in place
  const free = [];
  for (let p = from; p < k; p++) if (!taken.has(p)) free.push(p);
  const slots: number[] = [];
  while (slots.length < count && free.length > 0) slots.push(free.splice(Math.floor(rng() * free.length), 1)[0] as number);
  return slots.sort((a, b) => a - b);
}

/** One answer being assembled: k slots, what is taken, and the compiled filters. */
interface Assembly {
  req: RankRequest;
  plan: Plan;
  slots: (RankedItem | undefined)[];
  chosen: Set<string>;
}

const categoryNameOf = (view: ServingView, cat: number) => (cat >= 0 ? view.categoryNames[cat] : undefined);

function place(a: Assembly, slot: number, item: RankedItem): void {
  a.slots[slot] = item;
  a.chosen.add(item.itemId);
  if (item.index !== undefined) excludeIndex(a.req.view, item.index);
}

/** Starts an exclusion epoch and marks the excluded ids (model-known ones in the view's stamp array). */
function excluding(view: ServingView, exclude: Iterable<string>): Set<string> {
  beginExclusions(view);
  const excludedIds = new Set<string>();
  for (const id of exclude) {
    excludedIds.add(id);
    const idx = view.model.index.get(id);
    if (idx !== undefined) excludeIndex(view, idx);
  }
  return excludedIds;
}

/** Ranks one answer. Returns at most k items, fewer when fewer are eligible. */
export function rank(req: RankRequest): RankedItem[] {
  const excludedIds = excluding(req.view, req.exclude);
  const a: Assembly = { req, plan: compile(req, excludedIds), slots: new Array(req.k).fill(undefined), chosen: new Set() };
  placePromotions(a);
  placeNewItems(a);
  fillFromModel(a);
  return a.slots.filter((s): s is RankedItem => s !== undefined);
}

/** 1. Promotion slots: the eligible promoted items the model scores highest (known items first). */
function placePromotions(a: Assembly): void {
  const { req, plan } = a;
  const { view, scores } = req;
  const promotions = req.rules.promotions;
  if (!req.promotions || !promotions) return;
  const slots = [...new Set(promotions.slots)]
    .map((s) => s - 1)
    .filter((s) => s < req.k)
    .sort((x, y) => x - y);
  if (slots.length === 0) return;
  const useFlag = promotions.useCatalogFlag;
  const want = slots.length;
  // Only the best few eligible promoted items are needed: a small list kept sorted (score desc, index asc).
  const bestI: number[] = [];
  const bestS: number[] = [];
  const consider = (i: number) => {
    // The score first: most promoted items cannot beat the few already kept, and that needs no
    // eligibility checks (each a read far apart in the view's arrays).
    const s = adjust(view, plan, i, scores[i] ?? 0);
    let pos = bestI.length;
    while (pos > 0 && (bestS[pos - 1]! < s || (bestS[pos - 1] === s && bestI[pos - 1]! > i))) pos -= 1;
    if (pos >= want || !accepts(view, plan, i) || isBuried(plan, view.category[i]!) || bestI.includes(i)) return;
    bestI.splice(pos, 0, i);
    bestS.splice(pos, 0, s);
    if (bestI.length > want) {
      bestI.pop();
      bestS.pop();
    }
  };
  if (useFlag) for (let p = 0; p < view.promoted.length; p++) consider(view.promoted[p]!);
  for (const id of promotions.itemIds) {
    const idx = view.model.index.get(id);
    if (idx !== undefined) consider(idx);
  }
  const pool = bestI.map((i, p) =>
    withCategory({ itemId: view.model.itemIds[i] as string, index: i, score: bestS[p]!, source: 'promotion' }, categoryNameOf(view, view.category[i]!)),
  );
  // Promoted items the model does not know come after the ones it scores.
  const addCold = (x: ColdItem) => {
    if (pool.some((p) => p.itemId === x.item.itemId) || !acceptsItem(plan, x.item, x.category, x.channels)) return;
    pool.push(withCategory({ itemId: x.item.itemId, score: 0, source: 'promotion' }, x.item.category || undefined));
  };
  if (useFlag) for (let p = 0; p < view.coldPromoted.length && pool.length < want; p++) addCold(view.coldPromoted[p]!);
  for (let p = 0; p < promotions.itemIds.length && pool.length < want; p++) {
    const cold = view.coldById.get(promotions.itemIds[p]!);
    if (cold) addCold(cold);
  }
  slots.forEach((slot, n) => {
    const next = pool[n];
    if (next) place(a, slot, next);
  });
}

/** 2. New-item exploration: a small share of slots for recently launched items the model does not know. */
function placeNewItems(a: Assembly): void {
  const { req, plan } = a;
  const ni = req.newItems;
  const count = ni ? Math.floor(req.k * ni.share) : 0;
  if (!ni || count === 0) return;
  const horizon = ni.nowMs - ni.maxAgeDays * 86_400_000;
  const candidates: { cold: ColdItem; score: number; tie: number }[] = [];
  for (const cold of req.view.cold) {
    if (!(cold.createdAtMs >= horizon) || candidates.length >= NEW_ITEM_POOL) break; // newest first
    if (a.chosen.has(cold.item.itemId) || !acceptsItem(plan, cold.item, cold.category, cold.channels)) continue;
    candidates.push({ cold, score: ni.score?.(cold.item) ?? 0, tie: 0 });
  }
  if (candidates.length === 0) return;
  for (const cand of candidates) cand.tie = ni.rng();
  candidates.sort((x, y) => y.score - x.score || x.tie - y.tie);
  const taken = new Set<number>();
  for (let p = 0; p < a.slots.length; p++) if (a.slots[p]) taken.add(p);
  newItemSlots(req.k, Math.min(count, candidates.length), taken, ni.rng).forEach((slot, n) => {
    const { cold, score } = candidates[n]!;
    place(a, slot, withCategory({ itemId: cold.item.itemId, score: 0, source: 'new', contentScore: score }, cold.item.category || undefined));
  });
}

/**
 * 3. The model's ranking fills every other slot, under the diversity cap. The cap is soft: relaxed only
 * when it alone would leave slots empty (the capped-out items then fill them, before any buried item).
 * A category filter asks for one category: the cap does not apply then.
 */
function fillFromModel(a: Assembly): void {
  const { req, plan, slots } = a;
  const { view } = req;
  let open = 0;
  for (const s of slots) if (!s) open += 1;
  if (open === 0) return;
  const cap = req.filters.category === undefined ? (req.maxPerCategory ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  // Per-category counts in the view's scratch, valid for this request's exclusion epoch only.
  const { catCount, catStamp } = scratchOf(view);
  const epoch = view.epoch;
  if (epoch === 1) catStamp.fill(0); // the epoch wrapped around (or this is the view's first request)
  const countOf = (cat: number) => (catStamp[cat] === epoch ? catCount[cat]! : 0);
  const bump = (cat: number) => {
    catCount[cat] = countOf(cat) + 1;
    catStamp[cat] = epoch;
  };
  for (const s of slots) {
    const cat = s?.category ? (view.categoryIds.get(s.category) ?? -1) : -1;
    if (cat >= 0) bump(cat);
  }
  const organic: RankedItem[] = [];
  const cappedOut: RankedItem[] = [];
  const take = (i: number, s: number): boolean => {
    const cat = view.category[i]!;
    // With a tie-break, items the model gives no positive score are there by popularity: say so.
    const source = req.tieBreak && req.source === 'model' && !(s > 0) ? 'popular' : req.source;
    const capped = cat >= 0 && countOf(cat) >= cap;
    if (capped && cappedOut.length >= open) return false;
    const item = withCategory({ itemId: view.model.itemIds[i] as string, index: i, score: s, source }, categoryNameOf(view, cat));
    if (capped) {
      cappedOut.push(item);
      return false;
    }
    if (cat >= 0) bump(cat);
    organic.push(item);
    return organic.length >= open;
  };
  for (const buriedTier of [false, true]) {
    visitCandidates(req, plan, buriedTier, open, cap, take);
    for (const item of cappedOut) if (organic.length < open) organic.push(item);
    cappedOut.length = 0;
    if (organic.length >= open) break;
  }
  let next = 0;
  for (let p = 0; p < req.k && next < organic.length; p++) if (!slots[p]) slots[p] = organic[next++];
}

/**
 * The same eligibility as `rank` for any item id (model-known or catalogue-only), for fills outside the
 * ranking (content-based similar items). Starts its own exclusion epoch.
 */
export function eligibility(view: ServingView, filters: Filters, exclude: Iterable<string>, rules: BusinessRules): (itemId: string) => boolean {
  const plan = compile({ view, filters, rules }, excluding(view, exclude));
  return (itemId) => {
    const idx = view.model.index.get(itemId);
    if (idx !== undefined) return accepts(view, plan, idx) && !isBuried(plan, view.category[idx]!);
    const cold = view.coldById.get(itemId);
    return cold !== undefined && acceptsItem(plan, cold.item, cold.category, cold.channels) && !isBuried(plan, cold.category);
  };
}

/** Sets `category` only when known (objects keep one shape: no `delete`). */
function withCategory(item: RankedItem, category: string | undefined): RankedItem {
  if (category !== undefined) item.category = category;
  return item;
}
