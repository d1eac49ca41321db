import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../../../shared/events/canonical';
import { defaultHasher } from '../../../../shared/identity/hashing';
import { primaryProfileId } from '../../../../shared/profiles/profile';
import { ProfileRepository, toProfile } from '../../../../shared/profiles/repository';
import { linkKey } from '../../../../shared/profiles/table';

const ddbMock = mockClient(DynamoDBDocumentClient);
const TABLE = 'profiles-table';
const NOW = new Date('2026-03-10T12:00:00.000Z');

function repository(): ProfileRepository {
  return new ProfileRepository(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), TABLE);
}

function event(fields: Partial<CanonicalEvent> = {}): CanonicalEvent {
  return {
    eventId: 'm-1',
    type: 'view',
    profileId: 'u:u-1',
    userId: 'u-1',
    channel: 'web',
    timestamp: '2026-03-10T09:00:00.000Z',
    receivedAt: NOW.toISOString(),
    items: [{ itemId: 'p-1' }],
    ...fields,
  };
}

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const missingDocumentPath = () =>
  Object.assign(new Error('The document path provided in the update expression is invalid for update'), { name: 'ValidationException' });

const stored = { profileId: 'u:u-1', version: 1, seen: { 'm-1': 1 }, recent: [] };

beforeEach(() => {
  ddbMock.reset();
  ddbMock.on(UpdateCommand).resolves({ Attributes: stored });
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
});

describe('ProfileRepository.applyEvent', () => {
  it('sends one conditional UpdateCommand that ADDs the type and channel counters', async () => {
    // Act
    const outcome = await repository().applyEvent('u:u-1', event({ eventId: 'm-9', channel: 'app' }), NOW);

    // Assess
    expect(outcome).toBe('applied');
    const calls = ddbMock.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.TableName).toBe(TABLE);
    expect(input.Key).toEqual({ pk: 'PROFILE#u:u-1', sk: 'PROFILE' });
    expect(input.ConditionExpression).toBe('attribute_not_exists(seen.#mid) AND (attribute_not_exists(#st) OR #st = :active)');
    expect(input.ExpressionAttributeNames).toMatchObject({ '#mid': 'm-9', '#cnt': 'cnt_view', '#chc': 'ch_app' });
    const add = input.UpdateExpression?.split(' ADD ')[1] ?? '';
    expect(add).toContain('#cnt :one');
    expect(add).toContain('#chc :one');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':one': 1,
      ':recent': [{ i: 'p-1', t: 'view', ts: Date.parse('2026-03-10T09:00:00.000Z'), c: 'app' }],
    });
  });

  it('adds purchased items and revenue for a purchase', async () => {
    // Act
    await repository().applyEvent('u:u-1', event({ type: 'purchase', items: [{ itemId: 'p-1' }, { itemId: 'p-2' }], revenue: 30 }), NOW);

    // Assess
    const input = ddbMock.commandCalls(UpdateCommand)[0]!.args[0].input;
    expect(input.ExpressionAttributeNames?.['#cnt']).toBe('cnt_purchase');
    expect(input.UpdateExpression).toContain('purchased :items');
    expect(input.UpdateExpression).toContain('totalRevenue :revenue');
    expect(input.ExpressionAttributeValues).toMatchObject({ ':items': new Set(['p-1', 'p-2']), ':revenue': 30 });
  });

  it('creates the skeleton and retries when the document path is missing (first event of a profile)', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejectsOnce(missingDocumentPath()).resolves({ Attributes: stored });

    // Act
    const outcome = await repository().applyEvent('u:u-1', event(), NOW);

    // Assess
    expect(outcome).toBe('applied');
    expect(ddbMock.calls().map((c) => c.args[0].constructor.name)).toEqual(['UpdateCommand', 'PutCommand', 'UpdateCommand']);
    const put = ddbMock.commandCalls(PutCommand)[0]!.args[0].input;
    expect(put).toMatchObject({
      TableName: TABLE,
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: { pk: 'PROFILE#u:u-1', sk: 'PROFILE', profileId: 'u:u-1', status: 'active', createdAt: NOW.toISOString(), version: 0, seen: {}, cart: {} },
    });
  });

  it('still retries when a concurrent writer created the skeleton first', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejectsOnce(missingDocumentPath()).resolves({ Attributes: stored });
    ddbMock.on(PutCommand).rejects(conditionFailed());

    // Act
    const outcome = await repository().applyEvent('u:u-1', event(), NOW);

    // Assess
    expect(outcome).toBe('applied');
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(2);
  });

  it('reports a duplicate when the event id was already seen (one read tells why the condition failed)', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    ddbMock.on(GetCommand).resolves({ Item: { status: 'active', seen: { 'm-1': 1 } } });

    // Act
    const outcome = await repository().applyEvent('u:u-1', event(), NOW);

    // Assess
    expect(outcome).toBe('duplicate');
    expect(ddbMock.calls().map((c) => c.args[0].constructor.name)).toEqual(['UpdateCommand', 'GetCommand']);
  });

  it('drops an event whose profile was erased (tombstone) instead of recreating it', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    ddbMock.on(GetCommand).resolves({ Item: { status: 'deleted' } });

    // Act
    const outcome = await repository().applyEvent('p_gone', event(), NOW);

    // Assess
    expect(outcome).toBe('suppressed');
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });

  it('follows the redirect of a profile merged meanwhile and applies the event to the survivor', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, { Key: { pk: 'PROFILE#p_old', sk: 'PROFILE' } }).rejects(conditionFailed());
    ddbMock.on(GetCommand, { Key: { pk: 'PROFILE#p_old', sk: 'PROFILE' } }).resolves({ Item: { profileId: 'p_old', status: 'merged', mergedInto: 'p_new' } });
    ddbMock.on(GetCommand, { Key: { pk: 'PROFILE#p_new', sk: 'PROFILE' } }).resolves({ Item: { profileId: 'p_new', status: 'active' } });

    // Act
    const outcome = await repository().applyEvent('p_old', event(), NOW);

    // Assess
    expect(outcome).toBe('applied');
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.Key)).toEqual([
      { pk: 'PROFILE#p_old', sk: 'PROFILE' },
      { pk: 'PROFILE#p_new', sk: 'PROFILE' },
    ]);
  });

  it('keeps the cart: add sums quantities per line, remove drops the line, a purchase empties it', async () => {
    // Act
    await repository().applyEvent(
      'p_1',
      event({ eventId: 'a', type: 'add_to_cart', items: [{ itemId: 'p-1', quantity: 2 }, { itemId: 'p-1' }, { itemId: 'p-2' }] }),
      NOW,
    );
    await repository().applyEvent('p_1', event({ eventId: 'b', type: 'remove_from_cart', items: [{ itemId: 'p-2' }] }), NOW);
    await repository().applyEvent('p_1', event({ eventId: 'c', type: 'purchase', items: [{ itemId: 'p-1' }] }), NOW);

    // Assess
    const [add, remove, purchase] = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(add?.UpdateExpression).toContain('#cart.#ci0 = if_not_exists(#cart.#ci0, :zero) + :cq0');
    expect(add?.ExpressionAttributeNames).toMatchObject({ '#ci0': 'p-1', '#ci1': 'p-2' });
    expect(add?.ExpressionAttributeValues).toMatchObject({ ':cq0': 3, ':cq1': 1 });
    expect(remove?.UpdateExpression).toContain('REMOVE #cart.#ci0');
    expect(remove?.ExpressionAttributeNames).toMatchObject({ '#ci0': 'p-2' });
    expect(purchase?.UpdateExpression).toContain('cart = :emptyCart');
  });

  it('rethrows any other error', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(Object.assign(new Error('Throughput exceeded'), { name: 'ProvisionedThroughputExceededException' }));

    // Act
    const act = repository().applyEvent('u:u-1', event(), NOW);

    // Assess
    await expect(act).rejects.toThrow('Throughput exceeded');
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });
});

describe('ProfileRepository reads', () => {
  it('reads a profile consistently and returns undefined when it does not exist', async () => {
    // Act
    const profile = await repository().get('p_nobody');

    // Assess
    expect(profile).toBeUndefined();
    expect(ddbMock.commandCalls(GetCommand)[0]!.args[0].input).toMatchObject({ Key: { pk: 'PROFILE#p_nobody', sk: 'PROFILE' }, ConsistentRead: true });
  });

  it('resolves an identifier reference (primaryProfileId) through its hashed identity link', async () => {
    // Prepare
    const ref = primaryProfileId({ userId: 'u-1' });
    const link = linkKey(defaultHasher().hash('userId', 'u-1'));
    ddbMock.on(GetCommand, { Key: link }).resolves({ Item: { profileId: 'p_1' } });
    ddbMock
      .on(GetCommand, { Key: { pk: 'PROFILE#p_1', sk: 'PROFILE' } })
      .resolves({ Item: { profileId: 'p_1', status: 'active', createdAt: 'c', updatedAt: 'u' } });

    // Act
    const profile = await repository().get(ref);

    // Assess
    expect(ref).not.toContain('u-1');
    expect(profile?.profileId).toBe('p_1');
  });
});

describe('toProfile', () => {
  it('turns a stored item into counts, channels, recent items sorted by time and purchases', () => {
    // Prepare
    const item = {
      pk: 'PROFILE#u:u-1',
      sk: 'PROFILE',
      profileId: 'u:u-1',
      userId: 'u-1',
      createdAt: '2026-03-01T00:00:00.000Z',
      updatedAt: '2026-03-10T12:00:00.000Z',
      lastSeenAt: '2026-03-10T09:00:00.000Z',
      version: 5,
      seen: { a: 1 },
      channels: new Set(['web', 'app']),
      cnt_view: 3,
      cnt_purchase: 1,
      ch_web: 3,
      ch_app: 1,
      last_web: '2026-03-10T09:00:00.000Z',
      last_app: '2026-03-05T09:00:00.000Z',
      recent: [
        { i: 'p-3', t: 'purchase', ts: 300, c: 'app' },
        { i: 'p-1', t: 'view', ts: 100, c: 'web' },
        { i: 'p-2', t: 'view', ts: 200, c: 'web' },
      ],
      purchased: new Set(['p-3', 'p-1']),
      totalRevenue: 42.5,
      cart: { 'p-2': 1, 'p-4': 0 },
      consent: { personalization: false },
      consentAt: '2026-03-09T00:00:00.000Z',
      id_userId: new Set(['h-u']),
      id_anonymousId: new Set(['h-a2', 'h-a1']),
      mergedFrom: new Set(['p_old']),
    };

    // Act
    const profile = toProfile(item);

    // Assess
    expect(profile).toEqual({
      profileId: 'u:u-1',
      createdAt: '2026-03-01T00:00:00.000Z',
      updatedAt: '2026-03-10T12:00:00.000Z',
      lastSeenAt: '2026-03-10T09:00:00.000Z',
      counts: { view: 3, purchase: 1 },
      channels: { web: { events: 3, lastSeen: '2026-03-10T09:00:00.000Z' }, app: { events: 1, lastSeen: '2026-03-05T09:00:00.000Z' } },
      recentItems: [
        { itemId: 'p-1', type: 'view', ts: 100, channel: 'web' },
        { itemId: 'p-2', type: 'view', ts: 200, channel: 'web' },
        { itemId: 'p-3', type: 'purchase', ts: 300, channel: 'app' },
      ],
      purchased: ['p-1', 'p-3'],
      totalRevenue: 42.5,
      cart: [{ itemId: 'p-2', quantity: 1 }],
      consent: { personalization: false, updatedAt: '2026-03-09T00:00:00.000Z' },
      identifiers: [
        { type: 'userId', hash: 'h-u' },
        { type: 'anonymousId', hash: 'h-a1' },
        { type: 'anonymousId', hash: 'h-a2' },
      ],
      mergedFrom: ['p_old'],
    });
  });

  it('fills empty defaults for a skeleton item', () => {
    // Act
    const profile = toProfile({ profileId: 'a:x', createdAt: 'c', updatedAt: 'u', version: 0, seen: {} });

    // Assess
    expect(profile).toEqual({
      profileId: 'a:x',
      createdAt: 'c',
      updatedAt: 'u',
      counts: {},
      channels: {},
      recentItems: [],
      purchased: [],
      totalRevenue: 0,
      cart: [],
      identifiers: [],
      mergedFrom: [],
    });
  });
});
