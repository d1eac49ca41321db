/**
 * The quarantine from the command line:
 *
 *   npx tsx shared/cli/quarantine.ts list   --day 2026-11-28 [--limit 100] [--cursor C] [--all] [--json]
 *   npx tsx shared/cli/quarantine.ts replay --day 2026-11-28 [--id <row id>]… [--patch '{"context":{"channel":"pos"}}']
 *                                           [--patch-file fix.json] [--limit 500] [--all] [--json]
 *
 * Where it works (one of):
 *   --url http://127.0.0.1:3000   through the HTTP API (a running local stack, or a deployed API);
 *                                 the admin key from --admin-key or env ADMIN_KEY (unless the API is open)
 *   (default)                     directly on the local stack's data dir (--data-dir, default .local-data;
 *                                 --stage, default local as `npm start` uses); the stack must not be running
 *                                 on that dir (LevelDB allows one process): use --url then
 *   --aws                         directly on AWS with the environment's credentials; bucket and table from
 *                                 DATA_BUCKET / PROFILES_TABLE or from serverless.yml for --stage (default dev)
 *
 * The last line printed is the JSON result (a page, or the replay reports). Exit codes: 0 done, 1 error or
 * bad usage, 2 replay finished but some rows still fail (listed with their reasons) or were not found.
 */
import { secrets } from '../config/secrets';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { documentClient, s3Client } from '../aws/clients';
import { hostileInputIssues } from '../capture/normalise';
import { listQuarantine, type QuarantineItem, type QuarantinePage } from '../capture/quarantine';
import { type ReplayReport, type ReplayRequest, replayQuarantine } from '../capture/replay';
import { daySchema, quarantineIdSchema } from '../capture/schema';
import type { CaptureDeps } from '../capture/service';
import { type Emulators, loadServerlessConfig, startEmulators } from '../local';
import { ProfileRepository } from '../profiles/repository';
import { S3ObjectStore } from '../storage/s3-object-store';

const projectRoot = resolve(import.meta.dirname, '../..');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    day: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    id: { type: 'string', multiple: true },
    patch: { type: 'string' },
    'patch-file': { type: 'string' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    url: { type: 'string' },
    'admin-key': { type: 'string' },
    aws: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    stage: { type: 'string' },
    region: { type: 'string' },
  },
});

class UsageError extends Error {}

const say = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

function requireDay(): string {
  const parsed = daySchema.safeParse(values.day);
  if (!parsed.success) throw new UsageError(`--day ${values.day === undefined ? 'is required' : parsed.error.issues[0]?.message} (YYYY-MM-DD)`);
  return parsed.data;
}

function limitOf(fallback: number, max: number): number {
  if (values.limit === undefined) return fallback;
  const n = Number(values.limit);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--limit must be an integer from 1 to ${max}`);
  return n;
}

function patchOf(): Record<string, unknown> | undefined {
  const text = values['patch-file'] ? readFileSync(values['patch-file'], 'utf8') : values.patch;
  if (text === undefined) return undefined;
  let patch: unknown;
  try {
    patch = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--patch is not JSON: ${(error as Error).message}`);
  }
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new UsageError('--patch must be a JSON object (a merge patch)');
  const hostile = hostileInputIssues(patch);
  if (hostile.length > 0) throw new UsageError(`--patch ${hostile.map((i) => i.reason).join('; ')}`);
  return patch as Record<string, unknown>;
}

function idsOf(): string[] | undefined {
  if (!values.id?.length) return undefined;
  for (const id of values.id) if (!quarantineIdSchema.safeParse(id).success) throw new UsageError(`--id ${id} is not a quarantine row id (32 hex characters)`);
  return values.id;
}

/** The two operations, over HTTP or directly on the stores. */
interface Target {
  list(day: string, limit: number, cursor?: string): Promise<QuarantinePage>;
  replay(request: ReplayRequest): Promise<ReplayReport>;
  close(): Promise<void>;
}

function httpTarget(base: string): Target {
  const key = values['admin-key'] ?? process.env.ADMIN_KEY;
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
  const call = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const response = await fetch(new URL(path, base), { ...init, headers });
    const body = (await response.json().catch(() => ({}))) as T & { error?: string; reason?: string; issues?: unknown };
    if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path} answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  };
  return {
    list: (day, limit, cursor) => call<QuarantinePage>(`/v1/quarantine?${new URLSearchParams({ day, limit: String(limit), ...(cursor ? { cursor } : {}) })}`),
    replay: (request) => call<ReplayReport>('/v1/quarantine/replay', { method: 'POST', body: JSON.stringify({ ...request, by: undefined }) }),
    close: async () => undefined,
  };
}

function storeTarget(deps: CaptureDeps, stop: () => Promise<void>): Target {
  return {
    list: (day, limit, cursor) => listQuarantine(deps.blobs, { day, limit, ...(cursor ? { cursor } : {}) }),
    replay: (request) => replayQuarantine(deps, request),
    close: stop,
  };
}

async function openTarget(): Promise<Target> {
  if (values.url) return httpTarget(values.url);
  if (values.aws) {
    const config = loadServerlessConfig(resolve(projectRoot, 'serverless.yml'), {
      stage: values.stage ?? 'dev',
      ...(values.region ? { region: values.region } : {}),
    });
    process.env.AWS_REGION ??= config.region;
    const bucket = process.env.DATA_BUCKET ?? config.provider.environment.DATA_BUCKET;
    const table = process.env.PROFILES_TABLE ?? config.provider.environment.PROFILES_TABLE;
    if (!bucket || !table) throw new UsageError('no bucket or table name: set DATA_BUCKET and PROFILES_TABLE');
    say(`AWS: s3://${bucket}, table ${table} (${process.env.AWS_REGION})`);
    // PII_HASH_KEY_PARAMETER in the shell: read the key from SSM as the deployed functions do.
    await secrets().load();
    return storeTarget({ blobs: new S3ObjectStore(s3Client(), bucket), profiles: new ProfileRepository(documentClient(), table) }, async () => undefined);
  }
  const config = loadServerlessConfig(resolve(projectRoot, 'serverless.yml'), { stage: values.stage ?? 'local' });
  const dataDir = resolve(values['data-dir'] ?? resolve(projectRoot, '.local-data'));
  let emulators: Emulators;
  try {
    emulators = await startEmulators({ dataDir, config });
  } catch (error) {
    if (/lock/i.test(String((error as Error).message))) throw new UsageError(`${dataDir} is in use (is the local stack running?): use --url <its HTTP API>`);
    throw error;
  }
  const env = config.provider.environment;
  say(`local data dir ${dataDir}: s3://${env.DATA_BUCKET}, table ${env.PROFILES_TABLE}`);
  return storeTarget(
    { blobs: new S3ObjectStore(s3Client(), env.DATA_BUCKET as string), profiles: new ProfileRepository(documentClient(), env.PROFILES_TABLE as string) },
    () => emulators.stop(),
  );
}

function describe(item: QuarantineItem): string {
  const reasons = item.reasons.map((r) => `${r.field}: ${r.reason}`).join('; ');
  return `${item.id}  ${item.kind.padEnd(7)} ${item.replayed ? 'replayed' : 'pending '}  ${item.source}  ${reasons}`;
}

async function listCommand(target: Target, day: string): Promise<number> {
  const limit = limitOf(100, 1000);
  const items: QuarantineItem[] = [];
  let cursor = values.cursor;
  do {
    const page = await target.list(day, limit, cursor);
    for (const item of page.items) say(describe(item));
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (values.all && cursor);
  say(`${items.length} row(s) on ${day}${cursor ? `; more with --cursor ${cursor}` : ''}`);
  process.stdout.write(`${JSON.stringify({ day, items, ...(cursor ? { nextCursor: cursor } : {}) })}\n`);
  return 0;
}

async function replayCommand(target: Target, day: string): Promise<number> {
  const ids = idsOf();
  const patch = patchOf();
  const limit = limitOf(500, 2500);
  const reports: ReplayReport[] = [];
  for (;;) {
    const report = await target.replay({ day, limit, ...(ids ? { ids } : {}), ...(patch ? { patch } : {}), by: 'shared/cli/quarantine.ts' });
    reports.push(report);
    say(
      `replayed ${report.replayed}/${report.considered} row(s): ${report.accepted} accepted, ${report.duplicates} already counted, ${report.stillRejected.length} still rejected, ${report.remaining} remaining`,
    );
    for (const rejected of report.stillRejected) say(`  ${rejected.id}: ${rejected.issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`);
    // Rows that still fail are not replayed, so they would come back in every call: stop on no progress.
    if (!values.all || report.remaining === 0 || report.replayed === 0) break;
  }
  process.stdout.write(`${JSON.stringify({ day, reports })}\n`);
  return reports.some((r) => r.stillRejected.length > 0 || r.notFound.length > 0) ? 2 : 0;
}

async function main(): Promise<number> {
  const command = positionals[0];
  if (command !== 'list' && command !== 'replay')
    throw new UsageError('usage: quarantine.ts list|replay --day YYYY-MM-DD [options] (see the header of shared/cli/quarantine.ts)');
  const day = requireDay();
  const target = await openTarget();
  try {
    return command === 'list' ? await listCommand(target, day) : await replayCommand(target, day);
  } finally {
    await target.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof UsageError ? error.message : ((error as Error).stack ?? String(error))}\n`);
    process.exitCode = 1;
  },
);
