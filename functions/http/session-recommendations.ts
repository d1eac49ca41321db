import { type ApiEvent, type ApiResult, httpHandler, json, parseJsonBody, parseWith } from '../../shared/http/api';
import { serveSession, sessionRequestSchema } from '../../shared/recommend/api';
import { servingRuntime } from '../../shared/recommend/runtime';
import { stageClock } from '../../shared/recommend/stages';

const MAX_BODY_BYTES = 64 * 1024;

/** POST /v1/recommendations — an anonymous session: {items: [{itemId, type?}], k?, anonymousId?, channel?, category?, minPrice?, maxPrice?} */
export async function sessionRecommendationsCore(event: ApiEvent): Promise<ApiResult> {
  const clock = stageClock();
  const request = parseWith(sessionRequestSchema, parseJsonBody(event, MAX_BODY_BYTES), 'request');
  clock?.lap('parse');
  const result = json(200, await serveSession(servingRuntime(), request, new Date(), clock));
  clock?.lap('serialise');
  clock?.since('core', clock.startedAt);
  return result;
}

export const handler = httpHandler(sessionRecommendationsCore);
