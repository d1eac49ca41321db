import { gzipSync } from 'node:zlib';
import { demoAuthHeaders } from './credentials';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { IMPORT_REPORTS_PREFIX, IMPORTS_PREFIX, type ImportReport } from '../capture/import';
import type { LocalStack } from '../local';
import { ModelRegistry } from '../registry/registry';
import { BlobStore } from '../storage/blob';
import { type Item, type SimulateShopOptions, simulateShop } from '../simulator/shop';
import type { RunReport } from '../reports/run-report';

export interface DemoOptions extends SimulateShopOptions {
  /** Messages per POST /v1/batch. */
  batchSize?: number;
  /** Concurrent HTTP requests. */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface DemoSummary {
  ok: boolean;
  url: string;
  events: { generated: number; viaHttp: number; viaImport: number; accepted: number; duplicates: number; rejected: number };
  catalogue: { items: number; upserted: number; rejected: number; snapshotItems: number };
  profiles: number;
  features: { users: number; items: number } | null;
  run: DemoRun;
  recommendations: { userId: string; strategy: string; items: string[]; modelVersion?: string; variant?: string }[];
  /** Why `ok` is false (absent when it is true). */
  problems?: string[];
  seconds: number;
}

/** One model family after the run: its candidate, the gate's verdict, and the champion the registry names now. */
export interface DemoFamily {
  family: string;
  candidate?: string;
  gate?: { passed: boolean; reasons: string[] };
  promoted: boolean;
  /** The family's champion after the run (its `champion` alias in the model registry). */
  champion?: string;
  /** A champion exists and answers: its card is in the registry (and, for the recommender, the HTTP API served it). */
  serves: boolean;
  error?: string;
}

export interface DemoRun {
  status: string;
  outcome?: string;
  /** The execution's error when it did not succeed. */
  error?: string;
  /** The headline family's champion after the run (read from the registry, not from the run report). */
  champion?: string;
  /** Same as `champion` (the field older readers of the summary know). */
  modelVersion?: string;
  /** The headline family's candidate of this run (promoted or not). */
  candidate?: string;
  families: DemoFamily[];
  metrics?: Record<string, number>;
  baseline?: Record<string, number>;
}

/** The family whose recommendations the demo fetches over HTTP. */
const SERVED_FAMILY = 'recommender';

interface ReportFamilyView {
  family: string;
  candidate?: string;
  gate?: { passed: boolean; reasons: string[] };
  promoted: boolean;
  metrics?: Record<string, number>;
  baseline?: Record<string, number>;
  error?: string;
}

/** The per-family results of a run report: `families[]` when present, else the older top-level candidate/gate/promoted fields. */
export function reportFamilies(report: Partial<RunReport> | undefined): ReportFamilyView[] {
  if (!report) return [];
  const errorText = (e: { Error?: string; Cause?: string } | undefined) => (e ? [e.Error, e.Cause].filter(Boolean).join(': ') : undefined);
  if (Array.isArray(report.families)) {
    return report.families.map((f) => {
      const view: ReportFamilyView = { family: f.family, promoted: Boolean(f.promoted) };
      const candidate = f.candidate?.version;
      if (candidate) view.candidate = candidate;
      if (f.gate) view.gate = { passed: f.gate.passed, reasons: [...(f.gate.reasons ?? [])] };
      if (f.metrics) view.metrics = f.metrics;
      if (f.baseline) view.baseline = f.baseline;
      const error = errorText(f.error);
      if (error) view.error = error;
      return view;
    });
  }
  const family = report.candidate?.family ?? report.promoted?.family;
  if (!family) return [];
  const view: ReportFamilyView = { family, promoted: Boolean(report.promoted) };
  const candidate = report.candidate?.version ?? report.promoted?.version;
  if (candidate) view.candidate = candidate;
  if (report.gate) view.gate = { passed: report.gate.passed, reasons: [...(report.gate.reasons ?? [])] };
  if (report.metrics) view.metrics = report.metrics;
  if (report.baseline) view.baseline = report.baseline;
  return [view];
}

/** What became of a family's candidate: `promoted`, `rejected by the gate: <reasons>`, or why it was not judged. */
export function candidateVerdict(f: Pick<DemoFamily, 'promoted' | 'gate' | 'error' | 'candidate'>): string {
  if (f.promoted) return 'promoted';
  if (f.gate && !f.gate.passed) return `rejected by the gate: ${f.gate.reasons.join('; ') || 'no reason given'}`;
  if (f.gate?.passed) return 'passed the gate but was not promoted';
  if (f.error) return `failed: ${f.error}`;
  return f.candidate ? 'not judged' : 'not trained';
}

/** `<champion> (promoted in this run)` or `<champion> (kept; candidate <v> rejected by the gate: …)`. */
export function describeChampion(f: DemoFamily): string {
  const champion = f.champion ?? '(none)';
  if (f.promoted)
    return f.champion === f.candidate
      ? `${champion} (promoted in this run)`
      : `${champion} (candidate ${f.candidate} was promoted in this run; the alias has moved since)`;
  const candidate = f.candidate ? `candidate ${f.candidate} ${candidateVerdict(f)}` : candidateVerdict(f);
  return `${champion} (${f.champion ? 'kept; ' : ''}${candidate})`;
}

/**
 * Each family of the run with the champion the registry names now. A family is healthy when it was
 * promoted, or when a champion exists and serves (a rejected candidate leaves the champion in place).
 */
async function familiesAfterRun(
  registry: ModelRegistry,
  views: readonly ReportFamilyView[],
  recommendations: DemoSummary['recommendations'],
): Promise<DemoFamily[]> {
  // A run with no family results (skipped) still has the served family's champion to check.
  const all = views.length > 0 ? views : [{ family: SERVED_FAMILY, promoted: false } satisfies ReportFamilyView];
  const out: DemoFamily[] = [];
  for (const view of all) {
    const alias = await registry.getAlias(view.family, 'champion');
    const card = alias ? await registry.getCard(view.family, alias.version) : undefined;
    // The HTTP API's answers name the model that served them (challenger answers aside).
    const served = new Set(recommendations.filter((r) => r.variant !== 'challenger' && r.modelVersion).map((r) => r.modelVersion));
    const answered = view.family !== SERVED_FAMILY || served.size === 0 || (alias !== undefined && served.has(alias.version));
    const family: DemoFamily = { family: view.family, promoted: view.promoted, serves: Boolean(alias && card && answered) };
    if (view.candidate) family.candidate = view.candidate;
    if (view.gate) family.gate = view.gate;
    if (alias) family.champion = alias.version;
    if (view.error) family.error = view.error;
    out.push(family);
  }
  return out;
}

interface BatchResponse {
  accepted: number;
  duplicates: number;
  rejected: unknown[];
}

async function postBatches(url: string, messages: readonly unknown[], batchSize: number, concurrency: number) {
  const batches: unknown[][] = [];
  for (let i = 0; i < messages.length; i += batchSize) batches.push(messages.slice(i, i + batchSize));
  const totals = { accepted: 0, duplicates: 0, rejected: 0 };
  const worker = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) {
      const response = await fetch(`${url}/v1/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...demoAuthHeaders('POST', '/v1/batch') },
        body: JSON.stringify({ batch }),
      });
      const body = (await response.json()) as BatchResponse;
      if (!response.ok) throw new Error(`POST /v1/batch answered ${response.status}: ${JSON.stringify(body).slice(0, 500)}`);
      totals.accepted += body.accepted;
      totals.duplicates += body.duplicates;
      totals.rejected += body.rejected.length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return totals;
}

/** The simulated catalogue through PUT /v1/items (batches of at most 1000 items). */
async function putCatalogue(url: string, items: readonly Item[], launchedAt: string) {
  const totals = { upserted: 0, rejected: 0 };
  for (let i = 0; i < items.length; i += 1000) {
    const batch = items.slice(i, i + 1000).map((item) => ({
      itemId: item.itemId,
      title: item.title,
      category: item.category,
      price: item.price,
      currency: 'EUR',
      stock: item.stock,
      createdAt: launchedAt,
    }));
    const response = await fetch(`${url}/v1/items`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...demoAuthHeaders('PUT', '/v1/items') },
      body: JSON.stringify({ items: batch }),
    });
    const body = (await response.json()) as { upserted?: number; rejected?: unknown[] };
    if (!response.ok) throw new Error(`PUT /v1/items answered ${response.status}: ${JSON.stringify(body).slice(0, 500)}`);
    totals.upserted += body.upserted ?? 0;
    totals.rejected += body.rejected?.length ?? 0;
  }
  return totals;
}

async function countProfiles(stack: LocalStack, table: string): Promise<number> {
  let count = 0;
  let start: Record<string, never> | undefined;
  do {
    const page = await stack.emulators.dynamodbClient().send(
      new ScanCommand({
        TableName: table,
        // Live profiles only: merged ones stay behind as redirects, erased ones as tombstones.
        FilterExpression: 'sk = :sk AND (attribute_not_exists(#status) OR #status = :active)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':sk': { S: 'PROFILE' }, ':active': { S: 'active' } },
        Select: 'COUNT',
        ExclusiveStartKey: start,
      }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return count;
}

/** GET /v1/users/{id}/recommendations for each shopper, with the model version and variant that answered. */
async function fetchRecommendations(url: string, userIds: readonly string[]): Promise<DemoSummary['recommendations']> {
  const out: DemoSummary['recommendations'] = [];
  for (const userId of userIds) {
    const path = `/v1/users/${encodeURIComponent(userId)}/recommendations?k=5`;
    const response = await fetch(`${url}${path}`, { headers: demoAuthHeaders('GET', path) });
    const body = (await response.json()) as { strategy?: string; items?: { itemId: string }[]; modelVersion?: string; variant?: string };
    const answer: DemoSummary['recommendations'][number] = {
      userId,
      strategy: body.strategy ?? `HTTP ${response.status}`,
      items: (body.items ?? []).map((i) => i.itemId),
    };
    if (body.modelVersion) answer.modelVersion = body.modelVersion;
    if (body.variant) answer.variant = body.variant;
    out.push(answer);
  }
  return out;
}

/** The run as the demo reports it: the execution's status, each family's verdict, and the champions the registry names now. */
async function judgeRun(
  registry: ModelRegistry,
  execution: { status: string; output?: unknown; error?: string },
  recommendations: DemoSummary['recommendations'],
): Promise<DemoRun> {
  const report = execution.output as Partial<RunReport> | undefined;
  const views = reportFamilies(report);
  const families = await familiesAfterRun(registry, views, recommendations);
  const headline = families.find((f) => f.family === SERVED_FAMILY) ?? families[0];
  const headlineView = views.find((v) => v.family === headline?.family);
  const run: Omit<DemoRun, 'families'> = { status: execution.status };
  if (report?.outcome) run.outcome = report.outcome;
  if (execution.error) run.error = execution.error;
  if (headline?.champion) {
    run.champion = headline.champion;
    run.modelVersion = headline.champion;
  }
  if (headline?.candidate) run.candidate = headline.candidate;
  const metrics = report?.metrics ?? headlineView?.metrics;
  const baseline = report?.baseline ?? headlineView?.baseline;
  if (metrics) run.metrics = pick(metrics);
  if (baseline) run.baseline = pick(baseline);
  return { ...run, families }; // last in the JSON summary: the headline fields first
}

/** Healthy: the execution succeeded and every family was promoted or still has a champion that serves. */
export function runProblems(run: Pick<DemoRun, 'status' | 'error' | 'families'>): string[] {
  const problems: string[] = [];
  if (run.status !== 'SUCCEEDED') problems.push(`the retraining state machine ended ${run.status}${run.error ? ` (${run.error})` : ''}`);
  for (const f of run.families) {
    if (f.promoted || f.serves) continue;
    problems.push(`${f.family}: candidate ${candidateVerdict(f)}, and ${f.champion ? `champion ${f.champion} does not serve` : 'there is no champion'}`);
  }
  return problems;
}

/**
 * The main job of `npm start`: a simulated shop's traffic goes through the real HTTP API (web, app,
 * mini-program) and a nightly POS export goes through an S3 bulk upload; then the feature job and the
 * retraining state machine run, and recommendations are fetched back over HTTP.
 */
export async function runDemo(stack: LocalStack, options: DemoOptions = {}): Promise<DemoSummary> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const shop = simulateShop(options);
  const env = stack.config.provider.environment;
  const bucket = env.DATA_BUCKET as string;
  const table = env.PROFILES_TABLE as string;
  const pos = shop.events.filter((e) => e.context.channel === 'pos');
  const online = shop.events.filter((e) => e.context.channel !== 'pos');
  log(`shop: ${shop.catalogue.length} items, ${shop.shoppers.length} shoppers, ${shop.events.length} events over ${shop.period.days} days`);

  // The simulated shop sells its whole catalogue from day 0: no item is "new" to the exploration slots.
  const catalogue = await putCatalogue(stack.url, shop.catalogue, shop.period.start);
  const snapshot = ((await stack.runSchedule('importCatalog')) as { snapshot?: { items: number } }).snapshot;
  log(`PUT /v1/items: ${catalogue.upserted} catalogue items stored, ${catalogue.rejected} rejected; serving snapshot of ${snapshot?.items ?? 0} items`);

  const http = await postBatches(stack.url, online, options.batchSize ?? 500, options.concurrency ?? 4);
  log(`POST /v1/batch: ${http.accepted} accepted (${http.duplicates} already seen), ${http.rejected} rejected`);

  // Event imports live under imports/events/ (catalogue uploads under imports/catalog/: S3 forbids overlapping trigger rules).
  const importKey = `imports/events/pos/${shop.period.start.slice(0, 10)}_${shop.period.end.slice(0, 10)}.ndjson.gz`;
  const blobs = new BlobStore(stack.emulators.s3Client(), bucket);
  await blobs.putBytes(importKey, gzipSync(pos.map((e) => JSON.stringify(e)).join('\n')));
  await stack.s3Events.waitForIdle();
  if (stack.s3Events.errors.length > 0) throw new Error(`bulk import failed: ${stack.s3Events.errors.map((e) => String(e.error)).join('; ')}`);
  const reportKey = `${IMPORT_REPORTS_PREFIX}${importKey.slice(IMPORTS_PREFIX.length)}.report.json`;
  const importReport = await blobs.getJson<ImportReport>(reportKey);
  if (!importReport) throw new Error(`the bulk import wrote no report at ${reportKey}`);
  log(`S3 upload s3://${bucket}/${importKey}: ${importReport.accepted} POS events imported, ${importReport.rejected} rejected (report ${reportKey})`);

  const features = (await stack.runSchedule('buildFeatures')) as { features?: { counts: { users: number; items: number } } };
  log(`feature job: ${features.features?.counts.users ?? 0} user rows, ${features.features?.counts.items ?? 0} item rows`);

  const execution = await stack.runStateMachine('retrain', { trigger: 'npm-start' });
  const report = execution.output as RunReport | undefined;
  log(`retraining state machine: ${execution.status}, outcome ${report?.outcome ?? execution.error}`);

  const members = shop.shoppers.filter((s) => s.userId).slice(0, 3);
  const recommendations = await fetchRecommendations(stack.url, [...members.map((s) => s.userId as string), 'someone-new']);
  const registry = new ModelRegistry(blobs);
  const run = await judgeRun(registry, execution, recommendations);
  for (const f of run.families) log(`${f.family}: candidate ${f.candidate ?? '(none)'} ${candidateVerdict(f)}; champion ${f.champion ?? '(none)'}`);

  const problems = runProblems(run);
  if (catalogue.rejected > 0) problems.push(`${catalogue.rejected} catalogue items rejected`);
  const empty = recommendations.filter((r) => r.items.length === 0).map((r) => r.userId);
  if (empty.length > 0) problems.push(`no recommendations for ${empty.join(', ')}`);
  const summary: DemoSummary = {
    ok: problems.length === 0,
    url: stack.url,
    events: {
      generated: shop.events.length,
      viaHttp: online.length,
      viaImport: pos.length,
      accepted: http.accepted + importReport.accepted,
      duplicates: http.duplicates + importReport.duplicates,
      rejected: http.rejected + importReport.rejected,
    },
    catalogue: { items: shop.catalogue.length, upserted: catalogue.upserted, rejected: catalogue.rejected, snapshotItems: snapshot?.items ?? 0 },
    profiles: await countProfiles(stack, table),
    features: features.features ? { users: features.features.counts.users, items: features.features.counts.items } : null,
    run,
    recommendations,
    ...(problems.length > 0 ? { problems } : {}),
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  return summary;
}

function pick(metrics: Record<string, number>): Record<string, number> {
  const keys = ['HR@10', 'NDCG@10', 'MRR@10', 'HR@20', 'count'];
  return Object.fromEntries(keys.filter((k) => k in metrics).map((k) => [k, Number((metrics[k] as number).toFixed(4))]));
}
