/**
 * The 'gru' candidate learns an order-dependent rule that popularity cannot, scores through the ONNX
 * model it serves, and trains reproducibly from a seed.
 */
import { describe, expect, it } from 'vitest';
import type { TrainData } from '../../../../models/evaluation/candidate';
import { checkRecommenderSession } from '../../../../models/recommender/contract';
import { createSequenceCandidate, sequenceCandidate } from '../../../../models/sequence/index';
import { createSession } from '../../../../shared/onnx/session';
import { mulberry32 } from '../../../../shared/random';

const N_ITEMS = 20;

/** Item i is always followed by item i + 1 (mod N): a next-item rule popularity cannot express. */
function cyclicSequences(count: number, seed: number): Int32Array[] {
  const r = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const start = Math.floor(r() * N_ITEMS);
    return Int32Array.from({ length: 2 + Math.floor(r() * 10) }, (_, t) => (start + t) % N_ITEMS);
  });
}

function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}

const TINY = { maxLength: 6, embeddingDim: 16, hiddenUnits: 16, epochs: 30, batchSize: 64, learningRate: 0.02, validationFraction: 0.1, patience: 3 };

describe('sequence candidate', () => {
  it("is exported as 'gru'", () => {
    expect(sequenceCandidate.name).toBe('gru');
  });

  it('learns "i is followed by i + 1" (top-1 > 0.9) where popularity stays near chance', async () => {
    // Prepare
    const data: TrainData = { nItems: N_ITEMS, sequences: cyclicSequences(300, 1) };
    const tests = cyclicSequences(200, 2).map((s) => ({ history: s.subarray(0, s.length - 1), target: s[s.length - 1]! }));
    const counts = new Float32Array(N_ITEMS);
    for (const s of data.sequences) for (const item of s) counts[item]! += 1;

    // Act
    const trained = await createSequenceCandidate(TINY).train(data);
    const predictions = await Promise.all(tests.map(async (t) => argmax(await trained.score(t.history))));

    // Assess
    const accuracy = predictions.filter((p, k) => p === tests[k]!.target).length / tests.length;
    const popularityAccuracy = tests.filter((t) => t.target === argmax(counts)).length / tests.length;
    expect(accuracy).toBeGreaterThan(0.9);
    expect(popularityAccuracy).toBeLessThan(0.2);
    expect(trained.params).toMatchObject({ cell: 'gru', backend: 'wasm' });
  });

  it('exports bytes that pass the recommender contract check', async () => {
    // Prepare
    const trained = await createSequenceCandidate({ ...TINY, epochs: 1 }).train({ nItems: N_ITEMS, sequences: cyclicSequences(50, 3) });

    // Act
    const session = await createSession(trained.toOnnx!());

    // Assess
    expect(await checkRecommenderSession(session, N_ITEMS, { checkPaddingInvariance: true })).toEqual({ ok: true });
  });

  it('trains to identical ONNX bytes from the same seed, and different ones from another seed', async () => {
    // Prepare
    const data: TrainData = { nItems: N_ITEMS, sequences: cyclicSequences(60, 4) };
    const options = { ...TINY, epochs: 2 };

    // Act
    const a = await createSequenceCandidate({ ...options, seed: 1 }).train(data);
    const b = await createSequenceCandidate({ ...options, seed: 1 }).train(data);
    const c = await createSequenceCandidate({ ...options, seed: 2 }).train(data);

    // Assess
    expect(Buffer.from(a.toOnnx!()).equals(Buffer.from(b.toOnnx!()))).toBe(true);
    expect(Buffer.from(a.toOnnx!()).equals(Buffer.from(c.toOnnx!()))).toBe(false);
  });

  it('rejects items outside [0, nItems)', async () => {
    // Act / Assess
    await expect(createSequenceCandidate(TINY).train({ nItems: 3, sequences: [Int32Array.from([0, 3])] })).rejects.toThrow(/item 3 is not in \[0, 3\)/);
  });
});
