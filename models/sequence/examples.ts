import { mulberry32 } from '../../shared/random';
/**
 * Training examples for next-item prediction: every (prefix → next item) pair of every sequence.
 *
 * Network ids: item index i is id i + 1; id 0 is padding. A prefix keeps its last `maxLength` items
 * and is LEFT-padded with 0, so the most recent item is always the last position the RNN reads.
 */

export interface Examples {
  /** Row-major [count, maxLength] network ids (item + 1, 0 = padding). */
  inputs: Int32Array;
  /** [count] next-item indices in [0, nItems). */
  targets: Int32Array;
  count: number;
  maxLength: number;
}

/** Network ids of a history's last `maxLength` items, left-padded with 0 (written into `out`). */
export function leftPaddedWindow(history: ArrayLike<number>, maxLength: number, out = new Int32Array(maxLength)): Int32Array {
  const take = Math.min(history.length, maxLength);
  const pad = maxLength - take;
  out.fill(0, 0, pad);
  for (let k = 0; k < take; k++) out[pad + k] = history[history.length - take + k]! + 1;
  return out;
}

function checkItems(seq: Int32Array, nItems: number, s: number): void {
  for (let t = 0; t < seq.length; t++) {
    const v = seq[t]!;
    if (!(v >= 0 && v < nItems)) throw new Error(`sequence ${s}, position ${t}: item ${v} is not in [0, ${nItems})`);
  }
}

/**
 * All pairs (seq[max(0, t−L)..t) → seq[t]) for t ≥ 1, in sequence order. With `lastOnly`, only the final
 * pair of each sequence (t = length − 1), e.g. for a validation set.
 */
export function buildExamples(sequences: readonly Int32Array[], nItems: number, maxLength: number, lastOnly = false): Examples {
  let count = 0;
  sequences.forEach((seq, s) => {
    checkItems(seq, nItems, s);
    if (seq.length >= 2) count += lastOnly ? 1 : seq.length - 1;
  });
  const inputs = new Int32Array(count * maxLength);
  const targets = new Int32Array(count);
  let row = 0;
  for (const seq of sequences) {
    for (let t = lastOnly ? seq.length - 1 : 1; t < seq.length; t++) {
      if (t < 1) continue;
      leftPaddedWindow(seq.subarray(Math.max(0, t - maxLength), t), maxLength, inputs.subarray(row * maxLength, (row + 1) * maxLength));
      targets[row] = seq[t]!;
      row++;
    }
  }
  return { inputs, targets, count, maxLength };
}

/** Deterministic PRNG (shared/random.ts): shuffles and validation splits are reproducible from a seed. */
export { mulberry32 };

/** In-place Fisher–Yates shuffle. */
export function shuffleInPlace(a: Int32Array, random: () => number): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = a[i]!;
    a[i] = a[j]!;
    a[j] = tmp;
  }
  return a;
}

/**
 * Validation split for early stopping: a `fraction` of the sequences (chosen by `seed`) give their LAST
 * transition to validation and keep their earlier ones for training, so no validation target is ever a
 * training target of the same sequence.
 */
export function splitForValidation(sequences: readonly Int32Array[], fraction: number, seed: number): { train: Int32Array[]; validation: Int32Array[] } {
  const random = mulberry32(seed ^ 0x5eed);
  const train: Int32Array[] = [];
  const validation: Int32Array[] = [];
  for (const seq of sequences) {
    if (fraction > 0 && seq.length >= 3 && random() < fraction) {
      validation.push(seq);
      train.push(seq.subarray(0, seq.length - 1));
    } else {
      train.push(seq);
    }
  }
  return { train, validation };
}
