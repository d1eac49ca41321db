/**
 * A node:http server standing in for the API Gateway HTTP API of serverless.yml: every `httpApi`
 * route, payload format 2.0 events, and API Gateway's own answers for what never reaches a
 * function (404 for an unknown route, 413 over 10 MB, 500 when the function fails).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { invokeFunction } from './invoke';
import type { FunctionConfig, ServerlessConfig } from './serverless-config';

/** API Gateway's request payload quota (HTTP APIs): 10 MB. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export interface HttpApiOptions {
  config: ServerlessConfig;
  projectRoot?: string;
  /** 0 = a free port. */
  port?: number;
  host?: string;
  /** Called with each handler failure (they are also logged unless `quiet`). */
  onError?: (error: unknown, route: string) => void;
  quiet?: boolean;
}

export interface HttpApi {
  url: string;
  port: number;
  server: Server;
  routes: Route[];
  close(): Promise<void>;
}

export interface Route {
  routeKey: string;
  method: string;
  path: string;
  fn: FunctionConfig;
  regex: RegExp;
  paramNames: string[];
  /** Literal segments weigh more than {param} segments, which weigh more than {greedy+}. */
  score: number[];
}

function compileRoute(method: string, path: string, fn: FunctionConfig): Route {
  const routeKey = path === '*' ? '$default' : `${method === '*' ? 'ANY' : method} ${path}`;
  if (path === '*') return { routeKey, method: '*', path, fn, regex: /^.*$/, paramNames: [], score: [] };
  const paramNames: string[] = [];
  const score: number[] = [];
  const parts = path
    .split('/')
    .filter((s, i) => i > 0 || s !== '')
    .map((segment) => {
      const greedy = /^\{([^}]+)\+\}$/.exec(segment);
      if (greedy) {
        paramNames.push(greedy[1] as string);
        score.push(1);
        return '(.+)';
      }
      const param = /^\{([^}]+)\}$/.exec(segment);
      if (param) {
        paramNames.push(param[1] as string);
        score.push(2);
        return '([^/]+)';
      }
      score.push(3);
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    });
  return { routeKey, method, path, fn, regex: new RegExp(`^/${parts.join('/')}$`), paramNames, score };
}

export function buildRoutes(config: ServerlessConfig): Route[] {
  const routes: Route[] = [];
  for (const fn of Object.values(config.functions)) {
    for (const ev of fn.events) if (ev.type === 'httpApi') routes.push(compileRoute(ev.method, ev.path, fn));
  }
  return routes;
}

function compareScore(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function matchRoute(routes: Route[], method: string, path: string): { route: Route; pathParameters: Record<string, string> } | undefined {
  let best: { route: Route; match: RegExpExecArray } | undefined;
  for (const route of routes) {
    if (route.path === '*') continue;
    if (route.method !== '*' && route.method !== method) continue;
    const match = route.regex.exec(path);
    if (!match) continue;
    if (
      !best ||
      compareScore(route.score, best.route.score) > 0 ||
      (compareScore(route.score, best.route.score) === 0 && best.route.method === '*' && route.method !== '*')
    ) {
      best = { route, match };
    }
  }
  if (best) {
    const pathParameters: Record<string, string> = {};
    best.route.paramNames.forEach((name, i) => {
      const raw = best.match[i + 1] as string;
      pathParameters[name] = safeDecode(raw);
    });
    return { route: best.route, pathParameters };
  }
  const fallback = routes.find((r) => r.path === '*');
  return fallback ? { route: fallback, pathParameters: {} } : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|graphql|x-ndjson|ld\+json|[\w.+-]+\+(json|xml)))/i;

function isTextBody(req: IncomingMessage): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding !== 'identity') return false;
  const type = req.headers['content-type'];
  return type === undefined || TEXT_TYPES.test(type.trim());
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Reads the body; `undefined` when it exceeds the limit (the rest is drained, not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function buildEvent(
  req: IncomingMessage,
  route: Route,
  pathParameters: Record<string, string>,
  body: Buffer,
  requestId: string,
  stage = '$default',
): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const rawPath = url.pathname;
  const rawQueryString = url.search.startsWith('?') ? url.search.slice(1) : url.search;

  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    if (name === 'cookie') {
      cookies = [...(cookies ?? []), ...value.split(/;\s*/).filter(Boolean)];
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  headers['x-forwarded-proto'] ??= 'http';
  const host = req.headers.host ?? 'localhost';

  let queryStringParameters: Record<string, string> | undefined;
  for (const [k, v] of url.searchParams) {
    queryStringParameters ??= {};
    queryStringParameters[k] = k in queryStringParameters ? `${queryStringParameters[k]},${v}` : v;
  }

  const now = Date.now();
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const text = isTextBody(req);
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host.replace(/:\d+$/, ''),
      domainPrefix: host.split('.')[0]?.replace(/:\d+$/, '') ?? 'local',
      http: {
        method: (req.method ?? 'GET').toUpperCase(),
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: req.headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: route.routeKey,
      stage,
      time: formatApiGatewayTime(new Date(now)),
      timeEpoch: now,
    },
    isBase64Encoded: false,
  };
  if (cookies) event.cookies = cookies;
  if (queryStringParameters) event.queryStringParameters = queryStringParameters;
  if (route.paramNames.length) event.pathParameters = pathParameters;
  if (body.length > 0) {
    event.body = text ? body.toString('utf8') : body.toString('base64');
    event.isBase64Encoded = !text;
  }
  return event;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, API Gateway's requestContext.time format. */
function formatApiGatewayTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export class MalformedLambdaResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedLambdaResponseError';
  }
}

interface HttpResult {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** Payload format 2.0 response mapping, including the "no statusCode" inference. */
export function mapResult(result: unknown): HttpResult {
  const isStructured = typeof result === 'object' && result !== null && !Array.isArray(result) && 'statusCode' in result;
  if (!isStructured) {
    if (result === undefined || result === null) {
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.alloc(0) };
    }
    const body = typeof result === 'string' ? result : JSON.stringify(result);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
  }
  const r = result as {
    statusCode: unknown;
    headers?: Record<string, unknown>;
    multiValueHeaders?: Record<string, unknown[]>;
    cookies?: unknown[];
    body?: unknown;
    isBase64Encoded?: boolean;
  };
  const statusCode = Number(r.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    throw new MalformedLambdaResponseError(`statusCode ${String(r.statusCode)} is not a valid HTTP status`);
  }
  if (r.body !== undefined && r.body !== null && typeof r.body !== 'string') {
    throw new MalformedLambdaResponseError('body must be a string (JSON.stringify it)');
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    if (v !== undefined && v !== null) headers[k.toLowerCase()] = String(v);
  }
  for (const [k, values] of Object.entries(r.multiValueHeaders ?? {})) {
    headers[k.toLowerCase()] = (values ?? []).map(String);
  }
  if (Array.isArray(r.cookies) && r.cookies.length) headers['set-cookie'] = r.cookies.map(String);
  const raw = typeof r.body === 'string' ? r.body : '';
  const body = r.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  return { statusCode, headers, body };
}

interface CorsSettings {
  allowedOrigins: string[];
  allowedHeaders: string[];
  allowedMethods: string[];
  allowCredentials: boolean;
  exposedResponseHeaders?: string[];
  maxAge?: number;
}

/** `provider.httpApi.cors: true` defaults of the framework. */
function corsSettings(cors: boolean | Record<string, unknown>): CorsSettings | undefined {
  if (cors === false) return undefined;
  const defaults: CorsSettings = {
    allowedOrigins: ['*'],
    allowedHeaders: ['Content-Type', 'X-Amz-Date', 'Authorization', 'X-Api-Key', 'X-Amz-Security-Token', 'X-Amz-User-Agent', 'X-Amzn-Trace-Id'],
    allowedMethods: ['OPTIONS', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'],
    allowCredentials: false,
  };
  if (cors === true) return defaults;
  const list = (v: unknown, d: string[]) => (Array.isArray(v) ? v.map(String) : d);
  return {
    allowedOrigins: list(cors.allowedOrigins, defaults.allowedOrigins),
    allowedHeaders: list(cors.allowedHeaders, defaults.allowedHeaders),
    allowedMethods: list(cors.allowedMethods, defaults.allowedMethods),
    allowCredentials: cors.allowCredentials === true,
    ...(Array.isArray(cors.exposedResponseHeaders) ? { exposedResponseHeaders: cors.exposedResponseHeaders.map(String) } : {}),
    ...(typeof cors.maxAge === 'number' ? { maxAge: cors.maxAge } : {}),
  };
}

function corsHeaders(cors: CorsSettings | undefined, origin: string | undefined): Record<string, string> {
  if (!cors || !origin) return {};
  const allowed = cors.allowedOrigins.includes('*') || cors.allowedOrigins.includes(origin);
  if (!allowed) return {};
  const headers: Record<string, string> = {
    'access-control-allow-origin': cors.allowedOrigins.includes('*') && !cors.allowCredentials ? '*' : origin,
  };
  if (cors.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  if (cors.exposedResponseHeaders) headers['access-control-expose-headers'] = cors.exposedResponseHeaders.join(',');
  return headers;
}

export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const { config } = options;
  const projectRoot = options.projectRoot ?? config.servicePath;
  const routes = buildRoutes(config);
  const cors = corsSettings(config.provider.httpApi.cors);
  const host = options.host ?? '127.0.0.1';

  const logError = (err: unknown, routeKey: string) => {
    options.onError?.(err, routeKey);
    if (!options.quiet) console.error(`[local http-api] ${routeKey} failed:`, err);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    const method = (req.method ?? 'GET').toUpperCase();
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const origin = req.headers.origin;
    const baseHeaders = { 'apigw-requestid': requestId, ...corsHeaders(cors, origin) };

    // API Gateway answers CORS preflight itself when CORS is configured.
    if (cors && method === 'OPTIONS' && origin && req.headers['access-control-request-method']) {
      await readBody(req, 0).catch(() => undefined);
      res.writeHead(204, {
        ...baseHeaders,
        'access-control-allow-methods': cors.allowedMethods.join(','),
        'access-control-allow-headers': cors.allowedHeaders.join(','),
        ...(cors.maxAge !== undefined ? { 'access-control-max-age': String(cors.maxAge) } : {}),
      });
      res.end();
      return;
    }

    const declared = Number(req.headers['content-length'] ?? 0);
    const body = await readBody(req, MAX_REQUEST_BYTES);
    if (body === undefined || declared > MAX_REQUEST_BYTES) {
      sendJson(res, 413, { message: 'Request Entity Too Large' }, baseHeaders);
      return;
    }

    const matched = matchRoute(routes, method, path);
    if (!matched) {
      sendJson(res, 404, { message: 'Not Found' }, baseHeaders);
      return;
    }
    const { route, pathParameters } = matched;
    const event = buildEvent(req, route, pathParameters, body, requestId);

    let result: HttpResult;
    try {
      const out = await invokeFunction(route.fn, event, { projectRoot, requestId });
      result = mapResult(out);
    } catch (err) {
      logError(err, route.routeKey);
      sendJson(res, 500, { message: 'Internal Server Error' }, baseHeaders);
      return;
    }
    const headers: Record<string, string | string[] | number> = { ...baseHeaders, ...result.headers };
    headers['content-length'] = result.body.length;
    res.writeHead(result.statusCode, headers);
    res.end(method === 'HEAD' ? undefined : result.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logError(err, 'server');
      if (!res.headersSent) sendJson(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    routes,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
