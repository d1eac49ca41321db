/**
 * The stack's seeded random numbers (no global randomness, no clock): one module, so every seeded
 * stream in the code and the tests is the same algorithm and reproducible from its seed.
 * - `mulberry32(seed)`: a uniform [0, 1) stream from a 32-bit seed; the models (shuffles, validation
 *   splits, golden inputs), serving (new-item exploration) and the tests' synthetic data draw from it.
 * - `createRng(seed)`: the simulator's richer source (sfc32 seeded via cyrb128, any string or number
 *   as seed, independent forks per label). Both are hand-written and dependency-free.
 */

/** mulberry32: uniform in [0, 1), a 32-bit state; the same seed gives the same stream everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic random source: no global randomness, no clock. */
export interface Rng {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Uniform element of a non-empty array. */
  pick<T>(arr: readonly T[]): T;
  /** Index drawn with probability proportional to its (non-negative) weight. */
  weightedIndex(weights: readonly number[]): number;
  /** Gaussian draw (Box–Muller). */
  normal(mean?: number, sd?: number): number;
  /** Poisson draw (Knuth below λ = 30, rounded normal approximation above). */
  poisson(lambda: number): number;
  /** Shuffled copy (Fisher–Yates); the input is left untouched. */
  shuffle<T>(arr: readonly T[]): T[];
  /** `length` lowercase hex digits. */
  hex(length: number): string;
  /** RFC 4122 version-4-shaped id drawn from this stream. */
  uuid(): string;
  /** Independent stream derived from this seed and a label (stable whatever was drawn before). */
  fork(label: string): Rng;
}

/** cyrb128: mixes a string into four 32-bit words, the sfc32 state. */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** sfc32 (Small Fast Counting): returns a generator of uint32 values. */
export function sfc32(seedWords: readonly [number, number, number, number]): () => number {
  const s = Int32Array.from(seedWords); // typed state: no boxed heap numbers per draw
  return () => {
    const a = s[0] as number;
    const b = s[1] as number;
    const c = s[2] as number;
    const d = s[3] as number;
    const t = (((a + b) | 0) + d) | 0;
    s[3] = d + 1;
    s[0] = b ^ (b >>> 9);
    s[1] = c + (c << 3);
    s[2] = ((c << 21) | (c >>> 11)) + t;
    return t >>> 0;
  };
}

const TWO_POW_32 = 4294967296;

export function createRng(seed: number | string): Rng {
  const key = String(seed);
  const next = sfc32(cyrb128(key));
  for (let i = 0; i < 15; i++) next(); // warm-up: decorrelate nearby seeds

  const float = (): number => next() / TWO_POW_32;
  const hex = (length: number): string => {
    const parts: string[] = [];
    for (let n = 0; n < length; n += 8) parts.push(next().toString(16).padStart(8, '0'));
    return parts.join('').slice(0, length);
  };
  const normal = (mean = 0, sd = 1): number => {
    const u1 = 1 - float(); // (0, 1]: log-safe
    const u2 = float();
    return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };

  return {
    float,
    int: (lo, hi) => lo + Math.floor(float() * (hi - lo + 1)),
    chance: (p) => float() < p,
    pick<T>(arr: readonly T[]): T {
      if (arr.length === 0) throw new Error('pick: empty array');
      return arr[Math.floor(float() * arr.length)] as T;
    },
    weightedIndex(weights) {
      let total = 0;
      for (const w of weights) total += Math.max(w, 0);
      if (!(total > 0)) throw new Error('weightedIndex: weights must have a positive sum');
      let r = float() * total;
      let last = 0;
      for (let i = 0; i < weights.length; i++) {
        const w = weights[i] as number;
        if (!(w > 0)) continue;
        last = i;
        r -= w;
        if (r < 0) return i;
      }
      return last; // floating-point slack
    },
    normal,
    poisson(lambda) {
      if (!(lambda > 0)) return 0;
      if (lambda >= 30) return Math.max(0, Math.round(normal(lambda, Math.sqrt(lambda))));
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = float();
      while (p > limit) {
        k++;
        p *= float();
      }
      return k;
    },
    shuffle<T>(arr: readonly T[]): T[] {
      const out = [...arr];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(float() * (i + 1));
        const tmp = out[i] as T;
        out[i] = out[j] as T;
        out[j] = tmp;
      }
      return out;
    },
    hex,
    uuid() {
      const h = hex(32);
      const variant = ((Number.parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
    fork: (label) => createRng(`${key}/${label}`),
  };
}
