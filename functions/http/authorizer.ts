import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerWithContextResult } from 'aws-lambda';
import { secrets } from '../../shared/config/secrets';
import { countDecision, decide, type KeyRings, keyRings, presentedCredential } from '../../shared/http/authorize';
import { routeByKey } from '../../shared/http/routes';
import { logger, metrics } from '../../shared/observability/powertools';

export type AuthorizerResult = APIGatewaySimpleAuthorizerWithContextResult<{ keyClass: string }>;

/**
 * API Gateway's Lambda authorizer (HTTP API, payload 2.0, simple responses) for the read and admin
 * routes: the same decision as the handler middleware (shared/http/authorize.ts), from the same route
 * table and key lists. Two authorizers use it (`readKeys`, `adminKeys` in serverless.yml), one per
 * class: API Gateway caches a result per authorizer and identity source (the Authorization header),
 * so a read key allowed on a read route is never reused for an admin route.
 *
 * API Gateway answers 401 itself when Authorization is missing, 403 for `isAuthorized: false`; the
 * reasons with 401/403/503 come from the handler middleware, which checks again behind it.
 */
export async function authorizeCore(event: APIGatewayRequestAuthorizerEventV2, rings: () => KeyRings = keyRings): Promise<AuthorizerResult> {
  const route = routeByKey(event.routeKey);
  if (!route) {
    logger.error('authorizer: route missing from the route table (shared/http/routes.ts): denied', { routeKey: event.routeKey });
    return { isAuthorized: false, context: { keyClass: 'none' } };
  }
  const decision = decide(route.class, presentedCredential(event.headers), rings());
  countDecision(decision);
  // Allowed without a key (an open local stack, public and deferred routes) is never cached as a key's class.
  const keyClass = decision.allow ? (decision.as ?? 'none') : 'none';
  return { isAuthorized: decision.allow && (decision.as !== undefined || route.class === 'public'), context: { keyClass } };
}

export async function handler(event: APIGatewayRequestAuthorizerEventV2): Promise<AuthorizerResult> {
  try {
    const report = await secrets().load();
    if (report.stale.length > 0) metrics.addMetric('SecretRefreshFailed', 'Count', report.stale.length);
    return await authorizeCore(event);
  } catch (error) {
    // A key list that cannot be read denies (fails closed); the handler behind would answer 5xx anyway.
    logger.error('authorizer failed: denied', error as Error);
    return { isAuthorized: false, context: { keyClass: 'none' } };
  } finally {
    metrics.publishStoredMetrics();
  }
}
