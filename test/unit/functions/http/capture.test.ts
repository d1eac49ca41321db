import { type QuarantineRow, quarantinePayloadJson } from '../../../../shared/capture/quarantine';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../../../shared/events/canonical';
import { MAX_BATCH_BYTES } from '../../../../shared/capture/schema';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

const WRITE_KEY = 'wk_routes_test';
const BASIC = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

interface Body {
  success?: boolean;
  error?: string;
  issues?: { field: string; reason: string }[];
  quarantined?: number;
  status?: string;
  messageId?: string;
  results?: { index: number; messageId?: string; status: string }[];
}

function post(route: string, body: unknown, headers: Record<string, string> = { authorization: BASIC }, extra: Partial<APIGatewayProxyEventV2> = {}) {
  const event = apiEvent({ method: 'POST', path: `/v1/${route}`, body: typeof body === 'string' ? body : JSON.stringify(body), headers });
  return handler({ ...event, ...extra }, lambdaContext());
}

const bodyOf = (result: APIGatewayProxyStructuredResultV2) => JSON.parse(result.body ?? '') as Body;

/** Canonical events written under raw/events/. */
function rawEvents(): CanonicalEvent[] {
  return s3Mock
    .commandCalls(PutObjectCommand)
    .filter((c) => String(c.args[0].input.Key).startsWith('raw/events/'))
    .flatMap((c) =>
      gunzipSync(c.args[0].input.Body as Uint8Array)
        .toString('utf8')
        .split('\n')
        .map((line) => JSON.parse(line) as CanonicalEvent),
    );
}

/** A stored row with its sealed payload opened back into `message` (the stored bytes hold it encrypted). */
function opened(row: QuarantineRow): Record<string, unknown> & { kind: string; message: unknown; reasons: { field: string }[]; source: string } {
  const { sealed: _sealed, ...rest } = row;
  return { ...rest, message: JSON.parse(quarantinePayloadJson(row) as string) as unknown };
}

/** Rows written under quarantine/, their sealed payload opened (as `message`). */
function quarantined(): { kind: string; message: unknown; reasons: { field: string }[]; source: string }[] {
  return s3Mock
    .commandCalls(PutObjectCommand)
    .filter((c) => String(c.args[0].input.Key).startsWith('quarantine/'))
    .flatMap((c) =>
      gunzipSync(c.args[0].input.Body as Uint8Array)
        .toString('utf8')
        .split('\n')
        .map((line) => opened(JSON.parse(line) as QuarantineRow)),
    );
}

const track = (messageId: string, fields: Record<string, unknown> = {}) => ({
  event: 'Product Viewed',
  messageId,
  userId: 'u-1',
  properties: { product_id: 'p-1' },
  timestamp: '2026-03-10T09:00:00.000Z',
  ...fields,
});

const api = handlerHarness({ env: { WRITE_KEYS: WRITE_KEY }, handlers: { handler: () => import('../../../../functions/http/capture') } });
const { s3: s3Mock, ddb: ddbMock } = api;
const handler: ApiHandler = (event, context) => api.handlers.handler(event, context);

beforeEach(() => {
  s3Mock.on(PutObjectCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'p', version: 1, seen: {}, recent: [] } });
});

describe('single-message routes', () => {
  it.each([
    ['track', { event: 'Order Completed', properties: { order_id: 'o-1', products: [{ product_id: 'p-1', price: 5 }] } }, 'purchase'],
    ['identify', { traits: { name: 'Ada' } }, 'identify'],
    ['page', { name: 'Home' }, 'page_view'],
    ['screen', { name: 'Basket' }, 'screen_view'],
    ['alias', { previousId: 'anon-1' }, 'alias'],
    ['group', { groupId: 'g-1' }, 'group'],
  ])('POST /v1/%s stores one message whose type the path implies', async (route, fields, canonical) => {
    // Act
    const result = await post(route, { messageId: `m-${route}`, userId: 'u-1', ...fields });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual({ success: true, messageId: `m-${route}`, status: 'accepted' });
    expect(rawEvents()).toEqual([expect.objectContaining({ eventId: `m-${route}`, type: canonical })]);
  });

  it('answers 400 naming type when the body says another type than the path, and quarantines it', async () => {
    // Act
    const result = await post('track', { type: 'identify', messageId: 'm-1', userId: 'u-1' });

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result)).toMatchObject({
      error: 'Invalid track message',
      issues: [{ field: 'type', reason: 'must be "track" on /v1/track' }],
      quarantined: 1,
    });
    expect(quarantined()).toEqual([
      expect.objectContaining({ kind: 'message', source: 'POST /v1/track', message: { type: 'identify', messageId: 'm-1', userId: 'u-1' } }),
    ]);
    expect(rawEvents()).toEqual([]);
  });

  it('answers 400 naming the field of an invalid single message and keeps it in the quarantine with its type filled in', async () => {
    // Act
    const result = await post('track', { messageId: 'm-1', userId: 'u-1' });

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues).toEqual([{ field: 'event', reason: 'is required for track messages' }]);
    expect(quarantined()[0]?.message).toEqual({ type: 'track', messageId: 'm-1', userId: 'u-1' });
  });

  it('answers 400 naming body when a single-message body is not an object', async () => {
    // Act
    const result = await post('page', [1, 2]);

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues).toEqual([{ field: 'body', reason: 'must be an object' }]);
  });

  it('answers duplicate for a single message whose id was already counted', async () => {
    // Prepare
    const { ConditionalCheckFailedException } = await import('@aws-sdk/client-dynamodb');
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'seen', $metadata: {} }));

    // Act
    const result = await post('track', track('m-1'));

    // Assess
    expect(bodyOf(result)).toEqual({ success: true, messageId: 'm-1', status: 'duplicate' });
  });
});

describe('POST /v1/batch', () => {
  it('answers per-message results for a mixed batch and quarantines only the invalid messages', async () => {
    // Act
    const result = await post('batch', { batch: [{ type: 'track', ...track('m-1') }, { type: 'track', messageId: 'm-2', userId: 'u-1' }, 'junk'] });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toMatchObject({
      accepted: 1,
      quarantined: 2,
      results: [
        { index: 0, messageId: 'm-1', status: 'accepted' },
        { index: 1, messageId: 'm-2', status: 'rejected' },
        { index: 2, status: 'rejected' },
      ],
    });
    expect(rawEvents().map((e) => e.eventId)).toEqual(['m-1']);
    expect(quarantined().map((row) => row.message)).toEqual([{ type: 'track', messageId: 'm-2', userId: 'u-1' }, 'junk']);
  });

  it('merges the batch context and integrations into every message, the message keys winning', async () => {
    // Act
    const result = await post('batch', {
      batch: [
        { type: 'track', ...track('m-1'), context: { device: { id: 'till-7' } } },
        { type: 'track', ...track('m-2'), context: { channel: 'web' } },
      ],
      context: { channel: 'pos', store: { id: 'store-3' } },
      integrations: { All: false },
    });

    // Assess
    expect(result.statusCode).toBe(200);
    const events = rawEvents().sort((a, b) => a.eventId.localeCompare(b.eventId));
    expect(events.map((e) => [e.channel, e.storeId, e.deviceId])).toEqual([
      ['pos', 'store-3', 'till-7'],
      ['web', 'store-3', undefined],
    ]);
  });

  it('corrects clock skew with the batch-level sentAt (Segment library messages carry timestamp only)', async () => {
    // Prepare: the device clock runs 1 hour behind; the event happened 10 s before the batch was sent.
    const now = new Date();
    const deviceSentAt = new Date(now.getTime() - 3_600_000);
    const deviceTimestamp = new Date(deviceSentAt.getTime() - 10_000);

    // Act
    await post('batch', { batch: [{ type: 'track', ...track('m-1', { timestamp: deviceTimestamp.toISOString() }) }], sentAt: deviceSentAt.toISOString() });

    // Assess
    const corrected = Date.parse(rawEvents()[0]?.timestamp ?? '');
    expect(Math.abs(corrected - (now.getTime() - 10_000))).toBeLessThan(2_000);
  });

  it('quarantines a request whose envelope is invalid, as one request row, and answers 400 naming the field', async () => {
    // Act
    const result = await post('batch', { batch: [{ type: 'track', ...track('m-1') }], events: [] });

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result)).toMatchObject({ error: 'Invalid batch', issues: [{ field: 'events', reason: 'unknown field' }], quarantined: 1 });
    expect(quarantined()).toEqual([
      expect.objectContaining({ kind: 'request', source: 'POST /v1/batch', message: { batch: [expect.objectContaining({ messageId: 'm-1' })], events: [] } }),
    ]);
    expect(rawEvents()).toEqual([]);
  });

  it('quarantines a malformed JSON body as its text', async () => {
    // Act
    const result = await post('batch', '{"batch": [');

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues?.[0]?.field).toBe('body');
    expect(quarantined()).toEqual([expect.objectContaining({ kind: 'request', message: '{"batch": [' })]);
  });

  it('reads a gzip-encoded body', async () => {
    // Prepare
    const gz = gzipSync(JSON.stringify({ batch: [{ type: 'track', ...track('m-1') }] })).toString('base64');

    // Act
    const result = await post('batch', '', { authorization: BASIC, 'content-encoding': 'gzip' }, { body: gz, isBase64Encoded: true });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(rawEvents().map((e) => e.eventId)).toEqual(['m-1']);
  });

  it(`answers 413 for a gzip body that inflates past ${MAX_BATCH_BYTES} bytes, without storing anything`, async () => {
    // Prepare: ~1 KB compressed, 2 MB inflated.
    const bomb = gzipSync(JSON.stringify({ batch: [{ pad: 'x'.repeat(2_000_000) }] })).toString('base64');

    // Act
    const result = await post('batch', '', { authorization: BASIC, 'content-encoding': 'gzip' }, { body: bomb, isBase64Encoded: true });

    // Assess
    expect(result.statusCode).toBe(413);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('answers 400 naming body for bytes that are not gzip under Content-Encoding gzip', async () => {
    // Act
    const result = await post(
      'batch',
      '',
      { authorization: BASIC, 'content-encoding': 'gzip' },
      { body: Buffer.from('plain').toString('base64'), isBase64Encoded: true },
    );

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf(result).issues?.[0]?.field).toBe('body');
  });

  it('answers 404 for a route key the capture function does not serve', async () => {
    // Act
    const result = await handler(apiEvent({ method: 'POST', path: '/v1/nope', body: '{}', headers: { authorization: BASIC } }), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(404);
  });
});
