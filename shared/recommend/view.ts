/**
 * A model's item index joined with the catalogue, as flat typed arrays indexed like the model's
 * scores: built once per (model version, catalogue revision), so a request filters 50,000 items with
 * array reads and allocates nothing of size N (exclusions use an epoch-stamped scratch array).
 */
import { CHANNELS } from '../events/canonical';
import type { CatalogueState } from '../catalog/cache';
import { type CatalogItem, isAvailable } from '../catalog/item';
import type { LoadedModel } from './model-cache';

export const ALL_CHANNELS = 0xffffffff;
const channelBits = new Map<string, number>(CHANNELS.map((c, i) => [c, 1 << i]));

/** Bit of a channel in the availability masks (new channel names get the next free bit, up to 32). */
export function channelBit(channel: string): number {
  let bit = channelBits.get(channel);
  if (bit === undefined) {
    bit = channelBits.size < 32 ? 1 << channelBits.size : 0;
    channelBits.set(channel, bit);
  }
  return bit;
}

export function channelMask(channels: readonly string[] | undefined): number {
  if (!channels) return ALL_CHANNELS;
  let mask = 0;
  for (const c of channels) mask |= channelBit(c);
  return mask >>> 0;
}

/** A catalogue item the collaborative model does not know (new items, content-based fill). */
export interface ColdItem {
  item: CatalogItem;
  createdAtMs: number;
  category: number;
  channels: number;
}

export interface ServingView {
  model: LoadedModel;
  catalogue: ReadonlyMap<string, CatalogItem>;
  catalogRevision: number;
  n: number;
  /** 1 = may be recommended: active and in stock (items missing from the catalogue count as available). */
  available: Uint8Array;
  /** NaN when unknown (fails any price filter). */
  price: Float64Array;
  /** Category id, -1 when unknown. */
  category: Int32Array;
  channels: Uint32Array;
  /** Model indices of items flagged `promoted` in the catalogue. */
  promoted: Int32Array;
  categoryIds: Map<string, number>;
  categoryNames: string[];
  /** Available catalogue items unknown to the model, newest launch first. */
  cold: ColdItem[];
  coldById: Map<string, ColdItem>;
  /** Cold items flagged `promoted`, newest first. */
  coldPromoted: ColdItem[];
  /** Exclusion marks: `stamp[i] === epoch` excludes index i for the current request. */
  stamp: Uint32Array;
  epoch: number;
}

export function categoryId(view: Pick<ServingView, 'categoryIds' | 'categoryNames'>, name: string): number {
  let id = view.categoryIds.get(name);
  if (id === undefined) {
    id = view.categoryNames.length;
    view.categoryIds.set(name, id);
    view.categoryNames.push(name);
  }
  return id;
}

export function buildView(model: LoadedModel, catalogue: CatalogueState): ServingView {
  const n = model.itemIds.length;
  const view: ServingView = {
    model,
    catalogue: catalogue.items,
    catalogRevision: catalogue.revision,
    n,
    available: new Uint8Array(n),
    price: new Float64Array(n),
    category: new Int32Array(n),
    channels: new Uint32Array(n),
    promoted: new Int32Array(0),
    categoryIds: new Map(),
    categoryNames: [],
    cold: [],
    coldById: new Map(),
    coldPromoted: [],
    stamp: new Uint32Array(n),
    epoch: 0,
  };
  const promoted: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = model.itemIds[i] as string;
    const item = catalogue.items.get(id);
    const categoryName = item?.category || model.categories[i] || undefined;
    view.category[i] = categoryName ? categoryId(view, categoryName) : -1;
    if (!item) {
      view.available[i] = 1;
      view.price[i] = Number.NaN;
      view.channels[i] = ALL_CHANNELS;
      continue;
    }
    view.available[i] = isAvailable(item) ? 1 : 0;
    view.price[i] = Number.isFinite(item.price) ? item.price : Number.NaN;
    view.channels[i] = channelMask(item.channels);
    if (item.promoted) promoted.push(i);
  }
  view.promoted = Int32Array.from(promoted);
  for (const item of catalogue.items.values()) {
    if (model.index.has(item.itemId) || !isAvailable(item)) continue;
    view.cold.push({
      item,
      createdAtMs: Date.parse(item.createdAt),
      category: item.category ? categoryId(view, item.category) : -1,
      channels: channelMask(item.channels),
    });
  }
  view.cold.sort((a, b) => (b.createdAtMs || 0) - (a.createdAtMs || 0) || (a.item.itemId < b.item.itemId ? -1 : 1));
  for (const cold of view.cold) {
    view.coldById.set(cold.item.itemId, cold);
    if (cold.item.promoted) view.coldPromoted.push(cold);
  }
  return view;
}

/** Starts a request's exclusion set (no allocation): call, then `exclude`, with no await in between and the ranking. */
export function beginExclusions(view: ServingView): void {
  view.epoch = (view.epoch + 1) >>> 0;
  if (view.epoch === 0) {
    view.stamp.fill(0);
    view.epoch = 1;
  }
}

export function excludeIndex(view: ServingView, index: number): void {
  view.stamp[index] = view.epoch;
}

/** Keeps the last view per alias; rebuilt when the model version or the catalogue revision changes. */
export class ViewCache {
  private readonly views = new Map<string, ServingView>();

  get(alias: string, model: LoadedModel, catalogue: CatalogueState): ServingView {
    const current = this.views.get(alias);
    if (current && current.model === model && current.catalogRevision === catalogue.revision && current.catalogue === catalogue.items) return current;
    const view = buildView(model, catalogue);
    this.views.set(alias, view);
    return view;
  }
}
