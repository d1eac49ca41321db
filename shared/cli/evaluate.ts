/**
 * `npm run evaluate -- recommend --format <fmt> --data <path> [options]`: trains every candidate and baseline
 * on the same split in one run, prints a table, then ONE JSON object as the last line of stdout.
 *
 *   --format        amazon-sequences | sessions | taobao | events
 *   --data          file (or folder for sessions / events); sessions: the *_train_full.txt file
 *   --k             cut-offs, default 5,10,20
 *   --models        comma-separated subset (default: the format's default set; `gru` adds the sequence model)
 *   --max-users     evaluate at most N test users / sessions (deterministic sample)
 *   --selection-users  validation users / sessions used for selection (default 10000)
 *   --no-refit      evaluate the models trained for validation (train without the validation targets)
 *   --holdout-days  taobao / events: length of the test window in days (default 1 / 7); the validation window
 *                   is the same length just before it
 *   --validation-days  sessions: last days of the training file held out for validation (default 1)
 *
 * `npm run evaluate -- forecast --format <online-retail|daily> --data <path> [--top 200] [--horizon 28]`: the demand
 * family's evaluation (models/evaluation/forecast.ts).
 *
 * Progress goes to stderr; stdout carries only the table and the JSON line.
 */
import { existsSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { intOption } from '../../models/evaluation/args';
import type { Candidate } from '../../models/evaluation/candidate';
import { DATASET_FORMATS, type DatasetFormat, loadAmazonSequences, loadEvents, loadSessions, loadTaobao } from '../../models/evaluation/datasets';
import { catalogue, type SplitKind } from '../../models/evaluation/models';
import { type EvalSplit, lastDaysStart, leaveOneOutSplit, sessionSplit, timeSplit } from '../../models/evaluation/protocols';
import { formatTable, reportJson } from '../../models/evaluation/report';
import { type EntrySpec, runEvaluation } from '../../models/evaluation/runner';

export interface RecommendArgs {
  format: DatasetFormat;
  data: string;
  ks: number[];
  models?: string[];
  maxUsers?: number;
  selectionUsers?: number;
  refit: boolean;
  holdoutDays?: number;
  validationDays?: number;
}

export function parseRecommendArgs(argv: readonly string[]): RecommendArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      data: { type: 'string' },
      k: { type: 'string', default: '5,10,20' },
      models: { type: 'string' },
      'max-users': { type: 'string' },
      'selection-users': { type: 'string' },
      'no-refit': { type: 'boolean', default: false },
      'holdout-days': { type: 'string' },
      'validation-days': { type: 'string' },
    },
  });
  if (positionals[0] !== 'recommend') throw new Error(`unknown command '${positionals[0] ?? ''}': usage: evaluate recommend --format <fmt> --data <path>`);
  const format = values.format as DatasetFormat | undefined;
  if (!format || !DATASET_FORMATS.includes(format)) throw new Error(`--format must be one of ${DATASET_FORMATS.join(', ')}`);
  if (!values.data) throw new Error('--data <path> is required');
  if (!existsSync(values.data.split(',')[0]!)) throw new Error(`--data ${values.data}: no such file or folder`);
  const ks = values.k.split(',').map((k) => intOption('k', k)!);
  return {
    format,
    data: values.data,
    ks,
    ...(values.models
      ? {
          models: values.models
            .split(',')
            .map((m) => m.trim())
            .filter(Boolean),
        }
      : {}),
    ...(values['max-users'] ? { maxUsers: intOption('max-users', values['max-users'])! } : {}),
    ...(values['selection-users'] ? { selectionUsers: intOption('selection-users', values['selection-users'])! } : {}),
    refit: !values['no-refit'],
    ...(values['holdout-days'] ? { holdoutDays: intOption('holdout-days', values['holdout-days'])! } : {}),
    ...(values['validation-days'] ? { validationDays: intOption('validation-days', values['validation-days'])! } : {}),
  };
}

export function buildSplit(args: RecommendArgs): { split: EvalSplit; kind: SplitKind } {
  switch (args.format) {
    case 'amazon-sequences':
      return { split: leaveOneOutSplit(loadAmazonSequences(args.data), 'amazon-sequences'), kind: 'sequences' };
    case 'sessions':
      return { split: sessionSplit(loadSessions(args.data), { validationDays: args.validationDays ?? 1 }, 'sessions'), kind: 'sessions' };
    case 'taobao':
    case 'events': {
      const interactions = args.format === 'taobao' ? loadTaobao(args.data) : loadEvents(args.data);
      if (interactions.length === 0) throw new Error(`--data ${args.data}: no item interactions found`);
      const days = args.holdoutDays ?? (args.format === 'taobao' ? 1 : 7);
      const utcOffset = args.format === 'taobao' ? 8 : 0; // Taobao days are China days (UTC+8)
      const holdoutStartMs = lastDaysStart(interactions, days, utcOffset);
      const validationStartMs = holdoutStartMs - days * 86_400_000;
      return { split: timeSplit(interactions, { holdoutStartMs, validationStartMs }, args.format), kind: 'sequences' };
    }
  }
}

/** The tfjs sequence model of models/sequence, when that module exists and exports `sequenceCandidate`. */
async function sequenceSpec(): Promise<EntrySpec | undefined> {
  const path = '../../models/sequence/index';
  try {
    const module = (await import(path)) as { sequenceCandidate?: Candidate | (() => Candidate) };
    const c = module.sequenceCandidate;
    if (!c) return undefined;
    return { name: 'gru', variants: [typeof c === 'function' ? c() : c] };
  } catch {
    return undefined;
  }
}

export async function selectSpecs(kind: SplitKind, nItems: number, models: readonly string[] | undefined): Promise<EntrySpec[]> {
  const { specs, defaults } = catalogue(kind, { nItems });
  const wanted = models ?? defaults;
  if (wanted.includes('gru')) {
    const gru = await sequenceSpec();
    if (!gru) throw new Error('--models gru: models/sequence/index.ts does not export a sequenceCandidate (yet)');
    const blendAt = specs.findIndex((s) => 'components' in s);
    specs.splice(blendAt < 0 ? specs.length : blendAt, 0, gru);
  }
  const known = specs.map((s) => s.name);
  const unknown = wanted.filter((m) => !known.includes(m));
  if (unknown.length) throw new Error(`unknown model(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return specs.filter((s) => wanted.includes(s.name));
}

export async function main(argv: readonly string[]): Promise<Record<string, unknown>> {
  if (argv.find((a) => !a.startsWith('-')) === 'forecast') {
    const { forecastMain } = await import('../../models/evaluation/forecast');
    return forecastMain(argv);
  }
  const args = parseRecommendArgs(argv);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const loaded = performance.now();
  const { split, kind } = buildSplit(args);
  log(`loaded and split ${args.data} in ${((performance.now() - loaded) / 1000).toFixed(1)} s`);
  const specs = await selectSpecs(kind, split.nItems, args.models);
  const report = await runEvaluation(split, specs, {
    ks: args.ks,
    refit: args.refit,
    log,
    ...(args.maxUsers ? { maxUsers: args.maxUsers } : {}),
    ...(args.selectionUsers ? { selectionUsers: args.selectionUsers } : {}),
  });
  const json = reportJson(report);
  process.stdout.write(`${formatTable(report)}\n${JSON.stringify(json)}\n`);
  return json;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`evaluate: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
