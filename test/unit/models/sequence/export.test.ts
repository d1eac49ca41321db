/**
 * The exported ONNX graph computes what the tfjs network computes (GRU and LSTM), meets the recommender
 * contract, and the wasm kernels this project adds or wraps are correct.
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkRecommenderSession, INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../../../models/recommender/contract';
import { initTfjsBackend } from '../../../../models/sequence/backend';
import { buildSequenceOnnx } from '../../../../models/sequence/export';
import { scoreWithSession } from '../../../../models/sequence/index';
import { predictLogits, type RecurrentCell, sequenceWeights, trainSequenceModel } from '../../../../models/sequence/model';
import { createSession } from '../../../../shared/onnx/session';
import { mulberry32 } from '../../../../shared/random';

const N_ITEMS = 40;
const MAX_LENGTH = 8;

/** Chains with some noise: enough signal that training moves every weight away from its initial value. */
function trainingSequences(seed: number): Int32Array[] {
  const r = mulberry32(seed);
  return Array.from({ length: 150 }, () => {
    let item = Math.floor(r() * N_ITEMS);
    return Int32Array.from({ length: 3 + Math.floor(r() * 12) }, () => {
      item = r() < 0.8 ? (item + 1) % N_ITEMS : Math.floor(r() * N_ITEMS);
      return item;
    });
  });
}

/** 60 histories: empty, length 1, short (padded inside the model), exactly L, and longer than L. */
function randomHistories(seed: number): Int32Array[] {
  const r = mulberry32(seed);
  const lengths = [0, 1, 2, MAX_LENGTH, MAX_LENGTH + 1, 3 * MAX_LENGTH];
  return Array.from({ length: 60 }, (_, k) => {
    const len = lengths[k] ?? Math.floor(r() * 2 * MAX_LENGTH);
    return Int32Array.from({ length: len }, () => Math.floor(r() * N_ITEMS));
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Right-padded contract feeds: `pad` trailing (id 0, weight 0) positions after the history. */
function paddedFeeds(history: Int32Array, pad: number): Record<string, ort.Tensor> {
  const L = history.length + pad;
  const ids = new BigInt64Array(L);
  const weights = new Float32Array(L);
  history.forEach((item, k) => {
    ids[k] = BigInt(item);
    weights[k] = 0.5 + k; // magnitudes are ignored, only weight > 0 matters
  });
  return { [INPUT_ITEM_IDS]: new ort.Tensor('int64', ids, [1, L]), [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', weights, [1, L]) };
}

beforeAll(async () => {
  await initTfjsBackend();
});

describe.each<RecurrentCell>(['gru', 'lstm'])('%s export', (cell) => {
  let model: tf.LayersModel;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    const trained = await trainSequenceModel(trainingSequences(7), N_ITEMS, {
      cell,
      maxLength: MAX_LENGTH,
      embeddingDim: 8,
      hiddenUnits: 12,
      epochs: 3,
      batchSize: 32,
      learningRate: 0.01,
      validationFraction: 0,
    });
    model = trained.model;
    session = await createSession(buildSequenceOnnx(sequenceWeights(model, N_ITEMS, trained.config)));
  });

  it('gives the tfjs logits within 1e-4 on 60 random histories (empty, short, L, longer than L)', async () => {
    // Prepare
    const histories = randomHistories(11);
    const expected = predictLogits(model, histories, MAX_LENGTH);

    // Act
    const actual = await Promise.all(histories.map((h) => scoreWithSession(session, h)));

    // Assess
    const worst = Math.max(...actual.map((a, k) => maxAbsDiff(a, expected[k]!)));
    expect(worst).toBeLessThan(1e-4);
    expect(Math.max(...expected.map((e) => maxAbsDiff(e, expected[0]!)))).toBeGreaterThan(0.01); // histories matter
  });

  it('treats trailing (id 0, weight 0) positions as padding and ignores weight magnitudes', async () => {
    // Prepare
    const histories = randomHistories(12).filter((h) => h.length > 0 && h.length < MAX_LENGTH);
    const expected = predictLogits(model, histories, MAX_LENGTH);

    // Act
    const actual = await Promise.all(histories.map((h, k) => session.run(paddedFeeds(h, 1 + (k % 5)))));

    // Assess
    const worst = Math.max(...actual.map((out, k) => maxAbsDiff(out[OUTPUT_SCORES]?.data as Float32Array, expected[k]!)));
    expect(worst).toBeLessThan(1e-4);
  });

  it('passes the recommender contract check, padding invariance included', async () => {
    // Act
    const result = await checkRecommenderSession(session, N_ITEMS, { checkPaddingInvariance: true });

    // Assess
    expect(result).toEqual({ ok: true });
  });
});

describe('wasm kernels', () => {
  it('runs on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
  });

  it('UnsortedSegmentSum sums rows by segment id and drops ids out of range', () => {
    // Prepare
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ]);
    const ids = tf.tensor1d([2, 0, 2, 5], 'int32');

    // Act
    const out = tf.unsortedSegmentSum(x, ids, 3);

    // Assess
    expect(Array.from(out.dataSync())).toEqual([3, 4, 0, 0, 6, 8]);
    tf.dispose([x, ids, out]);
  });

  it('multiplies transposed operands correctly (the wrapped MatMul kernels)', () => {
    // Prepare
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const b = tf.tensor2d([1, 0, 2, 1, 1, 0], [2, 3]);

    // Act
    const both = tf.matMul(a, b, true, true); // aᵀ [2,3] · bᵀ [3,2]
    const onlyB = tf.matMul(a, a, false, true); // a · aᵀ [3,3]
    const batched = tf.matMul(tf.stack([a, a]), tf.stack([a, a]), true, false); // aᵀ · a, twice
    const plain = tf.matMul(a, b);

    // Assess
    expect(Array.from(both.dataSync())).toEqual([11, 4, 14, 6]);
    expect(Array.from(onlyB.dataSync())).toEqual([5, 11, 17, 11, 25, 39, 17, 39, 61]);
    expect(Array.from(batched.dataSync())).toEqual([35, 44, 44, 56, 35, 44, 44, 56]);
    expect(Array.from(plain.dataSync())).toEqual([3, 2, 2, 7, 4, 6, 11, 6, 10]);
    tf.dispose([a, b, both, onlyB, batched, plain]);
  });
});
