/**
 * The HTML run report: one self-contained page (inline CSS and SVG, no script, nothing fetched) per
 * retraining run, with each family's metrics over its versions, the lift of the candidate over the
 * popularity baseline and over the champion, and the gate's decision with its reasons.
 */
import type { FamilyReport, RunReport } from '../training/pipeline';
import { escapeXml as esc, groupedBarChart, lineChart } from './svg';

/** One model family's history, read from the registry's cards and champion alias. */
export interface FamilyHistory {
  family: string;
  versions: {
    version: string;
    createdAt?: string;
    metrics?: Record<string, number>;
    baseline?: Record<string, number>;
    gate?: { passed: boolean; reasons: string[] };
    compute?: string;
  }[];
  /** The champion now. */
  champion?: string;
  /** Champion alias moves, oldest first. */
  championMoves: { version: string; updatedAt: string; previous?: string; reason: string }[];
}

export type RunReportHistory = FamilyHistory[];

const COLORS = { candidate: '#1f6feb', champion: '#f0b400', baseline: '#8b949e', hr: '#2da44e' };
const CHART_METRICS = ['HR@10', 'NDCG@10', 'MRR@10', 'HR@20'];

const num = (x: number | undefined | null, digits = 4) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** Relative lift in percent, or an explanation when it is undefined. */
export function lift(value: number | undefined, reference: number | undefined): string {
  if (value === undefined || reference === undefined || !Number.isFinite(value) || !Number.isFinite(reference)) return '–';
  if (reference === 0) return value === 0 ? '±0 %' : 'n/a (reference is 0)';
  const pct = ((value - reference) / reference) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`;
}

const OUTCOME_STYLE: Record<string, string> = { promoted: 'ok', rejected: 'warn', skipped: 'muted', failed: 'bad' };

function metricsTable(f: FamilyReport): string {
  const metrics = CHART_METRICS.filter((m) => m in f.metrics);
  const rows = metrics.map((m) => {
    const c = f.metrics[m];
    const ch = f.champion?.metrics[m];
    const b = f.baseline[m];
    return `<tr><th>${esc(m)}</th><td>${num(c)}</td><td>${f.champion ? num(ch) : '–'}</td><td>${num(b)}</td><td>${esc(lift(c, b))}</td><td>${f.champion ? esc(lift(c, ch)) : '–'}</td></tr>`;
  });
  return (
    '<table><thead><tr><th>metric</th><th>candidate</th><th>champion</th><th>popularity</th><th>lift over popularity</th><th>lift over champion</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>` +
    `<p class="note">${f.cases} holdout cases, the same for every model.${f.champion ? ` Champion ${esc(f.champion.version)} scored with its ${esc(f.champion.artifact)} artifact.` : ' No champion yet.'}${f.championNotComparable ? ` Champion not compared: ${esc(f.championNotComparable)}.` : ''}</p>`
  );
}

function gateSection(f: FamilyReport, outcome: string): string {
  if (!f.gate) return '<p class="muted">The gate did not run.</p>';
  const status = f.promoted
    ? `promoted (champion ${esc(f.promoted.previous ?? 'none')} → ${esc(f.promoted.version)})`
    : f.gate.passed
      ? outcome === 'failed'
        ? 'passed, but the run failed before promotion'
        : 'passed'
      : 'rejected: the champion is untouched';
  return `<p class="gate ${f.gate.passed ? 'ok' : 'warn'}">Gate ${esc(status)}</p><ul>${f.gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
}

function historySection(h: FamilyHistory | undefined, report: RunReport, f: FamilyReport): string {
  if (!h || h.versions.length === 0) return '<p class="muted">No version history in the registry.</p>';
  const labels = h.versions.map((v) => v.version);
  const promotedAt = new Set(h.championMoves.map((m) => m.version));
  const chart = lineChart({
    title: `${h.family}: holdout metrics per version`,
    // Axis: creation time (MM-DD HH:MM); tooltips: the version id.
    xLabels: h.versions.map((v) => (v.createdAt ? v.createdAt.slice(5, 16).replace('T', ' ') : v.version)),
    xTitles: labels,
    series: [
      { name: 'NDCG@10', color: COLORS.candidate, values: h.versions.map((v) => v.metrics?.['NDCG@10'] ?? null) },
      { name: 'HR@10', color: COLORS.hr, values: h.versions.map((v) => v.metrics?.['HR@10'] ?? null) },
      { name: 'popularity NDCG@10', color: COLORS.baseline, dashed: true, values: h.versions.map((v) => v.baseline?.['NDCG@10'] ?? null) },
    ],
    highlight: labels.flatMap((version, index) => (promotedAt.has(version) ? [{ index, label: `${version} became champion` }] : [])),
  });
  const rows = [...h.versions].reverse().map((v) => {
    const tags = [
      v.version === h.champion ? '<span class="tag ok">champion</span>' : '',
      v.version === f.candidate.version ? '<span class="tag">this run</span>' : '',
    ].join(' ');
    const gate = v.gate ? (v.gate.passed ? 'passed' : 'rejected') : 'not gated';
    return `<tr><td>${esc(v.version)} ${tags}</td><td>${esc(v.createdAt ?? '')}</td><td>${num(v.metrics?.['NDCG@10'])}</td><td>${num(v.metrics?.['HR@10'])}</td><td>${num(v.baseline?.['NDCG@10'])}</td><td>${esc(gate)}</td><td>${esc(v.compute ?? '')}</td></tr>`;
  });
  const moves = h.championMoves
    .slice(-10)
    .reverse()
    .map((m) => `<li>${esc(m.updatedAt)}: ${esc(m.previous ?? 'none')} → <b>${esc(m.version)}</b> <span class="muted">${esc(m.reason)}</span></li>`)
    .join('');
  return (
    `<figure>${chart}</figure>` +
    '<table><thead><tr><th>version</th><th>created</th><th>NDCG@10</th><th>HR@10</th><th>popularity NDCG@10</th><th>gate</th><th>trained on</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>` +
    (moves ? `<h4>Champion moves</h4><ul class="moves">${moves}</ul>` : '') +
    `<p class="note">Report of run ${esc(report.runId)}; history as of ${esc(report.finishedAt)}.</p>`
  );
}

function familySection(f: FamilyReport, history: RunReportHistory, report: RunReport): string {
  const bars = groupedBarChart({
    title: `${f.family}: candidate vs champion vs popularity (same holdout)`,
    groups: CHART_METRICS.filter((m) => m in f.metrics),
    series: [
      {
        name: `candidate ${f.candidate.version}`,
        color: COLORS.candidate,
        values: CHART_METRICS.filter((m) => m in f.metrics).map((m) => f.metrics[m] ?? null),
      },
      ...(f.champion
        ? [
            {
              name: `champion ${f.champion.version}`,
              color: COLORS.champion,
              values: CHART_METRICS.filter((m) => m in f.metrics).map((m) => f.champion?.metrics[m] ?? null),
            },
          ]
        : []),
      { name: 'popularity', color: COLORS.baseline, values: CHART_METRICS.filter((m) => m in f.metrics).map((m) => f.baseline[m] ?? null) },
    ],
  });
  return (
    `<section><h2>${esc(f.family)}</h2>` +
    `<p>Candidate <b>${esc(f.candidate.version)}</b>, trained in ${num(f.candidate.trainingSeconds, 1)} s on ${esc(f.candidate.compute)}.</p>` +
    `<h3>Gate</h3>${gateSection(f, report.outcome)}` +
    `<h3>This run</h3><figure>${bars}</figure>${metricsTable(f)}` +
    `<h3>History</h3>${historySection(
      history.find((h) => h.family === f.family),
      report,
      f,
    )}</section>`
  );
}

function errorSection(report: RunReport): string {
  if (!report.error) return '';
  let message = report.error.Cause ?? '';
  try {
    const cause = JSON.parse(message) as { errorMessage?: string; errorType?: string };
    if (cause.errorMessage) message = `${cause.errorType ?? ''}: ${cause.errorMessage}`;
  } catch {
    // Cause is plain text
  }
  return `<section class="error"><h2>Failure</h2><p><b>${esc(report.error.Error ?? 'Error')}</b></p><pre>${esc(message)}</pre><p>The champion model was left untouched.</p></section>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{border-bottom:1px solid #ddd;padding-bottom:.3rem}table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:right;font-size:.9rem}th:first-child,td:first-child{text-align:left}
thead th{background:#f6f8fa}.badge{padding:.15rem .6rem;border-radius:1rem;color:#fff;font-size:.9rem}
.ok{background:#2da44e}.warn{background:#d4a72c}.bad{background:#cf222e}.muted{color:#666}.badge.muted{background:#8b949e;color:#fff}
.gate{display:inline-block;padding:.3rem .6rem;border-radius:.3rem;color:#fff}.tag{font-size:.75rem;padding:0 .4rem;border-radius:.6rem;background:#ddf4ff;color:#0969da}
.tag.ok{background:#dafbe1;color:#1a7f37}.note{color:#555;font-size:.85rem}.error{border:1px solid #cf222e;padding:0 1rem;border-radius:.3rem}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem}figure{margin:1rem 0}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{color:#555}`;

/** The whole page. Every value from the run is escaped. */
export function renderRunReportHtml(report: RunReport, history: RunReportHistory): string {
  const s = report.snapshot;
  const facts: [string, string | undefined][] = [
    ['run', report.runId],
    ['trigger', report.trigger],
    ['started', report.startedAt],
    ['finished', report.finishedAt],
    ['snapshot as of', s?.asOf],
    ['holdout from', s?.holdoutStart],
    ['data', s ? `${s.events} events, ${s.interactions} interactions, ${s.users} shoppers, ${s.items} items, ${s.holdoutUsers} holdout shoppers` : undefined],
  ];
  const config = report.config ? `<details><summary>Configuration</summary><pre>${esc(JSON.stringify(report.config, null, 2))}</pre></details>` : '';
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>Retraining run ${esc(report.runId)}: ${esc(report.outcome)}</title>` +
    `<style>${STYLE}</style></head><body>` +
    `<h1>Retraining run <span class="badge ${OUTCOME_STYLE[report.outcome] ?? 'muted'}">${esc(report.outcome)}</span></h1>` +
    `<dl>${facts
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
      .join('')}</dl>` +
    errorSection(report) +
    (report.families.length === 0 && report.outcome === 'skipped' ? '<p>Not enough data for a meaningful holdout: nothing was trained.</p>' : '') +
    report.families.map((f) => familySection(f, history, report)).join('') +
    config +
    '</body></html>'
  );
}
