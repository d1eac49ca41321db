import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../shared/events/canonical';
import { identityOf, type IdentitySource } from '../../shared/identity/extract';
import { identityGuards } from '../../shared/identity/guards';
import { IdentifierHasher } from '../../shared/identity/hashing';
import { resolveEvents } from '../../shared/capture/resolve-identity';
import { type Emulators, loadServerlessConfig, startEmulators } from '../../shared/local/index';
import { eraseProfile } from '../../shared/privacy/erase';
import { loadSuppressedProfiles } from '../../shared/privacy/suppression';
import { ProfileRepository } from '../../shared/profiles/repository';
import { linkKey, profileKey } from '../../shared/profiles/table';
import { BlobStore } from '../../shared/storage/blob';

const projectRoot = resolve(import.meta.dirname, '../..');
const hasher = new IdentifierHasher('integration-test-key-0123456789abcdef0123');
const guards = identityGuards({ blocked: ['deviceId:STORE-TABLET-01'] });
const NOW = new Date('2026-05-01T12:00:00.000Z');

let emulators: Emulators;
let dataDir: string;
let ddb: DynamoDBDocumentClient;
let profiles: ProfileRepository;
let blobs: BlobStore;
let table: string;
let seq = 0;

type Msg = IdentitySource & { type: string };

/** One message through identity resolution and the profile update, as capture runs them. */
async function capture(messages: { msg: Msg; type?: CanonicalEvent['type']; channel?: CanonicalEvent['channel']; items?: string[]; at?: string }[]) {
  const events = messages.map(({ msg, type = 'view', channel = 'web', items = ['i-1'], at }) => ({
    eventId: `ev-${++seq}`,
    type,
    channel,
    timestamp: at ?? new Date(Date.UTC(2026, 3, 1) + seq * 60_000).toISOString(),
    receivedAt: NOW.toISOString(),
    items: items.map((itemId) => ({ itemId })),
    identity: identityOf(msg, { hasher, guards }),
  }));
  const resolved = await resolveEvents(events, profiles, NOW);
  for (const event of resolved.events) await profiles.applyEvent(event.profileId, event, NOW);
  return resolved;
}

const ofEmail = (email: string) => profiles.getByHashedIdentifier(hasher.hash('email', email));

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'identity-graph-'));
  const config = loadServerlessConfig(join(projectRoot, 'serverless.yml'), { stage: 'idgraph', env: {} });
  emulators = await startEmulators({ dataDir, config, setEnv: false });
  ddb = DynamoDBDocumentClient.from(emulators.dynamodbClient(), { marshallOptions: { removeUndefinedValues: true } });
  table = config.tables[0]?.TableName as string;
  profiles = new ProfileRepository(ddb, table, { hasher, guards });
  blobs = new BlobStore(emulators.s3Client(), config.buckets[0]?.name as string);
});

afterAll(async () => {
  await emulators?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('identity graph on dynalite', () => {
  it('stitches web browsing, a store purchase and a login into one shopper, explaining the merge', async () => {
    // Prepare
    const web = await capture([{ msg: { type: 'track', anonymousId: 'web-a1' }, items: ['i-1'] }]);
    const pos = await capture([
      { msg: { type: 'track', anonymousId: 'till-9', context: { loyalty_card: 'LC-100' } }, type: 'purchase', channel: 'pos', items: ['i-2'] },
    ]);

    // Act
    const login = await capture([
      {
        msg: { type: 'identify', userId: 'shopper-1', anonymousId: 'web-a1', traits: { email: 'Shopper.One@example.com', loyalty_card: 'LC-100' } },
        type: 'identify',
        items: [],
      },
    ]);

    // Assess
    const survivor = login.events[0]?.profileId as string;
    expect(survivor).toBe(pos.events[0]?.profileId); // the loyalty card outranks an anonymous id
    expect(login.merges).toEqual({ [web.events[0]?.profileId as string]: survivor });
    const profile = await ofEmail('shopper.one@example.com');
    expect(profile?.profileId).toBe(survivor);
    expect(profile?.counts).toEqual({ view: 1, purchase: 1, identify: 1 });
    expect(Object.keys(profile?.channels ?? {}).sort()).toEqual(['pos', 'web']);
    expect(profile?.recentItems.map((r) => r.itemId)).toEqual(['i-1', 'i-2']);
    expect(profile?.purchased).toEqual(['i-2']);
    expect(profile?.identifiers.map((i) => i.type)).toEqual(['userId', 'email', 'loyaltyCard', 'anonymousId', 'anonymousId']);
    const view = await profiles.view(web.events[0]?.profileId as string);
    expect(view?.resolvedFrom).toBe(web.events[0]?.profileId);
    expect(view?.history).toEqual([
      expect.objectContaining({
        kind: 'merged',
        survivor,
        other: web.events[0]?.profileId,
        eventId: login.events[0]?.eventId,
        identifiers: expect.arrayContaining([hasher.hash('anonymousId', 'web-a1'), hasher.hash('loyaltyCard', 'LC-100')]),
      }),
    ]);
  });

  it('refuses to merge two user ids met on one device, records why on both, and keeps each event with its own shopper', async () => {
    // Prepare
    const first = await capture([{ msg: { type: 'track', userId: 'alice', context: { device: { id: 'family-ipad' } } } }]);

    // Act
    const second = await capture([{ msg: { type: 'track', userId: 'bob', context: { device: { id: 'family-ipad' } } } }]);

    // Assess
    const alice = first.events[0]?.profileId as string;
    const bob = second.events[0]?.profileId as string;
    expect(bob).not.toBe(alice);
    expect(await profiles.identity.linkedProfileId(hasher.hash('deviceId', 'family-ipad'))).toBe(alice);
    const refusal = expect.objectContaining({
      kind: 'refused',
      reason: 'merge refused: would hold 2 userId identifiers (limit 1)',
      identifiers: [hasher.hash('deviceId', 'family-ipad')],
    });
    expect((await profiles.view(alice))?.history).toEqual([refusal]);
    expect((await profiles.view(bob))?.history).toEqual([refusal]);
  });

  it('never stitches on a blocked placeholder or a configured shared device id', async () => {
    // Act
    const a = await capture([{ msg: { type: 'track', anonymousId: 'kiosk-visitor-1', context: { device: { id: 'STORE-TABLET-01' } } } }]);
    const b = await capture([{ msg: { type: 'track', anonymousId: 'kiosk-visitor-2', context: { device: { id: 'store-tablet-01' } } } }]);
    const c = await capture([{ msg: { type: 'track', userId: 'undefined', anonymousId: 'x-3' } }]);
    const d = await capture([{ msg: { type: 'track', userId: 'undefined', anonymousId: 'x-4' } }]);

    // Assess
    expect(new Set([a, b, c, d].map((r) => r.events[0]?.profileId)).size).toBe(4);
    expect(await profiles.identity.linkedProfileId(hasher.hash('deviceId', 'STORE-TABLET-01'))).toBeUndefined();
  });

  it('refuses an identifier beyond its per-profile limit and records the refusal', async () => {
    // Prepare
    const emails = Array.from({ length: 6 }, (_, i) => `limit-${i}@example.com`);

    // Act
    for (const email of emails) await capture([{ msg: { type: 'identify', userId: 'many-mails', traits: { email } }, type: 'identify', items: [] }]);

    // Assess
    const profile = await profiles.getByIdentifier('userId', 'many-mails');
    expect(profile?.identifiers.filter((i) => i.type === 'email')).toHaveLength(5);
    expect(await profiles.identity.linkedProfileId(hasher.hash('email', emails[5] as string))).toBeUndefined();
    const history = (await profiles.view(profile?.profileId as string))?.history ?? [];
    expect(history).toEqual([expect.objectContaining({ kind: 'refused', reason: 'link refused: would hold 6 email identifiers (limit 5)' })]);
  });

  it('is safe to retry: the same event resolves to the same profile and is counted once', async () => {
    // Prepare
    const event = {
      eventId: 'retry-me',
      type: 'view' as const,
      channel: 'app' as const,
      timestamp: '2026-04-20T10:00:00.000Z',
      receivedAt: NOW.toISOString(),
      items: [{ itemId: 'i-9' }],
      identity: identityOf({ type: 'track', anonymousId: 'retry-anon' }, { hasher, guards }),
    };

    // Act
    const first = await resolveEvents([event], profiles, NOW);
    const second = await resolveEvents([event], profiles, NOW);
    const outcomes = [await profiles.applyEvent(first.events[0]?.profileId as string, first.events[0] as CanonicalEvent, NOW)];
    outcomes.push(await profiles.applyEvent(second.events[0]?.profileId as string, second.events[0] as CanonicalEvent, NOW));

    // Assess
    expect(second.events[0]?.profileId).toBe(first.events[0]?.profileId);
    expect(outcomes).toEqual(['applied', 'duplicate']);
  });

  it('merges concurrently from many writers without losing a count or leaving two live profiles', async () => {
    // Prepare: 12 anonymous profiles with 3 views each
    const anonymous = Array.from({ length: 12 }, (_, i) => `conc-anon-${i}`);
    await Promise.all(anonymous.map((anonymousId) => capture([0, 1, 2].map(() => ({ msg: { type: 'track', anonymousId } })))));

    // Act: 12 logins (each links one anonymous id to the same user) and 24 more views, all at once
    await Promise.all([
      ...anonymous.map((anonymousId) => capture([{ msg: { type: 'identify', userId: 'conc-user', anonymousId }, type: 'identify', items: [] }])),
      ...anonymous.flatMap((anonymousId) => [0, 1].map(() => capture([{ msg: { type: 'track', anonymousId } }]))),
    ]);

    // Assess
    const profile = await profiles.getByIdentifier('userId', 'conc-user');
    expect(profile?.counts).toEqual({ view: 12 * 5, identify: 12 });
    expect(profile?.identifiers.filter((i) => i.type === 'anonymousId')).toHaveLength(12);
    const owners = await Promise.all(
      anonymous.map(async (a) => (await profiles.get((await profiles.identity.linkedProfileId(hasher.hash('anonymousId', a))) as string))?.profileId),
    );
    expect(new Set(owners)).toEqual(new Set([profile?.profileId]));
    expect(profile?.mergedFrom.length).toBeGreaterThanOrEqual(11);
  });

  it('erases a shopper: links, history and data go, every merged id is suppressed, and a later event starts afresh', async () => {
    // Prepare
    await capture([{ msg: { type: 'track', anonymousId: 'erase-anon' } }]);
    const login = await capture([
      { msg: { type: 'identify', userId: 'erase-me', anonymousId: 'erase-anon', traits: { email: 'erase@example.com' } }, type: 'identify', items: [] },
    ]);
    await capture([{ msg: { type: 'track', anonymousId: 'erase-anon-2' } }]);
    await capture([{ msg: { type: 'track', userId: 'erase-me', anonymousId: 'erase-anon-2' } }]);
    const before = await profiles.getByIdentifier('userId', 'erase-me');
    const deps = { ddb, table, graph: profiles.identity, blobs };

    // Act
    const erased = await eraseProfile(deps, before?.profileId as string, NOW);
    const again = await eraseProfile(deps, before?.profileId as string, NOW);
    const late = await capture([{ msg: { type: 'track', userId: 'erase-me' } }]);

    // Assess
    expect(erased.suppressed.sort()).toEqual([before?.profileId, ...(before?.mergedFrom ?? [])].sort());
    expect(erased.linksRemoved).toBe(4);
    expect(again.alreadyErased).toBe(true);
    expect(await profiles.get(before?.profileId as string)).toBeUndefined();
    expect(await profiles.view(before?.profileId as string)).toBeUndefined();
    expect(await profiles.history(before?.profileId as string)).toEqual([]);
    const tombstone = (await ddb.send(new GetCommand({ TableName: table, Key: profileKey(before?.profileId as string) }))).Item;
    expect(Object.keys(tombstone ?? {}).sort()).toEqual(['erasedAt', 'erasedWith', 'pk', 'profileId', 'sk', 'status']);
    expect((await ddb.send(new GetCommand({ TableName: table, Key: linkKey(hasher.hash('email', 'erase@example.com')) }))).Item).toBeUndefined();
    const suppressed = await loadSuppressedProfiles(blobs);
    for (const id of erased.suppressed) expect(suppressed.has(id)).toBe(true);
    expect(late.events[0]?.profileId).not.toBe(before?.profileId);
    expect(await profiles.applyEvent(login.events[0]?.profileId as string, { ...(login.events[0] as CanonicalEvent), eventId: 'after-erasure' }, NOW)).toBe(
      'suppressed',
    );
  });

  it('records consent by event time and leaves out events of a shopper who refused tracking', async () => {
    // Act
    await capture([
      {
        msg: { type: 'identify', userId: 'consent-1', context: { consent: { personalization: false } } },
        type: 'identify',
        items: [],
        at: '2026-04-10T10:00:00.000Z',
      },
    ]);
    const old = await capture([
      {
        msg: { type: 'identify', userId: 'consent-1', context: { consent: { personalization: true } } },
        type: 'identify',
        items: [],
        at: '2026-04-01T10:00:00.000Z',
      },
    ]);
    const refused = await capture([{ msg: { type: 'track', userId: 'consent-1', context: { consent: { tracking: false } } }, at: '2026-04-11T10:00:00.000Z' }]);
    const later = await capture([{ msg: { type: 'track', userId: 'consent-1' } }]);

    // Assess
    expect(old.events).toHaveLength(1);
    expect(refused.events).toHaveLength(0);
    expect(refused.suppressed).toEqual([expect.objectContaining({ reason: 'consent.tracking=false' })]);
    expect(later.events).toHaveLength(0);
    const profile = await profiles.getByIdentifier('userId', 'consent-1');
    expect(profile?.consent).toEqual({ tracking: false, personalization: false, updatedAt: '2026-04-11T10:00:00.000Z' });
    expect(profile?.counts).toEqual({ identify: 2 });
  });
});
