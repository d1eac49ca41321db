import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiEvent } from '../helpers/api-event';
import { lambdaContext } from '../helpers/context';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
let handler: Handler;

interface ErrorBody {
  error: string;
  issues?: { field: string; reason: string }[];
}

function request(query?: Record<string, string>, userId = 'u-1'): APIGatewayProxyEventV2 {
  return apiEvent({
    method: 'GET',
    path: `/v1/users/${userId}/recommendations`,
    routeKey: 'GET /v1/users/{userId}/recommendations',
    pathParameters: { userId },
    ...(query ? { queryStringParameters: query } : {}),
  });
}

function bodyOf<T>(result: APIGatewayProxyStructuredResultV2): T {
  return JSON.parse(result.body ?? '') as T;
}

function noSuchKey(): Error {
  return Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
}

beforeAll(async () => {
  // Configuration is read when the module loads: set it first.
  vi.stubEnv('DATA_BUCKET', 'data-bucket');
  vi.stubEnv('PROFILES_TABLE', 'profiles-table');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  ({ handler } = (await import('../../functions/http/get-recommendations')) as unknown as { handler: Handler });
});

beforeEach(() => {
  s3Mock.reset();
  ddbMock.reset();
  s3Mock.on(GetObjectCommand).rejects(noSuchKey());
  ddbMock.on(GetCommand).resolves({});
});

describe('GET /v1/users/{userId}/recommendations', () => {
  it.each([
    ['0', 'must be at least 1'],
    ['101', 'must be at most 100'],
    ['abc', 'must be a number'],
    ['2.5', 'must be an integer'],
  ])('answers 400 naming k for k=%s', async (k, reason) => {
    // Act
    const result = await handler(request({ k }), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf<ErrorBody>(result).issues).toEqual([{ field: 'k', reason }]);
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it('answers 400 naming an unknown query parameter', async () => {
    // Act
    const result = await handler(request({ k: '5', limit: '5' }), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(bodyOf<ErrorBody>(result).issues).toEqual([{ field: 'limit', reason: 'unknown field' }]);
  });

  it('answers 503 while no champion has been promoted', async () => {
    // Act
    const result = await handler(request({ k: '5' }), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(503);
    expect(bodyOf<ErrorBody>(result).error).toMatch(/no recommender model/i);
    const aliasRead = s3Mock.commandCalls(GetObjectCommand)[0]?.args[0].input;
    expect(aliasRead).toMatchObject({ Bucket: 'data-bucket', Key: expect.stringMatching(/aliases\/champion\.json$/) });
    // The profile is read through the identity graph: by the keyed hash of the user id, never the raw id.
    const profileRead = ddbMock.commandCalls(GetCommand)[0]?.args[0].input;
    expect(profileRead).toMatchObject({ TableName: 'profiles-table' });
    expect(JSON.stringify(profileRead?.Key)).not.toContain('u-1');
  });

  it('answers 500 with a generic body when the registry read fails for another reason', async () => {
    // Prepare
    s3Mock.on(GetObjectCommand).rejects(new Error('socket hang up at 10.0.0.12:443'));

    // Act
    const result = await handler(request(), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(500);
    expect(result.body).toBe('{"message":"Internal Server Error"}');
  });
});
