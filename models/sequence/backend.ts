/**
 * tfjs backend for training in Node and on Lambda: the WebAssembly backend (offline, single-threaded
 * in Node, ~100× faster than the pure-JS cpu backend for the sequence model), with the cpu backend as
 * a logged fallback.
 *
 * Where the .wasm binaries are read from (first that is set):
 *   1. `initTfjsBackend({ wasmDir })`
 *   2. env `TFJS_WASM_DIR` — set it on Lambda, where a bundler (esbuild) inlines the JS but not the
 *      binaries: copy `tfjs-backend-wasm.wasm` and `tfjs-backend-wasm-simd.wasm` (the one Node loads: it
 *      has SIMD but no wasm threads) from `node_modules/@tensorflow/tfjs-backend-wasm/dist/` into the
 *      bundle (e.g. `package.patterns` or a layer), 0.74 MB together, and point the variable at that
 *      folder (e.g. `/var/task/wasm`).
 *   3. the `dist/` folder of the installed `@tensorflow/tfjs-backend-wasm` package (local runs, tests).
 * The files are read from disk (no fetch), so this works offline.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { logger } from '../../shared/observability/powertools';

export const WASM_DIR_ENV = 'TFJS_WASM_DIR';
/** The binaries the backend may load in Node (plain, SIMD); the threaded build needs workers Node lacks here. */
export const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'] as const;

export type TfjsBackendName = 'wasm' | 'cpu';

export interface BackendOptions {
  /** Folder holding the tfjs-backend-wasm .wasm files; overrides env TFJS_WASM_DIR. */
  wasmDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Receives the fallback warning (default: the Powertools logger). */
  warn?: (message: string, details: Record<string, unknown>) => void;
}

/**
 * The folder the wasm backend will read its binaries from: the first of (options.wasmDir, env
 * TFJS_WASM_DIR, the installed package's dist/) that holds both binaries — so a deployment path set in the
 * function's environment (e.g. /var/task/… from serverless.yml, also passed to functions run on the local
 * stack) does not push a local run onto the 100× slower cpu backend. When none holds them, the first
 * candidate is returned and the caller reports what is missing.
 */
export function resolveWasmDir(options: Pick<BackendOptions, 'wasmDir' | 'env'> = {}): string {
  const candidates: string[] = [];
  if (options.wasmDir) candidates.push(options.wasmDir);
  const fromEnv = (options.env ?? process.env)[WASM_DIR_ENV];
  if (fromEnv) candidates.push(fromEnv);
  let cause: unknown;
  try {
    // package.json "main" is dist/tf-backend-wasm.node.js: the binaries sit next to it.
    candidates.push(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm')));
  } catch (err) {
    cause = err;
  }
  const found = candidates.find((dir) => WASM_BINARIES.every((file) => existsSync(join(dir, file))));
  if (found) return found;
  if (candidates[0]) return candidates[0];
  throw new Error(`Cannot locate @tensorflow/tfjs-backend-wasm's .wasm files (bundled code?): set ${WASM_DIR_ENV} to the folder holding ${WASM_BINARIES.join(' and ')}`, {
    cause,
  });
}

type KernelArgs = Parameters<tf.KernelFunc>[0];
/** The part of tfjs-backend-wasm's BackendWasm that JS kernels use (its class is not exported). */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}

/**
 * UnsortedSegmentSum for the wasm backend: out[s, …] = Σ_{i: ids[i] = s} x[i, …]; ids outside
 * [0, numSegments) are dropped (TensorFlow semantics). It is the gradient of Gather (Embedding).
 */
function unsortedSegmentSumWasm({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const segmentIds = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const b = backend as unknown as WasmBackendLike;
  const nIds = tf.util.sizeFromShape(segmentIds.shape);
  const inner = nIds === 0 ? 0 : tf.util.sizeFromShape(x.shape) / nIds;
  const out = b.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Views are taken after makeOutput: allocating can grow (and detach) the wasm heap.
  const outVals = b.typedArrayFromHeap(out);
  const xVals = b.typedArrayFromHeap(x);
  const ids = b.typedArrayFromHeap(segmentIds);
  outVals.fill(0);
  for (let i = 0; i < nIds; i++) {
    const s = ids[i]!;
    if (!(s >= 0 && s < numSegments)) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) outVals[dst + j]! += xVals[src + j]!;
  }
  return out;
}

/** Registers UnsortedSegmentSum for 'wasm' once (idempotent). */
export function registerWasmSegmentSum(): void {
  // Hand-written in JS because tfjs-backend-wasm 4.22 ships no UnsortedSegmentSum kernel (Embedding training fails without it).
  if (tf.getKernel(tf.UnsortedSegmentSum, 'wasm')) return;
  tf.registerKernel({ kernelName: tf.UnsortedSegmentSum, backendName: 'wasm', kernelFunc: unsortedSegmentSumWasm });
}

type MatMulAttrs = { transposeA: boolean; transposeB: boolean };

/**
 * Wraps a wasm (Batch|_Fused)MatMul kernel so it never runs with transpose flags: the operands are
 * transposed by the Transpose kernel first. tfjs-backend-wasm 4.22 multiplies transposed operands ~13×
 * slower (2 GFLOP/s vs 27 for [256,5000]ᵀ·[256,64]), and every MatMul gradient asks for transposes.
 */
function withoutTransposeFlags(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
    if (!transposeA && !transposeB) return original(args);
    const transpose = tf.getKernel(tf.Transpose, 'wasm')?.kernelFunc;
    if (!transpose) return original(args);
    const temps: tf.TensorInfo[] = [];
    const swapLast = (x: tf.TensorInfo): tf.TensorInfo => {
      const perm = x.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
      const out = transpose({ inputs: { x }, backend: args.backend, attrs: { perm } }) as tf.TensorInfo;
      temps.push(out);
      return out;
    };
    const a = args.inputs.a as tf.TensorInfo;
    const b = args.inputs.b as tf.TensorInfo;
    const inputs = { ...args.inputs, a: transposeA ? swapLast(a) : a, b: transposeB ? swapLast(b) : b };
    try {
      return original({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    } finally {
      const backend = args.backend as { disposeData(dataId: tf.DataId): void };
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

/** Marks wrapped kernels: tfjs's kernel registry is process-global and outlives re-imports of this module. */
const WRAPPED = Symbol.for('omnichannel.sequence.matMulWithoutTransposeFlags');

/** Replaces the wasm BatchMatMul and _FusedMatMul kernels by {@link withoutTransposeFlags} wrappers (once). */
export function registerWasmMatMulWithoutTransposes(): void {
  for (const name of [tf.BatchMatMul, tf._FusedMatMul]) {
    const config = tf.getKernel(name, 'wasm');
    if (!config || WRAPPED in config.kernelFunc) continue;
    const kernelFunc = Object.assign(withoutTransposeFlags(config.kernelFunc), { [WRAPPED]: true });
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...config, kernelFunc });
  }
}

let ready: Promise<TfjsBackendName> | undefined;

async function selectBackend(options: BackendOptions): Promise<TfjsBackendName> {
  const warn = options.warn ?? ((message, details) => logger.warn(message, details));
  let wasmDir = '(unresolved)';
  try {
    wasmDir = resolveWasmDir(options);
    const missing = WASM_BINARIES.filter((file) => !existsSync(join(wasmDir, file)));
    if (missing.length > 0) throw new Error(`${missing.join(', ')} not found in ${wasmDir}`);
    registerWasmSegmentSum();
    registerWasmMatMulWithoutTransposes(); // before the backend starts, so the kernels' setup still runs
    setWasmPaths(wasmDir.endsWith('/') ? wasmDir : `${wasmDir}/`);
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return 'wasm';
    }
    throw new Error('tf.setBackend("wasm") returned false');
  } catch (err) {
    warn('tfjs wasm backend unavailable: falling back to the cpu backend (about 100x slower to train)', {
      wasmDir,
      error: err instanceof Error ? err.message : String(err),
    });
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs: neither the wasm nor the cpu backend could be initialised');
  await tf.ready();
  return 'cpu';
}

/**
 * Initialises tfjs once per process and returns the backend in use. Later calls return the first
 * call's result (tfjs backends are process-global; `setWasmPaths` only works before the first init).
 */
export function initTfjsBackend(options: BackendOptions = {}): Promise<TfjsBackendName> {
  ready ??= selectBackend(options).catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}
