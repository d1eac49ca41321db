import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { checkRecommenderSession, INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../../../models/recommender/contract';
import { servingWeights } from '../../../../models/recommender/linear';
import { blendCandidate } from '../../../../models/recommender/blend';
import { easeCandidate } from '../../../../models/recommender/ease-candidate';
import { popularityCandidate } from '../../../../models/recommender/popularity';
import { itemIndexOf, selectServedModel, sequenceEpochs, trainArtifact } from '../../../../models/recommender/select';
import { transitionCandidate } from '../../../../models/recommender/transition';
import { createSequenceCandidate } from '../../../../models/sequence/index';
import { readModelMetadata } from '../../../../shared/onnx/graph';
import { createSession } from '../../../../shared/onnx/session';
import { explainerFor } from '../../../../shared/recommend/explain';
import type { Interaction } from '../../../../shared/snapshots/snapshot';
import { mulberry32 } from '../../../../shared/random';

const DAY = 86_400_000;
const T0 = Date.parse('2026-09-01T00:00:00Z');
const HOLDOUT = T0 + 35 * DAY;

/** Deterministic shop: 12 "routes" of 15 items; a shopper walks a route forward (item k → k+1), sometimes skipping one. */
function walks(users: number, seed = 7): Interaction[] {
  const random = mulberry32(seed);
  const out: Interaction[] = [];
  for (let u = 0; u < users; u++) {
    const route = Math.floor(random() * 12);
    let step = Math.floor(random() * 5);
    let ts = T0 + Math.floor(random() * 40 * DAY);
    const length = 3 + Math.floor(random() * 8);
    for (let n = 0; n < length && step < 15; n++) {
      out.push({ p: `u${u}`, i: `r${route}-${step}`, t: random() < 0.2 ? 'purchase' : 'view', ts, c: 'web' });
      step += random() < 0.8 ? 1 : 2;
      ts += Math.floor(random() * 2 * DAY);
    }
  }
  return out.sort((a, b) => a.ts - b.ts);
}

describe('selectServedModel (the served recommender is chosen on validation, inside the pipeline)', () => {
  const interactions = walks(900);
  const before = interactions.filter((x) => x.ts < HOLDOUT);

  it('chooses the entry with the best validation NDCG@10 and reports every entry', async () => {
    // Prepare
    const items = itemIndexOf(before);

    // Act
    const selection = await selectServedModel(interactions, HOLDOUT, items.itemIds, { validationDays: 7, sequenceTrainingSeconds: 10 });

    // Assess
    expect(selection.skipped).toBeUndefined();
    expect(selection.validationCases).toBeGreaterThan(30);
    expect(selection.sequenceEpochs).toBe(sequenceEpochs(10, interactions.length));
    expect(selection.sequenceEpochs).toBeGreaterThanOrEqual(1);
    expect(selection.validation.map((v) => v.name).sort()).toEqual(['blend', 'ease', 'gru', 'itemknn', 'popularity', 'transition']);
    expect(selection.chosen).toBe(selection.validation[0]!.name);
    for (let k = 1; k < selection.validation.length; k++) expect(selection.validation[k - 1]!.value).toBeGreaterThanOrEqual(selection.validation[k]!.value);
    // Walks along routes: the sequence-aware model must beat the popularity list by far on validation.
    const value = (name: string) => selection.validation.find((v) => v.name === name)!.value;
    expect(value('transition')).toBeGreaterThan(2 * value('popularity'));
  });

  it('never reads the holdout: the choice is the same whatever happens after the holdout start', async () => {
    // Prepare: the same past, a completely different future (every shopper buys one unrelated item).
    const items = itemIndexOf(before);
    const otherFuture = [...before, ...before.slice(0, 300).map((x, k) => ({ ...x, i: 'r0-0', ts: HOLDOUT + k * 1000 }))];

    // Act
    const a = await selectServedModel(interactions, HOLDOUT, items.itemIds, { validationDays: 7, sequenceTrainingSeconds: 0 });
    const b = await selectServedModel(otherFuture, HOLDOUT, items.itemIds, { validationDays: 7, sequenceTrainingSeconds: 0 });

    // Assess
    expect(b.chosen).toBe(a.chosen);
    expect(b.validation).toEqual(a.validation);
    expect(b.validationCases).toBe(a.validationCases);
  });

  it('falls back to plain EASE and says why when the validation window holds too few cases', async () => {
    // Prepare
    const few = walks(25);
    const items = itemIndexOf(
      few.filter((x) => x.ts < HOLDOUT),
      { minItemInteractions: 1 },
    );

    // Act
    const selection = await selectServedModel(few, HOLDOUT, items.itemIds, { validationDays: 7, minValidationCases: 30 });

    // Assess
    expect(selection.chosen).toBe('ease');
    expect(selection.skipped).toMatch(/validation cases with a known target \(at least 30 needed\)/);
  });

  it('exports the chosen model as ONE ONNX file of the recommender contract whose scores equal the trained model', async () => {
    // Prepare
    const items = itemIndexOf(before);
    const selection = await selectServedModel(interactions, HOLDOUT, items.itemIds, { validationDays: 7, sequenceTrainingSeconds: 0 });

    // Act
    const artifact = await trainArtifact(selection.candidate, before, items);
    const session = await createSession(artifact.onnx);
    const check = await checkRecommenderSession(session, items.itemIds.length, { checkPaddingInvariance: true });
    const history = Int32Array.from([3, 9, 4, 11]);
    const out = await session.run({
      [INPUT_ITEM_IDS]: new ort.Tensor('int64', BigInt64Array.from(history, BigInt), [1, history.length]),
      [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', servingWeights(history.length), [1, history.length]),
    });
    await session.release();
    const onnx = out[OUTPUT_SCORES]!.data as Float32Array;
    const js = await artifact.trained.score(history);

    // Assess
    expect(check).toEqual({ ok: true });
    expect(artifact.stats.items).toBe(items.itemIds.length);
    let maxDiff = 0;
    for (let i = 0; i < js.length; i++) maxDiff = Math.max(maxDiff, Math.abs(js[i]! - onnx[i]!) / Math.max(1, Math.abs(js[i]!)));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('plans a fixed number of GRU epochs from the data size (never a wall-clock cut-off) and leaves it out below one epoch', () => {
    // Act / Assess
    expect(sequenceEpochs(60, 48_000)).toBe(1);
    expect(sequenceEpochs(60, 4_800)).toBe(10);
    expect(sequenceEpochs(60, 100)).toBe(20); // capped at the default maximum
    expect(sequenceEpochs(60, 100_000)).toBe(0);
    expect(sequenceEpochs(0, 100)).toBe(0);
  });

  it('a blend with the GRU is ONE ONNX file of the contract computing the same weighted sum as the trained blend', async () => {
    // Prepare
    const items = itemIndexOf(before);
    const blend = blendCandidate([
      { candidate: easeCandidate({ lambda: 50, halfLife: Number.POSITIVE_INFINITY }), weight: 1 },
      { candidate: transitionCandidate({ window: 2, halfLife: 1 }), weight: 0.5 },
      { candidate: createSequenceCandidate({ epochs: 1, embeddingDim: 8, hiddenUnits: 8, maxLength: 5 }), weight: 0.3 },
    ]);

    // Act
    const artifact = await trainArtifact(blend, before, items);
    const session = await createSession(artifact.onnx);
    const check = await checkRecommenderSession(session, items.itemIds.length, { checkPaddingInvariance: true });
    let maxDiff = 0;
    for (const history of [Int32Array.from([3, 9, 4, 11]), Int32Array.from([0]), Int32Array.from([20, 21, 22, 23, 24, 25, 26])]) {
      const out = await session.run({
        [INPUT_ITEM_IDS]: new ort.Tensor('int64', BigInt64Array.from(history, BigInt), [1, history.length]),
        [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', servingWeights(history.length), [1, history.length]),
      });
      const onnx = out[OUTPUT_SCORES]!.data as Float32Array;
      const js = await artifact.trained.score(history);
      for (let i = 0; i < js.length; i++) maxDiff = Math.max(maxDiff, Math.abs(js[i]! - onnx[i]!) / Math.max(1, Math.abs(js[i]!)));
    }
    await session.release();

    // Assess
    expect(check).toEqual({ ok: true });
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('serving explains a linear blend from the model file: the named history item carries the exact score it adds', async () => {
    // Prepare: a two-term blend with a popularity bias, exported; a history of two items.
    const items = itemIndexOf(before);
    const blend = blendCandidate([
      { candidate: easeCandidate({ lambda: 50, halfLife: 4 }), weight: 1 },
      { candidate: transitionCandidate({ window: 2, halfLife: 1 }), weight: 0.5 },
      { candidate: popularityCandidate(), weight: 0.2 },
    ]);
    const artifact = await trainArtifact(blend, before, items);
    const n = items.itemIds.length;
    const session = await createSession(artifact.onnx);
    const run = async (ids: number[], weights: number[]) =>
      (
        await session.run({
          [INPUT_ITEM_IDS]: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
          [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', Float32Array.from(weights), [1, ids.length]),
        })
      )[OUTPUT_SCORES]!.data as Float32Array;
    const [a, b] = [3, 9];
    const w = servingWeights(2);
    const bias = await run([0], [0]);
    const both = await run([a, b], [w[0]!, w[1]!]);
    const onlyNew = await run([b], [w[1]!]); // b at age 0 alone: both − onlyNew is a's share at age 1
    await session.release();
    const candidates = Array.from({ length: n }, (_, j) => j).filter((j) => j !== a && j !== b);

    // Act
    const explainer = explainerFor(readModelMetadata(artifact.onnx).model_kind ?? '', artifact.onnx, n);
    const reasons = explainer!.explain(
      [
        { index: a, weight: w[0]! },
        { index: b, weight: w[1]! },
      ],
      candidates,
    );

    // Assess
    expect(explainer).toBeDefined();
    let checked = 0;
    for (const j of candidates) {
      const fromA = both[j]! - onlyNew[j]!;
      const fromB = onlyNew[j]! - bias[j]!;
      const best = Math.max(fromA, fromB);
      const reason = reasons.get(j);
      if (best <= 1e-6) continue;
      expect(reason?.source).toBe(fromA > fromB ? a : b);
      expect(reason?.value).toBeCloseTo(best, 4);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });
});
