import httpErrorHandler from '@middy/http-error-handler';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { ZodType } from 'zod';
import { secretsMiddleware } from '../observability/secrets-middleware';
import { logger, metrics } from '../observability/powertools';
import { routeAuthorization } from './authorize';
import { badRequest, payloadTooLarge } from './errors';
import { zodIssues } from './validation';

export type ApiEvent = APIGatewayProxyEventV2;
export type ApiResult = APIGatewayProxyStructuredResultV2;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** Decodes and parses a JSON body with a size limit; errors name the reason (400 / 413). */
export function parseJsonBody(event: ApiEvent, limitBytes: number): unknown {
  if (event.body === undefined || event.body === null || event.body === '')
    throw badRequest('Request body is required', [{ field: 'body', reason: 'missing' }]);
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text, 'utf8') > limitBytes) throw payloadTooLarge(limitBytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest('Malformed JSON', [{ field: 'body', reason: (error as Error).message }]);
  }
}

/** Validates a value against a zod schema, raising 400 with every field and reason. */
export function parseWith<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(`Invalid ${what}`, zodIssues(result.error));
  return result.data;
}

/**
 * The one middleware stack for HTTP handlers: logging context, metrics, secrets from SSM, the route's
 * credential class and CORS policy (shared/http/routes.ts, shared/http/authorize.ts), error mapping.
 */
export function httpHandler(core: (event: ApiEvent, context: Context) => Promise<ApiResult>) {
  return middy(core)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(secretsMiddleware())
    .use(routeAuthorization())
    .use(
      httpErrorHandler({
        logger: (error: unknown) => {
          const status = (error as { statusCode?: number }).statusCode;
          if (!status || status >= 500) logger.error('request failed', error as Error);
        },
        fallbackMessage: JSON.stringify({ message: 'Internal Server Error' }),
      }),
    );
}
