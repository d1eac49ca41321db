/**
 * Session-kNN family (Ludewig & Jannach, "Evaluation of session-based recommendation algorithms", 2018;
 * Ludewig, Mauro, Latifi, Jannach, UMUAI 2021), following session-rec's ContextKNN / VMContextKNN:
 *
 *   candidates  every training session containing an item of the current session; when there are more
 *               than `sampleSize`, the most recent ones (by their last click)
 *   neighbours  the k candidates most similar to the current session (similarity > 0)
 *   score(j)    Σ over neighbours containing j of sim(current, neighbour) · decay
 *
 * SKNN:   sim = cosine of the binary item sets |a ∩ b| / √(|a|·|b|), decay = 1. (session-rec's `cosine`
 *         computes li / sqrt(la) * sqrt(lb) — an operator-precedence slip; the textbook cosine is used here.)
 * V-SKNN: current-session items weighted by position ('div': p/L for p = 1..L, the last occurrence of an item
 *         counts), sim = Σ_{i∈a∩b} w_i / |a|; the neighbour's items are damped by 1/step, step = distance from the
 *         end of the current session to its most recent item that the neighbour contains.
 *
 * Nothing is excluded: re-clicks are legal in sessions. Sessions without timestamps are taken as ordered by
 * time (later index = more recent). Not exportable to the recommender ONNX contract (neighbour search).
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { seconds } from '../recommender/train-data';

export interface SknnOptions {
  variant: 'sknn' | 'vsknn';
  k: number;
  sampleSize: number;
  name?: string;
}

interface SessionIndex {
  /** Distinct items of each session (sessions renumbered by recency: higher id = more recent last click). */
  sessionItems: Int32Array[];
  itemOffsets: Int32Array;
  itemSessions: Int32Array;
}

function buildIndex(data: TrainData): SessionIndex {
  const n = data.nItems;
  const order = data.sequences
    .map((seq, s) => ({ s, t: data.timestamps?.[s]?.[seq.length - 1] ?? s }))
    .sort((a, b) => a.t - b.t || a.s - b.s)
    .map((x) => x.s);
  const sessionItems = order.map((s) => Int32Array.from(new Set(data.sequences[s]!)));
  const degree = new Int32Array(n);
  for (const items of sessionItems) for (const i of items) degree[i]! += 1;
  const itemOffsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) itemOffsets[i + 1] = itemOffsets[i]! + degree[i]!;
  const itemSessions = new Int32Array(itemOffsets[n]!);
  const fill = itemOffsets.slice(0, n);
  // Sessions are visited in recency order, so each item's session list is sorted oldest → newest.
  sessionItems.forEach((items, s) => {
    for (const i of items) itemSessions[fill[i]!++] = s;
  });
  return { sessionItems, itemOffsets, itemSessions };
}

interface Current {
  /** Position weight of each distinct item (last occurrence wins). */
  weight: Map<number, number>;
  /** Last position of each distinct item. */
  lastPos: Map<number, number>;
  length: number;
}

function currentSession(history: Int32Array, variant: SknnOptions['variant']): Current {
  const weight = new Map<number, number>();
  const lastPos = new Map<number, number>();
  const L = history.length;
  history.forEach((item, p) => {
    weight.set(item, variant === 'vsknn' ? (p + 1) / L : 1);
    lastPos.set(item, p);
  });
  return { weight, lastPos, length: L };
}

/** Union of the sessions of the current items; the `sampleSize` most recent when there are more. */
function candidateSessions(index: SessionIndex, current: Current, sampleSize: number, stamp: Int32Array, call: number): number[] {
  const candidates: number[] = [];
  for (const item of current.weight.keys()) {
    if (item < 0 || item + 1 >= index.itemOffsets.length) continue;
    for (let p = index.itemOffsets[item]!; p < index.itemOffsets[item + 1]!; p++) {
      const s = index.itemSessions[p]!;
      if (stamp[s] !== call) {
        stamp[s] = call;
        candidates.push(s);
      }
    }
  }
  if (candidates.length > sampleSize) {
    candidates.sort((a, b) => b - a); // higher id = more recent
    candidates.length = sampleSize;
  }
  return candidates;
}

/** The k most similar candidate sessions (similarity > 0); ties: the more recent session first. */
function nearest(index: SessionIndex, current: Current, candidates: readonly number[], options: SknnOptions): { s: number; sim: number }[] {
  const distinct = current.weight.size;
  const neighbours: { s: number; sim: number }[] = [];
  for (const s of candidates) {
    const items = index.sessionItems[s]!;
    let overlap = 0;
    for (const i of items) overlap += current.weight.get(i) ?? 0;
    const sim = options.variant === 'vsknn' ? overlap / distinct : overlap / Math.sqrt(distinct * items.length);
    if (sim > 0) neighbours.push({ s, sim });
  }
  neighbours.sort((a, b) => b.sim - a.sim || b.s - a.s);
  if (neighbours.length > options.k) neighbours.length = options.k;
  return neighbours;
}

export function sknnCandidate(options: SknnOptions): Candidate {
  const name = options.name ?? options.variant;
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const started = performance.now();
      const index = buildIndex(data);
      const stamp = new Int32Array(index.sessionItems.length);
      let call = 0;
      const score = (history: Int32Array): Float32Array => {
        const out = new Float32Array(data.nItems);
        if (history.length === 0) return out;
        call++;
        const current = currentSession(history, options.variant);
        const candidates = candidateSessions(index, current, options.sampleSize, stamp, call);
        for (const { s, sim } of nearest(index, current, candidates, options)) {
          const items = index.sessionItems[s]!;
          let decay = 1;
          if (options.variant === 'vsknn') {
            // 1/step, step 1 = the last item of the current session, for the neighbour's most recent shared item.
            let newest = -1;
            for (const i of items) newest = Math.max(newest, current.lastPos.get(i) ?? -1);
            decay = 1 / (current.length - newest);
          }
          for (const i of items) out[i]! += sim * decay;
        }
        return out;
      };
      return {
        name,
        trainingSeconds: seconds(started),
        params: {
          variant: options.variant,
          k: options.k,
          sampleSize: options.sampleSize,
          similarity: options.variant === 'vsknn' ? 'div-weighted dot' : 'cosine',
        },
        score,
      };
    },
  };
}
