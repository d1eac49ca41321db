/**
 * Demand forecast quality on Online Retail II (../shared/data), with the same code as
 * `npm run evaluate -- forecast --format online-retail --data ../shared/data/online-retail-ii-2009-2010.csv.gz`
 * (top 200 items by units before the held-out days, the last 28 days held out):
 *   targets: the validation-chosen model's WAPE ≤ 0.90 × the best simple baseline's (same run);
 *            80 % interval coverage within 75–85 %.
 * Skips (with a message) when the data file is absent. Figures are returned flat for test/bench/run.ts.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatForecastTable, parseForecastArgs, runForecastEvaluation } from '../../models/evaluation/forecast';

const DATA = resolve(import.meta.dirname, '../../../shared/data/online-retail-ii-2009-2010.csv.gz');

export default async function forecastBench(): Promise<Record<string, unknown>> {
  if (!existsSync(DATA)) {
    process.stdout.write(`skipped forecast: ${DATA} is absent\n`);
    return { skipped: `${DATA} is absent` };
  }
  const args = parseForecastArgs(['forecast', '--format', 'online-retail', '--data', DATA, '--top', '200', '--horizon', '28']);
  const report = await runForecastEvaluation(args, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${formatForecastTable(report)}\n`);
  const figures: Record<string, unknown> = {};
  for (const [name, r] of [...Object.entries(report.baselines), ...Object.entries(report.models)]) {
    figures[`${name}.wape`] = r.wape;
    figures[`${name}.coverage80`] = r.coverage80;
    figures[`${name}.trainingSeconds`] = r.trainingSeconds;
  }
  const selected = report.models.selected;
  const ratio = report.selectedVsBestBaseline;
  figures.chosen = report.selection.chosen;
  figures.bestBaseline = report.bestBaseline.name;
  figures.wapeRatio = ratio;
  figures.targetWapeRatio = 0.9;
  figures.wapeTargetMet = ratio !== null && ratio <= 0.9;
  figures.coverageTargetMet = selected !== undefined && selected.coverage80 >= 0.75 && selected.coverage80 <= 0.85;
  figures.seconds = report.seconds;
  process.stdout.write(
    `selected ${report.selection.chosen}: WAPE ${selected?.wape} = ${ratio} × ${report.bestBaseline.name} (target ≤ 0.90: ${figures.wapeTargetMet ? 'met' : 'MISSED'}); coverage80 ${selected?.coverage80} (target 0.75–0.85: ${figures.coverageTargetMet ? 'met' : 'MISSED'})\n`,
  );
  return figures;
}
