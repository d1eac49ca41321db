/**
 * Recommendation quality on the real data sets in ../shared/data, with the same code and default models as
 * `npm run evaluate -- recommend` (one run each):
 *   Amazon Beauty  leave-one-out, all items ranked     targets: best NDCG@10 ≥ 0.055 and HR@10 ≥ 0.090
 *   YOOCHOOSE 100k session-based, every position       target:  best MRR@20 ≥ 1.05 × SKNN's MRR@20
 * Skips (with a message) when the data folder is absent. Figures are returned flat for test/bench/run.ts.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatTable } from '../../models/evaluation/report';
import { type EvaluationReport, runEvaluation } from '../../models/evaluation/runner';
import { buildSplit, type RecommendArgs, selectSpecs } from '../../shared/cli/evaluate';

const DATA = resolve(import.meta.dirname, '../../../shared/data');
const BEAUTY = resolve(DATA, 'amazon-beauty-sequences.txt');
const YOOCHOOSE = resolve(DATA, 'yoochoose/yoochoose-clicks-100k_train_full.txt');

async function evaluate(format: RecommendArgs['format'], data: string): Promise<EvaluationReport> {
  const args: RecommendArgs = { format, data, ks: [5, 10, 20], refit: true };
  const { split, kind } = buildSplit(args);
  const specs = await selectSpecs(kind, split.nItems, undefined);
  const report = await runEvaluation(split, specs, { ks: args.ks, refit: true, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${formatTable(report)}\n`);
  return report;
}

function best(report: EvaluationReport, metric: string, exclude: readonly string[] = []) {
  const ranked = report.models.filter((m) => !exclude.includes(m.name)).sort((a, b) => (b.metrics[metric] ?? 0) - (a.metrics[metric] ?? 0));
  return ranked[0]!;
}

const round = (x: number, digits = 4) => Number(x.toFixed(digits));

function beautyFigures(report: EvaluationReport, figures: Record<string, unknown>): void {
  for (const m of report.models) {
    figures[`beauty.${m.name}.NDCG@10`] = round(m.metrics['NDCG@10'] ?? 0);
    figures[`beauty.${m.name}.HR@10`] = round(m.metrics['HR@10'] ?? 0);
    figures[`beauty.${m.name}.trainingSeconds`] = round(m.trainingSeconds, 1);
  }
  const top = best(report, 'NDCG@10');
  const ndcg = top.metrics['NDCG@10'] ?? 0;
  const hr = top.metrics['HR@10'] ?? 0;
  figures['beauty.best'] = top.name;
  figures['beauty.best.NDCG@10'] = round(ndcg);
  figures['beauty.best.HR@10'] = round(hr);
  figures['beauty.targetMet'] = ndcg >= 0.055 && hr >= 0.09 && top.trainingSeconds <= 600;
  process.stdout.write(
    `Amazon Beauty: best ${top.name} NDCG@10 ${round(ndcg)} HR@10 ${round(hr)} (target 0.055 / 0.090; ICLRec 0.0403 / 0.0744), trained in ${top.trainingSeconds.toFixed(0)} s\n`,
  );
}

function yoochooseFigures(report: EvaluationReport, figures: Record<string, unknown>): void {
  for (const m of report.models) {
    figures[`yoochoose.${m.name}.MRR@20`] = round(m.metrics['MRR@20'] ?? 0);
    figures[`yoochoose.${m.name}.HR@20`] = round(m.metrics['HR@20'] ?? 0);
  }
  const sknn = report.models.find((m) => m.name === 'sknn');
  const top = best(report, 'MRR@20', ['sknn']);
  figures['yoochoose.best'] = top.name;
  if (!sknn) return;
  const lift = (top.metrics['MRR@20'] ?? 0) / (sknn.metrics['MRR@20'] ?? Number.NaN) - 1;
  figures['yoochoose.liftOverSknn'] = round(lift);
  figures['yoochoose.targetMet'] = lift >= 0.05;
  process.stdout.write(
    `YOOCHOOSE 100k: SKNN MRR@20 ${round(sknn.metrics['MRR@20'] ?? 0)}, best ${top.name} ${round(top.metrics['MRR@20'] ?? 0)} (${(100 * lift).toFixed(1)} % lift, target ≥ 5 %)\n`,
  );
}

export default async function recommendQuality(): Promise<Record<string, unknown>> {
  const figures: Record<string, unknown> = {};
  const runs = [
    { label: 'Amazon Beauty', key: 'beauty', format: 'amazon-sequences' as const, path: BEAUTY, collect: beautyFigures },
    { label: 'YOOCHOOSE', key: 'yoochoose', format: 'sessions' as const, path: YOOCHOOSE, collect: yoochooseFigures },
  ];
  for (const run of runs) {
    if (!existsSync(run.path)) {
      process.stdout.write(`skipped ${run.label}: ${run.path} is absent\n`);
      continue;
    }
    const started = performance.now();
    run.collect(await evaluate(run.format, run.path), figures);
    figures[`${run.key}.seconds`] = round((performance.now() - started) / 1000, 1);
  }
  return figures;
}
