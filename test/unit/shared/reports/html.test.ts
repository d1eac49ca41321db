import { describe, expect, it } from 'vitest';
import { lift, renderRunReportHtml, type RunReportHistory } from '../../../../shared/reports/html';
import { escapeXml, groupedBarChart, lineChart, niceTicks } from '../../../../shared/reports/svg';
import type { RunReport } from '../../../../shared/reports/run-report';
import { recommenderFamily } from '../../../../models/recommender/family';
import { defaultGatePolicy } from '../../../../shared/training/policy';

const hostile = '<script>alert("x")</script>&';

function report(overrides: Partial<RunReport> = {}): RunReport {
  return {
    runId: 'run-1',
    outcome: 'rejected',
    startedAt: '2026-10-01T00:00:00.000Z',
    finishedAt: '2026-10-01T00:05:00.000Z',
    trigger: hostile,
    reportKey: 'runs/run-1/report.json',
    htmlKey: 'runs/run-1/report.html',
    failedFamilies: [],
    families: [
      {
        family: 'recommender',
        presentation: recommenderFamily.presentation,
        policy: defaultGatePolicy('recommender'),
        candidate: { family: 'recommender', version: 'v3', trainingSeconds: 2.25, compute: 'lambda' },
        metrics: { 'HR@10': 0.4, 'NDCG@10': 0.25, 'MRR@10': 0.2, 'HR@20': 0.5, count: 50 },
        baseline: { 'HR@10': 0.2, 'NDCG@10': 0.1, 'MRR@10': 0.08, 'HR@20': 0.3, count: 50 },
        champion: { version: 'v2', artifact: 'eval', metrics: { 'HR@10': 0.45, 'NDCG@10': 0.3, 'MRR@10': 0.22, 'HR@20': 0.55, count: 50 } },
        cases: 50,
        gate: { passed: false, reasons: [`NDCG@10 0.2500 improves on the champion's 0.3000 by -0.0500 ${hostile}`] },
      },
    ],
    ...overrides,
  };
}

const history: RunReportHistory = [
  {
    family: 'recommender',
    versions: [
      {
        version: 'v1',
        createdAt: '2026-09-01T00:00:00Z',
        metrics: { 'NDCG@10': 0.2, 'HR@10': 0.35 },
        baseline: { 'NDCG@10': 0.1 },
        gate: { passed: true, reasons: [] },
      },
      {
        version: 'v2',
        createdAt: '2026-09-15T00:00:00Z',
        metrics: { 'NDCG@10': 0.3, 'HR@10': 0.45 },
        baseline: { 'NDCG@10': 0.1 },
        gate: { passed: true, reasons: [] },
      },
      {
        version: 'v3',
        createdAt: '2026-10-01T00:00:00Z',
        metrics: { 'NDCG@10': 0.25, 'HR@10': 0.4 },
        baseline: { 'NDCG@10': 0.1 },
        gate: { passed: false, reasons: [] },
      },
    ],
    champion: 'v2',
    championMoves: [
      { version: 'v1', updatedAt: '2026-09-01T00:10:00Z', reason: 'first' },
      { version: 'v2', updatedAt: '2026-09-15T00:10:00Z', previous: 'v1', reason: 'better' },
    ],
  },
];

describe('HTML run report', () => {
  it('is one self-contained page: inline SVG charts, no script, nothing fetched, every value escaped', () => {
    // Act
    const html = renderRunReportHtml(report(), history);

    // Assess
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<svg /g)?.length).toBe(2); // this run's bars + the history line chart
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;');
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/\b(src|href)=|https?:\/\/|@import|url\(/);
  });

  it('shows the gate decision, lift over popularity and over the champion, and the version history', () => {
    // Act
    const html = renderRunReportHtml(report(), history);

    // Assess
    expect(html).toContain('Gate rejected: the champion is untouched');
    expect(html).toContain('+150.0 %'); // NDCG@10 0.25 vs popularity 0.10
    expect(html).toContain('-16.7 %'); // NDCG@10 0.25 vs champion 0.30
    expect(html).toContain('v2 became champion');
    expect(html).toMatch(/v2 <span class="tag ok">champion<\/span>/);
    expect(html).toMatch(/v3 {1,2}<span class="tag">this run<\/span>/);
    expect(html).toContain('v1 → <b>v2</b>');
  });

  it('explains a failure with the error and that the champion was not touched', () => {
    // Act
    const html = renderRunReportHtml(
      report({
        outcome: 'failed',
        families: [],
        error: { Error: 'Error', Cause: JSON.stringify({ errorType: 'ZlibError', errorMessage: 'incorrect header check' }) },
      }),
      history,
    );

    // Assess
    expect(html).toContain('class="badge bad">failed');
    expect(html).toContain('ZlibError: incorrect header check');
    expect(html).toContain('The champion models were left untouched');
  });

  it('shows a lower-is-better family by its own policy: its metrics, its baseline, gains in the better direction', () => {
    // Prepare
    const policy = {
      ...defaultGatePolicy('recommender'),
      mainMetric: 'WAPE',
      direction: 'lower' as const,
      baselineName: 'seasonal naive',
      guardedMetrics: ['MAE'],
    };
    const demand = {
      family: 'demand',
      presentation: { title: 'Demand', metrics: ['WAPE', 'MAE'], casesLabel: 'item-days', evaluationSet: 'the last 28 days' },
      policy,
      candidate: { family: 'demand', version: 'd2', trainingSeconds: 1, compute: 'lambda' },
      metrics: { WAPE: 0.3, MAE: 2, count: 40 },
      baseline: { WAPE: 0.4, MAE: 3, count: 40 },
      cases: 40,
      gate: { passed: true, reasons: ['WAPE better'] },
    };

    // Act
    const html = renderRunReportHtml(report({ families: [demand] }), []);

    // Assess
    expect(html).toContain('Demand (demand)');
    expect(html).toContain('gain over seasonal naive');
    expect(html).toContain('+25.0 %'); // WAPE 0.30 vs 0.40, lower is better
    expect(html).toContain('WAPE (main) ↓');
    expect(html).toContain('40 item-days');
    expect(html).not.toContain('NDCG');
  });

  it('reports a failed family on its own, and the families that were not trained with the reason', () => {
    // Act
    const html = renderRunReportHtml(
      report({
        families: [
          { ...report().families[0]!, family: 'other', error: { Error: 'Boom', Cause: 'broken' } },
          {
            family: 'early',
            candidate: { family: 'early', version: 'v3', trainingSeconds: 0, compute: 'lambda' },
            metrics: {},
            baseline: {},
            cases: 0,
            error: { Error: 'Bang', Cause: 'no card' },
          },
        ],
        failedFamilies: ['other'],
        plan: [{ family: 'quiet', enough: false, reason: '3 shoppers, at least 10 needed', compute: 'lambda', size: 5 }],
      }),
      history,
    );

    // Assess
    expect(html).toContain('Failed after evaluation: Boom: broken'); // metrics and gate kept, the failure named
    expect(html).toContain('Failed: Bang');
    expect(html).toContain('This family’s champion was left untouched');
    expect(html).toContain('<b>quiet</b>: not enough data: 3 shoppers, at least 10 needed');
  });
});

describe('report charts', () => {
  it('computes lifts and says when there is no reference', () => {
    expect(lift(0.3, 0.2)).toBe('+50.0 %');
    expect(lift(0.1, 0.2)).toBe('-50.0 %');
    expect(lift(0.1, 0)).toBe('n/a (reference is 0)');
    expect(lift(undefined, 0.2)).toBe('–');
    expect(lift(0.3, 0.4, 'lower')).toBe('+25.0 %');
    expect(lift(0.5, 0.4, 'lower')).toBe('-25.0 %');
  });

  it('picks round axis ticks that cover the data', () => {
    expect(niceTicks(0.37)).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(niceTicks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(Number.NaN)).toEqual([0, 1]);
  });

  it('draws gaps for missing values and escapes labels', () => {
    // Act
    const line = lineChart({ title: 'a<b', xLabels: ['v1', 'v2', 'v3'], series: [{ name: 's', color: '#000', values: [0.1, null, 0.3] }] });
    const bars = groupedBarChart({ title: 't', groups: ['HR@10'], series: [{ name: 'c', color: '#111', values: [null] }] });

    // Assess
    expect(line).toContain('a&lt;b');
    expect(line.match(/<circle/g)?.length).toBe(2);
    expect(line).toMatch(/d="M[\d.]+ [\d.]+ M[\d.]+ [\d.]+"/); // two separate points, no line across the gap
    expect(bars).not.toContain('<rect');
    expect(escapeXml(`'"&<>`)).toBe('&#39;&quot;&amp;&lt;&gt;');
  });
});
