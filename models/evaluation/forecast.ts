/**
 * `npm run evaluate -- forecast --format <online-retail|daily> --data <path> [--top 200] [--horizon 28]
 * [--folds 3] [--min-history 14] [--markets CN,UK,US] [--epochs 6]`: holds out the last `--horizon`
 * days of the `--top` items by units (ranked on the days BEFORE the held-out ones, so the choice of
 * items does not peek), chooses among the simple baselines and the global model on rolling-origin
 * validation before the held-out days (models/demand/select.ts, the demand family's own code), then
 * scores every model and baseline on the held-out days. Prints a table, then ONE JSON line last.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { intOption } from './args';
import { BASELINES } from '../demand/baselines';
import { parseMarkets } from '../demand/calendar';
import type { SeriesSet } from '../demand/features';
import { DEFAULT_DEMAND_OPTIONS, type DemandOptions, forecastRows, GLOBAL, pointsOf, predictUnits, selectDemandModel } from '../demand/select';
import { FORECAST_FORMATS, loadForecastData } from './forecast-data';
import { forecastMetrics, naiveScale } from '../demand/metrics';

export interface ForecastArgs {
  format: string;
  data: string;
  top: number;
  horizon: number;
  options: DemandOptions;
}

export function parseForecastArgs(argv: readonly string[]): ForecastArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      data: { type: 'string' },
      top: { type: 'string' },
      horizon: { type: 'string' },
      folds: { type: 'string' },
      'min-history': { type: 'string' },
      markets: { type: 'string' },
      epochs: { type: 'string' },
    },
  });
  if (positionals[0] !== 'forecast') throw new Error(`unknown command '${positionals[0] ?? ''}': usage: evaluate forecast --format <fmt> --data <path>`);
  if (!values.format || !(FORECAST_FORMATS as readonly string[]).includes(values.format))
    throw new Error(`--format must be one of ${FORECAST_FORMATS.join(', ')}`);
  if (!values.data) throw new Error('--data <path> is required');
  if (!existsSync(values.data)) throw new Error(`--data ${values.data}: no such file`);
  const horizon = intOption('horizon', values.horizon) ?? 28;
  if (horizon > 365) throw new Error(`--horizon must be at most 365, got ${horizon}`);
  const markets = values.markets ?? process.env.DEMAND_MARKETS ?? DEFAULT_DEMAND_OPTIONS.markets;
  parseMarkets(markets);
  return {
    format: values.format,
    data: values.data,
    top: intOption('top', values.top) ?? 200,
    horizon,
    options: {
      ...DEFAULT_DEMAND_OPTIONS,
      horizon,
      folds: intOption('folds', values.folds) ?? DEFAULT_DEMAND_OPTIONS.folds,
      minHistoryDays: intOption('min-history', values['min-history']) ?? DEFAULT_DEMAND_OPTIONS.minHistoryDays,
      epochs: intOption('epochs', values.epochs, 0) ?? DEFAULT_DEMAND_OPTIONS.epochs,
      markets,
    },
  };
}

/** The `top` items by units over the days before `cutoff`. */
export function topItems(set: SeriesSet, cutoff: number, top: number): SeriesSet {
  const totals = set.series.map((s, k) => {
    let sum = 0;
    for (let d = 0; d < cutoff; d++) sum += s.units[d] as number;
    return { k, sum };
  });
  const keep = totals
    .filter((t) => t.sum > 0)
    .sort((a, b) => b.sum - a.sum || a.k - b.k)
    .slice(0, top)
    .map((t) => t.k)
    .sort((a, b) => a - b);
  return { days: set.days, series: keep.map((k) => set.series[k]!) };
}

export interface ModelResult {
  wape: number;
  mae: number;
  mase: number;
  bias: number;
  wql50: number;
  wql90: number;
  coverage80: number;
  trainingSeconds: number;
  forecastingSeconds: number;
  validationWape: number;
}

const r4 = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(4)) : null);

export async function runForecastEvaluation(args: ForecastArgs, log: (line: string) => void = () => {}) {
  const t0 = performance.now();
  const loaded = loadForecastData(args.format, args.data);
  const loadSeconds = (performance.now() - t0) / 1000;
  const nDays = loaded.set.days.length;
  const cutoff = nDays - args.horizon;
  const needed = args.options.minHistoryDays + 2 * args.horizon;
  if (nDays === 0) throw new Error(`--data ${args.data}: no sales rows found`);
  if (cutoff < needed)
    throw new Error(
      `--horizon ${args.horizon} is too long for ${nDays} days of history: at least ${needed + args.horizon} days needed (min history ${args.options.minHistoryDays} + one validation fold + the held-out days)`,
    );
  log(
    `loaded ${loaded.rows} rows, ${loaded.set.series.length} items, ${nDays} days (${loaded.set.days[0]} .. ${loaded.set.days.at(-1)}) in ${loadSeconds.toFixed(1)} s`,
  );
  const set = topItems(loaded.set, cutoff, args.top);
  const selection = selectDemandModel(set, cutoff, args.options);
  log(
    `selection in ${selection.seconds.toFixed(1)} s: chose ${selection.chosen} on ${selection.foldOrigins.length} folds (${selection.validationRows} validation item-days)${selection.skipped ? `; global model skipped: ${selection.skipped}` : ''}`,
  );
  const rows = forecastRows(set, cutoff, args.horizon, args.options);
  const scales = set.series.map((s) => naiveScale(s.units, s.start, cutoff));
  const results: Record<string, ModelResult> = {};
  for (const c of selection.candidates) {
    const f0 = performance.now();
    const q = predictUnits(c.model, rows);
    const forecastingSeconds = (performance.now() - f0) / 1000;
    const m = forecastMetrics(pointsOf(rows, q), scales);
    results[c.name] = {
      wape: r4(m.WAPE) as number,
      mae: r4(m.MAE) as number,
      mase: r4(m.MASE) as number,
      bias: r4(m.bias) as number,
      wql50: r4(m.wQL50) as number,
      wql90: r4(m.wQL90) as number,
      coverage80: r4(m.coverage80) as number,
      trainingSeconds: Number(c.trainSeconds.toFixed(3)),
      forecastingSeconds: Number(forecastingSeconds.toFixed(4)),
      validationWape: r4(c.validation.WAPE) as number,
    };
  }
  const baselines = Object.fromEntries(BASELINES.filter((b) => results[b]).map((b) => [b, results[b] as ModelResult]));
  const bestTest = Object.entries(baselines).sort((a, b) => a[1].wape - b[1].wape)[0] as [string, ModelResult];
  const selected = results[selection.chosen] as ModelResult;
  const models: Record<string, ModelResult & { name?: string }> = { selected: { name: selection.chosen, ...selected } };
  if (results[GLOBAL]) models[GLOBAL] = results[GLOBAL];
  return {
    command: 'forecast',
    format: args.format,
    data: args.data,
    items: set.series.length,
    itemDays: rows.n,
    days: nDays,
    heldOut: { from: loaded.set.days[cutoff], to: loaded.set.days.at(-1), days: args.horizon },
    skippedRows: loaded.skipped,
    selection: {
      chosen: selection.chosen,
      bestValidationBaseline: selection.bestBaseline,
      folds: selection.foldOrigins.map((o) => set.days[o]),
      validationItemDays: selection.validationRows,
      validationWape: Object.fromEntries(selection.candidates.map((c) => [c.name, r4(c.validation.WAPE)])),
      ...(selection.skipped ? { globalSkipped: selection.skipped } : {}),
    },
    models,
    baselines,
    bestBaseline: { name: bestTest[0], wape: bestTest[1].wape },
    selectedVsBestBaseline: r4(selected.wape / bestTest[1].wape),
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  };
}

export function formatForecastTable(report: Awaited<ReturnType<typeof runForecastEvaluation>>): string {
  const head = ['model', 'WAPE', 'MASE', 'bias', 'wQL50', 'wQL90', 'cov80', 'valWAPE', 'train s', 'fcst s'];
  const line = (name: string, r: ModelResult) =>
    [name, r.wape, r.mase, r.bias, r.wql50, r.wql90, r.coverage80, r.validationWape, r.trainingSeconds, r.forecastingSeconds].map((v) => String(v ?? '–'));
  const body = [
    ...Object.entries(report.models).map(([k, r]) => line(k === 'selected' ? `selected (${r.name})` : k, r)),
    ...Object.entries(report.baselines).map(([k, r]) => line(k, r)),
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [
    `forecast: ${report.items} items × ${report.heldOut.days} held-out days (${report.heldOut.from} .. ${report.heldOut.to}); chosen on validation: ${report.selection.chosen}`,
    fmt(head),
    ...body.map(fmt),
    `selected / best baseline on the held-out days (${report.bestBaseline.name}): ${report.selectedVsBestBaseline}`,
  ].join('\n');
}

export async function forecastMain(argv: readonly string[]): Promise<Record<string, unknown>> {
  const args = parseForecastArgs(argv);
  const report = await runForecastEvaluation(args, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${formatForecastTable(report)}\n${JSON.stringify(report)}\n`);
  return report;
}
