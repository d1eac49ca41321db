import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES } from '../../../../shared/capture/schema';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

interface ErrorBody {
  error: string;
  issues?: { field: string; reason: string }[];
}

function view(messageId: string, fields: Record<string, unknown> = {}) {
  return { type: 'track', event: 'Product Viewed', messageId, userId: 'u-1', properties: { product_id: 'p-1' }, ...fields };
}

const WRITE_KEY = 'test-write-key';
const AUTHORIZATION = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

/** POST /v1/batch with the write key as HTTP Basic auth, as Segment's libraries send it. */
function jsonPost(path: string, body: unknown): APIGatewayProxyEventV2 {
  return apiEvent({ method: 'POST', path, body: typeof body === 'string' ? body : JSON.stringify(body), headers: { authorization: AUTHORIZATION } });
}

async function post(body: unknown): Promise<APIGatewayProxyStructuredResultV2> {
  return handler(jsonPost('/v1/batch', body), lambdaContext());
}

/** PutObject keys written, by prefix. */
function putKeys(prefix: string): string[] {
  return s3Mock
    .commandCalls(PutObjectCommand)
    .map((c) => String(c.args[0].input.Key))
    .filter((key) => key.startsWith(prefix));
}

function bodyOf<T>(result: APIGatewayProxyStructuredResultV2): T {
  return JSON.parse(result.body ?? '') as T;
}

const api = handlerHarness({ env: { WRITE_KEYS: WRITE_KEY }, handlers: { handler: () => import('../../../../functions/http/capture-batch') } });
const { s3: s3Mock, ddb: ddbMock } = api;
const handler: ApiHandler = (event, context) => api.handlers.handler(event, context);

beforeEach(() => {
  s3Mock.on(PutObjectCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'u:u-1', version: 1, seen: {}, recent: [] } });
});

describe('POST /v1/batch', () => {
  it('answers 400 naming body for malformed JSON', async () => {
    // Act
    const result = await post('{"batch": [');

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf<ErrorBody>(result).issues?.[0]?.field).toBe('body');
  });

  it('answers 400 naming body when the body is missing', async () => {
    // Act
    const result = await handler({ ...jsonPost('/v1/batch', ''), body: undefined }, lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf<ErrorBody>(result).issues).toEqual([{ field: 'body', reason: 'missing' }]);
  });

  it(`answers 413 for a body over ${MAX_BATCH_BYTES} bytes`, async () => {
    // Prepare
    const body = JSON.stringify({ batch: [view('m-1', { properties: { product_id: 'p-1', pad: 'x'.repeat(MAX_BATCH_BYTES) } })] });

    // Act
    const result = await post(body);

    // Assess
    expect(result.statusCode).toBe(413);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('answers 400 naming an unknown top-level key of the envelope', async () => {
    // Act
    const result = await post({ batch: [view('m-1')], events: [] });

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf<ErrorBody>(result).issues).toEqual([{ field: 'events', reason: 'unknown field' }]);
  });

  it('answers 400 naming batch when it is not an array', async () => {
    // Act
    const result = await post({ batch: view('m-1') });

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf<ErrorBody>(result).issues?.map((i) => i.field)).toEqual(['batch']);
  });

  it('answers 400 with every message issue when no message is valid', async () => {
    // Act
    const result = await post({ batch: [{ type: 'track', messageId: 'm-1' }, view('m-2', { colour: 'red' })] });

    // Assess
    expect(result.statusCode).toBe(400);
    const fields = bodyOf<ErrorBody>(result).issues?.map((i) => i.field);
    expect(fields).toEqual(expect.arrayContaining(['batch.0.userId', 'batch.0.event', 'batch.1.colour']));
    expect(putKeys('raw/')).toHaveLength(0);
    expect(putKeys('quarantine/')).toHaveLength(1);
  });

  it('answers 200 with the accepted count and the rejected messages', async () => {
    // Act
    const result = await post({ batch: [view('m-1'), view('m-2'), { type: 'track', messageId: 'm-3', userId: 'u-1' }], sentAt: '2026-03-10T12:00:00.000Z' });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf<Record<string, unknown>>(result)).toEqual({
      success: true,
      accepted: 2,
      suppressed: 0,
      duplicates: 0,
      profiles: 1,
      quarantined: 1,
      rejected: [{ index: 2, messageId: 'm-3', issues: [{ field: 'event', reason: 'is required for track messages' }], quarantineId: expect.any(String) }],
      results: [
        { index: 0, messageId: 'm-1', status: 'accepted' },
        { index: 1, messageId: 'm-2', status: 'accepted' },
        { index: 2, messageId: 'm-3', status: 'rejected' },
      ],
    });
    expect(s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Bucket).toBe('data-bucket');
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.TableName).toBe('profiles-table');
  });

  it('accepts a base64-encoded body', async () => {
    // Prepare
    const event = { ...jsonPost('/v1/batch', ''), body: Buffer.from(JSON.stringify({ batch: [view('m-1')] })).toString('base64'), isBase64Encoded: true };

    // Act
    const result = await handler(event, lambdaContext());

    // Assess
    expect(result.statusCode).toBe(200);
  });

  it('answers 200 for the valid messages when another message is nested thousands of levels deep', async () => {
    // Prepare: ~100 KB, well under the batch limit.
    const depth = 20_000;
    const deep = `{"type":"track","event":"X","messageId":"m-2","userId":"u-1","properties":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    const body = `{"batch":[${JSON.stringify(view('m-1'))},${deep}]}`;

    // Act
    const result = await post(body);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(bodyOf<{ accepted: number; rejected: { index: number }[] }>(result)).toMatchObject({ accepted: 1, rejected: [{ index: 1 }] });
  });

  it('answers 500 with a generic body and no internals when S3 fails', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(new Error('AccessDenied: arn:aws:s3:::data-bucket/raw/events secret-detail'));

    // Act
    const result = await post({ batch: [view('m-1')] });

    // Assess
    expect(result.statusCode).toBe(500);
    expect(result.body).toBe('{"message":"Internal Server Error"}');
    expect(result.body).not.toContain('data-bucket');
    expect(result.body).not.toContain('stack');
  });
});
