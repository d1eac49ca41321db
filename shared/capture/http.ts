import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { badRequest, type FieldIssue, HttpError, notFound, payloadTooLarge } from '../http/errors';
import { zodIssues } from '../http/validation';
import { type AuthConfig, authenticate, headerKey, type KeyUse, type PresentedKey } from './auth';
import { quarantineRows } from './quarantine';
import { type BatchEnvelope, batchEnvelopeSchema, MAX_BATCH_BYTES, MESSAGE_TYPES, type MessageType, routeMessageSchemas } from './schema';
import { type CaptureDeps, type CaptureResult, captureBatch } from './service';

/** The Segment-compatible routes: `POST /v1/batch` and one single-message route per message type. */
export type CaptureRoute = 'batch' | MessageType;
export const CAPTURE_ROUTES: readonly CaptureRoute[] = ['batch', ...MESSAGE_TYPES];
export const captureRouteKey = (route: CaptureRoute) => `POST /v1/${route}`;

export const WRITE_KEY_USE: KeyUse = {
  name: 'write key',
  hint: 'send it as the HTTP Basic user name (empty password) or as writeKey in the body',
  service: 'capture',
};

export interface CaptureHttpDeps extends CaptureDeps {
  auth: AuthConfig;
}

export interface CaptureResponse {
  statusCode: 200;
  body: Record<string, unknown>;
  result: CaptureResult;
}

function routeOf(event: APIGatewayProxyEventV2): CaptureRoute {
  const key = event.routeKey ?? `${event.requestContext?.http?.method} ${event.rawPath}`;
  const route = CAPTURE_ROUTES.find((r) => captureRouteKey(r) === key);
  if (!route) throw notFound(`No capture route ${key}`);
  return route;
}

function headerValue(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

/**
 * The body as text: base64-decoded when API Gateway encoded it, gunzipped for
 * `Content-Encoding: gzip` (bounded, so a small bomb cannot expand past the limit); 400 when
 * missing, 413 over `limitBytes`.
 */
export function decodeBody(event: APIGatewayProxyEventV2, limitBytes: number): string {
  if (event.body === undefined || event.body === null || event.body === '')
    throw badRequest('Request body is required', [{ field: 'body', reason: 'missing' }]);
  const gzip = /^\s*(x-)?gzip\s*$/i.test(headerValue(event, 'content-encoding') ?? '');
  if (!event.isBase64Encoded && !gzip) {
    if (Buffer.byteLength(event.body, 'utf8') > limitBytes) throw payloadTooLarge(limitBytes);
    return event.body;
  }
  let bytes = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'latin1');
  if (gzip) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: limitBytes + 1 });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) throw payloadTooLarge(limitBytes);
      throw badRequest('Body is not valid gzip', [{ field: 'body', reason: `declared Content-Encoding gzip but ${(error as Error).message}` }]);
    }
  }
  if (bytes.length > limitBytes) throw payloadTooLarge(limitBytes);
  return bytes.toString('utf8');
}

type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, reason: `malformed JSON: ${(error as Error).message}` };
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function bodyKey(parsed: Parsed): PresentedKey | undefined {
  if (!parsed.ok || !isRecord(parsed.value)) return undefined;
  const key = parsed.value.writeKey;
  return typeof key === 'string' && key !== '' ? { via: 'body', key } : undefined;
}

/**
 * Segment merges the batch-level `context` and `integrations` into every message (the message's
 * own keys win). A message whose own value is not an object keeps it, so its error is reported.
 */
export function mergeEnvelope(envelope: Pick<BatchEnvelope, 'batch' | 'context' | 'integrations'>): unknown[] {
  const { context, integrations } = envelope;
  if (!context && !integrations) return envelope.batch;
  return envelope.batch.map((message) => {
    if (!isRecord(message)) return message;
    const merged: Record<string, unknown> = { ...message };
    if (context && (message.context === undefined || isRecord(message.context)))
      merged.context = { ...context, ...(message.context as Record<string, unknown> | undefined) };
    if (integrations && (message.integrations === undefined || isRecord(message.integrations))) {
      merged.integrations = { ...integrations, ...(message.integrations as Record<string, unknown> | undefined) };
    }
    return merged;
  });
}

/** Keeps a request that never became messages (malformed JSON, invalid envelope) and answers 400. */
async function refuseRequest(deps: CaptureHttpDeps, payload: unknown, error: string, issues: FieldIssue[], receivedAt: Date, source: string): Promise<never> {
  const { ids } = await quarantineRows(deps.blobs, [{ kind: 'request', payload, reasons: issues, receivedAt: receivedAt.toISOString(), source }]);
  throw new HttpError(400, error, { issues, quarantined: 1, quarantineIds: ids });
}

/**
 * One capture request, whatever the route: authenticate (Basic auth, or `writeKey` in the body),
 * decode, validate, capture. Invalid messages (and requests that never became messages) are
 * quarantined before the answer, so a 400 never loses data; a 5xx means nothing was acknowledged
 * and the client's retry is safe. Throws HttpError for every non-200 answer.
 */
export async function handleCapture(deps: CaptureHttpDeps, event: APIGatewayProxyEventV2): Promise<CaptureResponse> {
  const route = routeOf(event);
  const receivedAt = deps.now?.() ?? new Date();
  const source = captureRouteKey(route);
  const text = decodeBody(event, MAX_BATCH_BYTES);
  // Credentials are read only when keys are configured (an open local stack ignores them).
  const fromHeader = deps.auth.mode === 'keys' ? headerKey(event.headers) : undefined;
  let parsed: Parsed | undefined;
  if (!fromHeader && deps.auth.mode === 'keys') parsed = parseJson(text);
  authenticate(deps.auth, fromHeader ?? (parsed && bodyKey(parsed)), WRITE_KEY_USE);
  parsed ??= parseJson(text);
  if (!parsed.ok) return refuseRequest(deps, text, 'Malformed JSON', [{ field: 'body', reason: parsed.reason }], receivedAt, source);
  const captureDeps: CaptureDeps = { ...deps, source };

  if (route === 'batch') {
    const envelope = batchEnvelopeSchema.safeParse(parsed.value);
    if (!envelope.success) return refuseRequest(deps, parsed.value, 'Invalid batch', zodIssues(envelope.error), receivedAt, source);
    const batch = mergeEnvelope(envelope.data);
    const result = await captureBatch(captureDeps, { batch, ...(envelope.data.sentAt ? { sentAt: envelope.data.sentAt } : {}), receivedAt });
    if (result.accepted === 0) {
      const issues = result.rejected.flatMap((r) => r.issues.map((i) => ({ field: `batch.${r.index}.${i.field}`, reason: i.reason })));
      throw new HttpError(400, 'No valid message in the batch', { issues, quarantined: result.quarantined, results: result.results });
    }
    return { statusCode: 200, body: { success: true, ...result }, result };
  }

  // Single-message route: the type is implied by the path (filled in when absent, checked when sent).
  const body = parsed.value;
  const message = isRecord(body) && body.type === undefined ? { ...body, type: route } : body;
  const result = await captureBatch(captureDeps, { batch: [message], receivedAt, schema: routeMessageSchemas[route] });
  const rejected = result.rejected[0];
  if (rejected) {
    const issues = rejected.issues.map((i) => (i.field === 'batch.0' ? { ...i, field: 'body' } : i));
    throw new HttpError(400, `Invalid ${route} message`, {
      issues,
      quarantined: result.quarantined,
      ...(rejected.quarantineId ? { quarantineId: rejected.quarantineId } : {}),
    });
  }
  const outcome = result.results[0];
  return { statusCode: 200, body: { success: true, messageId: outcome?.messageId, status: outcome?.status }, result };
}
