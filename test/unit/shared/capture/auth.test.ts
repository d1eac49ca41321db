import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { authConfig, authenticate, headerKey, keyRing } from '../../../../shared/capture/auth';
import { handleCapture } from '../../../../shared/capture/http';
import { HttpError } from '../../../../shared/http/errors';
import { ProfileRepository } from '../../../../shared/profiles/repository';
import { BlobStore } from '../../../../shared/storage/blob';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Production holds digests only; a plain key is accepted for local use. */
const HASHED_KEY = 'wk_live_hashed';
const PLAIN_KEY = 'wk_local_plain';

const basic = (user: string, password = '') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const message = { type: 'track', event: 'Product Viewed', messageId: 'm-1', userId: 'u-1', properties: { product_id: 'p-1' } };

function send(body: unknown, headers: Record<string, string> = {}) {
  return handler(apiEvent({ method: 'POST', path: '/v1/batch', body: typeof body === 'string' ? body : JSON.stringify(body), headers }), lambdaContext());
}

const reasonOf = (result: APIGatewayProxyStructuredResultV2) => (JSON.parse(result.body ?? '{}') as { reason?: string }).reason;

const api = handlerHarness({
  env: { WRITE_KEYS: ` sha256:${sha256(HASHED_KEY)} , ${PLAIN_KEY} ` },
  handlers: { handler: () => import('../../../../functions/http/capture') },
});
const { s3: s3Mock, ddb: ddbMock } = api;
const handler: ApiHandler = (event, context) => api.handlers.handler(event, context);

beforeEach(() => {
  s3Mock.on(PutObjectCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'p', version: 1, seen: {}, recent: [] } });
});

describe('keyRing', () => {
  it('matches keys configured as sha256 digests (prefixed or bare) and as plain keys, and nothing else', () => {
    // Prepare
    const ring = keyRing(`sha256:${sha256('a')},${sha256('b').toUpperCase()},c`);

    // Act & Assess
    expect(['a', 'b', 'c'].map((k) => ring.matches(k))).toEqual([true, true, true]);
    expect(['d', '', sha256('a')].map((k) => ring.matches(k))).toEqual([false, false, false]);
    expect(ring.size).toBe(3);
  });

  it('is unconfigured when the list is empty or blank', () => {
    // Act & Assess
    expect(keyRing('').configured).toBe(false);
    expect(keyRing(' , ').configured).toBe(false);
    expect(keyRing(undefined).configured).toBe(false);
  });
});

describe('headerKey', () => {
  it("reads Segment's Basic scheme: the key as user name, the password ignored", () => {
    // Act & Assess
    expect(headerKey({ authorization: basic('k1') })).toEqual({ via: 'basic', key: 'k1' });
    expect(headerKey({ Authorization: basic('k2', 'ignored') })).toEqual({ via: 'basic', key: 'k2' });
    expect(headerKey({})).toBeUndefined();
  });

  it('refuses an unreadable Authorization header with 401 and a reason', () => {
    // Act
    const attempts = [
      () => headerKey({ authorization: basic('') }),
      () => headerKey({ authorization: 'Digest abc' }),
      () => headerKey({ authorization: 'Bearer k' }),
    ];

    // Assess
    for (const attempt of attempts) expect(attempt).toThrow(expect.objectContaining({ statusCode: 401 }));
    expect(headerKey({ authorization: 'Bearer k' }, { bearer: true })).toEqual({ via: 'bearer', key: 'k' });
  });
});

describe('authConfig', () => {
  it('is open on the local stack (emulator endpoints) and unconfigured when deployed, when no key is set', () => {
    // Act
    const local = authConfig('WRITE_KEYS', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' });
    const deployed = authConfig('WRITE_KEYS', { AWS_LAMBDA_FUNCTION_NAME: 'capture' });
    const keyed = authConfig('WRITE_KEYS', { WRITE_KEYS: 'k', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' });

    // Assess
    expect([local.mode, deployed.mode, keyed.mode]).toEqual(['open', 'unconfigured', 'keys']);
  });

  it('answers 503 (retried by Segment clients, not dropped) when deployed without keys', () => {
    // Act
    const act = () => authenticate(authConfig('WRITE_KEYS', {}), { via: 'basic', key: 'k' }, { name: 'write key', hint: '', service: 'capture' });

    // Assess
    expect(act).toThrow(HttpError);
    expect(act).toThrow(expect.objectContaining({ statusCode: 503, message: expect.stringContaining('WRITE_KEYS') }));
  });

  it('lets an open local stack capture without any key', async () => {
    // Prepare
    const deps = {
      blobs: new BlobStore(new S3Client({ region: 'eu-west-1' }), 'b'),
      profiles: new ProfileRepository(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), 't'),
      auth: authConfig('WRITE_KEYS', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }),
    };
    const event = { ...apiEvent({ method: 'POST', path: '/v1/batch', body: JSON.stringify({ batch: [message] }) }), routeKey: 'POST /v1/batch' };

    // Act
    const out = await handleCapture(deps, event);

    // Assess
    expect(out.result.accepted).toBe(1);
  });
});

describe('write-key authentication on the capture routes', () => {
  it.each([
    ['a hashed key in Basic auth', { authorization: basic(HASHED_KEY) }, { batch: [message] }],
    ['a plain key in Basic auth', { authorization: basic(PLAIN_KEY) }, { batch: [message] }],
    ['writeKey in the batch body (no header)', {}, { batch: [message], writeKey: HASHED_KEY }],
  ])('accepts %s', async (_name, headers, body) => {
    // Act
    const result = await send(body, headers);

    // Assess
    expect(result.statusCode).toBe(200);
  });

  it('accepts writeKey in the body of a single-message route', async () => {
    // Act
    const result = await handler(
      apiEvent({ method: 'POST', path: '/v1/track', body: JSON.stringify({ ...message, type: undefined, writeKey: PLAIN_KEY }) }),
      lambdaContext(),
    );

    // Assess
    expect(result.statusCode).toBe(200);
  });

  it.each([
    ['no key at all', {}, { batch: [message] }, 'a write key is required'],
    ['an unknown key in Basic auth', { authorization: basic('wk_guess') }, { batch: [message] }, 'sent as Basic auth is not a configured write key'],
    ['an unknown writeKey in the body', {}, { batch: [message], writeKey: 'wk_guess' }, 'sent as writeKey in the body is not a configured key'],
    ['the digest itself presented as the key', { authorization: basic(sha256(HASHED_KEY)) }, { batch: [message] }, 'not a configured write key'],
    ['a wrong header even with a right body key', { authorization: basic('wk_guess') }, { batch: [message], writeKey: PLAIN_KEY }, 'Basic auth'],
    ['a malformed JSON body without a header', {}, '{"batch": [', 'a write key is required'],
  ])('answers 401 with a reason for %s, and stores nothing (not even in the quarantine)', async (_name, headers, body, reason) => {
    // Act
    const result = await send(body, headers as Record<string, string>);

    // Assess
    expect(result.statusCode).toBe(401);
    expect(reasonOf(result)).toContain(reason);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(ddbMock.calls()).toHaveLength(0);
  });
});
