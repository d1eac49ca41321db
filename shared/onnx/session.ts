/**
 * onnxruntime-node session helpers: single-threaded sessions (Lambda-friendly), feeds
 * checked against the model's declared inputs, and a readable description of a session.
 */
import * as ort from 'onnxruntime-node';

export type SessionOptions = ort.InferenceSession.SessionOptions;
export type Feeds = Record<string, ort.Tensor>;

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};

/** Creates a CPU session from in-memory model bytes; `opts` override the defaults. */
export async function createSession(
  bytes: Uint8Array,
  opts?: SessionOptions,
): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { ...DEFAULT_SESSION_OPTIONS, ...opts });
}

export interface ValueDescription {
  name: string;
  /** Present when the ORT version exposes input/output metadata (1.20+). */
  isTensor?: boolean;
  type?: string;
  /** Numbers are fixed dims, strings are symbolic dims; [] if the model gives no shape. */
  shape?: (number | string)[];
}

export interface SessionDescription {
  inputs: ValueDescription[];
  outputs: ValueDescription[];
}

type MaybeMetadata = { inputMetadata?: unknown; outputMetadata?: unknown };

function describeValues(
  names: readonly string[],
  metadata: unknown,
): ValueDescription[] {
  const meta = Array.isArray(metadata) ? (metadata as ort.InferenceSession.ValueMetadata[]) : [];
  return names.map((name) => {
    const m = meta.find((x) => x?.name === name);
    if (!m) return { name };
    if (!m.isTensor) return { name, isTensor: false };
    return { name, isTensor: true, type: m.type, shape: [...m.shape] };
  });
}

/** Input/output names, and types/shapes when the ORT version exposes them. */
export function describeSession(session: ort.InferenceSession): SessionDescription {
  const s = session as ort.InferenceSession & MaybeMetadata;
  return {
    inputs: describeValues(session.inputNames, s.inputMetadata),
    outputs: describeValues(session.outputNames, s.outputMetadata),
  };
}

function fmtShape(shape: readonly (number | string)[] | undefined): string {
  return shape ? `[${shape.join(',')}]` : '[?]';
}

function fmtExpected(v: ValueDescription): string {
  return v.type ? `${v.name} (${v.type} ${fmtShape(v.shape)})` : v.name;
}

function fmtGiven(name: string, value: unknown): string {
  if (value instanceof ort.Tensor) return `${name} (${value.type} ${fmtShape(value.dims)})`;
  return `${name} (not an ort.Tensor: ${value === null ? 'null' : typeof value})`;
}

/** Human-readable description of feeds vs. what the session expects (for error messages). */
export function describeFeedMismatch(
  session: ort.InferenceSession,
  feeds: Record<string, unknown>,
): string {
  const desc = describeSession(session);
  const expected = desc.inputs.map(fmtExpected).join(', ');
  const given = Object.entries(feeds)
    .map(([k, v]) => fmtGiven(k, v))
    .join(', ');
  return `Expected inputs: ${expected || '(none)'}. Given: ${given || '(none)'}.`;
}

/**
 * Problems with `feeds` for this session: missing or unexpected names, values that are
 * not tensors, and — when input metadata is available — wrong element types, wrong rank,
 * or a fixed dimension of a different size. Returns [] when the feeds look valid.
 */
export function feedProblems(session: ort.InferenceSession, feeds: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const expected = new Set(session.inputNames);
  const missing = session.inputNames.filter((n) => !(n in feeds));
  const unexpected = Object.keys(feeds).filter((n) => !expected.has(n));
  if (missing.length) problems.push(`missing inputs: ${missing.join(', ')}`);
  if (unexpected.length) problems.push(`unexpected inputs: ${unexpected.join(', ')}`);
  const desc = describeSession(session);
  for (const inp of desc.inputs) {
    if (!(inp.name in feeds)) continue;
    const v = feeds[inp.name];
    if (!(v instanceof ort.Tensor)) {
      problems.push(`input '${inp.name}' is not an ort.Tensor`);
      continue;
    }
    if (inp.type && v.type !== inp.type) {
      problems.push(`input '${inp.name}' has type ${v.type}, expected ${inp.type}`);
    }
    if (inp.shape && inp.shape.length > 0) {
      if (v.dims.length !== inp.shape.length) {
        problems.push(
          `input '${inp.name}' has rank ${v.dims.length} ${fmtShape(v.dims)}, expected ${fmtShape(inp.shape)}`,
        );
      } else {
        inp.shape.forEach((d, i) => {
          if (typeof d === 'number' && v.dims[i] !== d) {
            problems.push(
              `input '${inp.name}' has dim ${i} = ${v.dims[i]}, expected ${d} (shape ${fmtShape(v.dims)} vs ${fmtShape(inp.shape)})`,
            );
          }
        });
      }
    }
  }
  return problems;
}

/**
 * Runs the session after checking the feeds against its declared inputs. On a mismatch,
 * or when ORT itself fails, throws an Error naming the expected inputs and the given
 * names/types/shapes (the ORT error is kept as `cause`).
 */
export async function runChecked(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  options?: ort.InferenceSession.RunOptions,
): Promise<ort.InferenceSession.ReturnType> {
  const problems = feedProblems(session, feeds);
  if (problems.length) {
    throw new Error(
      `Invalid feeds for ONNX session: ${problems.join('; ')}. ${describeFeedMismatch(session, feeds)}`,
    );
  }
  try {
    return await session.run(feeds, options);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`ONNX session run failed: ${msg}. ${describeFeedMismatch(session, feeds)}`, {
      cause: err,
    });
  }
}
