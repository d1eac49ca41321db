import { type ApiEvent, type ApiResult, httpHandler, json, parseJsonBody, parseWith } from '../../shared/http/api';
import { serveSession, sessionRequestSchema } from '../../shared/recommend/api';
import { servingRuntime } from '../../shared/recommend/runtime';

const MAX_BODY_BYTES = 64 * 1024;

/** POST /v1/recommendations — an anonymous session: {items: [{itemId, type?}], k?, anonymousId?, channel?, category?, minPrice?, maxPrice?} */
export async function sessionRecommendationsCore(event: ApiEvent): Promise<ApiResult> {
  const request = parseWith(sessionRequestSchema, parseJsonBody(event, MAX_BODY_BYTES), 'request');
  return json(200, await serveSession(servingRuntime(), request));
}

export const handler = httpHandler(sessionRecommendationsCore);
