import { describe, expect, it } from 'vitest';
import { buildModel, floatTensor, node, readModelMetadata, valueInfo } from '../../../../shared/onnx/graph';
import type * as ort from 'onnxruntime-node';
import { createSession, runChecked } from '../../../../shared/onnx/session';
import { checkRecommenderSession, INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES, recommenderFeeds } from '../../../../models/recommender/contract';
import { EASE_MAX_ITEMS, gramMatrix, trainEase } from '../../../../models/recommender/ease';
import { buildItemItemOnnx, buildPopularityOnnx } from '../../../../models/recommender/export';
import { mulberry32 } from '../../../../shared/random';

interface Interactions {
  rows: number[];
  cols: number[];
  values: number[];
  nUsers: number;
  nItems: number;
}

function randomInteractions(nUsers: number, nItems: number, density: number, seed: number): Interactions {
  const r = mulberry32(seed);
  const rows: number[] = [];
  const cols: number[] = [];
  const values: number[] = [];
  for (let u = 0; u < nUsers; u++) {
    for (let i = 0; i < nItems; i++) {
      if (r() < density) {
        rows.push(u);
        cols.push(i);
        values.push(1 + Math.floor(r() * 3));
      }
    }
  }
  // One duplicate (user, item) pair: must be summed into X.
  rows.push(rows[0]!);
  cols.push(cols[0]!);
  values.push(0.5);
  return { rows, cols, values, nUsers, nItems };
}

/** float64 reference: dense X, G = XᵀX + λI, Gauss-Jordan inverse, B = −P/diag(P). */
function easeReference(d: Interactions, lambda: number): Float64Array {
  const { nUsers, nItems: n } = d;
  const X = new Float64Array(nUsers * n);
  d.rows.forEach((u, k) => {
    X[u * n + d.cols[k]!]! += d.values[k]!;
  });
  const A = new Float64Array(n * 2 * n); // [G | I]
  const w = 2 * n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let u = 0; u < nUsers; u++) s += X[u * n + i]! * X[u * n + j]!;
      A[i * w + j] = s + (i === j ? lambda : 0);
    }
    A[i * w + n + i] = 1;
  }
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r * w + c]!) > Math.abs(A[p * w + c]!)) p = r;
    if (p !== c) {
      for (let j = 0; j < w; j++) {
        const t = A[c * w + j]!;
        A[c * w + j] = A[p * w + j]!;
        A[p * w + j] = t;
      }
    }
    const piv = A[c * w + c]!;
    for (let j = 0; j < w; j++) A[c * w + j]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = A[r * w + c]!;
      if (f === 0) continue;
      for (let j = 0; j < w; j++) A[r * w + j]! -= f * A[c * w + j]!;
    }
  }
  const B = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      B[i * n + j] = i === j ? 0 : -A[i * w + n + j]! / A[j * w + n + j]!;
    }
  }
  return B;
}

function scoresReference(B: Float32Array, n: number, ids: number[], weights: number[]): Float64Array {
  const s = new Float64Array(n);
  ids.forEach((id, l) => {
    for (let j = 0; j < n; j++) s[j]! += weights[l]! * B[id * n + j]!;
  });
  return s;
}

describe('trainEase', () => {
  it('matches a float64 Gauss-Jordan reference within 1e-3 relative, with an exactly zero diagonal', async () => {
    // Prepare
    const data = randomInteractions(60, 25, 0.3, 7);
    const lambda = 5;
    const ref = easeReference(data, lambda);

    // Act
    const B = await trainEase({ ...data, lambda });

    // Assess
    const n = data.nItems;
    expect(B).toBeInstanceOf(Float32Array);
    expect(B.length).toBe(n * n);
    let maxRef = 0;
    for (const v of ref) maxRef = Math.max(maxRef, Math.abs(v));
    let worst = 0;
    for (let k = 0; k < n * n; k++) {
      const err = Math.abs(B[k]! - ref[k]!) / Math.max(Math.abs(ref[k]!), 1e-2 * maxRef);
      worst = Math.max(worst, err);
    }
    expect(worst).toBeLessThan(1e-3);
    for (let i = 0; i < n; i++) expect(Object.is(B[i * n + i], 0)).toBe(true);
  });

  it('builds the Gram matrix from sparse interactions, summing duplicates', () => {
    // Prepare
    const input = { rows: [0, 0, 0, 1, 1], cols: [0, 2, 0, 1, 2], values: [1, 2, 3, 1, 1], nUsers: 2, nItems: 3 };

    // Act
    const G = Array.from(gramMatrix(input));

    // Assess: X = [[4,0,2],[0,1,1]]
    expect(G).toEqual([16, 0, 8, 0, 1, 1, 8, 1, 5]);
  });

  it(`rejects more than ${EASE_MAX_ITEMS} items and mismatched inputs with a clear error`, async () => {
    // Prepare
    const base = { rows: [0], cols: [0], values: [1], nUsers: 1, lambda: 1 };

    // Act / Assess
    await expect(trainEase({ ...base, nItems: EASE_MAX_ITEMS + 1 })).rejects.toThrow(/limit of 6000 items/);
    await expect(trainEase({ ...base, nItems: 2, values: [1, 2] })).rejects.toThrow(/same length/);
    await expect(trainEase({ ...base, nItems: 2, cols: [5] })).rejects.toThrow(/cols\[0\] = 5/);
  });
});

describe('item-item ONNX export', () => {
  it('scores like the JS reference Σ w_i B[i,:] (incl. padded inputs) and meets the contract', async () => {
    // Prepare
    const data = randomInteractions(80, 40, 0.2, 11);
    const n = data.nItems;
    const B = await trainEase({ ...data, lambda: 3 });
    const bytes = buildItemItemOnnx(B, n, { trained_at: '2025-01-01' });
    const session = await createSession(bytes);
    const cases: { ids: number[]; weights: number[] }[] = [
      { ids: [3], weights: [1] },
      { ids: [5, 9, 39, 0], weights: [1, 0.5, 2, 1.5] },
      { ids: [5, 9, 5], weights: [1, 1, 1] },
      { ids: [7, 12, 0, 0, 0], weights: [2, 1, 0, 0, 0] }, // padded
    ];

    // Act
    const outputs: ort.Tensor[] = [];
    for (const c of cases) {
      const out = await runChecked(session, recommenderFeeds(c.ids, c.weights));
      outputs.push(out[OUTPUT_SCORES]!);
    }
    const unpadded = await runChecked(session, recommenderFeeds([7, 12], [2, 1]));
    const check = await checkRecommenderSession(session, n, { checkPaddingInvariance: true });

    // Assess
    cases.forEach((c, k) => {
      const got = outputs[k]!;
      expect(got.dims).toEqual([1, n]);
      const ref = scoresReference(B, n, c.ids, c.weights);
      for (let j = 0; j < n; j++) expect(Math.abs((got.data as Float32Array)[j]! - ref[j]!)).toBeLessThan(1e-4);
    });
    expect(Array.from(outputs[3]!.data as Float32Array)).toEqual(Array.from(unpadded[OUTPUT_SCORES]!.data as Float32Array));
    expect(check).toEqual({ ok: true });
    expect(readModelMetadata(bytes)).toMatchObject({
      trained_at: '2025-01-01',
      model_family: 'recommender',
      model_kind: 'item-item',
      n_items: String(n),
    });
  });

  it('popularity model ignores the history and meets the contract', async () => {
    // Prepare
    const pop = new Float32Array([5, 1, 3, 0.5, 2]);
    const session = await createSession(buildPopularityOnnx(pop, {}));

    // Act
    const out = await runChecked(session, recommenderFeeds([1, 2, 0], [1, 1, 0]));
    const check = await checkRecommenderSession(session, pop.length, { checkPaddingInvariance: true });

    // Assess
    expect(out[OUTPUT_SCORES]!.dims).toEqual([1, 5]);
    expect(Array.from(out[OUTPUT_SCORES]!.data as Float32Array)).toEqual(Array.from(pop));
    expect(check).toEqual({ ok: true });
  });
});

describe('contract checker', () => {
  const N = 6;

  it('rejects a model whose output shape is not [1, N]', async () => {
    // Prepare: scores = Gather(table [N, N-1], ids) summed → [1, N-1]
    const bytes = buildModel({
      inputs: [valueInfo(INPUT_ITEM_IDS, 'int64', [1, 'L']), valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, 'L'])],
      outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, 'M'])],
      initializers: [floatTensor('table', [N, N - 1], new Float32Array(N * (N - 1)).fill(1))],
      nodes: [node('Gather', ['table', INPUT_ITEM_IDS], ['rows'], { axis: 0 }), node('ReduceMax', ['rows'], [OUTPUT_SCORES], { axes: [1], keepdims: 0 })],
    });
    const session = await createSession(bytes);

    // Act
    const result = await checkRecommenderSession(session, N);

    // Assess
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reasons.join('\n')).toMatch(/has shape \[1,5\], must be \[1,6\]/);
  });

  it('rejects a model with a wrong input name', async () => {
    // Prepare
    const bytes = buildModel({
      inputs: [valueInfo('items', 'int64', [1, 'L']), valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, 'L'])],
      outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, N])],
      initializers: [floatTensor('pop', [1, N], new Float32Array(N))],
      nodes: [node('Identity', ['pop'], [OUTPUT_SCORES])],
    });
    const session = await createSession(bytes);

    // Act
    const result = await checkRecommenderSession(session, N);

    // Assess
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reasons[0]).toMatch(/inputs must be exactly \[item_ids, item_weights\].*\[items, item_weights\]/);
  });

  it('rejects a model that produces non-finite scores', async () => {
    // Prepare: scores = log(0 * popularity) = -inf
    const bytes = buildModel({
      inputs: [valueInfo(INPUT_ITEM_IDS, 'int64', [1, 'L']), valueInfo(INPUT_ITEM_WEIGHTS, 'float32', [1, 'L'])],
      outputs: [valueInfo(OUTPUT_SCORES, 'float32', [1, N])],
      initializers: [floatTensor('zeros', [1, N], new Float32Array(N))],
      nodes: [node('Log', ['zeros'], [OUTPUT_SCORES])],
    });
    const session = await createSession(bytes);

    // Act
    const result = await checkRecommenderSession(session, N);

    // Assess
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reasons.join('\n')).toMatch(/scores are not finite/);
  });
});
