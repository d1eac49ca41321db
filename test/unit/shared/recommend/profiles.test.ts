import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, type GetCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultHasher } from '../../../../shared/identity/hashing';
import { profileRef } from '../../../../shared/profiles/profile';
import { ProfileRepository } from '../../../../shared/profiles/repository';
import { ServingProfiles } from '../../../../shared/recommend/profiles';

const TABLE = 'profiles';
const ddbMock = mockClient(DynamoDBDocumentClient);
const table = new Map<string, Record<string, unknown>>();
const reads: GetCommandInput[] = [];

const put = (item: Record<string, unknown>) => table.set(`${item.pk}|${item.sk}`, item);
const ref = (userId: string) => profileRef(defaultHasher().hash('userId', userId));
function link(userId: string, profileId: string): void {
  const { hash } = defaultHasher().hash('userId', userId);
  put({ pk: `IDENT#userId#${hash}`, sk: 'LINK', profileId, type: 'userId' });
}
function profile(profileId: string, extra: Record<string, unknown> = {}): void {
  put({
    pk: `PROFILE#${profileId}`,
    sk: 'PROFILE',
    profileId,
    status: 'active',
    createdAt: '2026-09-01T00:00:00.000Z',
    updatedAt: '2026-10-01T00:00:00.000Z',
    version: 7,
    recent: [
      { i: 'b', t: 'purchase', ts: 2, c: 'app' },
      { i: 'a', t: 'view', ts: 1, c: 'web' },
    ],
    purchased: new Set(['b']),
    consent: { personalization: false },
    consentAt: '2026-09-02T00:00:00.000Z',
    seen: Object.fromEntries(Array.from({ length: 500 }, (_, m) => [`msg-${m}`, m])),
    cnt_view: 1,
    ch_web: 1,
    cart: { a: 1 },
    ...extra,
  });
}

beforeEach(() => {
  table.clear();
  reads.length = 0;
  ddbMock.reset();
  // An in-memory table that applies ProjectionExpression (#names) like DynamoDB does.
  ddbMock.on(GetCommand).callsFake((input: GetCommandInput) => {
    reads.push(input);
    const item = table.get(`${input.Key?.pk}|${input.Key?.sk}`);
    if (!item || !input.ProjectionExpression) return { Item: item };
    const names = input.ProjectionExpression.split(',').map((p) => input.ExpressionAttributeNames?.[p.trim()] ?? p.trim());
    return { Item: Object.fromEntries(names.filter((n) => n in item).map((n) => [n, item[n]])) };
  });
});

function setup() {
  const repository = new ProfileRepository(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), TABLE);
  return { repository, shoppers: new ServingProfiles(repository) };
}

const servingFields = (p: { profileId: string; recentItems: unknown; purchased: unknown; consent?: unknown } | undefined) =>
  p && { profileId: p.profileId, recentItems: p.recentItems, purchased: p.purchased, consent: p.consent };

describe('ServingProfiles: the profile fields serving reads', () => {
  it('reads an active profile without its message-id ledger, with the same recent items, purchases and consent as the full read', async () => {
    // Prepare
    const { repository, shoppers } = setup();
    link('alice', 'p1');
    profile('p1');

    // Act
    const served = await shoppers.get(ref('alice'));
    const projectedRead = reads.at(-1);
    const full = await repository.get(ref('alice'));

    // Assess
    expect(servingFields(served)).toEqual(servingFields(full));
    expect(served?.recentItems.map((r) => r.itemId)).toEqual(['a', 'b']);
    expect(served?.consent?.personalization).toBe(false);
    const projected = Object.values(projectedRead?.ExpressionAttributeNames ?? {});
    expect(projected).toEqual(expect.arrayContaining(['recent', 'purchased', 'consent', 'status']));
    expect(projected).not.toContain('seen');
    expect(projectedRead?.ConsistentRead).toBe(true);
  });

  it('answers undefined for an identifier without a profile, or a link to a missing item', async () => {
    // Prepare
    const { shoppers } = setup();
    link('bob', 'p-gone');

    // Act / Assess
    expect(await shoppers.get(ref('nobody'))).toBeUndefined();
    expect(await shoppers.get(ref('bob'))).toBeUndefined();
  });

  it('follows a merged profile to its survivor and ignores an erased one, like the repository', async () => {
    // Prepare
    const { repository, shoppers } = setup();
    link('carol', 'p-old');
    put({ pk: 'PROFILE#p-old', sk: 'PROFILE', profileId: 'p-old', status: 'merged', mergedInto: 'p-new' });
    profile('p-new', { consent: {} });
    link('dave', 'p-erased');
    put({ pk: 'PROFILE#p-erased', sk: 'PROFILE', profileId: 'p-erased', status: 'deleted' });

    // Act
    const merged = await shoppers.get(ref('carol'));
    const erased = await shoppers.get(ref('dave'));

    // Assess
    expect(merged?.profileId).toBe('p-new');
    expect(servingFields(merged)).toEqual(servingFields(await repository.get(ref('carol'))));
    expect(erased).toBeUndefined();
  });
});
