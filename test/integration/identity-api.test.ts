import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../shared/local';
import type { Profile } from '../../shared/profiles/profile';
import type { MergeHistoryEntry } from '../../shared/profiles/stored';

const projectRoot = resolve(import.meta.dirname, '../..');

interface ProfileBody {
  profile: Profile;
  history: MergeHistoryEntry[];
  resolvedFrom?: string;
}

describe('profiles API on the embedded local stack', () => {
  let stack: LocalStack;
  let dataDir: string;
  let bucket: string;
  let seq = 0;

  const send = async (batch: Record<string, unknown>[]) => {
    const response = await fetch(`${stack.url}/v1/batch`, { method: 'POST', body: JSON.stringify({ batch }) });
    expect(response.status).toBe(200);
    return (await response.json()) as { accepted: number; duplicates: number };
  };
  const track = (fields: Record<string, unknown>, event = 'Product Viewed', properties: Record<string, unknown> = { product_id: 'SKU-1' }) => ({
    type: 'track',
    event,
    messageId: `api-${++seq}`,
    timestamp: new Date(Date.UTC(2026, 2, 1) + seq * 60_000).toISOString(),
    properties,
    ...fields,
  });
  const lookup = async (identifier: string) => {
    const response = await fetch(`${stack.url}/v1/profiles?identifier=${encodeURIComponent(identifier)}`);
    return { status: response.status, body: (await response.json()) as ProfileBody & { issues?: { field: string; reason: string }[] } };
  };
  const rawEvents = async () => {
    const s3 = stack.emulators.s3Client();
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'raw/events/' }));
    const events: { eventId: string; profileId: string; userId?: string }[] = [];
    for (const object of listed.Contents ?? []) {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
      const text = gunzipSync(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).toString('utf8');
      for (const line of text.split('\n')) if (line.trim()) events.push(JSON.parse(line));
    }
    return events;
  };

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'identity-api-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'idapi', quiet: true });
    bucket = stack.config.buckets[0]?.name as string;
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts exactly under many concurrent requests for one shopper', async () => {
    // Prepare: 60 requests of 5 events (views on web and app, cart adds), sent 30 at a time
    const requests = Array.from({ length: 60 }, (_, r) =>
      Array.from({ length: 5 }, (_, i) =>
        i < 4
          ? track({ userId: 'busy-shopper', anonymousId: `busy-device-${r % 3}`, context: { channel: i % 2 ? 'app' : 'web' } }, 'Product Viewed', {
              product_id: `SKU-${i}`,
            })
          : track({ userId: 'busy-shopper', context: { channel: 'web' } }, 'Product Added', { product_id: 'SKU-CART', quantity: 1 }),
      ),
    );

    // Act
    for (let i = 0; i < requests.length; i += 30) await Promise.all(requests.slice(i, i + 30).map(send));
    const retried = await Promise.all(requests.slice(0, 10).map(send));

    // Assess
    const { status, body } = await lookup('userId:busy-shopper');
    expect(status).toBe(200);
    expect(body.profile.counts).toEqual({ view: 240, add_to_cart: 60 });
    expect(body.profile.channels.web?.events).toBe(180);
    expect(body.profile.channels.app?.events).toBe(120);
    expect(body.profile.cart).toEqual([{ itemId: 'SKU-CART', quantity: 60 }]);
    expect(retried.every((r) => r.duplicates === 5)).toBe(true);
    expect(body.profile.identifiers.filter((i) => i.type === 'anonymousId')).toHaveLength(3);
    expect(body.resolvedFrom).toMatch(/^userId:[0-9a-f]{64}$/);
  });

  it('shows one shopper across web, store and mini-program, with typed hashed identifiers and the merge history', async () => {
    // Prepare
    await send([track({ anonymousId: 'web-visitor-1', context: { channel: 'web' } })]);
    await send([
      track({ anonymousId: 'till-session-1', context: { channel: 'pos', loyalty_card: 'LOYAL-77' } }, 'Order Completed', {
        order_id: 'o-1',
        products: [{ product_id: 'SKU-9', price: 20 }],
        revenue: 20,
      }),
    ]);
    await send([track({ anonymousId: 'mp-session-1', context: { channel: 'mini_program', openid: 'wx-open-1' } })]);

    // Act
    await send([
      {
        type: 'identify',
        messageId: `api-${++seq}`,
        userId: 'omni-1',
        anonymousId: 'web-visitor-1',
        traits: { email: 'Omni@Example.com', loyalty_card: 'LOYAL-77' },
        context: { channel: 'web' },
      },
      { type: 'identify', messageId: `api-${++seq}`, userId: 'omni-1', anonymousId: 'mp-session-1', context: { channel: 'mini_program', openid: 'wx-open-1' } },
    ]);

    // Assess
    const byEmail = await lookup('email: omni@example.COM ');
    const byCard = await lookup('loyalty_card:LOYAL-77');
    expect(byEmail.status).toBe(200);
    expect(byCard.body.profile.profileId).toBe(byEmail.body.profile.profileId);
    const profile = byEmail.body.profile;
    expect(Object.keys(profile.channels).sort()).toEqual(['mini_program', 'pos', 'web']);
    expect(profile.purchased).toEqual(['SKU-9']);
    expect(new Set(profile.identifiers.map((i) => i.type))).toEqual(new Set(['userId', 'email', 'loyaltyCard', 'openid', 'anonymousId']));
    expect(JSON.stringify(byEmail.body)).not.toMatch(/omni@example|LOYAL-77|web-visitor-1|wx-open-1/i);
    expect(byEmail.body.history.filter((h) => h.kind === 'merged')).toHaveLength(2);
    for (const merged of profile.mergedFrom) {
      const redirected = (await (await fetch(`${stack.url}/v1/profiles/${merged}`)).json()) as ProfileBody;
      expect(redirected.profile.profileId).toBe(profile.profileId);
      expect(redirected.resolvedFrom).toBe(merged);
    }
    const stored = await rawEvents();
    expect(JSON.stringify(stored)).not.toContain('omni-1');
  });

  it('answers bad lookups with the field and the reason', async () => {
    // Act
    const noType = await lookup('shoe:42');
    const badEmail = await lookup('email:not-an-address');
    const missing = await fetch(`${stack.url}/v1/profiles`);
    const unknown = await lookup('email:nobody@example.com');

    // Assess
    expect(noType.status).toBe(400);
    expect(noType.body.issues?.[0]).toEqual({ field: 'identifier', reason: expect.stringContaining('type must be one of userId, email') });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body.issues?.[0]).toEqual({ field: 'identifier', reason: 'email must be an email address (name@domain.tld)' });
    expect(missing.status).toBe(400);
    expect(unknown.status).toBe(404);
  });

  it('honours consent: tracking=false is accepted but not stored, personalization=false is on the profile', async () => {
    // Act
    const refused = await send([track({ userId: 'private-1', context: { consent: { tracking: false } } })]);
    const noPersonalisation = await send([track({ userId: 'careful-1', context: { consent: { personalization: false } } })]);

    // Assess
    expect(refused.accepted).toBe(1);
    expect(noPersonalisation.accepted).toBe(1);
    const careful = await lookup('userId:careful-1');
    expect(careful.body.profile.consent).toMatchObject({ personalization: false });
    expect(careful.body.profile.counts).toEqual({ view: 1 });
    const privateProfile = await lookup('userId:private-1');
    expect(privateProfile.body.profile.consent).toMatchObject({ tracking: false });
    expect(privateProfile.body.profile.counts).toEqual({});
    expect((await rawEvents()).some((e) => e.profileId === privateProfile.body.profile.profileId)).toBe(false);
  });

  it('erases a shopper: 404 afterwards, suppressed in features and snapshots, removed from raw events by the compaction job', async () => {
    // Prepare
    await send([
      track({ anonymousId: 'forget-anon' }),
      track({ userId: 'forget-me', anonymousId: 'forget-anon' }, 'Order Completed', { order_id: 'f-1', products: [{ product_id: 'SKU-F' }] }),
    ]);
    await send([track({ userId: 'keep-me' }, 'Order Completed', { order_id: 'k-1', products: [{ product_id: 'SKU-K' }] })]);
    const { body } = await lookup('userId:forget-me');
    const profileId = body.profile.profileId;
    expect((await rawEvents()).filter((e) => e.profileId === profileId).length).toBeGreaterThan(0);

    // Act
    const erased = await fetch(`${stack.url}/v1/profiles/${profileId}`, { method: 'DELETE' });
    const repeated = await fetch(`${stack.url}/v1/profiles/${profileId}`, { method: 'DELETE' });
    const compaction = (await stack.runSchedule('compactRawEvents')) as { eventsRemoved: number; objectsRewritten: number };
    const second = (await stack.runSchedule('compactRawEvents')) as { eventsRemoved: number; objectsRewritten: number };
    await stack.invoke('buildFeatures', { source: 'schedule' });
    const snapshot = (await stack.invoke('prepareSnapshot', { runId: 'privacy-check', asOf: '2026-12-31T00:00:00.000Z' })) as unknown;

    // Assess
    expect(erased.status).toBe(200);
    expect(((await erased.json()) as { suppressed: string[] }).suppressed).toContain(profileId);
    expect(((await repeated.json()) as { alreadyErased: boolean }).alreadyErased).toBe(true);
    expect((await fetch(`${stack.url}/v1/profiles/${profileId}`)).status).toBe(404);
    expect((await lookup('userId:forget-me')).status).toBe(404);
    expect(compaction.eventsRemoved).toBeGreaterThanOrEqual(2);
    expect(second).toMatchObject({ eventsRemoved: 0, objectsRewritten: 0 });
    const raw = await rawEvents();
    const kept = (await lookup('userId:keep-me')).body.profile.profileId;
    expect(raw.some((e) => e.profileId === profileId)).toBe(false);
    expect(raw.some((e) => e.profileId === kept)).toBe(true);
    const s3 = stack.emulators.s3Client();
    const features = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'features/' }));
    const usersKey = features.Contents?.map((o) => o.Key).find((k) => k?.endsWith('users.ndjson.gz')) as string;
    const users = gunzipSync(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: usersKey }))).Body!.transformToByteArray()).toString('utf8');
    expect(users).not.toContain(profileId);
    expect(users).toContain(kept);
    const interactions = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'snapshots/' }));
    expect(snapshot).toBeDefined();
    expect(interactions.Contents?.some((o) => o.Key?.endsWith('interactions.ndjson.gz'))).toBe(true);
    for (const object of interactions.Contents ?? []) {
      const bytes = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }))).Body!.transformToByteArray();
      const text = object.Key?.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : Buffer.from(bytes).toString('utf8');
      expect(text).not.toContain(profileId);
    }
  });
});
