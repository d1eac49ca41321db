/**
 * The authorisation matrix, derived from the route table (shared/http/routes.ts): every route ×
 * {none, wrong, write, read, admin}, over real HTTP on the local stack with the three key lists set, plus
 * unreadable credentials, CORS per route, and the table against serverless.yml (a route without a row
 * fails here). The deployed side (authorizers in the packaged template) is checked by package.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCEPTS, type KeyClass } from '../../shared/http/authorize';
import { ROUTES, type RouteSpec, routeKey } from '../../shared/http/routes';
import { type LocalStack, loadServerlessConfig, startLocalStack } from '../../shared/local';

const projectRoot = resolve(import.meta.dirname, '../..');
const KEYS = { write: 'wk_matrix_write', read: 'rk_matrix_read', admin: 'ak_matrix_admin' } as const;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const VARIABLES = ['WRITE_KEYS', 'READ_KEYS', 'ADMIN_KEYS', 'LOG_LEVEL', 'METRICS_DISABLED'] as const;
const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));

type Presented = 'none' | 'wrong' | KeyClass;
const PRESENTED: readonly Presented[] = ['none', 'wrong', 'write', 'read', 'admin'];

let stack: LocalStack | undefined;
let dataDir = '';

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

/** The credential a caller of `presented` sends to a route: Basic on capture (Segment), Bearer elsewhere. */
function authorization(route: RouteSpec, presented: Presented): Record<string, string> {
  if (presented === 'none') return {};
  const key = presented === 'wrong' ? 'not-a-configured-key' : KEYS[presented];
  return { authorization: route.class === 'write' ? basic(key) : `Bearer ${key}` };
}

function concretePath(route: RouteSpec): string {
  const path = route.path.replace(/\{([^}]+)\}/g, (_m, name: string) => `matrix-${name}`);
  return route.path === '/v1/profiles' ? `${path}?identifier=email:nobody@example.com` : path;
}

function body(route: RouteSpec): string | undefined {
  if (route.method === 'GET' || route.method === 'DELETE' || route.method === 'OPTIONS') return undefined;
  if (route.class === 'write') {
    const message = {
      type: 'track',
      event: 'Product Viewed',
      messageId: `matrix-${route.path}`,
      userId: 'matrix-shopper',
      properties: { product_id: 'SKU-M' },
    };
    return JSON.stringify(
      route.path === '/v1/batch' ? { batch: [message] } : { ...message, type: route.path.slice('/v1/'.length) === 'track' ? 'track' : undefined },
    );
  }
  return '{}';
}

async function call(route: RouteSpec, headers: Record<string, string>): Promise<{ status: number; headers: Headers; text: string }> {
  const text = body(route);
  const response = await fetch(`${stack?.url}${concretePath(route)}`, {
    method: route.method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(text === undefined ? {} : { body: text }),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** What the table says a route answers to `presented`: allowed, or the refusal status. */
function expected(route: RouteSpec, presented: Presented): 'allowed' | 401 | 403 {
  if (route.class === 'public') return 'allowed';
  if (presented === 'none' || presented === 'wrong') return 401;
  return ACCEPTS[route.class].includes(presented) ? 'allowed' : 403;
}

beforeAll(async () => {
  process.env.LOG_LEVEL = 'ERROR';
  process.env.METRICS_DISABLED = 'true';
  process.env.WRITE_KEYS = KEYS.write; // a plain key, as the local demo sets it
  process.env.READ_KEYS = `sha256:${sha256(KEYS.read)}`; // digests work too
  process.env.ADMIN_KEYS = `other-admin-key,${sha256(KEYS.admin)}`;
  dataDir = mkdtempSync(join(tmpdir(), 'auth-matrix-'));
  stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'authmatrix', quiet: true });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('the route table', () => {
  it('holds exactly the httpApi routes of serverless.yml, each served by the function the table names', () => {
    // Prepare
    const config = loadServerlessConfig(join(projectRoot, 'serverless.yml'), { env: {} });

    // Act
    const deployed = Object.entries(config.functions).flatMap(([name, fn]) =>
      fn.events.flatMap((e) => (e.type === 'httpApi' ? [`${e.method} ${e.path} -> ${name}`] : [])),
    );
    const table = ROUTES.map((route) => `${routeKey(route)} -> ${route.function}`);

    // Assess: a route added to serverless.yml without a policy fails here.
    expect(deployed.sort()).toEqual(table.sort());
    expect(new Set(ROUTES.map(routeKey)).size).toBe(ROUTES.length);
    expect(
      ROUTES.filter((r) => r.class === 'public')
        .map(routeKey)
        .sort(),
    ).toEqual(['GET /v1/openapi.json', ...['alias', 'batch', 'group', 'identify', 'page', 'screen', 'track'].map((t) => `OPTIONS /v1/${t}`)]);
  });
});

describe('route × credential on the local stack, over HTTP', () => {
  const cases = ROUTES.filter((r) => r.method !== 'OPTIONS').flatMap((route) => PRESENTED.map((presented) => [routeKey(route), presented, route] as const));

  it.each(cases)('%s with %s', async (_key, presented, route) => {
    // Act
    const answer = await call(route, authorization(route, presented));

    // Assess
    const want = expected(route, presented);
    if (want === 'allowed') {
      expect([401, 403], answer.text).not.toContain(answer.status);
      expect(answer.text).not.toMatch(/routes are not configured|is not configured/);
      return;
    }
    expect(answer.status, answer.text).toBe(want);
    const refusal = JSON.parse(answer.text) as { error: string; reason: string };
    expect(refusal.reason).toEqual(expect.any(String));
    for (const key of [...Object.values(KEYS), 'not-a-configured-key']) expect(answer.text).not.toContain(key);
    if (want === 401) expect(answer.headers.get('www-authenticate')).toMatch(route.class === 'write' ? /^Basic / : /^Bearer /);
    if (want === 403) expect(refusal.reason).toMatch(/needs an? (write|read|admin) key/);
  });

  it('accepts the write key in the JSON body on capture (Segment browser clients), and refuses an unknown one', async () => {
    // Prepare
    const batch = (writeKey: string) => ({
      writeKey,
      batch: [
        {
          type: 'track',
          event: 'Product Viewed',
          messageId: `body-${writeKey}`,
          userId: 'm-2',
          properties: { product_id: 'SKU-M' },
          context: { channel: 'web' },
        },
      ],
    });

    // Act
    const ok = await fetch(`${stack?.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(batch(KEYS.write)) });
    const bad = await fetch(`${stack?.url}/v1/batch`, { method: 'POST', body: JSON.stringify(batch('guess')) });

    // Assess
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(bad.status).toBe(401);
  });
});

describe('unreadable credentials: 401 with a reason, on every class', () => {
  const bad: [string, string][] = [
    ['a wrong scheme', `Digest ${KEYS.admin}`],
    ['an empty Bearer token', 'Bearer '],
    ['an empty Basic user', `Basic ${Buffer.from(':x').toString('base64')}`],
    ['a very long key', `Bearer ${'k'.repeat(5000)}`],
    ['control characters in Basic credentials', `Basic ${Buffer.from('wk\u0001:').toString('base64')}`],
    ['Basic credentials that are not base64', 'Basic ***'],
  ];
  const routes = ['POST /v1/batch', 'GET /v1/users/{userId}/recommendations', 'GET /v1/runs'].map(
    (key) => ROUTES.find((r) => routeKey(r) === key) as RouteSpec,
  );

  it.each(bad.flatMap(([what, header]) => routes.map((route) => [what, routeKey(route), header, route] as const)))(
    '%s on %s',
    async (_what, _key, header, route) => {
      // Act
      const answer = await call(route, { authorization: header });

      // Assess
      expect(answer.status, answer.text).toBe(401);
      expect((JSON.parse(answer.text) as { reason: string }).reason).toMatch(/Authorization|Basic|Bearer|scheme/);
      expect(answer.text).not.toContain(KEYS.admin);
      expect(answer.headers.get('www-authenticate')).toBeTruthy();
    },
  );

  it('names Authorization: Bearer when a key arrives as x-api-key (API Gateway caches by the Authorization header)', async () => {
    // Act
    const answer = await call(routes[2] as RouteSpec, { 'x-api-key': KEYS.admin });

    // Assess
    expect(answer.status).toBe(401);
    expect((JSON.parse(answer.text) as { reason: string }).reason).toContain('Authorization: Bearer');
  });
});

describe('CORS per route', () => {
  const origin = { origin: 'https://shop.example' };
  const byKey = (key: string) => ROUTES.find((r) => routeKey(r) === key) as RouteSpec;

  it('allows any origin on capture and the document, and no origin on read and admin routes (refusals included)', async () => {
    // Act
    const capture = await call(byKey('POST /v1/batch'), { ...origin, ...authorization(byKey('POST /v1/batch'), 'write') });
    const document = await call(byKey('GET /v1/openapi.json'), origin);
    const admin = await call(byKey('GET /v1/runs'), { ...origin, ...authorization(byKey('GET /v1/runs'), 'admin') });
    const adminRefused = await call(byKey('DELETE /v1/profiles/{profileId}'), origin);
    const read = await call(byKey('POST /v1/recommendations'), { ...origin, ...authorization(byKey('POST /v1/recommendations'), 'read') });

    // Assess
    expect(capture.headers.get('access-control-allow-origin')).toBe('*');
    expect(document.headers.get('access-control-allow-origin')).toBe('*');
    for (const answer of [admin, adminRefused, read]) expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect(adminRefused.status).toBe(401);
  });

  it('answers the preflight of a capture route, and has no preflight for admin routes', async () => {
    // Act
    const preflight = await fetch(`${stack?.url}/v1/batch`, {
      method: 'OPTIONS',
      headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    const adminPreflight = await fetch(`${stack?.url}/v1/runs`, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'GET' } });

    // Assess
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(adminPreflight.status).toBe(404);
    expect(adminPreflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});
