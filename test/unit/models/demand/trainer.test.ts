import { describe, expect, it } from 'vitest';
import type { TrainedCard } from '../../../../shared/families/contract';
import { demandFamily } from '../../../../models/demand/family';
import { exportOnnx } from '../../../../models/demand/model';
import { baselineModel } from '../../../../models/demand/model';
import { holdoutWindow, seriesFromItemDaily, trainer } from '../../../../models/demand/trainer';
import { storeRawEvents } from '../../../../shared/capture/raw-events';
import { buildModel, floatTensor, node, valueInfo } from '../../../../shared/onnx/graph';
import { ModelRegistry } from '../../../../shared/registry/registry';
import { prepareSnapshot } from '../../../../shared/snapshots/snapshot';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import { simulatedEvents } from '../../../helpers/snapshot-fixture';

describe('demand series from the snapshot', () => {
  const days = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04'];
  const manifest = (asOf: string) => ({
    runId: 's',
    asOf,
    holdoutStart: '2026-03-02T21:00:00.000Z',
    interactionsKey: 'k',
    itemsKey: 'i',
    counts: { events: 0, interactions: 0, users: 0, items: 0, holdoutUsers: 0 },
  });

  it('sums channels per item and day, prices by revenue over priced units, zero where no row', () => {
    const set = seriesFromItemDaily({
      days,
      rows: [
        { i: 'a', d: '2026-03-02', c: 'web', u: 2, r: 20, p: 10, o: 1, v: 0, a: 0 },
        { i: 'a', d: '2026-03-02', c: 'pos', u: 3, r: 36, p: 12, o: 1, v: 0, a: 0 },
        { i: 'a', d: '2026-03-04', c: 'app', u: 1, r: 0, o: 1, v: 0, a: 0 },
        { i: 'b', d: '2026-03-01', c: 'web', u: 0, r: 0, o: 0, v: 5, a: 1 },
      ],
    });
    expect(set.series.map((s) => s.item)).toEqual(['a']); // b was only viewed
    expect([...(set.series[0]?.units ?? [])]).toEqual([0, 5, 0, 1]);
    expect(set.series[0]?.price[1]).toBeCloseTo(56 / 5, 12);
    expect(Number.isNaN(set.series[0]?.price[3])).toBe(true);
    expect(set.series[0]?.start).toBe(1);
  });

  it('evaluates from the day of the holdout start to the last complete day', () => {
    expect(holdoutWindow(manifest('2026-03-04T21:25:00.000Z'), days)).toEqual({ cutoff: 1, end: 3, days: 2 });
    expect(holdoutWindow(manifest('2026-03-04T23:59:59.999Z'), days)).toEqual({ cutoff: 1, end: 4, days: 3 });
  });
});

describe('demand trainer', () => {
  it('trains the eval and served artifacts, a forecast per item and a card; scores them against the best baseline on the holdout', async () => {
    // Prepare: 49 simulated days, a 7-day holdout.
    const store = new MemoryObjectStore();
    await storeRawEvents(store, simulatedEvents({ seed: 5, shoppers: 120, items: 30, days: 49 }));
    const snapshot = await prepareSnapshot(store, { runId: 'r1', holdoutDays: 7 });
    const registry = new ModelRegistry(store);
    const run = { runId: 'r1', candidateVersion: 'v1', snapshot, hyperparameters: { epochs: 2 }, policy: demandFamily.policy };

    // Act
    const card = (await trainer.train({ blobs: store, registry, run, compute: 'lambda', now: new Date('2026-12-01T00:00:00Z') })) as TrainedCard & {
      selection: { validation: unknown[] };
    };
    const again = await trainer.train({ blobs: store, registry, run, compute: 'lambda', now: new Date('2026-12-02T00:00:00Z') });
    const scores = await trainer.evaluate({ blobs: store, registry, run, card });

    // Assess
    expect(again.createdAt).toBe(card.createdAt); // idempotent per version
    expect(card.algorithm).toMatch(/chosen on rolling-origin validation WAPE \(2 folds × 7 days\)/);
    expect(card.selection.validation).toHaveLength(8);
    expect(card.signature.inputs.map((i) => i.name)).toEqual(['features', 'scale']);
    for (const key of ['model.onnx', 'eval/model.onnx'])
      expect(await trainer.checkArtifact((await registry.getModelBytes('demand', 'v1', key)) as Uint8Array, {})).toEqual({ ok: true });
    const forecast = await registry.getJson<{ horizon: number; items: Record<string, { q10: number[]; q50: number[]; q90: number[] }> }>(
      'demand',
      'v1',
      'forecast.json',
    );
    expect(forecast?.horizon).toBe(28);
    const first = Object.values(forecast?.items ?? {})[0]!;
    expect(first.q50).toHaveLength(28);
    expect(first.q10.every((v, k) => v <= (first.q90[k] as number))).toBe(true);
    expect(scores.cases).toBe(scores.metrics.count);
    expect(scores.cases).toBeGreaterThan(50);
    expect(scores.metrics.WAPE).toBeGreaterThan(0);
    expect(scores.baseline.WAPE).toBeGreaterThan(0);
    expect(scores.metrics.coverage80).toBeGreaterThan(0.5);
  }, 120_000);

  it('refuses an artifact that breaks the serving contract, with the reason', async () => {
    const wrongInput = buildModel({
      inputs: [valueInfo('x', 'float32', ['N', 30])],
      outputs: [valueInfo('quantiles', 'float32', ['N', 30])],
      nodes: [node('Relu', ['x'], ['quantiles'])],
      initializers: [],
    });
    expect(await trainer.checkArtifact(wrongInput, {})).toEqual({
      ok: false,
      reasons: [expect.stringMatching(/inputs must be 'features' float32 \[N, 30\] and 'scale'/)],
    });
    const negative = buildModel({
      inputs: [valueInfo('features', 'float32', ['N', 30]), valueInfo('scale', 'float32', ['N', 1])],
      outputs: [valueInfo('quantiles', 'float32', ['N', 3])],
      nodes: [node('MatMul', ['features', 'W'], ['xw']), node('Mul', ['xw', 'scale'], ['quantiles'])],
      initializers: [floatTensor('W', [30, 3], new Float32Array(90).fill(-1))],
    });
    expect(await trainer.checkArtifact(negative, {})).toEqual({ ok: false, reasons: ["output 'quantiles' must be finite and ≥ 0"] });
    expect(await trainer.checkArtifact(exportOnnx(baselineModel('median_28')), {})).toEqual({ ok: true });
  });
});
