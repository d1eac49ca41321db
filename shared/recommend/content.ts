import { TfidfIndex } from '../../models/content/tfidf';
import type { CatalogueState } from '../catalog/cache';
import { itemText } from '../catalog/item';
import { logger } from '../observability/powertools';

/**
 * The TF-IDF index of the catalogue's texts (cold-start content model), built lazily on first use and
 * again only when an item's text changes or an item is added (the catalogue's `textRevision`).
 */
export class ContentIndexCache {
  private index: TfidfIndex | undefined;
  private builtFor: { items: CatalogueState['items']; textRevision: number } | undefined;

  get(catalogue: CatalogueState): TfidfIndex | undefined {
    if (catalogue.items.size === 0) return undefined;
    if (this.index && this.builtFor?.items === catalogue.items && this.builtFor.textRevision === catalogue.textRevision) return this.index;
    const started = performance.now();
    this.index = TfidfIndex.fit([...catalogue.items.values()].map((item) => ({ id: item.itemId, text: itemText(item) })));
    this.builtFor = { items: catalogue.items, textRevision: catalogue.textRevision };
    logger.info('content index built', { items: this.index.size, terms: this.index.vocabulary.size, ms: Math.round(performance.now() - started) });
    return this.index;
  }
}
