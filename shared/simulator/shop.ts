/**
 * Deterministic omnichannel shop simulator: catalogue, shoppers, Segment-shaped events, price
 * history and the ground truth behind them. Behaviour carries learnable structure on purpose:
 * latent category preferences, complement groups, session-to-session carry-over, price response
 * by per-item elasticity, weekly seasonality and a holiday peak.
 */
import { createRng, type Rng } from '../random';

export type ShopChannel = 'web' | 'app' | 'mini_program' | 'pos';
export const SHOP_CHANNELS: readonly ShopChannel[] = ['web', 'app', 'mini_program', 'pos'];

export interface SimulateShopOptions {
  seed?: number | string;
  items?: number;
  categories?: number;
  shoppers?: number;
  days?: number;
  /** ISO start of day 0. */
  start?: string;
  /** ISO date of the holiday; traffic peaks the day before, on and after it. */
  holiday?: string;
  channels?: readonly ShopChannel[];
}

export interface Item {
  itemId: string;
  title: string;
  category: string;
  /** List (reference) price in EUR. */
  price: number;
  unitCost: number;
  /** Opening stock (informational: sales are not capped by it). */
  stock: number;
  /** True price elasticity of demand, in [-3, -0.5]. */
  elasticity: number;
  /** Expected units/day at list price on a regular weekday (model-implied, approximate). */
  baseDemandPerDay: number;
}

export interface Shopper {
  shopperId: string;
  /** Absent for guests, who never log in. */
  userId?: string;
  email?: string;
  /** One per channel used: cookie id (web), device id (app), openid (mini_program), card token (pos). */
  anonymousIds: Partial<Record<ShopChannel, string>>;
  channels: ShopChannel[];
  /** Latent category preferences, summing to 1. */
  preferences: Record<string, number>;
  sessionsPerDay: number;
}

export interface ProductProperties {
  product_id: string;
  category: string;
  price: number;
  quantity?: number;
}

export interface OrderProperties {
  order_id: string;
  revenue: number;
  currency: 'EUR';
  products: Required<ProductProperties>[];
}

export interface SegmentContext {
  channel: ShopChannel;
  session_id: string;
  device: { type: string; id?: string };
  store_id?: string;
}

interface MessageBase {
  messageId: string;
  userId?: string;
  anonymousId?: string;
  context: SegmentContext;
  timestamp: string;
}

export type SegmentMessage = MessageBase &
  (
    | { type: 'track'; event: 'Product Viewed' | 'Product Added'; properties: ProductProperties }
    | { type: 'track'; event: 'Order Completed'; properties: OrderProperties }
    | { type: 'track'; event: 'Products Searched'; properties: { query: string } }
    | { type: 'identify'; event?: undefined; userId: string; anonymousId: string; traits: { email: string } }
    | { type: 'page'; event?: undefined; name: string; properties: { path: string } }
  );

export interface PriceChange {
  itemId: string;
  from: string;
  price: number;
}

export interface ShopTruth {
  elasticity: Record<string, number>;
  baseDemandPerDay: Record<string, number>;
  /** shopperId → category → weight. */
  preferences: Record<string, Record<string, number>>;
  complementGroups: string[][];
  /** itemId → units sold per day index. */
  dailyUnits: Record<string, number[]>;
  /** Traffic multiplier per day index (weekend uplift × holiday peak). */
  trafficMultiplier: number[];
  holidayDay: number;
}

export interface SimulatedShop {
  period: { start: string; end: string; days: number; holiday: string };
  catalogue: Item[];
  shoppers: Shopper[];
  events: SegmentMessage[];
  priceHistory: PriceChange[];
  truth: ShopTruth;
}

// ---------------------------------------------------------------- parameters and word lists

const DAY_MS = 86_400_000;
const DEFAULT_START = '2026-09-01T00:00:00Z';

/** Behaviour knobs; baseDemandPerDay is derived from the same numbers. */
const B = {
  memberShare: 0.7,
  sessionsPerDay: 0.24,
  weekendUplift: 1.35,
  holidayUplift: 2.5,
  searchRate: 0.25,
  extraViews: 2.2,
  posExtraItems: 1.5,
  recallRate: 0.45,
  addRate: 0.15,
  posBuyRate: 0.35,
  checkoutRate: 0.6,
  complementBoost: 1.5,
  loyaltyScanRate: 0.85,
} as const;
const QUANTITY_WEIGHTS = [0.78, 0.16, 0.06]; // quantity 1, 2, 3
const MEAN_QUANTITY = QUANTITY_WEIGHTS.reduce((sum, w, i) => sum + w * (i + 1), 0);
const CHANNEL_POPULARITY: Record<ShopChannel, number> = { web: 0.4, app: 0.3, mini_program: 0.15, pos: 0.15 };
const LOGIN_ON_ARRIVAL: Record<ShopChannel, number> = { web: 0.2, app: 0.7, mini_program: 0.9, pos: 0 };
const LOGIN_AT_CHECKOUT: Record<ShopChannel, number> = { web: 0.85, app: 1, mini_program: 1, pos: 0 };
/** Session start weights for hours 0–22 (sessions never cross midnight). */
const ONLINE_HOURS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3, 3, 3.5, 4, 3.5, 3, 3, 3.5, 4, 5, 6, 6.5, 6, 4];
const STORE_HOURS = ONLINE_HOURS.map((_, h) => (h >= 9 && h <= 20 ? 1 + (h >= 16 ? 1 : 0) : 0));
const STORES = ['STORE-01', 'STORE-02', 'STORE-03', 'STORE-04', 'STORE-05', 'STORE-06'];

/** name, adjectives, nouns, sizes, price range (EUR). */
const CATEGORY_TABLE: readonly [string, string, string, string, number, number][] = [
  ['tea', 'Organic|Jasmine|Smoky|Highland|Ceremonial', 'Green Tea|Black Tea|Oolong|Herbal Infusion|Matcha', '100g|250g|20 Bags|500g', 4, 30],
  ['coffee', 'Single-Origin|Dark Roast|Decaf|Espresso|Fair-Trade', 'Coffee Beans|Ground Coffee|Cold Brew|Coffee Pods', '250g|500g|1kg|10 Pods', 5, 35],
  ['snacks', 'Sea Salt|Spicy|Honey-Roasted|Crunchy|Vegan', 'Almonds|Rice Crackers|Granola Bites|Seaweed Chips|Trail Mix', '80g|150g|300g|Family Pack', 2, 12],
  ['skincare', 'Hydrating|Gentle|Vitamin C|Overnight|Soothing', 'Face Cream|Serum|Cleanser|Sheet Mask|Toner', '30ml|50ml|100ml|5-Pack', 8, 60],
  [
    'haircare',
    'Repairing|Volumising|Argan|Anti-Frizz|Scalp-Care',
    'Shampoo|Conditioner|Hair Oil|Hair Mask|Dry Shampoo',
    '200ml|300ml|500ml|Travel Size',
    5,
    30,
  ],
  ['cookware', 'Cast-Iron|Non-Stick|Stainless|Ceramic|Bamboo', 'Frying Pan|Saucepan|Teapot|Chopping Board|Wok', '20cm|24cm|28cm|Set of 3', 15, 120],
  ['stationery', 'Dotted|Recycled|Pastel|Fine-Tip|Leather-Bound', 'Notebook|Gel Pens|Planner|Sticky Notes|Sketchbook', 'A5|A4|Pack of 6|Pocket', 2, 25],
  [
    'toys',
    'Wooden|Magnetic|Glow-in-the-Dark|Educational|Plush',
    'Building Blocks|Puzzle|Robot Kit|Teddy Bear|Train Set',
    'Mini|Classic|Deluxe|100 Pieces',
    8,
    70,
  ],
  ['fitness', 'Non-Slip|Adjustable|Lightweight|Pro|Eco', 'Yoga Mat|Dumbbells|Resistance Bands|Jump Rope|Foam Roller', '2kg|5kg|Set|Standard', 10, 90],
  ['pet-supplies', 'Grain-Free|Chewy|Orthopedic|Catnip|Reflective', 'Dog Treats|Cat Litter|Pet Bed|Chew Toy|Leash', 'Small|Medium|Large|1kg', 4, 60],
  [
    'home-decor',
    'Scandinavian|Hand-Made|Linen|Scented|Minimalist',
    'Candle|Cushion Cover|Vase|Photo Frame|Throw Blanket',
    'Small|Large|Set of 2|40x40cm',
    6,
    70,
  ],
  ['phone-accessories', 'Fast-Charging|Braided|Magnetic|Shockproof|Wireless', 'USB-C Cable|Charger|Phone Case|Power Bank|Earbuds', '1m|2m|10000mAh|20W', 8, 80],
  ['baby', 'Organic Cotton|Hypoallergenic|Soft|Fragrance-Free|Ergonomic', 'Baby Wipes|Onesie|Bottle|Teether|Swaddle', 'Newborn|3-6m|Pack of 3|250ml', 4, 40],
  ['wine', 'Reserve|Organic|Dry|Sparkling|Old-Vine', 'Riesling|Rioja|Pinot Noir|Prosecco|Rosé', '75cl|Magnum|6-Pack|37.5cl', 7, 60],
  [
    'books',
    'Illustrated|Bestselling|Pocket|Collector’s|Annotated',
    'Cookbook|Novel|Travel Guide|Graphic Novel|Atlas',
    'Paperback|Hardcover|Box Set|Gift Edition',
    8,
    45,
  ],
  ['garden', 'Perennial|Heirloom|Self-Watering|Solar|Terracotta', 'Seed Kit|Planter|Garden Lights|Watering Can|Herb Pot', 'Mini|12cm|Set of 4|5L', 4, 50],
];

// ---------------------------------------------------------------- small pure helpers

const round2 = (x: number): number => Math.round(x * 100) / 100;
const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const pad = (n: number, width = 4): string => String(n).padStart(width, '0');
const iso = (ms: number): string => new Date(ms).toISOString();
const words = (list: string): string[] => list.split('|');
const categorySpec = (c: number) => CATEGORY_TABLE[c % CATEGORY_TABLE.length] as (typeof CATEGORY_TABLE)[number];

function categoryName(c: number): string {
  const round = Math.floor(c / CATEGORY_TABLE.length);
  return round === 0 ? categorySpec(c)[0] : `${categorySpec(c)[0]}-${round + 1}`;
}

interface Config {
  seed: string;
  items: number;
  categories: number;
  shoppers: number;
  days: number;
  startMs: number;
  holidayMs: number;
  holidayDay: number;
  channels: ShopChannel[];
}

function resolveOptions(o: SimulateShopOptions): Config {
  const whole = (value: number | undefined, fallback: number): number => Math.max(1, Math.floor(value ?? fallback));
  const days = whole(o.days, 56);
  const items = whole(o.items, 400);
  const startMs = Date.parse(o.start ?? DEFAULT_START);
  if (Number.isNaN(startMs)) throw new Error(`simulateShop: invalid start "${o.start}"`);
  const holidayMs = o.holiday === undefined ? startMs + Math.max(0, days - 5) * DAY_MS : Date.parse(o.holiday);
  if (Number.isNaN(holidayMs)) throw new Error(`simulateShop: invalid holiday "${o.holiday}"`);
  const channels = SHOP_CHANNELS.filter((c) => (o.channels ?? SHOP_CHANNELS).includes(c));
  if (channels.length === 0) throw new Error('simulateShop: channels must name at least one channel');
  return {
    seed: String(o.seed ?? 42),
    items,
    categories: Math.min(whole(o.categories, 12), items),
    shoppers: whole(o.shoppers, 600),
    days,
    startMs,
    holidayMs,
    holidayDay: Math.floor((holidayMs - startMs) / DAY_MS),
    channels,
  };
}

/** Weekend uplift × holiday peak (day before, day of and day after the holiday). */
function trafficMultipliers(cfg: Config): number[] {
  return range(cfg.days).map((d) => {
    const weekday = new Date(cfg.startMs + d * DAY_MS).getUTCDay();
    const weekend = weekday === 0 || weekday === 6 ? B.weekendUplift : 1;
    return Math.abs(d - cfg.holidayDay) <= 1 ? weekend * B.holidayUplift : weekend;
  });
}

// ---------------------------------------------------------------- catalogue, prices, shoppers

interface ItemModel extends Omit<Item, 'category' | 'baseDemandPerDay'> {
  category: number;
  popularity: number;
  group: number;
}

interface CatalogueModel {
  items: ItemModel[];
  categoryNames: string[];
  byCategory: number[][];
  groups: number[][];
}

function drawTitle(rng: Rng, category: number, used: Set<string>): string {
  const [, adjectives, nouns, sizes] = categorySpec(category);
  let title = '';
  for (let attempt = 0; attempt < 8 && (title === '' || used.has(title)); attempt++) {
    title = `${rng.pick(words(adjectives))} ${rng.pick(words(nouns))} ${rng.pick(words(sizes))}`;
  }
  if (used.has(title)) title = `${title} (${used.size + 1})`;
  used.add(title);
  return title;
}

/** Splits each category's items into shuffled "bought together" groups of 3–5 (small leftovers join the last group). */
function complementGroups(rng: Rng, byCategory: number[][]): number[][] {
  const groups: number[][] = [];
  for (const members of byCategory) {
    const order = rng.shuffle(members);
    for (let i = 0; i < order.length; ) {
      let size = rng.int(3, 5);
      if (order.length - (i + size) < 3) size = order.length - i;
      groups.push(order.slice(i, i + size));
      i += size;
    }
  }
  return groups;
}

function buildCatalogue(rng: Rng, cfg: Config): CatalogueModel {
  const categoryNames = range(cfg.categories).map(categoryName);
  const share = categoryNames.map(() => 0.5 + rng.float());
  const byCategory: number[][] = categoryNames.map(() => []);
  const titles = new Set<string>();
  const items = range(cfg.items).map((i): ItemModel => {
    const category = i < cfg.categories ? i : rng.weightedIndex(share);
    byCategory[category]?.push(i);
    const [, , , , lo, hi] = categorySpec(category);
    const price = round2(Math.floor(lo * (hi / lo) ** rng.float()) + (rng.chance(0.7) ? 0.99 : 0.49));
    return {
      itemId: `SKU-${pad(i + 1)}`,
      title: drawTitle(rng, category, titles),
      category,
      price,
      unitCost: round2(price * (0.35 + 0.35 * rng.float())),
      stock: rng.int(20, 400),
      elasticity: round2(-(0.5 + 2.5 * rng.float())),
      popularity: Math.exp(rng.normal(0, 0.9)),
      group: -1,
    };
  });
  const groups = complementGroups(rng, byCategory);
  groups.forEach((members, g) => {
    for (const i of members) (items[i] as ItemModel).group = g;
  });
  return { items, categoryNames, byCategory, groups };
}

/** 1–3 price changes per item (±5–25 % of list price) on distinct days; returns price per item per day. */
function buildPrices(rng: Rng, items: ItemModel[], cfg: Config): { dayPrice: number[][]; history: PriceChange[] } {
  const history: PriceChange[] = [];
  const dayPrice = items.map((item) => {
    const changeDays = rng
      .shuffle(range(cfg.days - 1).map((d) => d + 1))
      .slice(0, rng.int(1, 3))
      .sort((a, b) => a - b);
    history.push({ itemId: item.itemId, from: iso(cfg.startMs), price: item.price });
    const prices = new Map<number, number>();
    for (const day of changeDays) {
      const change = (rng.chance(0.5) ? 1 : -1) * (0.05 + 0.2 * rng.float());
      prices.set(day, round2(item.price * (1 + change)));
      history.push({ itemId: item.itemId, from: iso(cfg.startMs + day * DAY_MS), price: prices.get(day) as number });
    }
    let current = item.price;
    return range(cfg.days).map((d) => (current = prices.get(d) ?? current));
  });
  return { dayPrice, history };
}

interface ShopperModel {
  shopper: Shopper;
  prefs: number[];
  channelWeights: number[];
  devices: Record<ShopChannel, string>;
  homeStore: string;
  loggedIn: Set<ShopChannel>;
  recent: number[];
}

/** 85 % of the mass on 1–3 favourite categories, the rest spread evenly. */
function drawPreferences(rng: Rng, nCategories: number): number[] {
  const favourites = rng.shuffle(range(nCategories)).slice(0, rng.int(1, Math.min(3, nCategories)));
  const rest = nCategories - favourites.length;
  const favouriteMass = rest === 0 ? 1 : 0.85;
  const weights = range(nCategories).map(() => (rest === 0 ? 0 : (1 - favouriteMass) / rest));
  const raw = favourites.map(() => 0.5 + rng.float());
  const total = raw.reduce((a, b) => a + b, 0);
  favourites.forEach((c, k) => {
    weights[c] = (favouriteMass * (raw[k] as number)) / total;
  });
  return weights;
}

/** Weighted sampling of channels without replacement, returned in canonical order. */
function drawChannels(rng: Rng, available: ShopChannel[], member: boolean): ShopChannel[] {
  const wanted = member ? 1 + rng.weightedIndex([0.3, 0.35, 0.23, 0.12]) : rng.chance(0.75) ? 1 : 2;
  const pool = [...available];
  const chosen = new Set<ShopChannel>();
  while (chosen.size < wanted && pool.length > 0) {
    const [channel] = pool.splice(rng.weightedIndex(pool.map((c) => CHANNEL_POPULARITY[c])), 1);
    if (channel) chosen.add(channel);
  }
  return available.filter((c) => chosen.has(c));
}

function buildShoppers(rng: Rng, cfg: Config, categoryNames: string[]): ShopperModel[] {
  return range(cfg.shoppers).map((i) => {
    const member = rng.chance(B.memberShare);
    const channels = drawChannels(rng, cfg.channels, member);
    const idFor: Record<ShopChannel, () => string> = {
      web: () => rng.uuid(),
      app: () => rng.uuid(),
      mini_program: () => `oMP${rng.hex(24)}`,
      pos: () => `card-${rng.hex(12)}`,
    };
    const anonymousIds: Partial<Record<ShopChannel, string>> = {};
    for (const c of channels) anonymousIds[c] = idFor[c]();
    const prefs = drawPreferences(rng, categoryNames.length);
    const shopper: Shopper = {
      shopperId: `S-${pad(i + 1)}`,
      ...(member ? { userId: `U-${pad(i + 1)}`, email: `u${pad(i + 1)}@example.test` } : {}),
      anonymousIds,
      channels,
      preferences: Object.fromEntries(categoryNames.map((name, c) => [name, round4(prefs[c] as number)])),
      sessionsPerDay: round4(B.sessionsPerDay * Math.exp(rng.normal(-0.18, 0.6))),
    };
    return {
      shopper,
      prefs,
      channelWeights: channels.map((c) => CHANNEL_POPULARITY[c] * (0.4 + rng.float())),
      devices: { web: rng.pick(['desktop', 'mobile']), app: rng.pick(['ios', 'android']), mini_program: 'wechat', pos: 'pos-terminal' },
      homeStore: rng.pick(STORES),
      loggedIn: new Set<ShopChannel>(),
      recent: [],
    };
  });
}

/** Expected units/day per item at list price on a regular weekday, from the behaviour knobs. */
function expectedBaseDemand(cat: CatalogueModel, shoppers: ShopperModel[]): number[] {
  const unitsPerSession = (c: ShopChannel): number =>
    c === 'pos' ? (1 + B.posExtraItems) * B.posBuyRate * MEAN_QUANTITY : (1 + B.extraViews) * B.addRate * B.checkoutRate * MEAN_QUANTITY;
  const categoryUnits = cat.categoryNames.map(() => 0);
  for (const sh of shoppers) {
    const totalWeight = sh.channelWeights.reduce((a, b) => a + b, 0);
    const units = sh.shopper.channels.reduce((sum, c, k) => sum + ((sh.channelWeights[k] as number) / totalWeight) * unitsPerSession(c), 0);
    sh.prefs.forEach((p, c) => {
      categoryUnits[c] = (categoryUnits[c] as number) + sh.shopper.sessionsPerDay * units * p;
    });
  }
  const popularitySum = cat.byCategory.map((members) => members.reduce((sum, i) => sum + (cat.items[i] as ItemModel).popularity, 0));
  return cat.items.map((it) => round4(((categoryUnits[it.category] as number) * it.popularity) / (popularitySum[it.category] as number)));
}

// ---------------------------------------------------------------- sessions and events

interface World {
  rng: Rng;
  ids: Rng;
  cat: CatalogueModel;
  dayPrice: number[][];
  events: { t: number; message: SegmentMessage }[];
  dailyUnits: number[][];
  sessions: number;
  orders: number;
}

interface Session {
  w: World;
  sh: ShopperModel;
  channel: ShopChannel;
  day: number;
  clock: number;
  userId?: string;
  anonymousId?: string;
  context: SegmentContext;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type MessageBody = DistributiveOmit<SegmentMessage, keyof MessageBase>;

function emit(s: Session, body: MessageBody): void {
  s.clock += s.w.rng.int(5_000, 120_000);
  const { type, ...rest } = body;
  const message = {
    type,
    messageId: s.w.ids.uuid(),
    ...(s.userId ? { userId: s.userId } : {}),
    ...(s.anonymousId ? { anonymousId: s.anonymousId } : {}),
    ...rest,
    context: { ...s.context, device: { ...s.context.device } },
    timestamp: iso(s.clock),
  } as SegmentMessage;
  s.w.events.push({ t: s.clock, message });
}

function openSession(w: World, sh: ShopperModel, channel: ShopChannel, day: number, t0: number): Session {
  const { userId, anonymousIds } = sh.shopper;
  const anonymousId = anonymousIds[channel] as string;
  const context: SegmentContext = { channel, session_id: `sess-${pad(++w.sessions, 6)}`, device: { type: sh.devices[channel] } };
  if (channel === 'app') context.device.id = anonymousId;
  if (channel !== 'pos') return { w, sh, channel, day, clock: t0, anonymousId, context, ...(sh.loggedIn.has(channel) ? { userId } : {}) };
  context.store_id = w.rng.chance(0.85) ? sh.homeStore : w.rng.pick(STORES);
  const loyalty = userId !== undefined && w.rng.chance(B.loyaltyScanRate);
  return { w, sh, channel, day, clock: t0, context, ...(loyalty ? { userId } : { anonymousId }) };
}

/** The login moment: identify with userId, anonymousId and email; later events on this channel carry both ids. */
function login(s: Session): void {
  const { userId, email } = s.sh.shopper;
  if (!userId || !email || s.userId || !s.anonymousId) return;
  s.userId = userId;
  s.sh.loggedIn.add(s.channel);
  emit(s, { type: 'identify', traits: { email } });
}

function itemInCategory(w: World, category: number): number {
  const members = w.cat.byCategory[category] as number[];
  return members[w.rng.weightedIndex(members.map((i) => (w.cat.items[i] as ItemModel).popularity))] as number;
}

function complementOf(w: World, item: number): number {
  const it = w.cat.items[item] as ItemModel;
  const others = (w.cat.groups[it.group] as number[]).filter((i) => i !== item);
  return others.length > 0 ? w.rng.pick(others) : itemInCategory(w, it.category);
}

/** First item of a session: often carried over from (or complementary to) what the shopper saw before. */
function firstItem(w: World, sh: ShopperModel, category: number | undefined): number {
  if (category === undefined && sh.recent.length > 0 && w.rng.chance(B.recallRate)) {
    const seen = w.rng.pick(sh.recent);
    return w.rng.chance(0.3) ? seen : complementOf(w, seen);
  }
  return itemInCategory(w, category ?? w.rng.weightedIndex(sh.prefs));
}

function nextItem(w: World, sh: ShopperModel, current: number): number {
  const r = w.rng.float();
  if (r < 0.4) return complementOf(w, current);
  if (r < 0.85) return itemInCategory(w, (w.cat.items[current] as ItemModel).category);
  return itemInCategory(w, w.rng.weightedIndex(sh.prefs));
}

function remember(sh: ShopperModel, item: number): void {
  sh.recent.push(item);
  if (sh.recent.length > 8) sh.recent.shift();
}

/** Conversion at the current price: base × (price / list price)^elasticity, boosted by complements in the cart. */
function buyProbability(w: World, item: number, day: number, cart: Map<number, number>, base: number): number {
  const it = w.cat.items[item] as ItemModel;
  const ratio = (w.dayPrice[item]?.[day] as number) / it.price;
  const complement = [...cart.keys()].some((i) => (w.cat.items[i] as ItemModel).group === it.group);
  return Math.min(0.9, base * (complement ? B.complementBoost : 1) * ratio ** it.elasticity);
}

function productProperties(w: World, item: number, day: number): ProductProperties {
  const it = w.cat.items[item] as ItemModel;
  return { product_id: it.itemId, category: w.cat.categoryNames[it.category] as string, price: w.dayPrice[item]?.[day] as number };
}

function completeOrder(s: Session, cart: Map<number, number>): void {
  const products = [...cart].map(([item, quantity]) => {
    const units = s.w.dailyUnits[item] as number[];
    units[s.day] = (units[s.day] as number) + quantity;
    return { ...productProperties(s.w, item, s.day), quantity };
  });
  const revenue = round2(products.reduce((sum, p) => sum + p.price * p.quantity, 0));
  const properties: OrderProperties = { order_id: `ORD-${pad(++s.w.orders, 6)}`, revenue, currency: 'EUR', products };
  emit(s, { type: 'track', event: 'Order Completed', properties });
}

/** Browse → (search) → views → adds → maybe checkout. Most sessions stop at views. */
function onlineSession(s: Session): void {
  const { w, sh } = s;
  emit(s, { type: 'page', name: 'Home', properties: { path: '/' } });
  if (w.rng.chance(LOGIN_ON_ARRIVAL[s.channel])) login(s);
  let category: number | undefined;
  if (w.rng.chance(B.searchRate)) {
    category = w.rng.weightedIndex(sh.prefs);
    const query = w.rng.pick(words(categorySpec(category)[2])).toLowerCase();
    emit(s, { type: 'track', event: 'Products Searched', properties: { query } });
  }
  const cart = new Map<number, number>();
  const views = 1 + Math.min(w.rng.poisson(B.extraViews), 9);
  let current = firstItem(w, sh, category);
  for (let v = 0; v < views; v++) {
    if (v > 0) current = nextItem(w, sh, current);
    const product = productProperties(w, current, s.day);
    emit(s, { type: 'track', event: 'Product Viewed', properties: product });
    remember(sh, current);
    if (!cart.has(current) && w.rng.chance(buyProbability(w, current, s.day, cart, B.addRate))) {
      const quantity = 1 + w.rng.weightedIndex(QUANTITY_WEIGHTS);
      cart.set(current, quantity);
      emit(s, { type: 'track', event: 'Product Added', properties: { ...product, quantity } });
    }
  }
  if (cart.size === 0 || !w.rng.chance(B.checkoutRate)) return;
  if (w.rng.chance(LOGIN_AT_CHECKOUT[s.channel])) login(s);
  completeOrder(s, cart);
}

/** In-store visit: items considered silently, only the receipt (if any) becomes an event. */
function storeSession(s: Session): void {
  const { w, sh } = s;
  const cart = new Map<number, number>();
  const considered = 1 + Math.min(w.rng.poisson(B.posExtraItems), 6);
  let current = firstItem(w, sh, undefined);
  for (let v = 0; v < considered; v++) {
    if (v > 0) current = nextItem(w, sh, current);
    remember(sh, current);
    if (!cart.has(current) && w.rng.chance(buyProbability(w, current, s.day, cart, B.posBuyRate))) {
      cart.set(current, 1 + w.rng.weightedIndex(QUANTITY_WEIGHTS));
    }
  }
  if (cart.size > 0) completeOrder(s, cart);
}

function runDays(w: World, shoppers: ShopperModel[], cfg: Config, traffic: number[]): void {
  traffic.forEach((multiplier, day) => {
    const dayStart = cfg.startMs + day * DAY_MS;
    for (const sh of shoppers) {
      const visits = range(w.rng.poisson(sh.shopper.sessionsPerDay * multiplier)).map(() => {
        const channel = sh.shopper.channels[w.rng.weightedIndex(sh.channelWeights)] as ShopChannel;
        const hour = w.rng.weightedIndex(channel === 'pos' ? STORE_HOURS : ONLINE_HOURS);
        return { channel, start: dayStart + (hour * 3600 + w.rng.int(0, 3599)) * 1000 };
      });
      for (const { channel, start } of visits.sort((a, b) => a.start - b.start)) {
        const session = openSession(w, sh, channel, day, start);
        if (session.channel === 'pos') storeSession(session);
        else onlineSession(session);
      }
    }
  });
}

// ---------------------------------------------------------------- entry point

/** Generates a whole shop. Pure and deterministic: the same options give deep-equal output. */
export function simulateShop(options: SimulateShopOptions = {}): SimulatedShop {
  const cfg = resolveOptions(options);
  const root = createRng(cfg.seed);
  const cat = buildCatalogue(root.fork('catalogue'), cfg);
  const { dayPrice, history } = buildPrices(root.fork('prices'), cat.items, cfg);
  const shoppers = buildShoppers(root.fork('shoppers'), cfg, cat.categoryNames);
  const traffic = trafficMultipliers(cfg);
  const w: World = {
    rng: root.fork('behaviour'),
    ids: root.fork('message-ids'),
    cat,
    dayPrice,
    events: [],
    dailyUnits: cat.items.map(() => range(cfg.days).map(() => 0)),
    sessions: 0,
    orders: 0,
  };
  runDays(w, shoppers, cfg, traffic);
  const baseDemand = expectedBaseDemand(cat, shoppers);
  const byItem = <T>(value: (i: number) => T): Record<string, T> => Object.fromEntries(cat.items.map((it, i) => [it.itemId, value(i)]));
  const catalogue = cat.items.map(
    ({ popularity: _p, group: _g, category, ...it }, i): Item => ({
      ...it,
      category: cat.categoryNames[category] as string,
      baseDemandPerDay: baseDemand[i] as number,
    }),
  );
  return {
    period: { start: iso(cfg.startMs), end: iso(cfg.startMs + cfg.days * DAY_MS), days: cfg.days, holiday: iso(cfg.holidayMs) },
    catalogue,
    shoppers: shoppers.map((sh) => sh.shopper),
    events: w.events.sort((a, b) => a.t - b.t).map((e) => e.message),
    priceHistory: history,
    truth: {
      elasticity: byItem((i) => (cat.items[i] as ItemModel).elasticity),
      baseDemandPerDay: byItem((i) => baseDemand[i] as number),
      preferences: Object.fromEntries(shoppers.map((sh) => [sh.shopper.shopperId, { ...sh.shopper.preferences }])),
      complementGroups: cat.groups.map((members) => members.map((i) => (cat.items[i] as ItemModel).itemId)),
      dailyUnits: byItem((i) => w.dailyUnits[i] as number[]),
      trafficMultiplier: traffic,
      holidayDay: cfg.holidayDay,
    },
  };
}
