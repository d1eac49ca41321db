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

/** Deterministic PRNG (mulberry32) — a seeded stream in 6 lines; no library needed for this. */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 32-bit FNV-1a of a string (seeds the per-recommendation PRNG). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

interface Compiled {
  accept(i: number): boolean;
  acceptItem(item: CatalogItem, category: number, channels: number): boolean;
  adjust(i: number, score: number): number;
  buried(category: number): boolean;
  /** The same checks as plain values, for the hot loop over every model item (no closure calls there). */
  plan: Plan;
}

interface Plan {
  epoch: number;
  wantCategory: number;
  priceFiltered: boolean;
  min: number;
  max: number;
  bit: number;
  boosted: boolean;
  boosts: Float64Array;
  hasBurials: boolean;
  burials: Uint8Array;
}

function compile(req: RankRequest, excludedIds: ReadonlySet<string>): Compiled {
  const { view, filters, rules } = req;
  const { available, stamp, category, price, channels } = view;
  const epoch = view.epoch;
  const wantCategory = filters.category === undefined ? -1 : (view.categoryIds.get(filters.category) ?? -2);
  const min = filters.minPrice ?? Number.NEGATIVE_INFINITY;
  const max = filters.maxPrice ?? Number.POSITIVE_INFINITY;
  const priceFiltered = filters.minPrice !== undefined || filters.maxPrice !== undefined;
  const bit = filters.channel ? channelBit(filters.channel) : 0;
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
  const passes = (cat: number, p: number, ch: number) =>
    (wantCategory === -1 || cat === wantCategory) && (!priceFiltered || (p >= min && p <= max)) && (bit === 0 || (ch & bit) !== 0);
  return {
    accept: (i) => available[i] === 1 && stamp[i] !== epoch && passes(category[i]!, price[i]!, channels[i]!),
    acceptItem: (item, cat, ch) => !excludedIds.has(item.itemId) && passes(cat, item.price, ch),
    adjust: boosted
      ? (i, s) => {
          const c = category[i]!;
          const b = c >= 0 ? boosts[c]! : 1;
          return s >= 0 ? s * b : s / b;
        }
      : (_i, s) => s,
    buried: (cat) => cat >= 0 && burials[cat] === 1,
    plan: { epoch, wantCategory, priceFiltered, min, max, bit, boosted, boosts, hasBurials, burials },
  };
}

/**
 * The m best accepted indices by adjusted score, in one pass with a size-m min-heap. Ties (e.g. the many
 * zero scores of a sparse model) are broken by `tie` (popularity) when given, then by lower index.
 * This loop runs over every model item on every request: filters are inlined array reads, and once the
 * heap is full an item that cannot beat its worst entry is dropped before any other check.
 */
function topAccepted(
  domain: ArrayLike<number> | undefined,
  n: number,
  scores: ArrayLike<number>,
  m: number,
  c: Compiled,
  buriedTier: boolean,
  view: ServingView,
  minScore: number,
  tie: ArrayLike<number> | undefined,
): { idx: number[]; adj: number[] } {
  const hs = new Float64Array(m);
  const ht = new Float64Array(m);
  const hi = new Int32Array(m);
  let size = 0;
  const { available, stamp, category, price, channels } = view;
  const { epoch, wantCategory, priceFiltered, min, max, bit, boosted, boosts, hasBurials, burials } = c.plan;
  // The largest boost bounds how much an item's score can grow: below worst / maxBoost it cannot enter.
  let maxBoost = 1;
  if (boosted) for (let b = 0; b < boosts.length; b++) maxBoost = Math.max(maxBoost, boosts[b]!);
  const hasTie = tie !== undefined;
  const count = domain ? domain.length : n;
  for (let d = 0; d < count; d++) {
    const i = domain ? domain[d]! : d;
    const raw = scores[i]!;
    if (!(raw > minScore)) continue;
    // Early exit: a full heap whose worst entry this item cannot beat (ties may still win on the tie-break).
    if (size === m && (raw >= 0 ? raw * maxBoost : raw / maxBoost) < hs[0]!) continue;
    if (available[i] !== 1 || stamp[i] === epoch) continue;
    const cat = category[i]!;
    if (wantCategory !== -1 && cat !== wantCategory) continue;
    if (priceFiltered) {
      const p = price[i]!;
      if (!(p >= min && p <= max)) continue;
    }
    if (bit !== 0 && (channels[i]! & bit) === 0) continue;
    if ((hasBurials && cat >= 0 && burials[cat] === 1) !== buriedTier) continue;
    const s = boosted && cat >= 0 ? (raw >= 0 ? raw * boosts[cat]! : raw / boosts[cat]!) : raw;
    const t = hasTie ? tie[i]! : 0;
    if (size < m) {
      let p = size++;
      while (p > 0) {
        const parent = (p - 1) >> 1;
        // Stop when the parent is already worse than the new entry.
        if (hs[parent]! < s || (hs[parent] === s && (ht[parent]! < t || (ht[parent] === t && hi[parent]! > i)))) break;
        hs[p] = hs[parent]!;
        ht[p] = ht[parent]!;
        hi[p] = hi[parent]!;
        p = parent;
      }
      hs[p] = s;
      ht[p] = t;
      hi[p] = i;
    } else if (hs[0]! < s || (hs[0] === s && (ht[0]! < t || (ht[0] === t && hi[0]! > i)))) {
      let p = 0;
      for (;;) {
        const l = 2 * p + 1;
        if (l >= size) break;
        const r = l + 1;
        // The worse child.
        const ch = r < size && (hs[r]! < hs[l]! || (hs[r] === hs[l] && (ht[r]! < ht[l]! || (ht[r] === ht[l] && hi[r]! > hi[l]!)))) ? r : l;
        // Stop when that child is not worse than the new entry.
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
  }
  const order = Array.from({ length: size }, (_, p) => p).sort((a, b) => hs[b]! - hs[a]! || ht[b]! - ht[a]! || hi[a]! - hi[b]!);
  return { idx: order.map((p) => hi[p]!), adj: order.map((p) => hs[p]!) };
}

/**
 * Accepted model items of one burial tier in ranking order — adjusted score desc, then the tie-break
 * (popularity) desc, then index — produced lazily.
 *
 * With `support` (a sparse model: every item outside it scores exactly 0) this costs O(|support|) plus
 * the popular items it takes, not O(N): the support's positive scores first, then zero-score items in
 * popularity order, then the support's negative scores. Without it, one heap pass over all N items
 * yields the best m; in the rare case more are needed (a diversity cap skipping many), a wider pass.
 */
function* candidateStream(req: RankRequest, c: Compiled, buriedTier: boolean, open: number, cap: number): Generator<{ i: number; s: number }> {
  const { view } = req;
  const minScore = req.minScore ?? Number.NEGATIVE_INFINITY;
  const tie = req.tieBreak;
  // One heap pass should usually be enough: with a diversity cap the best items may crowd into few
  // categories, so start wider (heap work grows with log m only; a rescan costs a full pass).
  const initial = Number.isFinite(cap) ? open * 16 + 64 : open * 4 + 16;
  const passes = function* (domain: ArrayLike<number> | undefined, floor: number) {
    const size = domain ? domain.length : view.n;
    let m = Math.min(size, initial);
    let yielded = 0;
    for (;;) {
      const found = topAccepted(domain, view.n, req.scores, m, c, buriedTier, view, floor, tie);
      for (let p = yielded; p < found.idx.length; p++) {
        yielded += 1;
        yield { i: found.idx[p]!, s: found.adj[p]! };
      }
      if (found.idx.length < m || m >= size) return;
      m = Math.min(size, m * 4);
    }
  };
  if (!req.support) {
    yield* passes(undefined, minScore);
    return;
  }
  // Sparse model: positive scores live in the support only.
  yield* passes(req.support, Math.max(minScore, 0));
  if (!(minScore < 0)) return;
  const scores = req.scores;
  const inTier = (i: number) => c.accept(i) && c.buried(view.category[i]!) === buriedTier;
  const zeros = tie ? view.model.popularOrder : undefined;
  for (let r = 0; r < view.n; r++) {
    const i = zeros ? zeros[r]! : r;
    if (scores[i] === 0 && inTier(i)) yield { i, s: 0 };
  }
  const negative: { i: number; s: number }[] = [];
  for (const i of req.support) {
    const raw = scores[i]!;
    if (raw < 0 && raw > minScore && inTier(i)) negative.push({ i, s: c.adjust(i, raw) });
  }
  negative.sort((a, b) => b.s - a.s || (tie ? tie[b.i]! - tie[a.i]! : 0) || a.i - b.i);
  yield* negative;
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
  c: Compiled;
  slots: (RankedItem | undefined)[];
  chosen: Set<string>;
}

const categoryNameOf = (view: ServingView, cat: number) => (cat >= 0 ? view.categoryNames[cat] : undefined);

function place(a: Assembly, slot: number, item: RankedItem): void {
  a.slots[slot] = item;
  a.chosen.add(item.itemId);
  if (item.index !== undefined) excludeIndex(a.req.view, item.index);
}

/** Ranks one answer. Returns at most k items, fewer when fewer are eligible. */
export function rank(req: RankRequest): RankedItem[] {
  const { view, k } = req;
  beginExclusions(view);
  const excludedIds = new Set<string>();
  for (const id of req.exclude) {
    excludedIds.add(id);
    const idx = view.model.index.get(id);
    if (idx !== undefined) excludeIndex(view, idx);
  }
  const a: Assembly = { req, c: compile(req, excludedIds), slots: new Array(k).fill(undefined), chosen: new Set() };
  placePromotions(a);
  placeNewItems(a);
  fillFromModel(a);
  return a.slots.filter((s): s is RankedItem => s !== undefined);
}

/** 1. Promotion slots: the eligible promoted items the model scores highest (known items first). */
function placePromotions(a: Assembly): void {
  const { req, c } = a;
  const { view } = req;
  const promotions = req.rules.promotions;
  if (!req.promotions || !promotions) return;
  const slots = [...new Set(promotions.slots)]
    .map((s) => s - 1)
    .filter((s) => s < req.k)
    .sort((x, y) => x - y);
  if (slots.length === 0) return;
  const useFlag = promotions.useCatalogFlag;
  const want = slots.length;
  // Only the best few eligible promoted items are needed: keep them in a small sorted list.
  const best: { i: number; s: number }[] = [];
  const consider = (i: number) => {
    if (!c.accept(i) || c.buried(view.category[i]!) || best.some((b) => b.i === i)) return;
    const s = c.adjust(i, req.scores[i] ?? 0);
    const last = best[want - 1];
    if (last && !(s > last.s || (s === last.s && i < last.i))) return;
    best.push({ i, s });
    best.sort((x, y) => y.s - x.s || x.i - y.i);
    if (best.length > want) best.pop();
  };
  if (useFlag) for (const i of view.promoted) consider(i);
  for (const id of promotions.itemIds) {
    const idx = view.model.index.get(id);
    if (idx !== undefined) consider(idx);
  }
  const pool = best.map(({ i, s }) =>
    withCategory({ itemId: view.model.itemIds[i] as string, index: i, score: s, source: 'promotion' }, categoryNameOf(view, view.category[i]!)),
  );
  // Promoted items the model does not know come after the ones it scores.
  const cold = [...(useFlag ? view.coldPromoted : []), ...promotions.itemIds.flatMap((id) => view.coldById.get(id) ?? [])];
  for (const x of cold) {
    if (pool.length >= want) break;
    if (pool.some((p) => p.itemId === x.item.itemId) || !c.acceptItem(x.item, x.category, x.channels)) continue;
    pool.push(withCategory({ itemId: x.item.itemId, score: 0, source: 'promotion' }, x.item.category || undefined));
  }
  slots.forEach((slot, n) => {
    const next = pool[n];
    if (next) place(a, slot, next);
  });
}

/** 2. New-item exploration: a small share of slots for recently launched items the model does not know. */
function placeNewItems(a: Assembly): void {
  const { req, c } = a;
  const ni = req.newItems;
  const count = ni ? Math.floor(req.k * ni.share) : 0;
  if (!ni || count === 0) return;
  const horizon = ni.nowMs - ni.maxAgeDays * 86_400_000;
  const candidates: { cold: ColdItem; score: number; tie: number }[] = [];
  for (const cold of req.view.cold) {
    if (!(cold.createdAtMs >= horizon) || candidates.length >= NEW_ITEM_POOL) break; // newest first
    if (a.chosen.has(cold.item.itemId) || !c.acceptItem(cold.item, cold.category, cold.channels)) continue;
    candidates.push({ cold, score: ni.score?.(cold.item) ?? 0, tie: 0 });
  }
  if (candidates.length === 0) return;
  for (const cand of candidates) cand.tie = ni.rng();
  candidates.sort((x, y) => y.score - x.score || x.tie - y.tie);
  const taken = new Set(a.slots.flatMap((s, p) => (s ? [p] : [])));
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
  const { req, c, slots } = a;
  const { view } = req;
  const open = slots.reduce((count, s) => count + (s ? 0 : 1), 0);
  if (open === 0) return;
  const cap = req.filters.category === undefined ? (req.maxPerCategory ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  const counts = new Map<number, number>();
  for (const s of slots) {
    const cat = s?.category ? (view.categoryIds.get(s.category) ?? -1) : -1;
    if (cat >= 0) counts.set(cat, (counts.get(cat) ?? 0) + 1);
  }
  const organic: RankedItem[] = [];
  const cappedOut: RankedItem[] = [];
  for (const buriedTier of [false, true]) {
    for (const cand of candidateStream(req, c, buriedTier, open, cap)) {
      if (organic.length >= open) break;
      const cat = view.category[cand.i]!;
      // With a tie-break, items the model gives no positive score are there by popularity: say so.
      const source = req.tieBreak && req.source === 'model' && !(cand.s > 0) ? 'popular' : req.source;
      const item = withCategory({ itemId: view.model.itemIds[cand.i] as string, index: cand.i, score: cand.s, source }, categoryNameOf(view, cat));
      if (cat >= 0 && (counts.get(cat) ?? 0) >= cap) {
        if (cappedOut.length < open) cappedOut.push(item);
        continue;
      }
      if (cat >= 0) counts.set(cat, (counts.get(cat) ?? 0) + 1);
      organic.push(item);
    }
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
  beginExclusions(view);
  const excludedIds = new Set<string>();
  for (const id of exclude) {
    excludedIds.add(id);
    const idx = view.model.index.get(id);
    if (idx !== undefined) excludeIndex(view, idx);
  }
  const req = { view, filters, rules } as RankRequest;
  const c = compile(req, excludedIds);
  return (itemId) => {
    const idx = view.model.index.get(itemId);
    if (idx !== undefined) return c.accept(idx) && !c.buried(view.category[idx]!);
    const cold = view.coldById.get(itemId);
    return cold !== undefined && c.acceptItem(cold.item, cold.category, cold.channels) && !c.buried(cold.category);
  };
}

/** Sets `category` only when known (objects keep one shape: no `delete`). */
function withCategory(item: RankedItem, category: string | undefined): RankedItem {
  if (category !== undefined) item.category = category;
  return item;
}
