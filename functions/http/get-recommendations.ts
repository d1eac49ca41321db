import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { serveUser, userRequestSchema } from '../../shared/recommend/api';
import { servingRuntime } from '../../shared/recommend/runtime';

/** GET /v1/users/{userId}/recommendations?k=&channel=&category=&minPrice=&maxPrice=&maxPerCategory= */
export async function getRecommendationsCore(event: ApiEvent): Promise<ApiResult> {
  const request = parseWith(userRequestSchema, { ...event.queryStringParameters, userId: event.pathParameters?.userId }, 'request');
  return json(200, await serveUser(servingRuntime(), request));
}

export const handler = httpHandler(getRecommendationsCore);
