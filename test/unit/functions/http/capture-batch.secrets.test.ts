/**
 * The capture handler as deployed with SSM secrets: WRITE_KEYS_PARAMETER and PII_HASH_KEY_PARAMETER
 * set, no WRITE_KEYS / PII_HASH_KEY in the environment, SSM mocked (aws-sdk-client-mock).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetSecrets } from '../../../../shared/config/secrets';
import { IdentifierHasher } from '../../../../shared/identity/hashing';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

const PII_PARAMETER = '/omnichannel-ai/test/pii-hash-key';
const WRITE_PARAMETER = '/omnichannel-ai/test/write-keys';
const api = handlerHarness({
  env: {
    // Deployed: no emulator endpoints, so there is no dev-key fallback and no open mode.
    AWS_LAMBDA_FUNCTION_NAME: 'omnichannel-ai-test-captureBatch',
    WRITE_KEYS: '',
    PII_HASH_KEY: '',
    WRITE_KEYS_PARAMETER: WRITE_PARAMETER,
    PII_HASH_KEY_PARAMETER: PII_PARAMETER,
    SECRETS_MAX_AGE_SECONDS: '60',
  },
  handlers: { handler: () => import('../../../../functions/http/capture-batch') },
});
const { s3: s3Mock, ddb: ddbMock } = api;
const ssmMock = mockClient(SSMClient);
const handler: ApiHandler = (event, context) => api.handlers.handler(event, context);
/** Imported after the environment is stubbed (the logger reads its level when it is created). */
let logger: typeof import('../../../../shared/observability/powertools').logger;

const PII_KEY = 'ssm-only-pii-key-0123456789abcdef0123456789';
const T0 = new Date('2026-05-01T10:00:00.000Z');

function answer(values: Record<string, string>) {
  return (input: { Names?: string[] }) => ({
    Parameters: (input.Names ?? []).filter((n) => n in values).map((Name) => ({ Name, Type: 'SecureString' as const, Value: values[Name], Version: 1 })),
    InvalidParameters: (input.Names ?? []).filter((n) => !(n in values)),
  });
}

function post(writeKey: string, messageId = 'm-1'): Promise<APIGatewayProxyStructuredResultV2> {
  const body = JSON.stringify({ batch: [{ type: 'track', event: 'Product Viewed', messageId, userId: 'u-1', properties: { product_id: 'p-1' } }] });
  const authorization = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  return handler(apiEvent({ method: 'POST', path: '/v1/batch', body, headers: { authorization } }), lambdaContext());
}

beforeAll(async () => {
  // After the harness's environment and handler.
  ({ logger } = await import('../../../../shared/observability/powertools'));
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  resetSecrets();
  ssmMock.reset();
  s3Mock.on(PutObjectCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'u:u-1', version: 1, seen: {}, recent: [] } });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('capture with secrets from SSM', () => {
  it('accepts a write key that exists only in SSM and hashes with the PII key from SSM', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: PII_KEY, [WRITE_PARAMETER]: 'ssm-write-key' }));
    const expectedHash = new IdentifierHasher(PII_KEY).hash('userId', 'u-1').hash;

    // Act
    const result = await post('ssm-write-key');

    // Assess
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body ?? '{}')).toMatchObject({ accepted: 1 });
    expect(ssmMock.commandCalls(GetParametersCommand)[0]?.args[0].input).toEqual({ Names: [PII_PARAMETER, WRITE_PARAMETER], WithDecryption: true });
    expect(JSON.stringify(ddbMock.calls().map((c) => c.args[0].input))).toContain(expectedHash);
  });

  it('refuses a key that SSM does not hold with 401', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: PII_KEY, [WRITE_PARAMETER]: 'ssm-write-key' }));

    // Act
    const result = await post('some-other-key');

    // Assess
    expect(result.statusCode).toBe(401);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('honours a rotated write key after the max age, without a redeploy, and reads the PII key once', async () => {
    // Prepare
    ssmMock
      .on(GetParametersCommand)
      .callsFakeOnce(answer({ [PII_PARAMETER]: PII_KEY, [WRITE_PARAMETER]: 'old-key' }))
      .callsFake(answer({ [PII_PARAMETER]: PII_KEY, [WRITE_PARAMETER]: 'new-key' }));
    const beforeRotation = [(await post('old-key', 'm-1')).statusCode, (await post('new-key', 'm-2')).statusCode];

    // Act
    vi.setSystemTime(T0.getTime() + 61_000);
    const afterRotation = [(await post('old-key', 'm-3')).statusCode, (await post('new-key', 'm-4')).statusCode];

    // Assess
    expect(beforeRotation).toEqual([200, 401]);
    expect(afterRotation).toEqual([401, 200]);
    expect(ssmMock.commandCalls(GetParametersCommand).map((c) => c.args[0].input.Names)).toEqual([[PII_PARAMETER, WRITE_PARAMETER], [WRITE_PARAMETER]]);
  });

  it('answers 500 with a generic body and logs the missing parameter by name', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: PII_KEY }));
    const logged = vi.spyOn(logger, 'error');

    // Act
    const result = await post('ssm-write-key');

    // Assess
    expect(result.statusCode).toBe(500);
    expect(result.body).toBe('{"message":"Internal Server Error"}');
    expect(String(logged.mock.calls[0]?.[1])).toContain(`SSM parameter ${WRITE_PARAMETER} (WRITE_KEYS_PARAMETER) does not exist`);
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
