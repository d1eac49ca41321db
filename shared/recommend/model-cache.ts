import type * as ort from 'onnxruntime-node';
import type { ItemIndex } from '../../models/recommender/train';
import { logger, metrics } from '../observability/powertools';
import { createSession } from '../onnx/session';
import type { ModelRegistry } from '../registry/registry';

/** A served model version: its session is created once and reused by every request. */
export interface LoadedModel {
  family: string;
  version: string;
  session: ort.InferenceSession;
  itemIds: string[];
  categories: (string | null)[];
  index: Map<string, number>;
  /** Item indices by descending popularity (the cold-start answer). */
  popularOrder: Int32Array;
}

export type ItemsArtifact = ItemIndex & { categories?: (string | null)[] };

export async function loadModel(registry: ModelRegistry, family: string, version: string): Promise<LoadedModel> {
  const [bytes, items] = await Promise.all([registry.getModelBytes(family, version), registry.getJson<ItemsArtifact>(family, version, 'items.json')]);
  if (!bytes || !items) throw new Error(`model ${family}/${version} is missing model.onnx or items.json`);
  const session = await createSession(bytes);
  const popularOrder = Int32Array.from(items.itemIds.map((_, i) => i)).sort((a, b) => (items.popularity[b] ?? 0) - (items.popularity[a] ?? 0));
  return {
    family,
    version,
    session,
    itemIds: items.itemIds,
    categories: items.categories ?? items.itemIds.map(() => null),
    index: new Map(items.itemIds.map((id, i) => [id, i])),
    popularOrder,
  };
}

/**
 * Keeps the champion of a family loaded in this container. The alias is re-read at most every
 * `ttlMs`; a new version is loaded once, and if loading fails the previous version keeps serving.
 */
export class ChampionCache {
  private current: LoadedModel | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<LoadedModel | undefined> | undefined;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly family: string,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(): Promise<LoadedModel | undefined> {
    if (this.current && this.clock() - this.checkedAt < this.ttlMs) return this.current;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<LoadedModel | undefined> {
    const alias = await this.registry.getAlias(this.family, 'champion');
    this.checkedAt = this.clock();
    if (!alias || alias.version === this.current?.version) return this.current;
    try {
      const next = await loadModel(this.registry, this.family, alias.version);
      const previous = this.current;
      this.current = next;
      metrics.addMetric('ModelReloads', 'Count', 1);
      logger.info('model loaded', { family: this.family, modelVersion: next.version, previousVersion: previous?.version });
      await previous?.session.release();
    } catch (error) {
      metrics.addMetric('ModelLoadFailures', 'Count', 1);
      logger.error('model load failed; the previous version keeps serving', {
        family: this.family,
        modelVersion: alias.version,
        servingVersion: this.current?.version,
        error: error as Error,
      });
    }
    return this.current;
  }
}
