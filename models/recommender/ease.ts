/**
 * EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).
 *
 *   G = XᵀX + λI,  P = G⁻¹,  B_ij = −P_ij / P_jj,  B_ii = 0
 *
 * G is accumulated in JS from the sparse interactions (Σ over users of the outer product of
 * their item vectors); the inverse and B run as ONE onnxruntime graph using the
 * `com.microsoft` contrib op `Inverse` (CPU, float32).
 */
import * as ort from 'onnxruntime-node';
import { buildModel, int64Tensor, floatTensor, MS_DOMAIN, node, valueInfo } from '../../shared/onnx/graph';
import { createSession } from '../../shared/onnx/session';

/** Largest item count trainEase accepts: G, P and B are dense n×n float32 (6000² × 4 B = 144 MB each). */
export const EASE_MAX_ITEMS = 6000;

export interface EaseInput {
  /** User index of each interaction, in [0, nUsers). */
  rows: Int32Array | readonly number[];
  /** Item index of each interaction, in [0, nItems). */
  cols: Int32Array | readonly number[];
  /** Interaction weight (X[u,i]); duplicate (user, item) pairs are summed. */
  values: Float32Array | readonly number[];
  nUsers: number;
  nItems: number;
  /** L2 regularisation λ added to the diagonal of XᵀX; must be > 0 in practice (λ = 0 is often singular). */
  lambda: number;
  /** onnxruntime intra-op threads for the inverse (default 1). */
  intraOpNumThreads?: number;
}

function validate(input: EaseInput): void {
  const { rows, cols, values, nUsers, nItems, lambda } = input;
  if (!Number.isInteger(nItems) || nItems < 1) throw new Error(`trainEase: nItems must be a positive integer, got ${nItems}`);
  if (nItems > EASE_MAX_ITEMS) {
    throw new Error(
      `trainEase: nItems = ${nItems} exceeds the limit of ${EASE_MAX_ITEMS} items (dense n×n float32 matrices ` +
        `and an O(n³) inverse: memory and time). Restrict the catalogue (e.g. top items by popularity) first.`,
    );
  }
  if (!Number.isInteger(nUsers) || nUsers < 0) throw new Error(`trainEase: nUsers must be a non-negative integer, got ${nUsers}`);
  if (!Number.isFinite(lambda) || lambda < 0) throw new Error(`trainEase: lambda must be finite and >= 0, got ${lambda}`);
  if (rows.length !== cols.length || rows.length !== values.length) {
    throw new Error(
      `trainEase: rows, cols and values must have the same length (got ${rows.length}, ${cols.length}, ${values.length})`,
    );
  }
}

/**
 * Dense Gram matrix G = XᵀX (n×n float32, row-major, symmetric) from COO interactions,
 * without λ. Cost Σ_u m_u² / 2 for m_u distinct items of user u.
 */
export function gramMatrix(input: Omit<EaseInput, 'lambda'>): Float32Array {
  const { rows, cols, values, nUsers, nItems: n } = input;
  const nnz = rows.length;
  // CSR by user.
  const offsets = new Int32Array(nUsers + 1);
  for (let k = 0; k < nnz; k++) {
    const u = rows[k] as number;
    if (!(u >= 0 && u < nUsers && Number.isInteger(u))) throw new Error(`trainEase: rows[${k}] = ${u} is not in [0, ${nUsers})`);
    const i = cols[k] as number;
    if (!(i >= 0 && i < n && Number.isInteger(i))) throw new Error(`trainEase: cols[${k}] = ${i} is not in [0, ${n})`);
    const v = values[k] as number;
    if (!Number.isFinite(v)) throw new Error(`trainEase: values[${k}] = ${v} is not finite`);
    offsets[u + 1]! += 1;
  }
  for (let u = 0; u < nUsers; u++) offsets[u + 1]! += offsets[u]!;
  const items = new Int32Array(nnz);
  const vals = new Float64Array(nnz);
  const fill = offsets.slice(0, nUsers);
  for (let k = 0; k < nnz; k++) {
    const u = rows[k] as number;
    const p = fill[u]!++;
    items[p] = cols[k] as number;
    vals[p] = values[k] as number;
  }

  const G = new Float32Array(n * n);
  // Per-user coalescing of duplicate items: pos[item] = slot in the user's compact list,
  // valid only when stamp[item] === u + 1.
  const stamp = new Int32Array(n);
  const pos = new Int32Array(n);
  const uItems = new Int32Array(n);
  const uVals = new Float64Array(n);
  for (let u = 0; u < nUsers; u++) {
    let m = 0;
    for (let p = offsets[u]!; p < offsets[u + 1]!; p++) {
      const i = items[p]!;
      if (stamp[i] === u + 1) {
        uVals[pos[i]!]! += vals[p]!;
      } else {
        stamp[i] = u + 1;
        pos[i] = m;
        uItems[m] = i;
        uVals[m] = vals[p]!;
        m++;
      }
    }
    // Accumulate the pairs a <= b once; entries land in either triangle, fixed below.
    for (let a = 0; a < m; a++) {
      const va = uVals[a]!;
      if (va === 0) continue;
      const row = uItems[a]! * n;
      for (let b = a; b < m; b++) {
        G[row + uItems[b]!]! += va * uVals[b]!;
      }
    }
  }
  // Symmetrise: each off-diagonal pair was added to exactly one of (i,j) / (j,i).
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = G[i * n + j]! + G[j * n + i]!;
      G[i * n + j] = s;
      G[j * n + i] = s;
    }
  }
  return G;
}

/**
 * ONNX graph: G [n,n] → Inverse → P; d = diag(P) via Gather on the flattened P;
 * B = −P / d (column-wise); diagonal set to +0 with Where(Cast(EyeLike)).
 */
export function buildEaseSolverOnnx(n: number): Uint8Array {
  const diagIdx = new Array<number>(n);
  for (let i = 0; i < n; i++) diagIdx[i] = i * (n + 1);
  return buildModel({
    inputs: [valueInfo('G', 'float32', [n, n])],
    outputs: [valueInfo('B', 'float32', [n, n])],
    initializers: [
      int64Tensor('flat_shape', [1], [-1]),
      int64Tensor('diag_idx', [n], diagIdx),
      floatTensor('zero', [], new Float32Array([0])),
    ],
    nodes: [
      node('Inverse', ['G'], ['P'], undefined, MS_DOMAIN),
      node('Reshape', ['P', 'flat_shape'], ['P_flat']),
      node('Gather', ['P_flat', 'diag_idx'], ['P_diag'], { axis: 0 }),
      node('Div', ['P', 'P_diag'], ['P_over_diag']), // [n,n] / [n]: column j divided by P_jj
      node('Neg', ['P_over_diag'], ['B_full']),
      // ORT's CPU EyeLike has no bool output kernel: make a float identity and cast it.
      node('EyeLike', ['P'], ['eye_f']),
      node('Cast', ['eye_f'], ['eye'], { to: 9 /* bool */ }),
      node('Where', ['eye', 'zero', 'B_full'], ['B']), // +0 on the diagonal (not −0)
    ],
    producer: 'ease-solver',
  });
}

/**
 * Trains EASE and returns B (n×n float32, row-major): B[i*n+j] is the weight of history
 * item i for candidate j; the diagonal is exactly 0.
 */
export async function trainEase(input: EaseInput): Promise<Float32Array> {
  validate(input);
  const n = input.nItems;
  const G = gramMatrix(input);
  for (let i = 0; i < n; i++) G[i * n + i]! += input.lambda;

  const session = await createSession(buildEaseSolverOnnx(n), {
    intraOpNumThreads: input.intraOpNumThreads ?? 1,
  });
  try {
    const out = await session.run({ G: new ort.Tensor('float32', G, [n, n]) });
    const B = out.B;
    if (!B || !(B.data instanceof Float32Array) || B.data.length !== n * n) {
      throw new Error('trainEase: the solver graph returned no [n,n] float32 output B');
    }
    const data = B.data;
    for (let k = 0; k < data.length; k++) {
      if (!Number.isFinite(data[k]!)) {
        throw new Error(
          `trainEase: B has non-finite values (XᵀX + λI is singular or ill-conditioned in float32; lambda = ${input.lambda}). Increase lambda.`,
        );
      }
    }
    return data;
  } finally {
    await session.release();
  }
}
