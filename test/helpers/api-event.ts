import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { routeByKey, routeForRequest, routeKey as keyOf } from '../../shared/http/routes';

/** The admin key handler tests configure (handler-harness BASE_ENV). */
export const TEST_ADMIN_KEY = 'handler-test-admin-key';

export interface ApiEventOptions {
  method?: string;
  path?: string;
  routeKey?: string;
  body?: string;
  isBase64Encoded?: boolean;
  headers?: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  pathParameters?: Record<string, string>;
  /** false: no Authorization header on read/admin routes (by default TEST_ADMIN_KEY as Bearer). */
  credential?: false;
}

/** An API Gateway HTTP API (payload v2) event as a Lambda integration receives it. */
export function apiEvent(options: ApiEventOptions = {}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'GET';
  const path = options.path ?? '/';
  const query = options.queryStringParameters;
  // As API Gateway routes it: the template's routeKey (`GET /v1/items/{itemId}/similar`) when one matches.
  const matched = routeForRequest(method, path);
  const routeKey = options.routeKey ?? (matched ? keyOf(matched) : `${method} ${path}`);
  const routeClass = routeByKey(routeKey)?.class;
  const sendsOwn = Object.keys(options.headers ?? {}).some((name) => name.toLowerCase() === 'authorization');
  const credential =
    options.credential !== false && !sendsOwn && (routeClass === 'read' || routeClass === 'admin') ? { authorization: `Bearer ${TEST_ADMIN_KEY}` } : {};
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: query ? new URLSearchParams(query).toString() : '',
    headers: { 'content-type': 'application/json', ...credential, ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api-id',
      domainName: 'api-id.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'api-id',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'vitest' },
      requestId: 'request-id',
      routeKey,
      stage: '$default',
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: 1767225600000,
    },
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
  if (options.body !== undefined) event.body = options.body;
  if (query) event.queryStringParameters = query;
  if (options.pathParameters) event.pathParameters = options.pathParameters;
  return event;
}

/** A POST with a JSON body (an object is serialised; a string is sent verbatim). */
export function jsonPost(path: string, body: unknown): APIGatewayProxyEventV2 {
  return apiEvent({ method: 'POST', path, body: typeof body === 'string' ? body : JSON.stringify(body) });
}
