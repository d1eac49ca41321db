import { logger, metrics } from '../observability/powertools';
import type { CatalogItem } from './item';
import { type CatalogSnapshots, mergeItem } from './snapshot';

/** The catalogue held by one serving container. `revision` changes whenever an item changes. */
export interface CatalogueState {
  items: ReadonlyMap<string, CatalogItem>;
  /** Snapshot version (undefined before the first snapshot is built: deltas only). */
  version: string | undefined;
  revision: number;
  /** Changes only when an item's text (title, category, description) changes or an item is added. */
  textRevision: number;
}

const textOf = (item: CatalogItem) => `${item.title}\u0000${item.category}\u0000${item.description ?? ''}`;

/**
 * Keeps the catalogue in memory: the snapshot is loaded once per version, deltas are polled at most
 * every `ttlMs` (see ./snapshot for the layout). A failed refresh keeps the previous state serving.
 */
export class CatalogCache {
  private items = new Map<string, CatalogItem>();
  private version: string | undefined;
  private lastDelta: string | undefined;
  private revision = 0;
  private textRevision = 0;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<CatalogueState> | undefined;
  private state: CatalogueState = { items: this.items, version: undefined, revision: 0, textRevision: 0 };

  constructor(
    private readonly snapshots: CatalogSnapshots,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(): Promise<CatalogueState> {
    if (this.clock() - this.checkedAt < this.ttlMs) return this.state;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<CatalogueState> {
    try {
      const pointer = await this.snapshots.getPointer();
      let changed = false;
      let textChanged = false;
      if (pointer && pointer.version !== this.version) {
        const started = performance.now();
        const next = new Map<string, CatalogItem>();
        for (const item of await this.snapshots.readSnapshot(pointer)) next.set(item.itemId, item);
        // Deltas this container applied after the new watermark are re-applied below (idempotent).
        this.items = next;
        this.version = pointer.version;
        this.lastDelta = pointer.deltasAfter;
        changed = textChanged = true;
        logger.info('catalogue snapshot loaded', { catalogVersion: pointer.version, items: next.size, ms: Math.round(performance.now() - started) });
      }
      for (const key of await this.snapshots.listDeltas(this.lastDelta)) {
        for (const item of await this.snapshots.readDelta(key)) {
          const before = this.items.get(item.itemId);
          if (mergeItem(this.items, item)) {
            changed = true;
            if (!before || textOf(before) !== textOf(item)) textChanged = true;
          }
        }
        this.lastDelta = key;
      }
      this.checkedAt = this.clock();
      if (changed) {
        this.revision += 1;
        if (textChanged) this.textRevision += 1;
        this.state = { items: this.items, version: this.version, revision: this.revision, textRevision: this.textRevision };
      }
    } catch (error) {
      // Keep serving what we have; try again after the TTL.
      this.checkedAt = this.clock();
      metrics.addMetric('CatalogRefreshFailures', 'Count', 1);
      logger.error('catalogue refresh failed; the previous catalogue keeps serving', { catalogVersion: this.version, error: error as Error });
    }
    return this.state;
  }
}
