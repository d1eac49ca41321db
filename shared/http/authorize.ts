import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AuthConfig, authConfig } from '../config/keys';
import { logger, metrics } from '../observability/powertools';
import { HttpError } from './errors';
import { type CorsPolicy, type RouteClass, type RouteSpec, routeByKey } from './routes';

/**
 * Authorisation by credential class (shared/http/routes.ts): one decision, used by the handler
 * middleware of every HTTP function (`httpHandler`) and by the API Gateway Lambda authorizer
 * (functions/http/authorizer.ts), so the local stack answers as the deployed API does.
 *
 * Keys: WRITE_KEYS (capture), READ_KEYS (serving), ADMIN_KEYS (operators; also valid on read routes),
 * each a list of sha256 digests (or, locally, plain keys) from SSM or the environment
 * (shared/capture/auth.ts `authConfig`, rotation without deploy). Every presented key is compared with
 * every digest of the three lists (timingSafeEqual, no early exit), whatever the route.
 *
 * Answers: 401 for no credential, an unreadable one (wrong scheme, empty, too long, control
 * characters) or an unknown key, with `WWW-Authenticate`; 403 for a configured key of a class the route
 * does not accept; 503 when no key of the route's class is configured outside the local stack. The
 * body names what was expected, never the key. Refusals are counted (metrics), never logged.
 */

export type KeyClass = Exclude<RouteClass, 'public'>;
const KEY_CLASSES: readonly KeyClass[] = ['write', 'read', 'admin'];
/** The key classes a route class accepts: an admin key may call read routes, a write key only capture. */
export const ACCEPTS: Record<KeyClass, readonly KeyClass[]> = { write: ['write'], read: ['read', 'admin'], admin: ['admin'] };

/** Longer Authorization headers are refused before any decoding (keys are tens of characters). */
export const MAX_CREDENTIAL_CHARS = 1024;
/** C0 control characters and DEL (a header or decoded credential holding one is refused). */
const CONTROL = { test: (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) };

export type KeyRings = Record<KeyClass, AuthConfig>;

let rings: KeyRings | undefined;
/** The process's three key lists (read from the environment once, from SSM as the store refreshes them). */
export function keyRings(env: NodeJS.ProcessEnv = process.env): KeyRings {
  rings ??= { write: authConfig('WRITE_KEYS', env), read: authConfig('READ_KEYS', env), admin: authConfig('ADMIN_KEYS', env) };
  return rings;
}
/** Tests: read the environment again on next use. */
export function resetKeyRings(): void {
  rings = undefined;
}

export interface Credential {
  scheme: 'basic' | 'bearer';
  key: string;
}

/** Why a credential could not be read; `code` names the metric. */
export interface CredentialProblem {
  code: 'Malformed' | 'WrongScheme' | 'EmptyKey' | 'TooLong' | 'ControlCharacters' | 'ApiKeyHeader';
  reason: string;
}

export type Presented = { credential: Credential } | { problem: CredentialProblem } | { none: true };

function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Reads `Authorization` (Basic with the key as user name, or Bearer); never throws. */
export function presentedCredential(headers: Record<string, string | undefined> | undefined): Presented {
  const value = header(headers, 'authorization');
  if (value === undefined || value.trim() === '') {
    if (header(headers, 'x-api-key') !== undefined)
      return {
        problem: {
          code: 'ApiKeyHeader',
          reason: 'the x-api-key header is not read: send the key as Authorization: Bearer <key> (API Gateway caches authorisations by that header)',
        },
      };
    return { none: true };
  }
  if (value.length > MAX_CREDENTIAL_CHARS)
    return { problem: { code: 'TooLong', reason: `the Authorization header is longer than ${MAX_CREDENTIAL_CHARS} characters` } };
  if (CONTROL.test(value)) return { problem: { code: 'ControlCharacters', reason: 'the Authorization header contains control characters' } };
  const match = /^\s*(\S+)(?:\s+(\S*))?\s*$/.exec(value);
  if (!match) return { problem: { code: 'Malformed', reason: 'the Authorization header must be "<scheme> <credentials>"' } };
  const scheme = (match[1] as string).toLowerCase();
  const token = match[2] ?? '';
  if (scheme === 'bearer') {
    if (token === '') return { problem: { code: 'EmptyKey', reason: 'the Bearer token is empty' } };
    return { credential: { scheme: 'bearer', key: token } };
  }
  if (scheme === 'basic') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(token)) return { problem: { code: 'Malformed', reason: 'the Basic credentials are not base64' } };
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    if (CONTROL.test(decoded)) return { problem: { code: 'ControlCharacters', reason: 'the Basic credentials contain control characters' } };
    const colon = decoded.indexOf(':');
    const key = colon >= 0 ? decoded.slice(0, colon) : decoded;
    if (key === '') return { problem: { code: 'EmptyKey', reason: 'the Basic credentials carry no key: send the key as the user name and an empty password' } };
    return { credential: { scheme: 'basic', key } };
  }
  return { problem: { code: 'WrongScheme', reason: 'the Authorization scheme must be Basic or Bearer' } };
}

export type Decision = { allow: true; as?: KeyClass; open?: true; deferred?: true } | { allow: false; status: 401 | 403 | 503; code: string; reason: string };

const NAMES: Record<KeyClass, string> = { write: 'write key', read: 'read key', admin: 'admin key' };
const expected = (routeClass: KeyClass) => ACCEPTS[routeClass].map((c) => NAMES[c]).join(' or ');
const howToSend = (routeClass: KeyClass) =>
  routeClass === 'write'
    ? 'send it as the HTTP Basic user name with an empty password (Segment), or as writeKey in the JSON body'
    : 'send it as Authorization: Bearer <key>';

/** What the route's class needs when no key of it is configured anywhere: open locally, 503 elsewhere. */
function configuration(routeClass: KeyClass, rings: KeyRings): Decision | undefined {
  const accepted = ACCEPTS[routeClass].map((c) => rings[c]);
  if (accepted.some((ring) => ring.mode === 'keys')) return undefined;
  if (accepted.every((ring) => ring.mode === 'open')) return { allow: true, open: true };
  const variables = accepted.map((ring) => ring.variable).join(' or ');
  return { allow: false, status: 503, code: 'NotConfigured', reason: `no ${expected(routeClass)} is configured (${variables} holds none)` };
}

/**
 * The decision for a route of `routeClass` given what the request presented. A write route with no
 * Authorization header is deferred to the capture handler, which reads `writeKey` from the body.
 */
export function decide(routeClass: RouteClass, presented: Presented, rings: KeyRings): Decision {
  if (routeClass === 'public') return { allow: true };
  const unconfigured = configuration(routeClass, rings);
  if (unconfigured) return unconfigured;
  if ('problem' in presented) return { allow: false, status: 401, code: presented.problem.code, reason: presented.problem.reason };
  if ('none' in presented) {
    if (routeClass === 'write') return { allow: true, deferred: true };
    return { allow: false, status: 401, code: 'Missing', reason: `a ${expected(routeClass)} is required: ${howToSend(routeClass)}` };
  }
  const { credential } = presented;
  if (routeClass === 'write' && credential.scheme !== 'basic')
    return { allow: false, status: 401, code: 'WrongScheme', reason: `capture takes the write key as HTTP Basic auth, not Bearer: ${howToSend('write')}` };
  // Every configured list is compared, whatever the route (no early exit, no class-dependent timing).
  const holds = KEY_CLASSES.filter((c) => rings[c].mode === 'keys').filter((c) => rings[c].ring.matches(credential.key));
  const as = ACCEPTS[routeClass].find((c) => holds.includes(c));
  if (as) return { allow: true, as };
  const other = holds[0];
  if (other) return { allow: false, status: 403, code: 'WrongClass', reason: `this route needs a ${expected(routeClass)}; the key sent is a ${NAMES[other]}` };
  const via = credential.scheme === 'basic' ? 'Basic auth' : 'Bearer auth';
  return { allow: false, status: 401, code: 'UnknownKey', reason: `the key sent as ${via} is not a configured ${expected(routeClass)}` };
}

/** The metric a decision counts (never a log line: the header may hold a key). */
export function countDecision(decision: Decision): void {
  if (!decision.allow) metrics.addMetric(`AuthRefused${decision.code}`, 'Count', 1);
}

export function authError(routeClass: KeyClass, decision: Extract<Decision, { allow: false }>): HttpError {
  if (decision.status === 503) return new HttpError(503, `${routeClass} routes are not configured`, { reason: decision.reason });
  if (decision.status === 403) return new HttpError(403, 'Forbidden', { reason: decision.reason, expected: ACCEPTS[routeClass] });
  const challenge = routeClass === 'write' ? 'Basic realm="capture", charset="UTF-8"' : `Bearer realm="${routeClass}"`;
  return new HttpError(401, 'Unauthorized', { reason: decision.reason, expected: ACCEPTS[routeClass] }, { 'WWW-Authenticate': challenge });
}

/** CORS response headers of a route's policy for a request from `origin`. */
export function corsHeaders(policy: CorsPolicy, origin: string | undefined): Record<string, string> {
  if (policy === 'none' || !origin) return {};
  return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'WWW-Authenticate,Retry-After' };
}

const PREFLIGHT_HEADERS = {
  'Access-Control-Allow-Methods': 'POST,OPTIONS',
  'Access-Control-Allow-Headers': 'Content-Type,Content-Encoding,Authorization',
  'Access-Control-Max-Age': '86400',
};

type Request = { event: APIGatewayProxyEventV2; response?: APIGatewayProxyStructuredResultV2 | null | undefined };

function withCors(route: RouteSpec | undefined, request: Request): void {
  const origin = header(request.event.headers, 'origin');
  const cors = route ? corsHeaders(route.cors, origin) : {};
  if (request.response && Object.keys(cors).length > 0) request.response.headers = { ...request.response.headers, ...cors };
}

/**
 * The middleware of every HTTP handler: finds the request's route in the table by its routeKey, answers
 * a CORS preflight, enforces the route's class (401/403/503 before the handler runs), and adds the
 * route's CORS headers to every answer, errors included.
 */
export function routeAuthorization(getRings: () => KeyRings = keyRings): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    before: (request) => {
      const route = routeByKey(request.event.routeKey);
      if (!route) {
        // API Gateway only delivers its own routes: a routeKey without a row is a route deployed without a
        // policy. Fail closed.
        logger.error('route missing from the route table (shared/http/routes.ts): refused', { routeKey: request.event.routeKey });
        throw new HttpError(404, `No route ${request.event.routeKey}`);
      }
      if (route.method === 'OPTIONS') {
        const origin = header(request.event.headers, 'origin');
        return { statusCode: 204, headers: { ...corsHeaders(route.cors, origin), ...(origin && route.cors !== 'none' ? PREFLIGHT_HEADERS : {}) } };
      }
      if (route.class === 'public') return;
      const decision = decide(route.class, presentedCredential(request.event.headers), getRings());
      countDecision(decision);
      if (!decision.allow) throw authError(route.class, decision);
      return;
    },
    after: (request) => withCors(routeByKey(request.event.routeKey), request),
    onError: (request) => withCors(routeByKey(request.event.routeKey), request),
  };
}

/** Warnings for the classes a local stack serves without any key (printed at startup). */
export function openClasses(env: NodeJS.ProcessEnv = process.env): KeyClass[] {
  const local = { write: authConfig('WRITE_KEYS', env), read: authConfig('READ_KEYS', env), admin: authConfig('ADMIN_KEYS', env) };
  return KEY_CLASSES.filter((c) => ACCEPTS[c].every((k) => local[k].source === 'environment' && !local[k].ring.configured));
}
