import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAmazonSequences, loadEvents, loadSessions, loadTaobao, parseSessions } from '../../../../models/evaluation/datasets';
import { type EvalSplit, lastDaysStart, leaveOneOutSplit, sampleGroups, sessionSplit, timeSplit } from '../../../../models/evaluation/protocols';

const FIXTURES = resolve(import.meta.dirname, '../../../fixtures/eval');
const SHARED = resolve(import.meta.dirname, '../../../../../shared/data');
const BEAUTY = resolve(SHARED, 'amazon-beauty-sequences.txt');
const YOOCHOOSE = resolve(SHARED, 'yoochoose/yoochoose-clicks-100k_train_full.txt');

/** Test title suffix: the file read, or why the block is skipped. */
function dataNote(path: string): string {
  return existsSync(path) ? `(${path})` : `— SKIPPED: ${path} is absent (the shared data sets live next to the project)`;
}

function isPrefix(prefix: Int32Array, of: Int32Array): boolean {
  return prefix.length <= of.length && prefix.every((v, i) => v === of[i]);
}

function sequencesOf(split: EvalSplit, raw: string[][]): Int32Array[] {
  const index = new Map(split.itemIds.map((id, i) => [id, i]));
  return raw.map((seq) => Int32Array.from(seq, (id) => index.get(id)!));
}

describe('leave-one-out split (amazon-sequences)', () => {
  it('never puts a test target in training or validation data, nor a validation target in validation training', () => {
    // Prepare
    const data = loadAmazonSequences(resolve(FIXTURES, 'sequences.txt'));

    // Act
    const split = leaveOneOutSplit(data);
    const full = sequencesOf(split, data.sequences);

    // Assess: one test and one validation case per user, and training rows are strict prefixes.
    expect(split.test.cases).toHaveLength(data.users.length);
    expect(split.validation.cases).toHaveLength(data.users.length);
    full.forEach((seq, u) => {
      const n = seq.length;
      const test = split.test.cases[u]!;
      const validation = split.validation.cases[u]!;
      expect(test.target).toBe(seq[n - 1]);
      expect(Array.from(test.history)).toEqual(Array.from(seq.slice(0, n - 1)));
      expect(validation.target).toBe(seq[n - 2]);
      expect(Array.from(validation.history)).toEqual(Array.from(seq.slice(0, n - 2)));
      // The fixture has no repeated item within a user, so "not contained" is exact.
      expect(split.test.train.sequences[u]!.includes(test.target)).toBe(false);
      expect(split.validation.train.sequences[u]!.includes(test.target)).toBe(false);
      expect(split.validation.train.sequences[u]!.includes(validation.target)).toBe(false);
      expect(validation.history.includes(test.target)).toBe(false);
      expect(split.test.train.sequences[u]).toHaveLength(n - 1);
      expect(split.validation.train.sequences[u]).toHaveLength(n - 2);
    });
    expect(split.excludeSeen).toBe(true);
    expect(split.nItems).toBe(new Set(data.sequences.flat()).size);
  });

  it('ranks against the whole catalogue, including items only ever seen as a test target', () => {
    // Prepare: item 'z' occurs only as user b's last item.
    const data = {
      users: ['a', 'b'],
      sequences: [
        ['x', 'y', 'w'],
        ['x', 'y', 'z'],
      ],
    };

    // Act
    const split = leaveOneOutSplit(data);

    // Assess
    expect(split.itemIds).toContain('z');
    const z = split.itemIds.indexOf('z');
    expect(split.test.cases[1]!.target).toBe(z);
    expect(split.test.train.sequences.some((s) => s.includes(z))).toBe(false);
  });
});

describe('session split (sessions)', () => {
  const data = loadSessions(resolve(FIXTURES, 'sessions_train_full.txt'));
  const split = sessionSplit(data);

  it('scores every position of every test session, prefix → next item, with nothing excluded', () => {
    // Prepare: the expected cases, written out from the raw test sessions.
    const known = new Set(split.itemIds);
    const expected: { history: string[]; target: string }[] = [];
    for (const s of data.test) {
      const items = s.items.filter((id) => known.has(id));
      for (let t = 0; t + 1 < items.length; t++) expected.push({ history: items.slice(0, t + 1), target: items[t + 1]! });
    }

    // Act
    const actual = split.test.cases.map((c) => ({ history: Array.from(c.history, (i) => split.itemIds[i]!), target: split.itemIds[c.target]! }));

    // Assess
    expect(actual).toEqual(expected);
    expect(actual.length).toBeGreaterThan(data.test.length); // several positions per session
    expect(split.excludeSeen).toBe(false);
    expect(split.itemIds).not.toContain('999'); // the test-only item is dropped, not ranked
    expect(actual.some((c) => c.history.includes(c.target))).toBe(true); // repeat clicks are kept as targets
  });

  it('holds out the last training day for validation and trains validation models on earlier sessions only', () => {
    // Prepare
    const lastTime = Math.max(...data.train.map((s) => s.times.at(-1)!));
    const validationStartMs = (lastTime - 86_400) * 1000;

    // Act
    const trainTimes = split.validation.train.timestamps!.flatMap((t) => Array.from(t));

    // Assess
    expect(split.validation.cases.length).toBeGreaterThan(0);
    expect(Math.max(...split.validation.train.timestamps!.map((t) => t.at(-1)!))).toBeLessThan(validationStartMs);
    expect(trainTimes.length).toBeLessThan(data.train.reduce((n, s) => n + s.items.length, 0));
    expect(split.test.train.sequences).toHaveLength(data.train.length);
  });

  it('sorts the clicks of a session by time', () => {
    // Prepare
    const text = 'SessionId\tItemId\tTime\n1\tb\t20\n1\ta\t10\n2\tc\t5\n';

    // Act
    const sessions = parseSessions(text);

    // Assess
    expect(sessions).toEqual([
      { id: '1', items: ['a', 'b'], times: [10, 20] },
      { id: '2', items: ['c'], times: [5] },
    ]);
  });
});

describe('time split (taobao, events)', () => {
  it('trains on nothing at or after the test window and validates on the window before it (taobao)', () => {
    // Prepare
    const interactions = loadTaobao(resolve(FIXTURES, 'taobao.csv'));
    const holdoutStartMs = lastDaysStart(interactions, 1, 8);
    const validationStartMs = holdoutStartMs - 86_400_000;

    // Act
    const split = timeSplit(interactions, { holdoutStartMs, validationStartMs }, 'taobao');

    // Assess: training timestamps are before each stage's window.
    const maxTs = (ts: readonly Float64Array[]) => Math.max(...ts.map((t) => t.at(-1)!));
    expect(maxTs(split.test.train.timestamps!)).toBeLessThan(holdoutStartMs);
    expect(maxTs(split.validation.train.timestamps!)).toBeLessThan(validationStartMs);
    // China midnight: the window starts at 16:00 UTC.
    expect(new Date(holdoutStartMs).getUTCHours()).toBe(16);
    // Every test target is a new item for its user, and no history item is from the window.
    const byUser = new Map<string, Set<string>>();
    for (const x of interactions.filter((x) => x.ts < holdoutStartMs)) (byUser.get(x.p) ?? byUser.set(x.p, new Set()).get(x.p))!.add(x.i);
    expect(split.test.cases.length).toBeGreaterThan(0);
    for (const c of split.test.cases) {
      const seen = byUser.get(c.group)!;
      if (c.target >= 0) expect(seen.has(split.itemIds[c.target]!)).toBe(false);
      for (const h of c.history) expect(seen.has(split.itemIds[h]!)).toBe(true);
    }
    // Validation targets are unknown to validation training or come from the validation window.
    const validationTrainItems = new Set(split.validation.train.sequences.flatMap((s) => Array.from(s)));
    for (const c of split.validation.cases) if (c.target >= 0) expect(validationTrainItems.has(c.target)).toBe(true);
  });

  it('reads the project events (plain and gzipped NDJSON, de-duplicated) with buildTestCases semantics', () => {
    // Prepare
    const interactions = loadEvents(resolve(FIXTURES, 'events'));
    const holdoutStartMs = lastDaysStart(interactions, 7);

    // Act
    const split = timeSplit(interactions, { holdoutStartMs, validationStartMs: holdoutStartMs - 7 * 86_400_000 });

    // Assess
    expect(new Set(interactions.map((x) => `${x.p}|${x.i}|${x.ts}`)).size).toBe(interactions.length); // duplicate event read once
    expect(interactions.every((x) => x.t !== 'search')).toBe(true);
    expect(split.test.cases.length).toBeGreaterThan(0);
    expect(Math.max(...split.test.train.timestamps!.map((t) => t.at(-1)!))).toBeLessThan(holdoutStartMs);
  });
});

describe('sampleGroups', () => {
  it('keeps whole groups, deterministically', () => {
    // Prepare
    const cases = ['a', 'a', 'b', 'c', 'c', 'c', 'd'].map((group, i) => ({ group, history: new Int32Array([i]), target: i }));

    // Act
    const first = sampleGroups(cases, 2);
    const second = sampleGroups(cases, 2);

    // Assess
    expect(first).toEqual(second);
    expect(new Set(first.map((c) => c.group)).size).toBe(2);
    for (const g of new Set(first.map((c) => c.group))) expect(first.filter((c) => c.group === g)).toEqual(cases.filter((c) => c.group === g));
  });
});

describe.skipIf(!existsSync(BEAUTY))(`Amazon Beauty leave-one-out on the real file ${dataNote(BEAUTY)}`, () => {
  it('has the published shape: 22,363 users, 12,101 items, one test and one validation target per user', () => {
    // Act
    const split = leaveOneOutSplit(loadAmazonSequences(BEAUTY));

    // Assess
    expect(split.nItems).toBe(12_101);
    expect(split.test.cases).toHaveLength(22_363);
    expect(split.validation.cases).toHaveLength(22_363);
    split.test.cases.forEach((c, u) => {
      expect(isPrefix(split.test.train.sequences[u]!, c.history) && split.test.train.sequences[u]!.length === c.history.length).toBe(true);
      expect(split.validation.train.sequences[u]!.length).toBe(c.history.length - 1);
    });
  });
});

describe.skipIf(!existsSync(YOOCHOOSE))(`YOOCHOOSE 100k session split on the real files ${dataNote(YOOCHOOSE)}`, () => {
  it('drops test items unknown to train and scores every remaining position', () => {
    // Act
    const data = loadSessions(YOOCHOOSE);
    const split = sessionSplit(data);

    // Assess
    expect(data.train).toHaveLength(17_794);
    expect(data.test).toHaveLength(3_416);
    const known = new Set(split.itemIds);
    const expected = data.test.reduce((n, s) => {
      const kept = s.items.filter((id) => known.has(id)).length;
      return n + (kept >= 2 ? kept - 1 : 0);
    }, 0);
    expect(split.test.cases).toHaveLength(expected);
  });
});
