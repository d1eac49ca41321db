import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultHasher } from '../../../../shared/identity/hashing';
import { linkKey } from '../../../../shared/profiles/table';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { handlerHarness } from '../../../helpers/handler-harness';

const api = handlerHarness({ handlers: { getProfile: () => import('../../../../functions/http/profiles') } });
const ddbMock = api.ddb;

beforeEach(() => {
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(QueryCommand).resolves({ Items: [] });
});

const call = async (options: Parameters<typeof apiEvent>[0]) => {
  const response = await api.handlers.getProfile(apiEvent(options), lambdaContext());
  return { status: response.statusCode as number, body: JSON.parse(response.body ?? '') as Record<string, unknown> };
};

describe('GET /v1/profiles', () => {
  it('hashes the identifier server-side, looks it up, and answers with the typed hash, never the value', async () => {
    // Prepare
    const hashed = defaultHasher().hash('email', 'jane@example.com');
    ddbMock.on(GetCommand, { Key: linkKey(hashed) }).resolves({ Item: { profileId: 'p_1' } });
    ddbMock.on(GetCommand, { Key: { pk: 'PROFILE#p_1', sk: 'PROFILE' } }).resolves({
      Item: { profileId: 'p_1', status: 'active', createdAt: 'c', updatedAt: 'u', cnt_view: 2, ch_web: 2, id_email: new Set([hashed.hash]) },
    });

    // Act
    const { status, body } = await call({ path: '/v1/profiles', queryStringParameters: { identifier: 'email: Jane@Example.com' } });

    // Assess
    expect(status).toBe(200);
    expect(body).toMatchObject({
      resolvedFrom: `email:${hashed.hash}`,
      profile: { profileId: 'p_1', counts: { view: 2 }, identifiers: [hashed] },
      history: [],
    });
    expect(JSON.stringify(body)).not.toContain('jane');
  });

  it('answers 400 naming the field and the reason for a malformed identifier, 404 for an unknown one', async () => {
    // Act
    const noColon = await call({ path: '/v1/profiles', queryStringParameters: { identifier: 'jane' } });
    const badPhone = await call({ path: '/v1/profiles', queryStringParameters: { identifier: 'phone:12' } });
    const unknown = await call({ path: '/v1/profiles', queryStringParameters: { identifier: 'userId:nobody' } });
    const missingProfile = await call({ path: '/v1/profiles/p_none', pathParameters: { profileId: 'p_none' } });

    // Assess
    expect(noColon.status).toBe(400);
    expect(noColon.body.issues).toEqual([{ field: 'identifier', reason: expect.stringContaining('must be <type>:<value>') }]);
    expect(badPhone.body.issues).toEqual([{ field: 'identifier', reason: 'phone must have between 6 and 15 digits' }]);
    expect(unknown.status).toBe(404);
    expect(missingProfile.status).toBe(404);
  });
});
