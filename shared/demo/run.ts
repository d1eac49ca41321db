import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { IMPORT_REPORTS_PREFIX, IMPORTS_PREFIX, type ImportReport } from '../capture/import';
import type { LocalStack } from '../local';
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
  run: { status: string; outcome?: string; modelVersion?: string; metrics?: Record<string, number>; baseline?: Record<string, number> };
  recommendations: { userId: string; strategy: string; items: string[] }[];
  seconds: number;
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
      const response = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
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
    const response = await fetch(`${url}/v1/items`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: batch }) });
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
  await stack.emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: importKey, Body: gzipSync(pos.map((e) => JSON.stringify(e)).join('\n')) }));
  await stack.s3Events.waitForIdle();
  if (stack.s3Events.errors.length > 0) throw new Error(`bulk import failed: ${stack.s3Events.errors.map((e) => String(e.error)).join('; ')}`);
  const reportKey = `${IMPORT_REPORTS_PREFIX}${importKey.slice(IMPORTS_PREFIX.length)}.report.json`;
  const importReport = await new BlobStore(stack.emulators.s3Client(), bucket).getJson<ImportReport>(reportKey);
  if (!importReport) throw new Error(`the bulk import wrote no report at ${reportKey}`);
  log(`S3 upload s3://${bucket}/${importKey}: ${importReport.accepted} POS events imported, ${importReport.rejected} rejected (report ${reportKey})`);

  const features = (await stack.runSchedule('buildFeatures')) as { features?: { counts: { users: number; items: number } } };
  log(`feature job: ${features.features?.counts.users ?? 0} user rows, ${features.features?.counts.items ?? 0} item rows`);

  const execution = await stack.runStateMachine('retrain', { trigger: 'npm-start' });
  const report = execution.output as RunReport | undefined;
  log(`retraining state machine: ${execution.status}, outcome ${report?.outcome ?? execution.error}`);

  const members = shop.shoppers.filter((s) => s.userId).slice(0, 3);
  const recommendations: DemoSummary['recommendations'] = [];
  for (const userId of [...members.map((s) => s.userId as string), 'someone-new']) {
    const response = await fetch(`${stack.url}/v1/users/${encodeURIComponent(userId)}/recommendations?k=5`);
    const body = (await response.json()) as { strategy?: string; items?: { itemId: string }[] };
    recommendations.push({ userId, strategy: body.strategy ?? `HTTP ${response.status}`, items: (body.items ?? []).map((i) => i.itemId) });
  }
  const run: DemoSummary['run'] = { status: execution.status };
  if (report?.outcome) run.outcome = report.outcome;
  const version = report?.promoted?.version ?? report?.candidate?.version;
  if (version) run.modelVersion = version;
  if (report?.metrics) run.metrics = pick(report.metrics);
  if (report?.baseline) run.baseline = pick(report.baseline);
  const summary: DemoSummary = {
    ok: execution.status === 'SUCCEEDED' && report?.outcome === 'promoted' && catalogue.rejected === 0 && recommendations.every((r) => r.items.length > 0),
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
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  return summary;
}

function pick(metrics: Record<string, number>): Record<string, number> {
  const keys = ['HR@10', 'NDCG@10', 'MRR@10', 'HR@20', 'count'];
  return Object.fromEntries(keys.filter((k) => k in metrics).map((k) => [k, Number((metrics[k] as number).toFixed(4))]));
}
