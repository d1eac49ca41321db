import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { captureBatch, type CaptureDeps } from '../../../../shared/capture/service';
import { IdentifierHasher } from '../../../../shared/identity/hashing';
import { identityGuards } from '../../../../shared/identity/guards';
import { ProfileRepository } from '../../../../shared/profiles/repository';
import { linkKey } from '../../../../shared/profiles/table';
import { BlobStore } from '../../../../shared/storage/blob';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const NOW = new Date('2026-03-10T12:00:00.000Z');
const TABLE = 'profiles-table';
const hasher = new IdentifierHasher('unit-test-key-0123456789abcdef0123456789');

function deps(): CaptureDeps {
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  return {
    blobs: new BlobStore(new S3Client({ region: 'eu-west-1' }), 'bucket'),
    profiles: new ProfileRepository(ddb, TABLE, { hasher, guards: identityGuards() }),
    now: () => NOW,
    quarantine: false,
  };
}

const view = (messageId: string, fields: Record<string, unknown> = {}) => ({
  type: 'track',
  event: 'Product Viewed',
  messageId,
  timestamp: '2026-03-10T09:00:00.000Z',
  properties: { product_id: 'p-1' },
  ...fields,
});

beforeEach(() => {
  s3Mock.reset();
  ddbMock.reset();
  s3Mock.on(PutObjectCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'p', version: 1, seen: {}, recent: [] } });
});

describe('capture → identity graph (mocked DynamoDB)', () => {
  it('creates one profile for a login (userId + anonymousId) and links both ids by their keyed hashes', async () => {
    // Act
    await captureBatch(deps(), { batch: [view('m-1', { userId: 'u-7', anonymousId: 'anon-7' }), view('m-2', { anonymousId: 'anon-7' })] });

    // Assess
    const puts = ddbMock.commandCalls(PutCommand).map((c) => c.args[0].input);
    const profile = puts.find((p) => String(p.Item?.sk) === 'PROFILE');
    const links = puts.filter((p) => String(p.Item?.sk) === 'LINK').map((p) => ({ pk: p.Item?.pk, profileId: p.Item?.profileId }));
    expect(profile?.Item?.profileId).toMatch(/^p_[0-9a-f]{24}$/);
    expect(links).toEqual(
      expect.arrayContaining([
        { pk: linkKey(hasher.hash('userId', 'u-7')).pk, profileId: profile?.Item?.profileId },
        { pk: linkKey(hasher.hash('anonymousId', 'anon-7')).pk, profileId: profile?.Item?.profileId },
      ]),
    );
    expect(JSON.stringify(puts)).not.toMatch(/u-7|anon-7/);
    const updated = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key);
    expect(updated).toEqual([profile && { pk: profile.Item?.pk, sk: 'PROFILE' }, profile && { pk: profile.Item?.pk, sk: 'PROFILE' }]);
  });

  it('resolves known shoppers from one prefetch of their (hashed) links: no per-event reads', async () => {
    // Prepare
    const link = linkKey(hasher.hash('anonymousId', 'anon-8'));
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({ Responses: { [TABLE]: [{ ...link, profileId: 'p_8' }] } })
      .resolvesOnce({ Responses: { [TABLE]: [{ pk: 'PROFILE#p_8', profileId: 'p_8', status: 'active', version: 1 }] } });

    // Act
    await captureBatch(deps(), { batch: [view('m-1', { anonymousId: 'anon-8' }), view('m-2', { anonymousId: 'anon-8' })] });

    // Assess
    const batchGets = ddbMock.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems?.[TABLE]);
    expect(batchGets.map((r) => r?.Keys)).toEqual([[link], [{ pk: 'PROFILE#p_8', sk: 'PROFILE' }]]);
    expect(batchGets.every((r) => r?.ConsistentRead)).toBe(true);
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual([
      { pk: 'PROFILE#p_8', sk: 'PROFILE' },
      { pk: 'PROFILE#p_8', sk: 'PROFILE' },
    ]);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('stores the user id hashed, never raw, and leaves out the events of a shopper who refused tracking', async () => {
    // Act
    const result = await captureBatch(deps(), {
      batch: [view('m-1', { userId: 'jane-42' }), view('m-2', { userId: 'joe-43', context: { consent: { tracking: false } } })],
    });

    // Assess
    const stored = s3Mock
      .commandCalls(PutObjectCommand)
      .map((c) => gunzipSync(c.args[0].input.Body as Uint8Array).toString('utf8'))
      .join('\n');
    expect(stored).toContain('"eventId":"m-1"');
    expect(stored).not.toContain('m-2');
    expect(stored).not.toContain('jane-42');
    expect(stored).toContain(hasher.hash('userId', 'jane-42').hash);
    expect(
      ddbMock
        .commandCalls(UpdateCommand)
        .map((c) => c.args[0].input.ExpressionAttributeNames?.['#mid'])
        .filter(Boolean),
    ).toEqual(['m-1']);
    expect(result.accepted).toBe(2);
  });

  it('counts the messages dropped for consent and gives them the status suppressed', async () => {
    // Prepare
    const batch = [
      view('m-1', { userId: 'jane-42' }),
      view('m-2', { userId: 'joe-43', context: { consent: { tracking: false } } }),
      view('m-3', { anonymousId: 'anon-9', context: { consent: { tracking: false } } }),
    ];

    // Act
    const result = await captureBatch(deps(), { batch });

    // Assess
    expect(result.suppressed).toBe(2);
    expect(result.accepted).toBe(3);
    expect(result.results).toEqual([
      { index: 0, messageId: 'm-1', status: 'accepted' },
      { index: 1, messageId: 'm-2', status: 'suppressed' },
      { index: 2, messageId: 'm-3', status: 'suppressed' },
    ]);
  });
});
