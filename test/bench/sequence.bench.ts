/**
 * Sequence model (GRU) at a realistic size: one training epoch on tfjs-wasm, then ONNX inference latency
 * of the exported model (batch 1, onnxruntime-node, 1 intra-op thread as on Lambda).
 *
 * Size: 5,000 items, 20,000 sequences of 20 items (Zipf-popular items), L 20, d = h = 64, batch 256:
 * 380,000 (prefix → next) examples. Override with SEQUENCE_BENCH_ITEMS / _SEQUENCES / _LENGTH.
 */
import { cpus, loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../models/recommender/contract';
import { initTfjsBackend } from '../../models/sequence/backend';
import { buildSequenceOnnx } from '../../models/sequence/export';
import { sequenceWeights, trainSequenceModel } from '../../models/sequence/model';
import { numberEnv } from '../../shared/config/env';
import { createSession } from '../../shared/onnx/session';
import { mulberry32 } from '../../shared/random';

const RUNS = 1000;
const WARMUP = 50;

/** Sequences whose items follow a Zipf(1) popularity (inverse-CDF sampling). */
function zipfSequences(nItems: number, count: number, length: number, seed: number): Int32Array[] {
  const cdf = new Float64Array(nItems);
  let total = 0;
  for (let i = 0; i < nItems; i++) {
    total += 1 / (i + 1);
    cdf[i] = total;
  }
  const r = mulberry32(seed);
  const draw = () => {
    const u = r() * total;
    let lo = 0;
    let hi = nItems - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return Array.from({ length: count }, () => Int32Array.from({ length }, draw));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export default async function sequenceBench(): Promise<Record<string, unknown>> {
  const nItems = numberEnv('SEQUENCE_BENCH_ITEMS', 5000);
  const nSequences = numberEnv('SEQUENCE_BENCH_SEQUENCES', 20_000);
  const length = numberEnv('SEQUENCE_BENCH_LENGTH', 20);
  const backend = await initTfjsBackend();
  // The machine may be shared: wall-clock figures depend on its load, CPU-time figures much less.
  const loadBefore = loadavg()[0]!;
  const sequences = zipfSequences(nItems, nSequences, length, 1);

  const trained = await trainSequenceModel(sequences, nItems, {
    cell: 'gru',
    maxLength: length,
    embeddingDim: 64,
    hiddenUnits: 64,
    epochs: 1,
    batchSize: 256,
    validationFraction: 0,
  });
  const epoch = trained.epochs[0]!;
  process.stdout.write(
    `training (${backend}): ${trained.trainingExamples} examples (${nSequences} sequences × ${length - 1}), ${nItems} items, d=h=64, batch 256: ` +
      `${epoch.seconds.toFixed(1)} s/epoch, ${Math.round(epoch.examplesPerSecond)} examples/s ` +
      `(CPU ${epoch.cpuSeconds.toFixed(1)} s: ${Math.round(trained.trainingExamples / epoch.cpuSeconds)} examples per CPU-second), loss ${epoch.loss.toFixed(3)}\n`,
  );

  const bytes = buildSequenceOnnx(sequenceWeights(trained.model, nItems, trained.config));
  trained.model.dispose();
  const t0 = performance.now();
  const session = await createSession(bytes);
  const sessionMs = performance.now() - t0;

  const r = mulberry32(2);
  const feeds = Array.from({ length: RUNS }, () => {
    const ids = BigInt64Array.from({ length }, () => BigInt(Math.floor(r() * nItems)));
    return {
      [INPUT_ITEM_IDS]: new ort.Tensor('int64', ids, [1, length]),
      [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', new Float32Array(length).fill(1), [1, length]),
    };
  });
  for (let k = 0; k < WARMUP; k++) await session.run(feeds[k]!);
  const times: number[] = [];
  for (const f of feeds) {
    const s = performance.now();
    const out = await session.run(f);
    times.push(performance.now() - s);
    if (out[OUTPUT_SCORES]?.dims[1] !== nItems) throw new Error('sequence bench: unexpected scores shape');
  }
  times.sort((a, b) => a - b);
  const medianMs = percentile(times, 0.5);
  const p99Ms = percentile(times, 0.99);
  process.stdout.write(
    `onnx: ${(bytes.length / 1e6).toFixed(2)} MB, session ${sessionMs.toFixed(1)} ms; latency over ${RUNS} runs (batch 1, L ${length}): ` +
      `median ${medianMs.toFixed(3)} ms, p99 ${p99Ms.toFixed(3)} ms; load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs\n`,
  );
  await session.release();
  return {
    backend,
    nItems,
    sequences: nSequences,
    length,
    trainingExamples: trained.trainingExamples,
    epochSeconds: Number(epoch.seconds.toFixed(2)),
    examplesPerSecond: Math.round(epoch.examplesPerSecond),
    epochCpuSeconds: Number(epoch.cpuSeconds.toFixed(2)),
    examplesPerCpuSecond: Math.round(trained.trainingExamples / epoch.cpuSeconds),
    onnxBytes: bytes.length,
    sessionCreateMs: Number(sessionMs.toFixed(1)),
    latencyMedianMs: Number(medianMs.toFixed(4)),
    latencyP99Ms: Number(p99Ms.toFixed(4)),
    loadAverageBefore: Number(loadBefore.toFixed(2)),
    loadAverageAfter: Number(loadavg()[0]!.toFixed(2)),
  };
}
