/**
 * The HTML run report: one self-contained page (inline CSS and SVG, no script, nothing fetched) per
 * retraining run, with each family's metrics over its versions, the gain of the candidate over the
 * family's baseline and over the champion (in each metric's better direction), the gate's decision
 * with its reasons, and the families that were skipped or failed. What to show comes from each
 * family's presentation and metric policy (carried in the report), never from names here.
 */
import type { Direction, FamilyPresentation } from '../families/contract';
import { type GatePolicy, metricDirection } from '../registry/gate';
import type { FamilyReport, RunReport } from './run-report';
import { escapeXml as esc, groupedBarChart, lineChart } from './svg';

/** One model family's history, read from the registry's cards and champion alias. */
export interface FamilyHistory {
  family: string;
  presentation?: FamilyPresentation;
  policy?: GatePolicy;
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

/** The metrics a family shows, main metric included, in its presentation's order (else what it reported). */
function shownMetrics(f: { presentation?: FamilyPresentation; policy?: GatePolicy; metrics: Record<string, number> }): string[] {
  const listed = f.presentation?.metrics ?? Object.keys(f.metrics).filter((m) => m !== 'count');
  const main = f.policy?.mainMetric;
  const all = main && !listed.includes(main) ? [main, ...listed] : listed;
  return all.filter((m) => m in f.metrics);
}

const directionOf = (policy: GatePolicy | undefined, metric: string): Direction => (policy ? metricDirection(policy, metric) : 'higher');
const baselineLabel = (policy: GatePolicy | undefined) => policy?.baselineName ?? 'baseline';

const num = (x: number | undefined | null, digits = 4) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** Relative gain in percent in the metric's better direction (a lower WAPE is a positive gain), or an explanation when it is undefined. */
export function lift(value: number | undefined, reference: number | undefined, direction: Direction = 'higher'): string {
  if (value === undefined || reference === undefined || !Number.isFinite(value) || !Number.isFinite(reference)) return '–';
  if (reference === 0) return value === 0 ? '±0 %' : 'n/a (reference is 0)';
  const pct = ((direction === 'higher' ? value - reference : reference - value) / Math.abs(reference)) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`;
}

const OUTCOME_STYLE: Record<string, string> = { promoted: 'ok', rejected: 'warn', skipped: 'muted', failed: 'bad' };

function metricsTable(f: FamilyReport): string {
  const metrics = shownMetrics(f);
  const base = baselineLabel(f.policy);
  const rows = metrics.map((m) => {
    const c = f.metrics[m];
    const ch = f.champion?.metrics[m];
    const b = f.baseline[m];
    const dir = directionOf(f.policy, m);
    const label = `${m}${m === f.policy?.mainMetric ? ' (main)' : ''}${dir === 'lower' ? ' ↓' : ''}`;
    return `<tr><th>${esc(label)}</th><td>${num(c)}</td><td>${f.champion ? num(ch) : '–'}</td><td>${num(b)}</td><td>${esc(lift(c, b, dir))}</td><td>${f.champion ? esc(lift(c, ch, dir)) : '–'}</td></tr>`;
  });
  return (
    `<table><thead><tr><th>metric</th><th>candidate</th><th>champion</th><th>${esc(base)}</th><th>gain over ${esc(base)}</th><th>gain over champion</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>` +
    `<p class="note">↓: lower is better; gains are in each metric's better direction. ${f.cases} ${esc(f.presentation?.casesLabel ?? 'evaluation cases')}, the same for every model${f.presentation ? ` (${esc(f.presentation.evaluationSet)})` : ''}.${f.champion ? ` Champion ${esc(f.champion.version)} scored with its ${esc(f.champion.artifact)} artifact.` : ' No champion yet.'}${f.championNotComparable ? ` Champion not compared: ${esc(f.championNotComparable)}.` : ''}</p>`
  );
}

function gateSection(f: FamilyReport, outcome: string): string {
  if (!f.gate) return '<p class="muted">The gate did not run.</p>';
  const status = f.promoted
    ? `promoted (champion ${esc(f.promoted.previous ?? 'none')} → ${esc(f.promoted.version)})`
    : f.gate.passed
      ? outcome === 'failed' || f.error
        ? 'passed, but promotion failed: the champion is untouched'
        : 'passed'
      : 'rejected: the champion is untouched';
  return `<p class="gate ${f.gate.passed ? 'ok' : 'warn'}">Gate ${esc(status)}</p><ul>${f.gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
}

function historySection(h: FamilyHistory | undefined, report: RunReport, f: FamilyReport): string {
  if (!h || h.versions.length === 0) return '<p class="muted">No version history in the registry.</p>';
  const labels = h.versions.map((v) => v.version);
  const promotedAt = new Set(h.championMoves.map((m) => m.version));
  const policy = h.policy ?? f.policy;
  const main = policy?.mainMetric ?? shownMetrics({ ...f, presentation: h.presentation ?? f.presentation })[0] ?? 'score';
  const second = (h.presentation ?? f.presentation)?.metrics.find((m) => m !== main);
  const base = baselineLabel(policy);
  const chart = lineChart({
    title: `${h.family}: holdout metrics per version`,
    // Axis: creation time (MM-DD HH:MM); tooltips: the version id.
    xLabels: h.versions.map((v) => (v.createdAt ? v.createdAt.slice(5, 16).replace('T', ' ') : v.version)),
    xTitles: labels,
    series: [
      { name: main, color: COLORS.candidate, values: h.versions.map((v) => v.metrics?.[main] ?? null) },
      ...(second ? [{ name: second, color: COLORS.hr, values: h.versions.map((v) => v.metrics?.[second] ?? null) }] : []),
      { name: `${base} ${main}`, color: COLORS.baseline, dashed: true, values: h.versions.map((v) => v.baseline?.[main] ?? null) },
    ],
    highlight: labels.flatMap((version, index) => (promotedAt.has(version) ? [{ index, label: `${version} became champion` }] : [])),
  });
  const rows = [...h.versions].reverse().map((v) => {
    const tags = [
      v.version === h.champion ? '<span class="tag ok">champion</span>' : '',
      v.version === f.candidate.version ? '<span class="tag">this run</span>' : '',
    ].join(' ');
    const gate = v.gate ? (v.gate.passed ? 'passed' : 'rejected') : 'not gated';
    return `<tr><td>${esc(v.version)} ${tags}</td><td>${esc(v.createdAt ?? '')}</td><td>${num(v.metrics?.[main])}</td>${second ? `<td>${num(v.metrics?.[second])}</td>` : ''}<td>${num(v.baseline?.[main])}</td><td>${esc(gate)}</td><td>${esc(v.compute ?? '')}</td></tr>`;
  });
  const moves = h.championMoves
    .slice(-10)
    .reverse()
    .map((m) => `<li>${esc(m.updatedAt)}: ${esc(m.previous ?? 'none')} → <b>${esc(m.version)}</b> <span class="muted">${esc(m.reason)}</span></li>`)
    .join('');
  return (
    `<figure>${chart}</figure>` +
    `<table><thead><tr><th>version</th><th>created</th><th>${esc(main)}</th>${second ? `<th>${esc(second)}</th>` : ''}<th>${esc(`${base} ${main}`)}</th><th>gate</th><th>trained on</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>` +
    (moves ? `<h4>Champion moves</h4><ul class="moves">${moves}</ul>` : '') +
    `<p class="note">Report of run ${esc(report.runId)}; history as of ${esc(report.finishedAt)}.</p>`
  );
}

function familySection(f: FamilyReport, history: RunReportHistory, report: RunReport): string {
  const title = f.presentation ? `${f.presentation.title} (${f.family})` : f.family;
  if (f.error && Object.keys(f.metrics).length === 0) {
    return (
      `<section class="error"><h2>${esc(title)}</h2><p><b>Failed: ${esc(f.error.Error ?? 'Error')}</b></p><pre>${esc(causeText(f.error.Cause))}</pre>` +
      '<p>This family’s champion was left untouched; the other families were judged on their own.</p></section>'
    );
  }
  const metrics = shownMetrics(f);
  const bars = groupedBarChart({
    title: `${f.family}: candidate vs champion vs ${baselineLabel(f.policy)} (same cases)`,
    groups: metrics,
    series: [
      { name: `candidate ${f.candidate.version}`, color: COLORS.candidate, values: metrics.map((m) => f.metrics[m] ?? null) },
      ...(f.champion ? [{ name: `champion ${f.champion.version}`, color: COLORS.champion, values: metrics.map((m) => f.champion?.metrics[m] ?? null) }] : []),
      { name: baselineLabel(f.policy), color: COLORS.baseline, values: metrics.map((m) => f.baseline[m] ?? null) },
    ],
  });
  const failure = f.error ? `<p class="gate bad">Failed after evaluation: ${esc(f.error.Error ?? 'Error')}: ${esc(causeText(f.error.Cause))}</p>` : '';
  return (
    `<section><h2>${esc(title)}</h2>${failure}` +
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

/** A Lambda error's Cause (JSON with errorType and errorMessage) as one line, or the text as is. */
function causeText(raw: string | undefined): string {
  let message = raw ?? '';
  try {
    const cause = JSON.parse(message) as { errorMessage?: string; errorType?: string };
    if (cause.errorMessage) message = `${cause.errorType ?? ''}: ${cause.errorMessage}`;
  } catch {
    // Cause is plain text
  }
  return message;
}

function errorSection(report: RunReport): string {
  if (!report.error) return '';
  return `<section class="error"><h2>Failure</h2><p><b>${esc(report.error.Error ?? 'Error')}</b></p><pre>${esc(causeText(report.error.Cause))}</pre><p>The champion models were left untouched.</p></section>`;
}

/** Families enabled for the run that were not trained, and why. */
function planSection(report: RunReport): string {
  const skipped = (report.plan ?? []).filter((p) => !p.enough);
  if (skipped.length === 0) return '';
  return `<section><h2>Not trained</h2><ul>${skipped.map((p) => `<li><b>${esc(p.family)}</b>: not enough data: ${esc(p.reason ?? '')}</li>`).join('')}</ul></section>`;
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
    [
      'families',
      report.families.length
        ? report.families.map((f) => `${f.family}: ${f.promoted ? 'promoted' : f.error ? 'failed' : f.gate?.passed ? 'passed' : 'rejected'}`).join(', ')
        : undefined,
    ],
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
    planSection(report) +
    report.families.map((f) => familySection(f, history, report)).join('') +
    config +
    '</body></html>'
  );
}
