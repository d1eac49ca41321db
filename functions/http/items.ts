import { catalogRuntime } from '../../shared/catalog/runtime';
import { MAX_ITEMS_BODY_BYTES, putItemsSchema } from '../../shared/catalog/item';
import { putItems } from '../../shared/catalog/service';
import { type ApiEvent, type ApiResult, httpHandler, json, parseJsonBody, parseWith } from '../../shared/http/api';
import { badRequest } from '../../shared/http/errors';
import { logger, metrics } from '../../shared/observability/powertools';

/**
 * PUT /v1/items — upserts a batch of catalogue items ({items: [...]}, at most 1000; bulk catalogues
 * go through an S3 upload under imports/catalog/). Idempotent per item; invalid items are reported one
 * by one and never hold back the valid ones; 400 only when no item was valid.
 */
export async function putItemsCore(event: ApiEvent): Promise<ApiResult> {
  const { items } = parseWith(putItemsSchema, parseJsonBody(event, MAX_ITEMS_BODY_BYTES), 'request');
  const result = await putItems(catalogRuntime(), items);
  metrics.addMetric('CatalogItemsUpserted', 'Count', result.upserted);
  metrics.addMetric('CatalogItemsRejected', 'Count', result.rejected.length);
  metrics.addMetric('CatalogItemsStale', 'Count', result.stale);
  if (result.upserted === 0 && result.stale === 0) {
    throw badRequest(
      'No valid item in the request',
      result.rejected.flatMap((r) => r.issues.map((i) => ({ field: `items.${r.index}.${i.field}`, reason: i.reason }))),
    );
  }
  logger.info('catalogue items upserted', { upserted: result.upserted, stale: result.stale, rejected: result.rejected.length, delta: result.delta });
  return json(200, result);
}

export const handler = httpHandler(putItemsCore);
