/**
 * The catalogue as serving reads it: an S3 snapshot of every item plus small delta objects.
 *
 * Why this design: serving needs all items (50,000+) in memory to filter and rank in microseconds,
 * and cannot afford a DynamoDB read per candidate. DynamoDB stays the source of truth for writes
 * (conditional, per item: stock, price, flags — see ./repository), and serving reads S3 only:
 *
 *   catalog/current.json                  pointer: the snapshot version, its key and a delta watermark
 *   catalog/snapshots/<version>.ndjson.gz every item, rebuilt from a DynamoDB Scan by the import job
 *                                         (after each bulk upload, and on a schedule when deltas exist)
 *   catalog/deltas/<time>-<hash>.ndjson.gz the items each PUT /v1/items changed (full items)
 *
 * A serving container loads the snapshot once per version and, every CATALOG_TTL_SECONDS, lists only
 * the deltas after the last one it applied (ListObjectsV2 StartAfter): a stock update is served within
 * one TTL without rebuilding 50,000 items. A rebuild records its start time minus a clock-skew margin
 * as the watermark, so a delta written while the Scan ran is applied on top; applying an item is
 * idempotent (newest `updatedAt` wins), so overlap is harmless.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../storage/object-store';
import type { CatalogItem } from './item';
import type { CatalogRepository } from './repository';

export const CATALOG_PREFIX = 'catalog/';
export const CATALOG_POINTER_KEY = `${CATALOG_PREFIX}current.json`;
export const CATALOG_SNAPSHOTS_PREFIX = `${CATALOG_PREFIX}snapshots/`;
export const CATALOG_DELTAS_PREFIX = `${CATALOG_PREFIX}deltas/`;
/** Deltas written this long before a rebuild started are applied on top of it anyway (clock skew). */
export const DELTA_SKEW_MARGIN_MS = 60_000;
/** Deltas older than the watermark by this much are deleted by a rebuild. */
export const DELTA_RETENTION_MS = 3_600_000;
/** Previous snapshots kept besides the current one. */
export const SNAPSHOTS_KEPT = 2;

export interface CatalogPointer {
  version: string;
  key: string;
  builtAt: string;
  items: number;
  /** Deltas with a key after this one may postdate the snapshot and are applied on top. */
  deltasAfter: string;
}

const compactTime = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.(\d+)Z$/, '$1Z');
export const deltaWatermark = (ms: number) => `${CATALOG_DELTAS_PREFIX}${compactTime(ms)}`;

/** Newer `updatedAt` wins; equal versions re-apply the same item (idempotent). */
export function mergeItem(items: Map<string, CatalogItem>, item: CatalogItem): boolean {
  const current = items.get(item.itemId);
  if (current && current.updatedAt > item.updatedAt) return false;
  items.set(item.itemId, item);
  return true;
}

export class CatalogSnapshots {
  constructor(private readonly blobs: ObjectStore) {}

  /** Records the items one write request changed (call after their DynamoDB writes succeeded). */
  async writeDelta(items: readonly CatalogItem[], now = Date.now()): Promise<string | undefined> {
    if (items.length === 0) return undefined;
    const hash = createHash('sha256');
    for (const item of items) hash.update(JSON.stringify(item)).update('\n');
    const key = `${deltaWatermark(now)}-${hash.digest('hex').slice(0, 16)}.ndjson.gz`;
    await this.blobs.putNdjsonGz(key, items);
    return key;
  }

  getPointer(): Promise<CatalogPointer | undefined> {
    return this.blobs.getJson<CatalogPointer>(CATALOG_POINTER_KEY);
  }

  readSnapshot(pointer: CatalogPointer): Promise<CatalogItem[]> {
    return this.blobs.getNdjson<CatalogItem>(pointer.key);
  }

  /** Delta keys after `startAfter` (all when undefined), oldest first. */
  listDeltas(startAfter?: string): Promise<string[]> {
    return this.blobs.listKeys(CATALOG_DELTAS_PREFIX, startAfter === undefined ? {} : { startAfter });
  }

  readDelta(key: string): Promise<CatalogItem[]> {
    return this.blobs.getNdjson<CatalogItem>(key);
  }

  /** Whether a rebuild would change anything: no snapshot yet, or deltas after its watermark. */
  async isStale(): Promise<boolean> {
    const pointer = await this.getPointer();
    if (!pointer) return true;
    return (await this.listDeltas(pointer.deltasAfter)).length > 0;
  }

  /**
   * Rebuilds the snapshot from the store (consistent Scan), points `current.json` at it, then deletes
   * deltas well before the new watermark. Safe to re-run: a retry writes a new complete snapshot.
   */
  async rebuild(repository: CatalogRepository, now = () => Date.now()): Promise<CatalogPointer> {
    const startedAt = now();
    const items: CatalogItem[] = [];
    for await (const page of repository.scan()) items.push(...page);
    items.sort((a, b) => (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    const hash = createHash('sha256');
    for (const item of items) hash.update(JSON.stringify(item)).update('\n');
    const version = `${compactTime(startedAt)}-${hash.digest('hex').slice(0, 12)}`;
    const key = `${CATALOG_SNAPSHOTS_PREFIX}${version}.ndjson.gz`;
    await this.blobs.putNdjsonGz(key, items);
    const pointer: CatalogPointer = {
      version,
      key,
      builtAt: new Date(now()).toISOString(),
      items: items.length,
      deltasAfter: deltaWatermark(startedAt - DELTA_SKEW_MARGIN_MS),
    };
    await this.blobs.putJson(CATALOG_POINTER_KEY, pointer);
    const oldDeltas = (await this.listDeltas()).filter((key) => key < deltaWatermark(startedAt - DELTA_SKEW_MARGIN_MS - DELTA_RETENTION_MS));
    // Containers may still be loading the previous snapshots: keep the newest few.
    const oldSnapshots = (await this.blobs.listKeys(CATALOG_SNAPSHOTS_PREFIX)).filter((k) => k !== key).slice(0, -SNAPSHOTS_KEPT);
    await this.blobs.deleteMany([...oldDeltas, ...oldSnapshots]);
    return pointer;
  }
}
