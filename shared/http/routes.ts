/**
 * THE route table: every route of the HTTP API, with the credential class it needs and its CORS policy.
 * One source for everything that decides who may call what:
 *   - the handler middleware (shared/http/authorize.ts, in `httpHandler`) reads a request's class from
 *     here by its routeKey, on AWS and on the local stack alike;
 *   - API Gateway (deployed): read and admin routes carry the Lambda authorizer of their class in
 *     serverless/functions/*.yml (`authorizer: { name: readKeys | adminKeys }`); the test
 *     test/integration/auth-matrix.test.ts and test/integration/package.test.ts check that every
 *     `httpApi` route of serverless.yml is in this table and that the packaged template has the
 *     authorizer on exactly the routes whose `gateway` is `authorizer`;
 *   - the OpenAPI document (shared/capture/openapi.ts) lists every route with its security scheme.
 * A route added to serverless.yml without a row here fails those tests (and answers 500 at run time:
 * the middleware refuses a route it does not know).
 *
 * Classes:
 *   - `public`: no credential (the OpenAPI document, CORS preflights of the capture routes);
 *   - `write`: capture only, Segment write keys (WRITE_KEYS): HTTP Basic with the key as user name,
 *     or `writeKey` in the JSON body (what Segment's browser library sends);
 *   - `read`: server-side serving, read keys (READ_KEYS) or admin keys: `Authorization: Bearer <key>`;
 *   - `admin`: operators, admin keys (ADMIN_KEYS) only: `Authorization: Bearer <key>`.
 */

export type RouteClass = 'public' | 'write' | 'read' | 'admin';

/**
 * `any-origin`: `Access-Control-Allow-Origin: *` (no credentials mode: a browser never sends cookies),
 * for what browsers call (capture, the document). `none`: no CORS header at all, so no browser page of
 * another origin can read the answer (read routes are called by a shop's backend, admin routes by
 * operators' tools).
 */
export type CorsPolicy = 'any-origin' | 'none';

/** Where the class is enforced when deployed, besides the handler middleware (which checks every route). */
export type GatewayCheck = 'authorizer' | 'handler-only';

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS';
  path: string;
  /** The function of serverless/functions/*.yml that serves it. */
  function: string;
  class: RouteClass;
  cors: CorsPolicy;
  summary: string;
  /** OpenAPI tag. */
  tag: 'capture' | 'serving' | 'profiles' | 'catalogue' | 'runs' | 'quarantine' | 'meta';
}

const CAPTURE_TYPES = ['batch', 'track', 'identify', 'page', 'screen', 'alias', 'group'] as const;

export const ROUTES: readonly RouteSpec[] = [
  ...CAPTURE_TYPES.map(
    (type): RouteSpec => ({
      method: 'POST',
      path: `/v1/${type}`,
      function: 'captureBatch',
      class: 'write',
      cors: 'any-origin',
      summary: type === 'batch' ? 'Capture a batch of Segment messages' : `Capture one ${type} message (Segment HTTP API)`,
      tag: 'capture',
    }),
  ),
  // Browsers preflight a capture request that carries Authorization (Basic): with no API-wide CORS
  // configuration (provider.httpApi.cors is false), API Gateway routes the preflight to a route.
  ...CAPTURE_TYPES.map(
    (type): RouteSpec => ({
      method: 'OPTIONS',
      path: `/v1/${type}`,
      function: 'captureBatch',
      class: 'public',
      cors: 'any-origin',
      summary: `CORS preflight of POST /v1/${type}`,
      tag: 'capture',
    }),
  ),
  {
    method: 'GET',
    path: '/v1/quarantine',
    function: 'quarantine',
    class: 'admin',
    cors: 'none',
    summary: "List a day's quarantined messages",
    tag: 'quarantine',
  },
  {
    method: 'POST',
    path: '/v1/quarantine/replay',
    function: 'quarantine',
    class: 'admin',
    cors: 'none',
    summary: 'Replay quarantined messages through the capture path',
    tag: 'quarantine',
  },
  { method: 'GET', path: '/v1/openapi.json', function: 'openApi', class: 'public', cors: 'any-origin', summary: 'This API as OpenAPI 3.1', tag: 'meta' },
  {
    method: 'GET',
    path: '/v1/users/{userId}/recommendations',
    function: 'getRecommendations',
    class: 'read',
    cors: 'none',
    summary: 'Personalised recommendations for a shopper',
    tag: 'serving',
  },
  {
    method: 'POST',
    path: '/v1/recommendations',
    function: 'sessionRecommendations',
    class: 'read',
    cors: 'none',
    summary: 'Recommendations for an anonymous session from the items it viewed',
    tag: 'serving',
  },
  {
    method: 'GET',
    path: '/v1/items/{itemId}/similar',
    function: 'similarItems',
    class: 'read',
    cors: 'none',
    summary: 'Items similar to an item',
    tag: 'serving',
  },
  { method: 'PUT', path: '/v1/items', function: 'putItems', class: 'admin', cors: 'none', summary: 'Upsert catalogue items', tag: 'catalogue' },
  {
    method: 'GET',
    path: '/v1/profiles/{profileId}',
    function: 'getProfile',
    class: 'admin',
    cors: 'none',
    summary: 'The unified shopper profile by id',
    tag: 'profiles',
  },
  {
    method: 'GET',
    path: '/v1/profiles',
    function: 'getProfile',
    class: 'admin',
    cors: 'none',
    summary: 'The unified shopper profile by identifier (?identifier=type:value)',
    tag: 'profiles',
  },
  {
    method: 'DELETE',
    path: '/v1/profiles/{profileId}',
    function: 'deleteProfile',
    class: 'admin',
    cors: 'none',
    summary: 'Erase a shopper (right to erasure)',
    tag: 'profiles',
  },
  { method: 'GET', path: '/v1/runs', function: 'runReports', class: 'admin', cors: 'none', summary: 'Retraining runs, newest first', tag: 'runs' },
  {
    method: 'GET',
    path: '/v1/runs/{runId}/report',
    function: 'runReports',
    class: 'admin',
    cors: 'none',
    summary: "A retraining run's HTML report",
    tag: 'runs',
  },
];

export const routeKey = (route: Pick<RouteSpec, 'method' | 'path'>) => `${route.method} ${route.path}`;

const BY_KEY = new Map(ROUTES.map((route) => [routeKey(route), route]));

/** The row of an API Gateway routeKey (`GET /v1/runs`), or undefined. */
export function routeByKey(key: string | undefined): RouteSpec | undefined {
  return key === undefined ? undefined : BY_KEY.get(key);
}

/** The row whose method and path template (`{param}` = one segment) match a concrete request, as API Gateway routes it. */
export function routeForRequest(method: string, path: string): RouteSpec | undefined {
  const literal = BY_KEY.get(`${method} ${path}`);
  if (literal) return literal;
  const segments = path.split('/');
  return ROUTES.find((route) => {
    if (route.method !== method) return false;
    const template = route.path.split('/');
    return template.length === segments.length && template.every((part, i) => /^\{[^}]+\}$/.test(part) || part === segments[i]);
  });
}

/**
 * Deployed, read and admin routes are also checked by API Gateway's Lambda authorizer (one per class,
 * so a cached "allow" for a read key never opens an admin route). Write routes are checked by the
 * capture handler only: Segment's browser library sends the write key in the JSON body, which an
 * authorizer never sees, and a write key is public by design (it ships in web pages).
 */
export function gatewayCheck(routeClass: RouteClass): GatewayCheck {
  return routeClass === 'read' || routeClass === 'admin' ? 'authorizer' : 'handler-only';
}

/** The name of the authorizer (provider.httpApi.authorizers in serverless.yml) that guards a class. */
export const AUTHORIZER_OF_CLASS: Partial<Record<RouteClass, string>> = { read: 'readKeys', admin: 'adminKeys' };
