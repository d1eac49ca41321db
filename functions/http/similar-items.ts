import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { serveSimilar, similarRequestSchema } from '../../shared/recommend/api';
import { servingRuntime } from '../../shared/recommend/runtime';

/** GET /v1/items/{itemId}/similar?k=&channel=&category=&minPrice=&maxPrice= */
export async function similarItemsCore(event: ApiEvent): Promise<ApiResult> {
  const request = parseWith(similarRequestSchema, { ...event.queryStringParameters, itemId: event.pathParameters?.itemId }, 'request');
  return json(200, await serveSimilar(servingRuntime(), request));
}

export const handler = httpHandler(similarItemsCore);
