import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../../../shared/cli/evaluate';

const ROOT = resolve(import.meta.dirname, '../../../..');
const FIXTURES = resolve(ROOT, 'test/fixtures/eval');
const TSX = resolve(ROOT, 'node_modules/.bin/tsx');
const run = promisify(execFile);

async function evaluate(args: string[]): Promise<{ lines: string[]; json: Record<string, unknown> }> {
  const { stdout } = await run(TSX, ['shared/cli/evaluate.ts', 'recommend', ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const lines = stdout.trimEnd().split('\n');
  return { lines, json: JSON.parse(lines.at(-1)!) as Record<string, unknown> };
}

/** The CLI's main() in this process (no tsx start-up), stdout captured; returns the parsed last line. */
async function evaluateInProcess(args: string[]): Promise<Record<string, unknown>> {
  const chunks: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await main(['recommend', ...args]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return JSON.parse(chunks.join('').trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
}

type ModelFigures = Record<string, number | boolean | null | Record<string, unknown>>;

describe('npm run evaluate -- recommend', () => {
  it('amazon-sequences: prints a table, then one JSON object with HR/NDCG/MRR@K, coverage@10 and seconds per model', async () => {
    // Act
    const { lines, json } = await evaluate(['--format', 'amazon-sequences', '--data', resolve(FIXTURES, 'sequences.txt')]);

    // Assess
    const models = json.models as Record<string, ModelFigures>;
    expect(Object.keys(models)).toEqual(['popularity', 'itemknn', 'ease', 'transition', 'slist', 'blend']);
    for (const figures of Object.values(models)) {
      for (const k of [5, 10, 20]) for (const m of ['HR', 'NDCG', 'MRR']) expect(figures[`${m}@${k}`]).toBeTypeOf('number');
      expect(figures['coverage@10']).toBeGreaterThan(0);
      expect(figures.trainingSeconds).toBeGreaterThanOrEqual(0);
    }
    expect(models.blend!['NDCG@10']).toBeGreaterThan(models.popularity!['NDCG@10'] as number);
    expect(json.testCases).toBe(80);
    expect(lines.some((l) => l.startsWith('model'))).toBe(true); // the table header
  });

  it('sessions: a chosen subset of models, with --k and --max-users', async () => {
    // Act
    const json = await evaluateInProcess([
      '--format',
      'sessions',
      '--data',
      resolve(FIXTURES, 'sessions_train_full.txt'),
      '--models',
      'popularity,sknn,slist',
      '--k',
      '10,20',
      '--max-users',
      '10',
    ]);

    // Assess
    const models = json.models as Record<string, ModelFigures>;
    expect(Object.keys(models)).toEqual(['popularity', 'sknn', 'slist']);
    expect(models.sknn!['MRR@20']).toBeGreaterThan(models.popularity!['MRR@20'] as number);
    expect(models.sknn!['HR@5']).toBeUndefined();
    expect(json.selectionMetric).toBe('MRR@20');
  });

  it('taobao and events: time holdout with the default models', async () => {
    // Act
    const taobao = await evaluateInProcess(['--format', 'taobao', '--data', resolve(FIXTURES, 'taobao.csv'), '--models', 'popularity,transition']);
    const events = await evaluateInProcess(['--format', 'events', '--data', resolve(FIXTURES, 'events'), '--models', 'popularity,ease,transition,blend']);

    // Assess
    expect(Object.keys(taobao.models as object)).toEqual(['popularity', 'transition']);
    expect(taobao.testCases).toBeGreaterThan(0);
    expect(Object.keys(events.models as object)).toEqual(['popularity', 'ease', 'transition', 'blend']);
    expect(events.testCases).toBeGreaterThan(0);
  });

  it('fails with a clear message on an unknown model', async () => {
    // Act
    const failure = evaluateInProcess(['--format', 'amazon-sequences', '--data', resolve(FIXTURES, 'sequences.txt'), '--models', 'nope']);

    // Assess
    await expect(failure).rejects.toThrow(/unknown model\(s\) nope/);
  });
});
