import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { serveSimilar, similarRequestSchema } from '../../shared/recommend/api';
import { servingRuntime } from '../../shared/recommend/runtime';
import { stageClock } from '../../shared/recommend/stages';

/** GET /v1/items/{itemId}/similar?k=&channel=&category=&minPrice=&maxPrice= */
export async function similarItemsCore(event: ApiEvent): Promise<ApiResult> {
  const clock = stageClock();
  const request = parseWith(similarRequestSchema, { ...event.queryStringParameters, itemId: event.pathParameters?.itemId }, 'request');
  clock?.lap('parse');
  const result = json(200, await serveSimilar(servingRuntime(), request, new Date(), clock));
  clock?.lap('serialise');
  clock?.since('core', clock.startedAt);
  return result;
}

export const handler = httpHandler(similarItemsCore);
