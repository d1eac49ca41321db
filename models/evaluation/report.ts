/** The evaluation report as a fixed-width table and as the CLI's one-line JSON. */
import type { EvaluationReport } from './runner';

export function formatParams(params: Record<string, number | string | boolean> | undefined): string {
  if (!params) return '';
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(3)) : v}`)
    .join(' ');
}

/** Fixed-width table of a report (one row per model). */
export function formatTable(report: EvaluationReport): string {
  const metricCols = report.ks.flatMap((k) => [`HR@${k}`, `NDCG@${k}`, `MRR@${k}`]);
  const header = ['model', ...metricCols, `cov@${report.coverageK}`, 'train s', 'select s', `val ${report.selectionMetric}`, 'onnx'];
  const rows = report.models.map((m) => [
    m.name,
    ...metricCols.map((c) => (m.metrics[c] ?? 0).toFixed(4)),
    m.coverage.toFixed(4),
    m.trainingSeconds.toFixed(1),
    m.selectionSeconds.toFixed(1),
    Number.isNaN(m.validation) ? '-' : m.validation.toFixed(4),
    m.onnx ? 'yes' : 'no',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const out = [
    `${report.dataset} — ${report.protocol}`,
    `${report.nItems} items, ${report.testCases} test cases, selection on ${report.validationCases} validation cases (${report.selectionMetric}), ${report.refit ? 'refit on train+validation' : 'no refit'}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  for (const m of report.models) out.push(`  ${m.name}: ${formatParams(m.params)}`);
  return out.join('\n');
}

/** The report as the CLI's last line: per model HR/NDCG/MRR@K, coverage, seconds. */
export function reportJson(report: EvaluationReport): Record<string, unknown> {
  return {
    dataset: report.dataset,
    protocol: report.protocol,
    items: report.nItems,
    testCases: report.testCases,
    validationCases: report.validationCases,
    selectionMetric: report.selectionMetric,
    refit: report.refit,
    seconds: Number(report.seconds.toFixed(1)),
    models: Object.fromEntries(
      report.models.map((m) => {
        const metrics = Object.fromEntries(
          report.ks.flatMap((k) => [`HR@${k}`, `NDCG@${k}`, `MRR@${k}`].map((c) => [c, Number((m.metrics[c] ?? 0).toFixed(5))])),
        );
        return [
          m.name,
          {
            ...metrics,
            [`coverage@${report.coverageK}`]: Number(m.coverage.toFixed(5)),
            trainingSeconds: Number(m.trainingSeconds.toFixed(2)),
            selectionSeconds: Number(m.selectionSeconds.toFixed(2)),
            validation: Number.isNaN(m.validation) ? null : Number(m.validation.toFixed(5)),
            onnx: m.onnx,
            params: m.params,
          },
        ];
      }),
    ),
  };
}
