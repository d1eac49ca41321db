import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { badRequest, notFound } from '../http/errors';
import { zodIssues } from '../http/validation';
import { type AuthConfig, authenticate, headerKey, type KeyUse } from './auth';
import { decodeBody } from './http';
import { hostileInputIssues } from './normalise';
import { InvalidCursorError, listQuarantine, type QuarantinePage } from './quarantine';
import { type ReplayReport, replayQuarantine } from './replay';
import { quarantineListQuerySchema, quarantineReplayRequestSchema } from './schema';
import type { CaptureDeps } from './service';

export const QUARANTINE_LIST_ROUTE = 'GET /v1/quarantine';
export const QUARANTINE_REPLAY_ROUTE = 'POST /v1/quarantine/replay';
/** Replay bodies hold ids and a patch: far below this. */
const MAX_REPLAY_BODY_BYTES = 256 * 1024;

export const ADMIN_KEY_USE: KeyUse = {
  name: 'admin key',
  hint: 'send it as Authorization: Bearer <key> (or as the HTTP Basic user name)',
  service: 'the quarantine API',
};

export interface QuarantineApiDeps extends CaptureDeps {
  auth: AuthConfig;
}

async function list(deps: QuarantineApiDeps, event: APIGatewayProxyEventV2): Promise<QuarantinePage> {
  const query = quarantineListQuerySchema.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw badRequest('Invalid query', zodIssues(query.error));
  try {
    return await listQuarantine(deps.blobs, { day: query.data.day, limit: query.data.limit, ...(query.data.cursor ? { cursor: query.data.cursor } : {}) });
  } catch (error) {
    if (error instanceof InvalidCursorError) throw badRequest('Invalid query', [{ field: 'cursor', reason: error.message }]);
    throw error;
  }
}

async function replay(deps: QuarantineApiDeps, event: APIGatewayProxyEventV2): Promise<ReplayReport> {
  const text = decodeBody(event, MAX_REPLAY_BODY_BYTES);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw badRequest('Malformed JSON', [{ field: 'body', reason: (error as Error).message }]);
  }
  const request = quarantineReplayRequestSchema.safeParse(body);
  if (!request.success) throw badRequest('Invalid replay request', zodIssues(request.error));
  const { day, limit, ids, patch } = request.data;
  if (patch) {
    const hostile = hostileInputIssues(patch);
    if (hostile.length > 0)
      throw badRequest(
        'Invalid replay request',
        hostile.map((i) => ({ field: 'patch', reason: i.reason })),
      );
  }
  return replayQuarantine(deps, {
    day,
    limit,
    ...(ids ? { ids } : {}),
    ...(patch ? { patch } : {}),
    by: `${event.requestContext?.http?.sourceIp ?? 'unknown'} via ${QUARANTINE_REPLAY_ROUTE}`,
  });
}

/**
 * The quarantine API: `GET /v1/quarantine?day=&limit=&cursor=` lists a day's quarantined messages,
 * `POST /v1/quarantine/replay` re-runs them. Both need an operator (admin) key: quarantined
 * messages are raw customer data, and a write key is public by design (it ships in web pages).
 */
export async function handleQuarantine(deps: QuarantineApiDeps, event: APIGatewayProxyEventV2): Promise<QuarantinePage | ReplayReport> {
  const route = event.routeKey;
  if (route !== QUARANTINE_LIST_ROUTE && route !== QUARANTINE_REPLAY_ROUTE) throw notFound(`No quarantine route ${route}`);
  authenticate(deps.auth, deps.auth.mode === 'keys' ? headerKey(event.headers, { bearer: true }) : undefined, ADMIN_KEY_USE);
  return route === QUARANTINE_LIST_ROUTE ? list(deps, event) : replay(deps, event);
}
