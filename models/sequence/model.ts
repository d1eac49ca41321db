/**
 * Sequence-aware next-item model (the design document's "LSTM predicting user behaviour" family,
 * GRU4Rec-style): Embedding(nItems + 1, d; id 0 = padding) → GRU(h) or LSTM(h) → Dense(nItems) logits,
 * trained in tfjs with sparse softmax cross-entropy on (prefix → next item) pairs and Adam.
 *
 * Export constraints (see ./export): the GRU uses recurrentActivation 'sigmoid' and reset_after = false
 * (tfjs cannot train reset_after GRUs), which is ONNX GRU with linear_before_reset = 0.
 */
import * as tf from '@tensorflow/tfjs';
import type { SequenceWeights } from './export';
import { buildExamples, type Examples, leftPaddedWindow, mulberry32, shuffleInPlace, splitForValidation } from './examples';

export type RecurrentCell = 'gru' | 'lstm';

export interface SequenceModelConfig {
  cell: RecurrentCell;
  /** Window length L: the last L items of a history are read (left-padded with 0). */
  maxLength: number;
  embeddingDim: number;
  hiddenUnits: number;
  /** Maximum number of epochs (early stopping may end sooner). */
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Share of sequences whose last transition is held out for early stopping; 0 turns early stopping off. */
  validationFraction: number;
  /**
   * What early stopping maximises on the validation transitions: HR@10 (default) or −loss. On Amazon
   * Beauty the validation loss bottomed out at epoch 3 while HR@10 still rose at epoch 4 (0.070 → 0.079):
   * the ranking metric is what the evaluation measures.
   */
  earlyStoppingMetric: 'valHitRate10' | 'valLoss';
  /** Epochs without a better validation metric before stopping; the best epoch's weights are kept. */
  patience: number;
  /** Seeds the initialisers, the validation split and the shuffles (wasm/cpu kernels are deterministic). */
  seed: number;
  /** Stop after the epoch during which this many seconds of training have passed. */
  maxTrainingSeconds?: number;
}

export const DEFAULT_SEQUENCE_CONFIG: SequenceModelConfig = {
  cell: 'gru',
  maxLength: 20,
  embeddingDim: 64,
  hiddenUnits: 64,
  epochs: 20,
  batchSize: 256,
  learningRate: 0.002,
  validationFraction: 0.1,
  earlyStoppingMetric: 'valHitRate10',
  patience: 2,
  seed: 42,
};

export interface EpochLog {
  epoch: number;
  loss: number;
  valLoss?: number;
  /** Share of validation targets ranked in the top 10 of all items (history items not excluded). */
  valHitRate10?: number;
  /** Wall-clock seconds of the training pass (validation excluded). */
  seconds: number;
  /** CPU seconds this process used in that pass (process.cpuUsage): unaffected by other load on the machine. */
  cpuSeconds: number;
  examplesPerSecond: number;
}

export interface TrainedSequenceModel {
  model: tf.LayersModel;
  config: SequenceModelConfig;
  nItems: number;
  epochs: EpochLog[];
  /** 1-based epoch whose weights the model holds (the best validation metric, or the last epoch). */
  bestEpoch: number;
  trainingExamples: number;
  trainingSeconds: number;
}

/** The untrained network; weights are drawn from `config.seed`. */
export function buildSequenceNetwork(nItems: number, config: SequenceModelConfig): tf.Sequential {
  const { seed, hiddenUnits: units } = config;
  const model = tf.sequential();
  model.add(
    tf.layers.embedding({
      inputDim: nItems + 1,
      outputDim: config.embeddingDim,
      inputLength: config.maxLength,
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }),
    }),
  );
  const recurrent = {
    units,
    recurrentActivation: 'sigmoid' as const, // ONNX's default f; tfjs's default hardSigmoid would not export as is
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 2 }),
  };
  // tfjs GRUs are always reset_after = false (GRUCell rejects true; GRULayerArgs does not even declare it).
  model.add(config.cell === 'gru' ? tf.layers.gru(recurrent) : tf.layers.lstm({ ...recurrent, unitForgetBias: true }));
  model.add(tf.layers.dense({ units: nItems, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) }));
  return model;
}

/**
 * One-hot rows as float32. Built as int32 and cast: the wasm OneHot kernel writes int32 values whatever
 * dtype is asked for, so `oneHot(…, 'float32')` on wasm gives ~1e-45 instead of 1 (measured with 4.22).
 */
function oneHotFloat(targets: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(targets, depth), 'float32') as tf.Tensor2D;
}

/**
 * Mean over the batch of logsumexp(logits) − logits[target]. tf.losses.softmaxCrossEntropy has a custom
 * gradient (softmax − onehot); differentiating logSumExp instead runs a broadcast Equal that takes
 * ~140 ms per [256, 5000] batch on wasm.
 */
function sparseSoftmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(oneHotFloat(targets, logits.shape[1]), logits) as tf.Scalar;
}

function batchTensors(ex: Examples, rows: Int32Array): { x: tf.Tensor2D; y: tf.Tensor1D } {
  const L = ex.maxLength;
  const xs = new Int32Array(rows.length * L);
  const ys = new Int32Array(rows.length);
  rows.forEach((r, k) => {
    xs.set(ex.inputs.subarray(r * L, (r + 1) * L), k * L);
    ys[k] = ex.targets[r]!;
  });
  return { x: tf.tensor2d(xs, [rows.length, L], 'int32'), y: tf.tensor1d(ys, 'int32') };
}

function trainEpoch(model: tf.LayersModel, optimizer: tf.Optimizer, ex: Examples, order: Int32Array, batchSize: number): number {
  let lossSum = 0;
  for (let start = 0; start < ex.count; start += batchSize) {
    const rows = order.subarray(start, Math.min(start + batchSize, ex.count));
    const { x, y } = batchTensors(ex, rows);
    const cost = optimizer.minimize(() => sparseSoftmaxCrossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y), true);
    lossSum += (cost?.dataSync()[0] ?? Number.NaN) * rows.length;
    tf.dispose(cost ? [x, y, cost] : [x, y]);
  }
  return lossSum / ex.count;
}

/** Validation loss and HR@10 (rank among all items) in forward-only batches. */
export function evaluateExamples(model: tf.LayersModel, ex: Examples, batchSize = 1024): { loss: number; hitRate10: number } {
  let lossSum = 0;
  let hits = 0;
  const all = Int32Array.from({ length: ex.count }, (_, i) => i);
  for (let start = 0; start < ex.count; start += batchSize) {
    const rows = all.subarray(start, Math.min(start + batchSize, ex.count));
    const [loss, hit] = tf.tidy(() => {
      const { x, y } = batchTensors(ex, rows);
      const logits = model.predict(x) as tf.Tensor2D;
      const targetLogit = tf.sum(tf.mul(logits, oneHotFloat(y, logits.shape[1])), 1, true);
      const ahead = tf.sum(tf.cast(tf.greater(logits, targetLogit), 'float32'), 1);
      return [tf.sum(tf.sub(tf.logSumExp(logits, 1), tf.squeeze(targetLogit, [1]))), tf.sum(tf.cast(tf.less(ahead, 10), 'float32'))];
    });
    lossSum += loss.dataSync()[0]!;
    hits += hit.dataSync()[0]!;
    tf.dispose([loss, hit]);
  }
  return { loss: lossSum / Math.max(1, ex.count), hitRate10: hits / Math.max(1, ex.count) };
}

function validateConfig(nItems: number, c: SequenceModelConfig): void {
  const positive = { maxLength: c.maxLength, embeddingDim: c.embeddingDim, hiddenUnits: c.hiddenUnits, epochs: c.epochs, batchSize: c.batchSize };
  for (const [k, v] of Object.entries({ nItems, ...positive })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`sequence model: ${k} must be a positive integer, got ${v}`);
  }
  if (!(c.learningRate > 0)) throw new Error(`sequence model: learningRate must be > 0, got ${c.learningRate}`);
  if (!(c.validationFraction >= 0 && c.validationFraction < 1))
    throw new Error(`sequence model: validationFraction must be in [0, 1), got ${c.validationFraction}`);
}

interface EpochContext {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  train: Examples;
  validation?: Examples;
  order: Int32Array;
  random: () => number;
  batchSize: number;
}

function runEpoch(ctx: EpochContext, epoch: number): EpochLog {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const loss = trainEpoch(ctx.model, ctx.optimizer, ctx.train, shuffleInPlace(ctx.order, ctx.random), ctx.batchSize);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (!Number.isFinite(loss)) throw new Error(`sequence model: training loss is ${loss} at epoch ${epoch} (lower learningRate)`);
  const log: EpochLog = { epoch, loss, seconds, cpuSeconds, examplesPerSecond: ctx.train.count / seconds };
  if (ctx.validation) {
    const v = evaluateExamples(ctx.model, ctx.validation);
    log.valLoss = v.loss;
    log.valHitRate10 = v.hitRate10;
  }
  return log;
}

/** Keeps a copy of the weights of the epoch with the best validation metric (ties keep the earlier epoch). */
class BestWeights {
  epoch = 0;
  private score = Number.NEGATIVE_INFINITY;
  private weights: tf.Tensor[] = [];

  constructor(private readonly metric: SequenceModelConfig['earlyStoppingMetric']) {}

  offer(model: tf.LayersModel, log: EpochLog): void {
    const value = this.metric === 'valLoss' ? log.valLoss : log.valHitRate10;
    if (value === undefined) return;
    const score = this.metric === 'valLoss' ? -value : value;
    if (!(score > this.score)) return;
    tf.dispose(this.weights);
    this.weights = model.getWeights().map((w) => w.clone());
    this.epoch = log.epoch;
    this.score = score;
  }

  /** Puts the best weights back unless the last epoch was the best (or there was no validation). */
  restoreInto(model: tf.LayersModel, lastEpoch: number): void {
    if (this.epoch > 0 && this.epoch !== lastEpoch) model.setWeights(this.weights);
  }

  dispose(): void {
    tf.dispose(this.weights);
    this.weights = [];
  }
}

/**
 * Trains on every (prefix → next item) pair of `sequences` (item indices in [0, nItems)). Call
 * `initTfjsBackend()` first. The caller owns `result.model` (dispose it when done).
 */
export async function trainSequenceModel(
  sequences: readonly Int32Array[],
  nItems: number,
  options: Partial<SequenceModelConfig> = {},
  onEpoch?: (log: EpochLog) => void,
): Promise<TrainedSequenceModel> {
  const config: SequenceModelConfig = { ...DEFAULT_SEQUENCE_CONFIG, ...options };
  validateConfig(nItems, config);
  const started = performance.now();
  const split = splitForValidation(sequences, config.validationFraction, config.seed);
  const train = buildExamples(split.train, nItems, config.maxLength);
  const validation = split.validation.length > 0 ? buildExamples(split.validation, nItems, config.maxLength, true) : undefined;
  if (train.count === 0) throw new Error('sequence model: no training pairs (every sequence has fewer than 2 items)');

  const model = buildSequenceNetwork(nItems, config);
  const optimizer = tf.train.adam(config.learningRate);
  const ctx: EpochContext = {
    model,
    optimizer,
    train,
    validation,
    order: Int32Array.from({ length: train.count }, (_, i) => i),
    random: mulberry32(config.seed),
    batchSize: config.batchSize,
  };
  const elapsed = () => (performance.now() - started) / 1000;
  const epochs: EpochLog[] = [];
  const best = new BestWeights(config.earlyStoppingMetric);
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const log = runEpoch(ctx, epoch);
      epochs.push(log);
      onEpoch?.(log);
      best.offer(model, log);
      if (best.epoch > 0 && epoch - best.epoch >= config.patience) break;
      if (config.maxTrainingSeconds !== undefined && elapsed() >= config.maxTrainingSeconds) break;
      await new Promise((r) => setImmediate(r)); // let timers and logs run between epochs
    }
    best.restoreInto(model, epochs.length);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    best.dispose();
    optimizer.dispose();
  }
  return { model, config, nItems, epochs, bestEpoch: best.epoch || epochs.length, trainingExamples: train.count, trainingSeconds: elapsed() };
}

/** Logits [nItems] for each history (item indices, oldest first) computed by tfjs, for parity checks. */
export function predictLogits(model: tf.LayersModel, histories: readonly ArrayLike<number>[], maxLength: number): Float32Array[] {
  const xs = new Int32Array(histories.length * maxLength);
  histories.forEach((h, k) => {
    leftPaddedWindow(h, maxLength, xs.subarray(k * maxLength, (k + 1) * maxLength));
  });
  const logits = tf.tidy(() => model.predict(tf.tensor2d(xs, [histories.length, maxLength], 'int32')) as tf.Tensor2D);
  const data = logits.dataSync() as Float32Array;
  const n = logits.shape[1];
  logits.dispose();
  return histories.map((_, k) => data.slice(k * n, (k + 1) * n));
}

/** The network's weights as plain arrays in tfjs layouts (input of ./export's buildSequenceOnnx). */
export function sequenceWeights(model: tf.LayersModel, nItems: number, config: SequenceModelConfig): SequenceWeights {
  const [embeddingLayer, recurrentLayer, denseLayer] = model.layers;
  if (!embeddingLayer || !recurrentLayer || !denseLayer) throw new Error('sequence model: expected Embedding → RNN → Dense layers');
  const read = (layer: tf.layers.Layer, count: number): Float32Array[] => {
    const ws = layer.getWeights();
    if (ws.length !== count) throw new Error(`sequence model: layer ${layer.name} has ${ws.length} weights, expected ${count}`);
    return ws.map((w) => w.dataSync() as Float32Array).map((a) => Float32Array.from(a));
  };
  const [embedding] = read(embeddingLayer, 1);
  const [kernel, recurrentKernel, bias] = read(recurrentLayer, 3);
  const [denseKernel, denseBias] = read(denseLayer, 2);
  return {
    cell: config.cell,
    nItems,
    maxLength: config.maxLength,
    embeddingDim: config.embeddingDim,
    hiddenUnits: config.hiddenUnits,
    embedding: embedding!,
    kernel: kernel!,
    recurrentKernel: recurrentKernel!,
    bias: bias!,
    denseKernel: denseKernel!,
    denseBias: denseBias!,
  };
}
