import { beforeAll, describe, expect, it } from 'vitest';
import { INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../../../models/recommender/contract';
import { buildItemItemOnnx, buildPopularityOnnx } from '../../../../models/recommender/export';
import { type ItemIndex, trainRecommender } from '../../../../models/recommender/train';
import { buildModel, node, valueInfo } from '../../../../shared/onnx/graph';
import { defaultGatePolicy } from '../../../../shared/training/policy';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import { type ModelCard, ModelRegistry } from '../../../../shared/registry/registry';
import { type Holdout, parseUploadKey, type UploadReport, validateUpload } from '../../../../shared/training/upload';
import type { Interaction } from '../../../../shared/snapshots/snapshot';
import { mulberry32 } from '../../../../shared/random';

const DAY = 86_400_000;
const START = Date.parse('2026-09-01T00:00:00Z');
const HOLDOUT_START = START + 28 * DAY;

/**
 * 8 taste clusters of 10 items plus 4 items everyone looks at. Each shopper browses 5 items of their
 * cluster (and a hot item) before the holdout and a 6th item of the cluster after it: co-occurrence
 * predicts the target, popularity does not.
 */
function syntheticHoldout(): Holdout {
  const r = mulberry32(7);
  const interactions: Interaction[] = [];
  const hot = ['HOT-1', 'HOT-2', 'HOT-3', 'HOT-4'];
  for (let u = 0; u < 320; u++) {
    const cluster = u % 8;
    const pool = Array.from({ length: 10 }, (_, k) => `C${cluster}-${k}`).sort(() => r() - 0.5);
    const p = `user-${u}`;
    pool.slice(0, 5).forEach((i, k) => {
      interactions.push({ p, i, t: k === 4 ? 'purchase' : 'view', ts: START + Math.floor(r() * 27 * DAY), c: 'web' });
    });
    interactions.push({ p, i: hot[Math.floor(r() * hot.length)] as string, t: 'view', ts: START + Math.floor(r() * 27 * DAY), c: 'app' });
    interactions.push({ p, i: pool[5] as string, t: 'view', ts: HOLDOUT_START + DAY + Math.floor(r() * DAY), c: 'web' });
  }
  interactions.sort((a, b) => a.ts - b.ts);
  const items = Object.fromEntries([...new Set(interactions.map((x) => x.i))].map((id) => [id, { category: id.split('-')[0] as string }]));
  return {
    manifest: {
      runId: 'snap-1',
      asOf: new Date(HOLDOUT_START + 7 * DAY).toISOString(),
      holdoutStart: new Date(HOLDOUT_START).toISOString(),
      interactionsKey: 'snapshots/snap-1/interactions.ndjson.gz',
      itemsKey: 'snapshots/snap-1/items.json',
      counts: { events: interactions.length, interactions: interactions.length, users: 320, items: Object.keys(items).length, holdoutUsers: 320 },
    },
    interactions,
    items,
  };
}

const holdout = syntheticHoldout();
let ease: { onnx: Uint8Array; items: ItemIndex };

beforeAll(async () => {
  const trained = await trainRecommender(
    (holdout.interactions ?? []).filter((x) => x.ts < HOLDOUT_START),
    {},
    { version: 'upload-test' },
  );
  ease = { onnx: trained.onnx, items: trained.items };
});

interface World {
  store: MemoryObjectStore;
  registry: ModelRegistry;
  upload(name: string, model: Uint8Array | undefined, manifest: unknown): Promise<UploadReport>;
}

function world(options: { holdout?: Holdout | undefined } = {}): World {
  const store = new MemoryObjectStore();
  const registry = new ModelRegistry(store);
  const h = 'holdout' in options ? options.holdout : holdout;
  return {
    store,
    registry,
    async upload(name, model, manifest) {
      if (model) await store.put(`uploads/models/recommender/${name}.onnx`, model);
      const key = `uploads/models/recommender/${name}.json`;
      await store.put(key, Buffer.from(typeof manifest === 'string' ? manifest : JSON.stringify(manifest)));
      return validateUpload({ registry, objects: store, loadHoldout: async () => h, policyFor: (f) => defaultGatePolicy(f) }, key);
    },
  };
}

const manifest = (name: string, itemIndex: 'champion' | string[], extra: Record<string, unknown> = {}) => ({
  family: 'recommender',
  name,
  itemIndex,
  description: `test upload ${name}`,
  ...extra,
});

async function storedReport(w: World, name: string): Promise<UploadReport> {
  const o = await w.store.get(`uploads/reports/${name}.json`);
  if (!o) throw new Error(`no report for ${name}`);
  return JSON.parse(Buffer.from(o.body).toString('utf8')) as UploadReport;
}

/** Registers a model as champion the way the retraining run would (card with its data window). */
async function registerChampion(registry: ModelRegistry, version: string, onnx: Uint8Array, items: ItemIndex) {
  await registry.putArtifact('recommender', version, 'model.onnx', onnx);
  await registry.putArtifact('recommender', version, 'items.json', items);
  const card: ModelCard = {
    family: 'recommender',
    version,
    createdAt: new Date(HOLDOUT_START).toISOString(),
    algorithm: 'test champion',
    hyperparameters: {},
    signature: { inputs: [], outputs: [] },
    data: {
      snapshot: 'snap-0',
      asOf: new Date(HOLDOUT_START).toISOString(),
      holdoutStart: new Date(HOLDOUT_START - 7 * DAY).toISOString(),
      users: 320,
      items: items.itemIds.length,
      interactions: 0,
    },
    trainingSeconds: 1,
    codeVersion: 'test',
  };
  await registry.putCard(card);
  await registry.setAlias('recommender', 'champion', version, 'test champion');
}

describe('bring your own ONNX: validation of an upload', () => {
  it('accepts a valid item-item model as challenger, with its card and a report', async () => {
    // Prepare
    const w = world();

    // Act
    const report = await w.upload(
      'ease-good',
      ease.onnx,
      manifest('ease-good', ease.items.itemIds, { dataWindow: { to: new Date(HOLDOUT_START).toISOString() } }),
    );

    // Assess
    expect(report.status).toBe('accepted');
    expect(report.reasons.join(' ')).toMatch(/no champion yet/);
    expect(report.evaluation?.cases).toBe(320);
    expect(report.evaluation?.model['NDCG@10']).toBeGreaterThan(report.evaluation?.baseline['NDCG@10'] ?? 1);
    const challenger = await w.registry.getAlias('recommender', 'challenger');
    expect(challenger?.version).toBe(report.version);
    expect(challenger?.reason).toMatch(/^uploaded model ease-good passed validation/);
    const card = await w.registry.getCard('recommender', report.version as string);
    expect(card).toMatchObject({
      source: { kind: 'uploaded', name: 'ease-good', itemIndex: 'explicit' },
      gate: { passed: true },
      holdout: { snapshot: 'snap-1', cases: 320 },
    });
    expect(card?.signature.inputs.map((i) => i.name).sort()).toEqual([INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS]);
    expect(await w.registry.getModelBytes('recommender', report.version as string)).toEqual(ease.onnx);
    expect((await w.registry.getJson<ItemIndex>('recommender', report.version as string, 'items.json'))?.itemIds).toEqual(ease.items.itemIds);
    expect(await storedReport(w, 'ease-good')).toEqual(report);
    expect(await w.registry.getAlias('recommender', 'champion')).toBeUndefined();
  });

  it('accepts a model better than the champion, with the champion item index', async () => {
    // Prepare
    const w = world();
    await registerChampion(w.registry, 'pop-1', buildPopularityOnnx(Float32Array.from(ease.items.popularity)), ease.items);

    // Act
    const report = await w.upload('ease-vs-pop', ease.onnx, manifest('ease-vs-pop', 'champion'));

    // Assess
    expect(report.status).toBe('accepted');
    expect(report.itemIndex).toEqual({ source: 'champion', items: ease.items.itemIds.length, championVersion: 'pop-1' });
    expect(report.evaluation?.champion).toMatchObject({ version: 'pop-1', artifact: 'serving' });
    expect(report.evaluation?.model['NDCG@10']).toBeGreaterThan(report.evaluation?.champion?.metrics['NDCG@10'] ?? 1);
    expect((await w.registry.getAlias('recommender', 'challenger'))?.version).toBe(report.version);
    expect((await w.registry.getAlias('recommender', 'champion'))?.version).toBe('pop-1');
    expect((await w.registry.getCard('recommender', report.version as string))?.parentVersion).toBe('pop-1');
  });

  it('rejects a corrupt file and registers nothing', async () => {
    // Prepare
    const w = world();
    const garbage = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251);

    // Act
    const report = await w.upload('corrupt', garbage, manifest('corrupt', ease.items.itemIds));

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons).toHaveLength(1);
    expect(report.reasons[0]).toMatch(/^model: onnxruntime cannot load it/);
    expect(await w.registry.listFamilies()).toEqual([]);
    expect(await storedReport(w, 'corrupt')).toEqual(report);
  });

  it('rejects a wrong signature, naming the expected inputs', async () => {
    // Prepare
    const w = world();
    const n = ease.items.itemIds.length;
    const wrong = buildModel({
      inputs: [valueInfo('history', 'float32', [1, n])],
      outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, n])],
      nodes: [node('Identity', ['history'], [OUTPUT_SCORES])],
      initializers: [],
    });

    // Act
    const report = await w.upload('wrong-signature', wrong, manifest('wrong-signature', ease.items.itemIds));

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons).toEqual([`contract: inputs must be exactly [${INPUT_ITEM_IDS}, ${INPUT_ITEM_WEIGHTS}], model declares [history]`]);
    expect(report.model?.inputs).toEqual(['history']);
  });

  it('rejects a model whose output does not match the item index size', async () => {
    // Prepare
    const w = world();

    // Act
    const report = await w.upload('too-few-items', ease.onnx, manifest('too-few-items', ease.items.itemIds.slice(0, 10)));

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons.join('\n')).toMatch(/contract: 'scores' declares \d+ items, the item index has 10/);
  });

  it('rejects NaN outputs from golden inputs', async () => {
    // Prepare
    const w = world();
    const n = ease.items.itemIds.length;
    const nan = buildItemItemOnnx(new Float32Array(n * n).fill(Number.NaN), n);

    // Act
    const report = await w.upload('nan', nan, manifest('nan', ease.items.itemIds));

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons.length).toBeGreaterThanOrEqual(4);
    for (const r of report.reasons) expect(r).toMatch(/^contract: golden input '.+': \d+ of \d+ scores are not finite$/);
  });

  it('rejects a model worse than the champion with every reason in the report', async () => {
    // Prepare
    const w = world();
    await registerChampion(w.registry, 'ease-1', ease.onnx, ease.items);
    // Every item scores the same: ties rank last, so it loses to the champion AND to popularity.
    const flat = buildPopularityOnnx(new Float32Array(ease.items.itemIds.length).fill(0.5));

    // Act
    const report = await w.upload('worse', flat, manifest('worse', 'champion'));

    // Assess
    const stored = await storedReport(w, 'worse');
    expect(stored.status).toBe('rejected');
    expect(stored.evaluation?.champion?.version).toBe('ease-1');
    const reasons = stored.reasons.join('\n');
    expect(reasons).toMatch(/^gate: NDCG@10 [\d.]+ improves on the champion's [\d.]+ by -[\d.]+, at least 0\.0010 needed$/m);
    expect(reasons).toMatch(/^gate: HR@10 [\d.]+ is worse than the champion's [\d.]+ by more than the 0\.0100 tolerance$/m);
    expect(reasons).toMatch(/^gate: MRR@10 [\d.]+ is worse than the champion's/m);
    expect(reasons).toMatch(/^gate: NDCG@10 [\d.]+ does not beat the popularity baseline [\d.]+$/m);
    expect(stored.reasons).toEqual(report.reasons);
    expect(stored.gate?.passed).toBe(false);
    expect(await w.registry.getAlias('recommender', 'challenger')).toBeUndefined();
    expect(await w.registry.listVersions('recommender')).toEqual(['ease-1']);
  });

  it('names every manifest problem, and a model file that is missing', async () => {
    // Prepare
    const w = world();

    // Act
    const report = await w.upload('bad-manifest', undefined, {
      family: 'sequence',
      name: 'other',
      itemIndex: [],
      colour: 'red',
      dataWindow: { to: 'last week' },
    });

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^manifest\.colour: unknown field$/),
        expect.stringMatching(/^manifest\.itemIndex: /),
        expect.stringMatching(/^manifest\.dataWindow\.to: must be an ISO 8601 date-time$/),
        'model: uploads/models/recommender/bad-manifest.onnx not found; upload the .onnx file BEFORE its manifest, then re-upload the manifest',
      ]),
    );
  });

  it('names a manifest that is not JSON and one whose family or name differs from its key', async () => {
    // Prepare
    const w = world();

    // Act
    const notJson = await w.upload('not-json', ease.onnx, '{"family": "recommender",');
    const mismatch = await w.upload('mismatch', ease.onnx, manifest('other-name', ease.items.itemIds, { family: 'recommender2' }));

    // Assess
    expect(notJson.reasons[0]).toMatch(/^manifest: not valid JSON/);
    expect(mismatch.reasons).toEqual(
      expect.arrayContaining([
        'manifest.family: "recommender2" does not match the upload folder "recommender"',
        'manifest.name: "other-name" does not match the file name "mismatch"',
      ]),
    );
  });

  it('refuses a model trained on data after the holdout start, and one with nothing to evaluate on', async () => {
    // Prepare
    const leaky = world();
    const empty = world({ holdout: undefined });

    // Act
    const leaked = await leaky.upload('leaky', ease.onnx, manifest('leaky', ease.items.itemIds, { dataWindow: { to: holdout.manifest.asOf } }));
    const nothing = await empty.upload('early', ease.onnx, manifest('early', ease.items.itemIds));

    // Assess
    expect(leaked.reasons.join('\n')).toMatch(/^manifest\.dataWindow\.to: .* is after the holdout start .*: its holdout metrics would be leaked$/m);
    expect(nothing.reasons).toContain('evaluation: there is no training snapshot to evaluate on yet; run the retraining state machine first');
    expect(await leaky.registry.listFamilies()).toEqual([]);
  });

  it('is safe to run twice for the same upload (S3 delivers events at least once)', async () => {
    // Prepare
    const w = world();
    const first = await w.upload('twice', ease.onnx, manifest('twice', ease.items.itemIds));
    const key = 'uploads/models/recommender/twice.json';

    // Act
    const second = await validateUpload(
      { registry: w.registry, objects: w.store, loadHoldout: async () => holdout, policyFor: (f) => defaultGatePolicy(f) },
      key,
    );

    // Assess
    expect(first.status).toBe('accepted');
    expect(second).toMatchObject({ status: 'accepted', version: first.version, alreadyRegistered: true });
    expect(await w.registry.listVersions('recommender')).toEqual([first.version]);
    expect((await w.registry.getAliasHistory('recommender', 'challenger')).map((h) => h.version)).toEqual([first.version]);
  });
});

describe('parseUploadKey', () => {
  it.each([
    ['uploads/models/recommender/my-model.json', { family: 'recommender', name: 'my-model' }],
    ['uploads/models/recommender/v1.2_final.json', { family: 'recommender', name: 'v1.2_final' }],
    ['uploads/models/recommender/nested/x.json', undefined],
    ['uploads/models/Recommender/x.json', undefined],
    ['uploads/models/recommender/x.onnx', undefined],
    ['uploads/reports/x.json', undefined],
  ])('%s', (key, expected) => {
    // Act
    const parsed = parseUploadKey(key);

    // Assess
    expect(parsed).toEqual(expected);
  });
});

describe('uploads for families', () => {
  it('refuses an upload to a family without an upload contract, naming the families that have one', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    const registry = new ModelRegistry(store);
    await store.put('uploads/models/nosuch/m.onnx', Buffer.from('x'));
    await store.put('uploads/models/nosuch/m.json', Buffer.from(JSON.stringify({ family: 'nosuch', name: 'm' })));

    // Act
    const report = await validateUpload(
      { registry, objects: store, loadHoldout: async () => holdout, policyFor: (f) => defaultGatePolicy(f) },
      'uploads/models/nosuch/m.json',
    );

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons).toContain('family: "nosuch" has no contract an uploaded model can be checked against (supported: recommender)');
  });
});
