import { describe, expect, it } from 'vitest';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import type { ObjectStore, PutOptions } from '../../../../shared/storage/object-store';
import { type AliasPointer, type ModelCard, ModelRegistry, UnknownVersionError } from '../../../../shared/registry/registry';
import { planRetention, type RetentionAlias, RetentionOptionsError, type RetentionVersion } from '../../../../shared/registry/retention';

const NOW = new Date('2026-11-01T00:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();
const v = (version: string, ageDays: number): RetentionVersion => ({ version, createdAt: daysAgo(ageDays), lastModified: new Date(daysAgo(ageDays)) });
const move = (version: string, ageDays: number, previous?: string): AliasPointer => ({
  version,
  updatedAt: daysAgo(ageDays),
  reason: 'test',
  ...(previous ? { previous } : {}),
});

describe('planRetention', () => {
  const versions = [v('v1', 100), v('v2', 80), v('v3', 60), v('v4', 40), v('v5', 20), v('v6', 2)];
  const cases: { name: string; aliases: RetentionAlias[]; keepLast: number; keepDays: number; aliasGraceDays?: number; deleted: string[] }[] = [
    { name: 'keeps the newest keepLast and deletes the rest', aliases: [], keepLast: 2, keepDays: 0, deleted: ['v4', 'v3', 'v2', 'v1'] },
    { name: 'keeps what was created within keepDays', aliases: [], keepLast: 0, keepDays: 30, deleted: ['v4', 'v3', 'v2', 'v1'] },
    {
      name: 'deletes everything unprotected with keepLast 0 and keepDays 0',
      aliases: [],
      keepLast: 0,
      keepDays: 0,
      deleted: ['v6', 'v5', 'v4', 'v3', 'v2', 'v1'],
    },
    {
      name: 'never deletes the version an alias points to, however old',
      aliases: [{ alias: 'champion', current: move('v1', 90), history: [move('v1', 90)] }],
      keepLast: 1,
      keepDays: 0,
      deleted: ['v5', 'v4', 'v3', 'v2'],
    },
    {
      name: 'keeps a version an alias pointed to within the grace period, and the rollback target',
      aliases: [{ alias: 'champion', current: move('v4', 5, 'v3'), history: [move('v2', 70), move('v3', 50, 'v2'), move('v4', 5, 'v3')] }],
      keepLast: 0,
      keepDays: 0,
      aliasGraceDays: 10,
      // v3 was champion until 5 days ago (grace) and is champion's previous; v2 stopped 50 days ago.
      deleted: ['v6', 'v5', 'v2', 'v1'],
    },
    {
      name: 'lets a version go once the alias moved away longer ago than the grace period',
      aliases: [{ alias: 'challenger', current: move('v6', 1, 'v5'), history: [move('v5', 19), move('v6', 1, 'v5')] }],
      keepLast: 0,
      keepDays: 0,
      aliasGraceDays: 0,
      deleted: ['v5', 'v4', 'v3', 'v2', 'v1'],
    },
    {
      name: 'counts the time an alias pointed to a version, not when it was first set',
      aliases: [{ alias: 'challenger', current: move('v6', 1, 'v2'), history: [move('v2', 75), move('v6', 1, 'v2')] }],
      keepLast: 0,
      keepDays: 0,
      aliasGraceDays: 3,
      deleted: ['v5', 'v4', 'v3', 'v1'],
    },
  ];

  it.each(cases)('$name', ({ aliases, keepLast, keepDays, aliasGraceDays, deleted }) => {
    // Act
    const plan = planRetention(versions, aliases, { keepLast, keepDays, now: NOW, ...(aliasGraceDays !== undefined ? { aliasGraceDays } : {}) });

    // Assess
    expect(plan.delete).toEqual(deleted);
    expect([...plan.keep.map((k) => k.version), ...plan.delete].sort()).toEqual(versions.map((x) => x.version).sort());
    for (const kept of plan.keep) expect(kept.reasons.length).toBeGreaterThan(0);
  });

  it('keeps a version whose createdAt cannot be read, and removes only old orphan folders', () => {
    // Prepare
    const odd: RetentionVersion = { version: 'v0', createdAt: 'yesterday-ish', lastModified: new Date(daysAgo(400)) };
    const oldOrphan: RetentionVersion = { version: 'o1', lastModified: new Date(daysAgo(3)) };
    const freshOrphan: RetentionVersion = { version: 'o2', lastModified: new Date(daysAgo(0.01)) };

    // Act
    const plan = planRetention([odd, oldOrphan, freshOrphan], [], { keepLast: 0, keepDays: 0, now: NOW });

    // Assess
    expect(plan.keep).toEqual([{ version: 'v0', reasons: ['createdAt "yesterday-ish" cannot be read'] }]);
    expect(plan.deleteOrphans).toEqual(['o1']);
  });

  it.each([
    [{ keepLast: -1, keepDays: 1 }, 'keepLast'],
    [{ keepLast: 1.5, keepDays: 1 }, 'keepLast'],
    [{ keepLast: 1, keepDays: Number.NaN }, 'keepDays'],
    [{ keepLast: 1, keepDays: 1, aliasGraceDays: -2 }, 'aliasGraceDays'],
  ])('names the bad option %o', (options, field) => {
    // Act
    const attempt = () => planRetention([], [], options);

    // Assess
    expect(attempt).toThrow(RetentionOptionsError);
    expect(attempt).toThrow(new RegExp(`^retention option ${field}:`));
  });
});

function card(family: string, version: string, createdAt: string): ModelCard {
  return {
    family,
    version,
    createdAt,
    algorithm: 'test',
    hyperparameters: {},
    signature: { inputs: [], outputs: [] },
    data: { snapshot: 's', asOf: createdAt, holdoutStart: createdAt, users: 1, items: 1, interactions: 1 },
    trainingSeconds: 0,
    codeVersion: 'test',
  };
}

async function seed(registry: ModelRegistry, family: string, ages: Record<string, number>) {
  for (const [version, age] of Object.entries(ages)) {
    await registry.putArtifact(family, version, 'model.onnx', Uint8Array.from([version.length]));
    await registry.putArtifact(family, version, 'eval/items.json', { itemIds: [version] });
    await registry.putCard(card(family, version, daysAgo(age)));
  }
}

/** An ObjectStore that runs a hook after chosen writes/deletes (to interleave a concurrent actor). */
class HookedStore extends MemoryObjectStore {
  afterDelete?: (key: string) => Promise<void>;
  afterPut?: (key: string) => Promise<void>;

  override async delete(key: string): Promise<void> {
    await super.delete(key);
    await this.afterDelete?.(key);
  }

  override async put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }> {
    const out = await super.put(key, body, options);
    await this.afterPut?.(key);
    return out;
  }
}

describe('ModelRegistry.applyRetention', () => {
  it('deletes every object of old unprotected versions and keeps the protected ones', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    const registry = new ModelRegistry(store);
    await seed(registry, 'rec', { v1: 90, v2: 60, v3: 40, v4: 1 });
    await registry.setAlias('rec', 'champion', 'v2', 'old champion', new Date(daysAgo(60)));
    await registry.setAlias('rec', 'champion', 'v3', 'newer champion', new Date(daysAgo(40)));
    await store.put('models/rec/versions/o1/model.onnx', Uint8Array.from([1]));
    store.touch('models/rec/versions/o1/model.onnx', new Date(daysAgo(10)));

    // Act
    const dry = await registry.applyRetention('rec', { keepLast: 1, keepDays: 7, aliasGraceDays: 7, now: NOW, dryRun: true });
    const report = await registry.applyRetention('rec', { keepLast: 1, keepDays: 7, aliasGraceDays: 7, now: NOW });

    // Assess
    expect(dry.deleted).toEqual(['v1']);
    expect(await registry.listVersions('rec')).toEqual(['v2', 'v3', 'v4']);
    expect(report.deleted).toEqual(['v1']);
    expect(report.orphansDeleted).toEqual(['o1']);
    expect(report.objectsDeleted).toBe(4);
    expect(await store.list('models/rec/versions/v1/')).toEqual([]);
    expect(await store.list('models/rec/versions/o1/')).toEqual([]);
    expect(report.kept.find((k) => k.version === 'v2')?.reasons).toEqual(['rollback target of champion']);
    expect(report.kept.find((k) => k.version === 'v3')?.reasons).toEqual(['champion points to it']);
  });

  it('restores and skips a version an alias moved to while it was being deleted', async () => {
    // Prepare
    const store = new HookedStore();
    const registry = new ModelRegistry(store);
    await seed(registry, 'rec', { v1: 90, v2: 1 });
    await registry.setAlias('rec', 'champion', 'v2', 'current');
    // A promotion of v1 that checked its card just before retention deleted it lands right after.
    store.afterDelete = async (key) => {
      if (key !== 'models/rec/versions/v1/card.json') return;
      store.afterDelete = undefined;
      const pointer = { version: 'v1', updatedAt: NOW.toISOString(), previous: 'v2', reason: 'manual promote' };
      await store.put('models/rec/aliases/champion.json', Buffer.from(JSON.stringify(pointer)));
    };

    // Act
    const report = await registry.applyRetention('rec', { keepLast: 1, keepDays: 0, now: NOW });

    // Assess
    expect(report.deleted).toEqual([]);
    expect(report.skipped).toEqual(['v1']);
    expect(await registry.getCard('rec', 'v1')).toMatchObject({ version: 'v1' });
    expect(await registry.getModelBytes('rec', 'v1')).toBeDefined();
  });

  it('puts an alias back when its target was deleted while it moved', async () => {
    // Prepare
    const store = new HookedStore();
    const registry = new ModelRegistry(store);
    await seed(registry, 'rec', { v1: 90, v2: 1 });
    await registry.setAlias('rec', 'champion', 'v2', 'current');
    // Retention deletes v1's card right after the alias write that points to v1.
    store.afterPut = async (key) => {
      if (key !== 'models/rec/aliases/champion.json') return;
      store.afterPut = undefined;
      await store.delete('models/rec/versions/v1/card.json');
    };

    // Act
    const attempt = await registry.setAlias('rec', 'champion', 'v1', 'promote an old one').catch((e: unknown) => e);

    // Assess
    expect(attempt).toBeInstanceOf(UnknownVersionError);
    const pointer = await registry.getAlias('rec', 'champion');
    expect(pointer).toMatchObject({ version: 'v2', previous: 'v1' });
    expect(pointer?.reason).toMatch(/^reverted: v1 was deleted/);
  });

  it('works through any ObjectStore (the interface is all it needs)', async () => {
    // Prepare
    const store: ObjectStore = new MemoryObjectStore();
    const registry = new ModelRegistry(store);
    await seed(registry, 'rec', { v1: 90 });

    // Act
    const report = await registry.applyRetention('rec', { keepLast: 0, keepDays: 0, now: NOW });

    // Assess
    expect(report.deleted).toEqual(['v1']);
    expect(await registry.listVersions('rec')).toEqual([]);
  });
});
