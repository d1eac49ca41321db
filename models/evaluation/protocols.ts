/**
 * Split protocols: what each stage trains on and which cases it predicts.
 *
 * Every split has two stages built the same way:
 *   validation  train on data strictly before the validation targets; predict the validation targets.
 *               Used ONLY to choose hyperparameters and blend weights.
 *   test        train on everything before the test targets (the validation targets included: they are
 *               past data at test time); predict the test targets once, with the chosen settings.
 * No test target (nor anything after it) is ever in a stage's training data, in the validation cases, or
 * in a case's history.
 */
import { INTERACTION_WEIGHT } from '../../shared/events/canonical';
import type { Interaction } from '../../shared/snapshots/snapshot';
import { buildTestCases } from '../recommender/evaluate';
import type { TrainData } from './candidate';
import type { RawSession, SequenceData, SessionData } from './datasets';
import { mulberry32 } from '../../shared/random';

export interface EvalCase {
  /** Group of the case (user or session id): --max-users samples groups, not cases. */
  group: string;
  /** Time-ordered item indices known before the target. */
  history: Int32Array;
  /** Item index of the target, or -1 when the target is not in the item index (always a miss). */
  target: number;
}

export interface Stage {
  train: TrainData;
  cases: EvalCase[];
}

export interface EvalSplit {
  dataset: string;
  protocol: string;
  itemIds: readonly string[];
  nItems: number;
  /** Items in the case's history are removed from the ranking (not for sessions: repeat clicks are legal). */
  excludeSeen: boolean;
  /** Metric maximised on the validation stage. */
  selectionMetric: string;
  validation: Stage;
  test: Stage;
  notes: string[];
}

function indexOf(ids: readonly string[]): Map<string, number> {
  return new Map(ids.map((id, i) => [id, i]));
}

// ---------------------------------------------------------------------------------------------------
// Leave-one-out on user sequences (S3-Rec / ICLRec protocol for Amazon Beauty)
// ---------------------------------------------------------------------------------------------------

/**
 * Last item of each user = test target, second-last = validation target. Validation trains on every
 * sequence without its last two items and predicts item n−2 from items [0, n−2); test trains on every
 * sequence without its last item and predicts item n−1 from items [0, n−1). All items of the file form
 * the catalogue ranked against (no sampled negatives); history items are excluded from the ranking.
 */
export function leaveOneOutSplit(data: SequenceData, dataset = 'amazon-sequences'): EvalSplit {
  const itemIds: string[] = [];
  const index = new Map<string, number>();
  const indexOfItem = (id: string): number => {
    let i = index.get(id);
    if (i === undefined) {
      i = itemIds.push(id) - 1;
      index.set(id, i);
    }
    return i;
  };
  const encoded = data.sequences.map((seq) => Int32Array.from(seq, indexOfItem));
  const testTrain: Int32Array[] = [];
  const validationTrain: Int32Array[] = [];
  const testCases: EvalCase[] = [];
  const validationCases: EvalCase[] = [];
  encoded.forEach((seq, u) => {
    const group = data.users[u] ?? String(u);
    const n = seq.length;
    if (n >= 2) {
      testTrain.push(seq.slice(0, n - 1));
      testCases.push({ group, history: seq.slice(0, n - 1), target: seq[n - 1]! });
    } else if (n === 1) {
      testTrain.push(seq.slice());
    }
    if (n >= 3) {
      validationTrain.push(seq.slice(0, n - 2));
      validationCases.push({ group, history: seq.slice(0, n - 2), target: seq[n - 2]! });
    } else if (n === 2) {
      validationTrain.push(seq.slice(0, 1));
    }
  });
  return {
    dataset,
    protocol: 'leave-one-out (last = test, second-last = validation), all items ranked, history excluded',
    itemIds,
    nItems: itemIds.length,
    excludeSeen: true,
    selectionMetric: 'NDCG@10',
    validation: { train: { nItems: itemIds.length, sequences: validationTrain }, cases: validationCases },
    test: { train: { nItems: itemIds.length, sequences: testTrain }, cases: testCases },
    notes: [],
  };
}

// ---------------------------------------------------------------------------------------------------
// Session-based next item (session-rec conventions)
// ---------------------------------------------------------------------------------------------------

export interface SessionSplitOptions {
  /** Sessions ending in the last this many days of the training file are the validation sessions (default 1). */
  validationDays?: number;
}

function sessionsToTrain(sessions: readonly RawSession[], index: ReadonlyMap<string, number>, nItems: number): TrainData {
  const sequences: Int32Array[] = [];
  const timestamps: Float64Array[] = [];
  for (const s of sessions) {
    const items: number[] = [];
    const times: number[] = [];
    s.items.forEach((id, k) => {
      const i = index.get(id);
      if (i === undefined) return;
      items.push(i);
      times.push(s.times[k]! * 1000);
    });
    if (items.length === 0) continue;
    sequences.push(Int32Array.from(items));
    timestamps.push(Float64Array.from(times));
  }
  return { nItems, sequences, timestamps };
}

/**
 * Every position of each evaluation session: predict item t+1 from the prefix [0, t]. Items unknown to
 * the stage's training data are dropped from the session first and sessions left shorter than 2 are
 * dropped (session-rec's filtering of test data).
 */
function sessionCases(sessions: readonly RawSession[], known: (id: string) => number | undefined): EvalCase[] {
  const cases: EvalCase[] = [];
  for (const s of sessions) {
    const items: number[] = [];
    for (const id of s.items) {
      const i = known(id);
      if (i !== undefined) items.push(i);
    }
    if (items.length < 2) continue;
    const all = Int32Array.from(items);
    for (let t = 0; t + 1 < all.length; t++) cases.push({ group: s.id, history: all.slice(0, t + 1), target: all[t + 1]! });
  }
  return cases;
}

/**
 * Test: train on the whole training file, score every position of every test session (repeat items are
 * legal: nothing is excluded from the ranking). Validation: the training sessions that end in its last
 * `validationDays` days are held out and scored the same way by models trained on the earlier sessions.
 */
export function sessionSplit(data: SessionData, options: SessionSplitOptions = {}, dataset = 'sessions'): EvalSplit {
  const validationDays = options.validationDays ?? 1;
  const itemIds: string[] = [];
  const index = new Map<string, number>();
  for (const s of data.train) for (const id of s.items) if (!index.has(id)) index.set(id, itemIds.push(id) - 1);
  const nItems = itemIds.length;

  const end = (s: RawSession) => s.times[s.times.length - 1] ?? 0;
  const maxTime = data.train.reduce((m, s) => Math.max(m, end(s)), Number.NEGATIVE_INFINITY);
  const validationStart = maxTime - validationDays * 86_400;
  const earlier = data.train.filter((s) => end(s) < validationStart);
  const later = data.train.filter((s) => end(s) >= validationStart);
  const validationTrain = sessionsToTrain(earlier, index, nItems);
  const knownBefore = new Set<number>();
  for (const seq of validationTrain.sequences) for (const i of seq) knownBefore.add(i);
  const knownInValidation = (id: string) => {
    const i = index.get(id);
    return i !== undefined && knownBefore.has(i) ? i : undefined;
  };
  return {
    dataset,
    protocol: `session-based next item, every position, no exclusion; validation = last ${validationDays} day(s) of train`,
    itemIds,
    nItems,
    excludeSeen: false,
    selectionMetric: 'MRR@20',
    validation: { train: validationTrain, cases: sessionCases(later, knownInValidation) },
    test: { train: sessionsToTrain(data.train, index, nItems), cases: sessionCases(data.test, (id) => index.get(id)) },
    notes: [
      `${data.train.length} train sessions, ${data.test.length} test sessions; test items unknown to train dropped`,
      `validation: ${earlier.length} train / ${later.length} held-out sessions`,
    ],
  };
}

// ---------------------------------------------------------------------------------------------------
// Time-based holdout on an interaction log (taobao, the project's events)
// ---------------------------------------------------------------------------------------------------

export interface TimeSplitOptions {
  /** Start of the test window (epoch ms): training sees only interactions before it. */
  holdoutStartMs: number;
  /** Start of the validation window (epoch ms), before holdoutStartMs. */
  validationStartMs: number;
  /**
   * The item index of both stages (default: every item seen before the test window, sorted). The retraining
   * pipeline pins it to the items its served model keeps (most popular first, capped).
   */
  itemIds?: readonly string[];
}

/** Start (epoch ms) of the `days`-th last calendar day of the log, days counted in the given UTC offset. */
export function lastDaysStart(interactions: readonly Interaction[], days: number, utcOffsetHours = 0): number {
  const offset = utcOffsetHours * 3_600_000;
  const newest = interactions.reduce((m, x) => Math.max(m, x.ts), Number.NEGATIVE_INFINITY);
  const dayStart = Math.floor((newest + offset) / 86_400_000) * 86_400_000 - offset;
  return dayStart - (days - 1) * 86_400_000;
}

/** Time-ordered sequences per user (users sorted) of the interactions whose item is in the index; weights = interaction strengths. */
export function interactionsToTrain(interactions: readonly Interaction[], index: ReadonlyMap<string, number>, nItems: number): TrainData {
  const byUser = new Map<string, Interaction[]>();
  for (const x of interactions) (byUser.get(x.p) ?? byUser.set(x.p, []).get(x.p))?.push(x);
  const sequences: Int32Array[] = [];
  const weights: Float32Array[] = [];
  const timestamps: Float64Array[] = [];
  for (const user of [...byUser.keys()].sort()) {
    const own = byUser
      .get(user)!
      .filter((x) => index.has(x.i))
      .sort((a, b) => a.ts - b.ts);
    if (own.length === 0) continue;
    sequences.push(Int32Array.from(own, (x) => index.get(x.i)!));
    weights.push(Float32Array.from(own, (x) => INTERACTION_WEIGHT[x.t] ?? 1));
    timestamps.push(Float64Array.from(own, (x) => x.ts));
  }
  return { nItems, sequences, weights, timestamps };
}

function holdoutCases(interactions: readonly Interaction[], cutoffMs: number, index: ReadonlyMap<string, number>): EvalCase[] {
  return buildTestCases(interactions, cutoffMs).map((c) => ({
    group: c.profileId,
    history: Int32Array.from(c.history.flatMap((h) => (index.has(h.itemId) ? [index.get(h.itemId)!] : []))),
    target: index.get(c.target) ?? -1,
  }));
}

/**
 * buildTestCases semantics (models/recommender/evaluate): each user with history before the cutoff is
 * tested on the first item after the cutoff that they had not interacted with before; the history is
 * everything before the cutoff; history items are excluded from the ranking. The item index holds the
 * items of the stage's training data: a target outside it is a miss. Validation applies the same rule
 * to the data before the test window, with its own earlier cutoff.
 */
export function timeSplit(interactions: readonly Interaction[], options: TimeSplitOptions, dataset = 'events'): EvalSplit {
  const { holdoutStartMs, validationStartMs } = options;
  if (!(validationStartMs < holdoutStartMs)) throw new Error('timeSplit: the validation window must start before the test window');
  const beforeTest = interactions.filter((x) => x.ts < holdoutStartMs);
  const beforeValidation = beforeTest.filter((x) => x.ts < validationStartMs);
  const itemIds = options.itemIds ? [...options.itemIds] : [...new Set(beforeTest.map((x) => x.i))].sort();
  const index = indexOf(itemIds);
  const nItems = itemIds.length;
  const validationIndex = new Set(beforeValidation.map((x) => x.i));
  const validationCases = holdoutCases(beforeTest, validationStartMs, index).map((c) => ({
    ...c,
    target: c.target >= 0 && validationIndex.has(itemIds[c.target]!) ? c.target : -1,
  }));
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    dataset,
    protocol: `time holdout: test from ${iso(holdoutStartMs)}, validation from ${iso(validationStartMs)}; next new item per user`,
    itemIds,
    nItems,
    excludeSeen: true,
    selectionMetric: 'NDCG@10',
    validation: { train: interactionsToTrain(beforeValidation, index, nItems), cases: validationCases },
    test: { train: interactionsToTrain(beforeTest, index, nItems), cases: holdoutCases(interactions, holdoutStartMs, index) },
    notes: [`${interactions.length} interactions, ${new Set(interactions.map((x) => x.p)).size} users, ${nItems} items before the test window`],
  };
}

// ---------------------------------------------------------------------------------------------------

/** Deterministic sample of at most `maxGroups` case groups (users / sessions), all cases of a kept group. */
export function sampleGroups(cases: readonly EvalCase[], maxGroups: number | undefined, seed = 42): EvalCase[] {
  if (maxGroups === undefined) return [...cases];
  const groups = [...new Set(cases.map((c) => c.group))];
  if (groups.length <= maxGroups) return [...cases];
  const random = mulberry32(seed);
  for (let i = groups.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [groups[i], groups[j]] = [groups[j]!, groups[i]!];
  }
  const kept = new Set(groups.slice(0, maxGroups));
  return cases.filter((c) => kept.has(c.group));
}
