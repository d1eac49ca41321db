/**
 * The demand family's served model: a linear quantile model over the feature rows of ./features.ts,
 *
 *   quantiles[n, q] = Relu((features[n, :] · W[:, q] + b[q]) · scale[n]),   q = 0.1, 0.5, 0.9
 *
 * as one ONNX graph (MatMul → Add → Mul → Relu; inputs `features` float32 [N, F] and `scale`
 * float32 [N, 1], output `quantiles` float32 [N, 3]). Three shapes of W share that graph:
 * - the global model: W fitted by minimising the pinball loss of each quantile (Adam, minibatches,
 *   rows weighted by the item's scale so the loss is the pinball loss in units, i.e. what WAPE and
 *   wQL weigh);
 * - a simple baseline: the one-hot column of its feature (its point forecast) for all three;
 * - either, after conformal calibration: per horizon bucket, an offset on the 0.1 and 0.9 columns
 *   (added to W's bucket rows, so the graph does not change) such that on the validation rows 10 %
 *   fall below the lower bound and [q0.1, q0.9] covers 80 %.
 */
import { mulberry32 } from '../../shared/random';
import { buildModel, floatTensor, node, valueInfo } from '../../shared/onnx/graph';
import { BUCKET_OFFSET, bucketOf, FEATURE_INDEX, FEATURES, N_BUCKETS, N_FEATURES, type Rows } from './features';

export const QUANTILES = [0.1, 0.5, 0.9] as const;
const Q = QUANTILES.length;

export interface LinearQuantileModel {
  /** [F × 3], row-major (feature f, quantile q at f·3 + q). */
  w: Float64Array;
  b: Float64Array;
}

export interface Conformal {
  /** Scaled offsets per horizon bucket: lower (added to q0.1) and upper (added to q0.9). */
  lower: number[];
  upper: number[];
  /** Validation rows per bucket the offsets came from (0: copied from the nearest shorter bucket). */
  rows: number[];
}

/** A baseline as a linear model: its feature's value for all three quantiles. */
export function baselineModel(feature: string): LinearQuantileModel {
  const f = (FEATURES as readonly string[]).indexOf(feature);
  if (f < 0) throw new Error(`unknown baseline feature ${feature}`);
  const w = new Float64Array(N_FEATURES * Q);
  for (let q = 0; q < Q; q++) w[f * Q + q] = 1;
  return { w, b: new Float64Array(Q) };
}

/** Raw (pre-Relu) scaled predictions [n × 3]. */
export function predictScaled(model: LinearQuantileModel, rows: Rows): Float64Array {
  const out = new Float64Array(rows.n * Q);
  for (let r = 0; r < rows.n; r++) {
    const x = rows.x.subarray(r * N_FEATURES, (r + 1) * N_FEATURES);
    for (let q = 0; q < Q; q++) {
      let v = model.b[q] as number;
      for (let f = 0; f < N_FEATURES; f++) {
        const xf = x[f] as number;
        if (xf !== 0) v += xf * (model.w[f * Q + q] as number);
      }
      out[r * Q + q] = v;
    }
  }
  return out;
}

/** Quantiles in units [n × 3], exactly as the ONNX graph computes them (float64 here). */
export function predictUnits(model: LinearQuantileModel, rows: Rows): Float64Array {
  const raw = predictScaled(model, rows);
  for (let r = 0; r < rows.n; r++) for (let q = 0; q < Q; q++) raw[r * Q + q] = Math.max(0, (raw[r * Q + q] as number) * (rows.scale[r] as number));
  return raw;
}

export interface FitOptions {
  epochs: number;
  batch: number;
  learningRate: number;
  l2: number;
  seed: number;
  /** Fewest Adam steps (small data sets get more epochs, so the weights can move from their start). */
  minSteps: number;
}

export const DEFAULT_FIT: FitOptions = { epochs: 6, batch: 256, learningRate: 0.01, l2: 1e-5, seed: 7, minSteps: 2000 };

/** Fits W and b by minibatch Adam on the scale-weighted pinball loss of the three quantiles; rows with a NaN target are skipped. */
export function fitQuantileModel(rows: Rows, options: Partial<FitOptions> = {}): LinearQuantileModel {
  const o = { ...DEFAULT_FIT, ...options };
  const idx: number[] = [];
  let scaleSum = 0;
  for (let r = 0; r < rows.n; r++)
    if (Number.isFinite(rows.y[r] as number)) {
      idx.push(r);
      scaleSum += rows.scale[r] as number;
    }
  const model: LinearQuantileModel = { w: new Float64Array(N_FEATURES * Q), b: new Float64Array(Q) };
  // Start from the 28-day median for the median, from the 28-day mean scaled down/up for the bounds.
  model.w[FEATURE_INDEX.median_28 * Q + 1] = 1;
  model.w[FEATURE_INDEX.mean_28 * Q + 0] = 0.3;
  model.w[FEATURE_INDEX.mean_28 * Q + 2] = 1.7;
  if (idx.length === 0) return model;
  const meanScale = scaleSum / idx.length;
  const P = N_FEATURES * Q + Q;
  const params = new Float64Array(P);
  params.set(model.w);
  params.set(model.b, N_FEATURES * Q);
  const m = new Float64Array(P);
  const v = new Float64Array(P);
  const grad = new Float64Array(P);
  const beta1 = 0.9;
  const beta2 = 0.999;
  let t = 0;
  const rand = mulberry32(o.seed);
  const stepsPerEpoch = Math.ceil(idx.length / o.batch);
  const epochs = Math.max(o.epochs, Math.ceil(o.minSteps / stepsPerEpoch));
  // Polyak averaging over the second half of the steps: the pinball gradient is a sign, so the last iterate jitters.
  const averageFrom = Math.floor((epochs * stepsPerEpoch) / 2);
  const average = new Float64Array(P);
  let averaged = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let k = idx.length - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1));
      const tmp = idx[k] as number;
      idx[k] = idx[j] as number;
      idx[j] = tmp;
    }
    const lr = o.learningRate * (1 - epoch / (epochs + 1));
    for (let startRow = 0; startRow < idx.length; startRow += o.batch) {
      const end = Math.min(idx.length, startRow + o.batch);
      grad.fill(0);
      for (let k = startRow; k < end; k++) {
        const r = idx[k] as number;
        const x = rows.x.subarray(r * N_FEATURES, (r + 1) * N_FEATURES);
        const weight = (rows.scale[r] as number) / meanScale;
        const target = (rows.y[r] as number) / (rows.scale[r] as number);
        for (let q = 0; q < Q; q++) {
          let pred = params[N_FEATURES * Q + q] as number;
          for (let f = 0; f < N_FEATURES; f++) pred += (x[f] as number) * (params[f * Q + q] as number);
          const tau = QUANTILES[q] as number;
          const g = (target > pred ? -tau : 1 - tau) * weight;
          for (let f = 0; f < N_FEATURES; f++) grad[f * Q + q] = (grad[f * Q + q] as number) + g * (x[f] as number);
          grad[N_FEATURES * Q + q] = (grad[N_FEATURES * Q + q] as number) + g;
        }
      }
      t++;
      const size = end - startRow;
      const c1 = 1 - beta1 ** t;
      const c2 = 1 - beta2 ** t;
      for (let p = 0; p < P; p++) {
        const g = (grad[p] as number) / size + o.l2 * (params[p] as number);
        m[p] = beta1 * (m[p] as number) + (1 - beta1) * g;
        v[p] = beta2 * (v[p] as number) + (1 - beta2) * g * g;
        params[p] = (params[p] as number) - (lr * ((m[p] as number) / c1)) / (Math.sqrt((v[p] as number) / c2) + 1e-8);
      }
      if (t > averageFrom) {
        averaged++;
        for (let p = 0; p < P; p++) average[p] = (average[p] as number) + ((params[p] as number) - (average[p] as number)) / averaged;
      }
    }
  }
  const final = averaged ? average : params;
  return { w: final.slice(0, N_FEATURES * Q), b: final.slice(N_FEATURES * Q) };
}

function quantileOf(sorted: readonly number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(p * sorted.length)))] as number;
}

/**
 * Conformal offsets from validation rows (targets known) and the model's raw scaled predictions on
 * them: per horizon bucket, the lower offset puts 10 % of the rows below q0.1; the upper offset is
 * the least that makes [q0.1, q0.9] (after Relu: y = 0 is always above a clipped lower bound) cover
 * 80 % of them. Buckets without rows take the nearest shorter bucket's offsets.
 */
export function conformalOffsets(rows: Rows, raw: Float64Array, coverage = 0.8, lowerTail = 0.1): Conformal {
  const lower: number[] = [];
  const upper: number[] = [];
  const counts: number[] = [];
  for (let b = 0; b < N_BUCKETS; b++) {
    const members: number[] = [];
    for (let r = 0; r < rows.n; r++) if (bucketOf(rows.step[r] as number) === b && Number.isFinite(rows.y[r] as number)) members.push(r);
    counts.push(members.length);
    if (!members.length) {
      lower.push(b ? (lower[b - 1] as number) : 0);
      upper.push(b ? (upper[b - 1] as number) : 0);
      continue;
    }
    const u = members
      .map((r) => ((rows.y[r] as number) - (raw[r * Q] as number) * (rows.scale[r] as number)) / (rows.scale[r] as number))
      .sort((a, c) => a - c);
    const a = quantileOf(u, lowerTail);
    const need = Math.ceil(coverage * members.length);
    let zeros = 0;
    const v: number[] = [];
    for (const r of members) {
      const s = rows.scale[r] as number;
      const y = rows.y[r] as number;
      if (y < Math.max(0, ((raw[r * Q] as number) + a) * s) - 1e-9) continue; // below the lower bound: not coverable by the upper one
      if (y === 0) zeros++;
      else v.push((y - (raw[r * Q + 2] as number) * s) / s);
    }
    v.sort((x, y) => x - y);
    const more = need - zeros;
    const c = v.length === 0 ? 0 : more <= 0 ? (v[0] as number) : (v[Math.min(v.length - 1, more - 1)] as number);
    lower.push(a);
    upper.push(c);
  }
  return { lower, upper, rows: counts };
}

/** A copy of the model with the conformal offsets folded into the horizon-bucket rows of W. */
export function withConformal(model: LinearQuantileModel, conformal: Conformal): LinearQuantileModel {
  const w = model.w.slice();
  for (let b = 0; b < N_BUCKETS; b++) {
    w[(BUCKET_OFFSET + b) * Q + 0] = (w[(BUCKET_OFFSET + b) * Q + 0] as number) + (conformal.lower[b] as number);
    w[(BUCKET_OFFSET + b) * Q + 2] = (w[(BUCKET_OFFSET + b) * Q + 2] as number) + (conformal.upper[b] as number);
  }
  return { w, b: model.b.slice() };
}

/** The ONNX graph of a linear quantile model (the demand family's serving contract). */
export function exportOnnx(model: LinearQuantileModel, metadata: Record<string, string> = {}): Uint8Array {
  return buildModel({
    inputs: [valueInfo('features', 'float32', ['N', N_FEATURES]), valueInfo('scale', 'float32', ['N', 1])],
    outputs: [valueInfo('quantiles', 'float32', ['N', Q])],
    nodes: [
      node('MatMul', ['features', 'W'], ['xw']),
      node('Add', ['xw', 'B'], ['scaled']),
      node('Mul', ['scaled', 'scale'], ['units']),
      node('Relu', ['units'], ['quantiles']),
    ],
    initializers: [floatTensor('W', [N_FEATURES, Q], Float32Array.from(model.w)), floatTensor('B', [Q], Float32Array.from(model.b))],
    metadata: { model_family: 'demand', features: FEATURES.join(','), quantiles: QUANTILES.join(','), ...metadata },
  });
}
