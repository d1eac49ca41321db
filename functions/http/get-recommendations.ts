import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { serveUser, userRequestSchema } from '../../shared/recommend/api';
import { servingRuntime } from '../../shared/recommend/runtime';
import { stageClock } from '../../shared/recommend/stages';

/** GET /v1/users/{userId}/recommendations?k=&channel=&category=&minPrice=&maxPrice=&maxPerCategory= */
export async function getRecommendationsCore(event: ApiEvent): Promise<ApiResult> {
  const clock = stageClock();
  const request = parseWith(userRequestSchema, { ...event.queryStringParameters, userId: event.pathParameters?.userId }, 'request');
  clock?.lap('parse');
  const result = json(200, await serveUser(servingRuntime(), request, new Date(), clock));
  clock?.lap('serialise');
  clock?.since('core', clock.startedAt);
  return result;
}

export const handler = httpHandler(getRecommendationsCore);
