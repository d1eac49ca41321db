import type * as ort from 'onnxruntime-node';
import { checkRecommenderSession, META_KIND } from '../../models/recommender/contract';
import type { ItemIndex } from '../../models/recommender/train';
import { logger, metrics } from '../observability/powertools';
import { readModelMetadata } from '../onnx/graph';
import { createSession } from '../onnx/session';
import type { ModelRegistry } from '../registry/registry';
import { type Explainer, explainerFor } from './explain';

/** A served model version: its session is created once per container and reused by every request. */
export interface LoadedModel {
  family: string;
  version: string;
  /** `model_kind` from the ONNX metadata (`item-item`, `item-item-sparse`, …) or `unknown` (bring-your-own). */
  kind: string;
  session: ort.InferenceSession;
  itemIds: string[];
  categories: (string | null)[];
  index: Map<string, number>;
  /** Popularity in [0,1] per item index (cold start). */
  popularity: Float32Array;
  /** Item indices by descending popularity (the cold-start answer). */
  popularOrder: Int32Array;
  /** Per-history-item contributions to a score, when the model's kind lets us read its weights. */
  explainer: Explainer | undefined;
  /** Download + session creation + contract check, in ms. */
  loadMs: number;
  /** Free [N] score buffers ORT writes into (a request borrows one and gives it back after ranking). */
  scoreBuffers: Float32Array[];
}

const SESSION_RELEASE_DELAY_MS = 10_000;

export type ItemsArtifact = ItemIndex & { categories?: (string | null)[] };

/**
 * Loads a version through the recommender contract: ANY model meeting it is served (dense item-item,
 * sparse top-K item-item, bring-your-own); the golden contract check runs once here, so a version that
 * loads but breaks the contract never replaces a working one.
 */
export async function loadModel(registry: ModelRegistry, family: string, version: string): Promise<LoadedModel> {
  const started = performance.now();
  const [bytes, items] = await Promise.all([registry.getModelBytes(family, version), registry.getJson<ItemsArtifact>(family, version, 'items.json')]);
  if (!bytes || !items) throw new Error(`model ${family}/${version} is missing model.onnx or items.json`);
  const n = items.itemIds.length;
  const session = await createSession(bytes);
  try {
    const check = await checkRecommenderSession(session, n);
    if (!check.ok) throw new Error(`model ${family}/${version} breaks the recommender contract: ${check.reasons.join('; ')}`);
  } catch (error) {
    await session.release();
    throw error;
  }
  const kind = readModelMetadata(bytes)[META_KIND] ?? 'unknown';
  const popularity = Float32Array.from(items.itemIds, (_, i) => items.popularity[i] ?? 0);
  const popularOrder = Int32Array.from(items.itemIds, (_, i) => i).sort((a, b) => popularity[b]! - popularity[a]! || a - b);
  return {
    family,
    version,
    kind,
    session,
    itemIds: items.itemIds,
    categories: items.categories ?? items.itemIds.map(() => null),
    index: new Map(items.itemIds.map((id, i) => [id, i])),
    popularity,
    popularOrder,
    explainer: explainerFor(kind, bytes, n),
    loadMs: performance.now() - started,
    scoreBuffers: [],
  };
}

/**
 * Keeps the version an alias of a family points to loaded in this container. The alias is re-read at
 * most every `ttlMs`; a new version is loaded once, and if loading fails (missing files, unloadable ONNX,
 * contract broken) the previous version keeps serving, with a `ModelLoadFailures` metric and an error log.
 */
export class AliasCache {
  private current: LoadedModel | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<LoadedModel | undefined> | undefined;

  constructor(
    private readonly registry: ModelRegistry,
    readonly family: string,
    readonly alias: string,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
    /**
     * Champion: keeps serving when its alias disappears, and re-reads the alias on every request while
     * nothing is loaded yet (the first promotion is picked up at once). Challenger: stops when its alias
     * disappears (an ended experiment) and re-reads it only every TTL.
     */
    private readonly championLike = true,
  ) {}

  async get(): Promise<LoadedModel | undefined> {
    if ((this.current || !this.championLike) && this.clock() - this.checkedAt < this.ttlMs) return this.current;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<LoadedModel | undefined> {
    const pointer = await this.registry.getAlias(this.family, this.alias);
    this.checkedAt = this.clock();
    if (!pointer) {
      if (!this.championLike && this.current) {
        logger.info('alias removed; its model is no longer served', { family: this.family, alias: this.alias, modelVersion: this.current.version });
        this.current = undefined;
      }
      return this.current;
    }
    if (pointer.version === this.current?.version) return this.current;
    try {
      const next = await loadModel(this.registry, this.family, pointer.version);
      const previous = this.current;
      this.current = next;
      metrics.addMetric('ModelReloads', 'Count', 1);
      logger.info('model loaded', {
        family: this.family,
        alias: this.alias,
        modelVersion: next.version,
        modelKind: next.kind,
        items: next.itemIds.length,
        loadMs: Math.round(next.loadMs),
        previousVersion: previous?.version,
      });
      // A request of this container may still be inside run() on the previous session: release it later.
      if (previous) setTimeout(() => void previous.session.release().catch(() => undefined), SESSION_RELEASE_DELAY_MS).unref();
    } catch (error) {
      metrics.addMetric('ModelLoadFailures', 'Count', 1);
      logger.error('model load failed; the previous version keeps serving', {
        family: this.family,
        alias: this.alias,
        modelVersion: pointer.version,
        servingVersion: this.current?.version,
        error: error as Error,
      });
    }
    return this.current;
  }
}

/** The champion of a family (kept when its alias is unreadable as missing). */
export class ChampionCache extends AliasCache {
  constructor(registry: ModelRegistry, family: string, ttlMs: number, clock: () => number = Date.now) {
    super(registry, family, 'champion', ttlMs, clock, true);
  }
}
