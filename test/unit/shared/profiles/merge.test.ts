import { describe, expect, it } from 'vitest';
import type { EventIdentity } from '../../../../shared/identity/extract';
import { mergeProfiles, survivorOrder } from '../../../../shared/profiles/merge';
import { groupByIdentity, unlinkedProfileId } from '../../../../shared/capture/resolve-identity';
import type { StoredProfile } from '../../../../shared/profiles/stored';

const NOW = new Date('2026-03-10T12:00:00.000Z');

function stored(fields: Partial<StoredProfile> & { profileId: string }): StoredProfile {
  return { pk: `PROFILE#${fields.profileId}`, sk: 'PROFILE', status: 'active', version: 3, createdAt: '2026-01-01T00:00:00.000Z', ...fields };
}

describe('survivorOrder', () => {
  it('prefers the profile holding the highest-priority identifier, then the older one', () => {
    // Prepare
    const anonymousOld = stored({ profileId: 'p_a', createdAt: '2025-01-01T00:00:00.000Z', id_anonymousId: new Set(['x']) });
    const emailNew = stored({ profileId: 'p_b', createdAt: '2026-02-01T00:00:00.000Z', id_email: new Set(['e']) });
    const emailOld = stored({ profileId: 'p_c', createdAt: '2026-01-01T00:00:00.000Z', id_email: new Set(['f']) });

    // Act
    const order = [anonymousOld, emailNew, emailOld].sort(survivorOrder).map((p) => p.profileId);

    // Assess
    expect(order).toEqual(['p_c', 'p_b', 'p_a']);
  });
});

describe('mergeProfiles', () => {
  it('moves counters, recent items (by time), purchases, channels, cart, identifiers and message ids into the survivor', () => {
    // Prepare
    const survivor = stored({
      profileId: 'p_s',
      version: 7,
      cnt_view: 2,
      ch_web: 2,
      last_web: '2026-03-01T10:00:00.000Z',
      channels: new Set(['web']),
      recent: [
        { i: 'i1', t: 'view', ts: 100, c: 'web' },
        { i: 'i3', t: 'view', ts: 300, c: 'web' },
      ],
      purchased: new Set(['i9']),
      totalRevenue: 10,
      cart: { i1: 1 },
      seen: { m1: 1, m2: 2 },
      id_userId: new Set(['u']),
      consent: { personalization: true },
      consentAt: '2026-02-01T00:00:00.000Z',
    });
    const absorbed = stored({
      profileId: 'p_a',
      createdAt: '2025-12-01T00:00:00.000Z',
      cnt_view: 1,
      cnt_purchase: 1,
      ch_web: 1,
      ch_pos: 1,
      last_web: '2026-03-05T10:00:00.000Z',
      last_pos: '2026-02-01T10:00:00.000Z',
      channels: new Set(['web', 'pos']),
      recent: [{ i: 'i2', t: 'purchase', ts: 200, c: 'pos' }],
      purchased: new Set(['i2']),
      totalRevenue: 5.5,
      cart: { i1: 2, i4: 1 },
      seen: { m3: 3 },
      id_anonymousId: new Set(['x']),
      mergedFrom: new Set(['p_old']),
      consent: { personalization: false },
      consentAt: '2026-01-01T00:00:00.000Z',
    });

    // Act
    const merged = mergeProfiles(survivor, absorbed, NOW);

    // Assess
    expect(merged).toMatchObject({
      profileId: 'p_s',
      status: 'active',
      version: 8,
      cnt_view: 3,
      cnt_purchase: 1,
      ch_web: 3,
      ch_pos: 1,
      last_web: '2026-03-05T10:00:00.000Z',
      last_pos: '2026-02-01T10:00:00.000Z',
      totalRevenue: 15.5,
      cart: { i1: 3, i4: 1 },
      seen: { m1: 1, m2: 2, m3: 3 },
      createdAt: '2025-12-01T00:00:00.000Z',
      updatedAt: NOW.toISOString(),
      consent: { personalization: false },
      consentAt: '2026-02-01T00:00:00.000Z',
    });
    expect(merged.recent?.map((r) => r.i)).toEqual(['i1', 'i2', 'i3']);
    expect(merged.purchased).toEqual(new Set(['i9', 'i2']));
    expect(merged.channels).toEqual(new Set(['web', 'pos']));
    expect(merged.id_userId).toEqual(new Set(['u']));
    expect(merged.id_anonymousId).toEqual(new Set(['x']));
    expect(merged.mergedFrom).toEqual(new Set(['p_old', 'p_a']));
  });
});

describe('groupByIdentity', () => {
  const id = (type: 'userId' | 'anonymousId' | 'email', hash: string) => ({ type, hash });
  const identity = (...identifiers: ReturnType<typeof id>[]): EventIdentity => ({ identifiers, blocked: [], issues: [] });

  it('puts events that share an identifier, directly or through others, in one group, in order', () => {
    // Prepare
    const identities = [
      identity(id('anonymousId', 'a')),
      identity(id('anonymousId', 'b')),
      identity(id('userId', 'u'), id('anonymousId', 'a')),
      identity(id('email', 'e'), id('anonymousId', 'b')),
      identity(id('email', 'e'), id('userId', 'u')),
      identity(id('anonymousId', 'z')),
      identity(),
    ];

    // Act
    const groups = groupByIdentity(identities);

    // Assess
    expect(groups).toEqual([[0, 1, 2, 3, 4], [5], [6]]);
  });

  it('gives an event without a usable identifier a profile of its own, stable across retries', () => {
    // Act / Assess
    expect(unlinkedProfileId('m-1')).toBe(unlinkedProfileId('m-1'));
    expect(unlinkedProfileId('m-1')).not.toBe(unlinkedProfileId('m-2'));
  });
});
