import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

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

const api = handlerHarness({ handlers: { handler: () => import('../../../../functions/http/get-recommendations') } });
const { s3: s3Mock, ddb: ddbMock } = api;
const handler: ApiHandler = (event, context) => api.handlers.handler(event, context);

beforeEach(() => {
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
