/**
 * Capture throughput. `npm run bench -- capture`
 *
 * 1. CPU path, no I/O, one core: validate (hostile-input walk + zod) → normalise → stitch → serialise
 *    to the raw-storage format (gzipped NDJSON per event day, the bytes storeRawEvents PUTs), for
 *    batches of 500 realistic messages from the shop simulator. Goal: ≥ 50,000 events/s per core.
 *    Stitching here is the in-batch part (a login's anonymous id joins its user profile; ids map to
 *    profile ids); identity's DynamoDB lookups are I/O and belong to the end-to-end figure.
 * 2. End to end over HTTP (skipped with CAPTURE_BENCH_SKIP_HTTP=1): POST /v1/batch (500 messages, write key in Basic auth) against the
 *    embedded local stack (dynalite + s3rver in this process), sequential and with 4 clients.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CanonicalEvent, PendingEvent } from '../../shared/events/canonical';
import { encodeRawEvents } from '../../shared/capture/raw-events';
import { validateMessages } from '../../shared/capture/service';
import { startLocalStack } from '../../shared/local';
import { primaryProfileId } from '../../shared/profiles/profile';
import { simulateShop } from '../../shared/simulator/shop';

const BATCH = 500;

/**
 * In-batch stitching: a message with both ids links its anonymous id to the user's profile; each
 * distinct id is turned into a profile id once per batch (primaryProfileId hashes).
 */
function stitchInBatch(events: readonly PendingEvent[]): CanonicalEvent[] {
  const users = new Map<string, string>();
  const userProfile = (userId: string) => users.get(userId) ?? (users.set(userId, primaryProfileId({ userId })).get(userId) as string);
  const anonymous = new Map<string, string>();
  for (const e of events) if (e.userId && e.anonymousId && !anonymous.has(e.anonymousId)) anonymous.set(e.anonymousId, userProfile(e.userId));
  return events.map((e) => {
    if (e.userId) return { ...e, profileId: userProfile(e.userId) };
    const anonymousId = e.anonymousId as string;
    const linked = anonymous.get(anonymousId) ?? (anonymous.set(anonymousId, primaryProfileId({ anonymousId })).get(anonymousId) as string);
    return { ...e, profileId: linked };
  });
}

function batches(messages: readonly unknown[]): unknown[][] {
  const out: unknown[][] = [];
  for (let i = 0; i + BATCH <= messages.length; i += BATCH) out.push(messages.slice(i, i + BATCH));
  return out;
}

function cpuPath(all: unknown[][], receivedAt: Date): { events: number; bytes: number; rejected: number } {
  let events = 0;
  let bytes = 0;
  let rejected = 0;
  for (const batch of all) {
    const { valid, rejected: bad } = validateMessages(batch, receivedAt);
    const objects = encodeRawEvents(stitchInBatch(valid));
    events += valid.length;
    rejected += bad.length;
    for (const o of objects) bytes += o.body.length;
  }
  return { events, bytes, rejected };
}

export default async function captureBench(): Promise<Record<string, unknown>> {
  const shop = simulateShop({ seed: 11, shoppers: 3000, items: 400, days: 30 });
  const messages = shop.events as unknown[];
  // Clock-skew correction and the 24 h future check use receivedAt: "now" is just after the simulated period.
  const receivedAt = new Date(Date.parse(shop.period.end) + 3_600_000);
  const all = batches(messages);
  const total = all.length * BATCH;
  const rawBytes = Buffer.byteLength(JSON.stringify(messages.slice(0, total)));
  process.stdout.write(`${total} simulated messages in ${all.length} batches of ${BATCH} (avg ${(rawBytes / total).toFixed(0)} B/message as JSON)\n`);

  // Warm-up (JIT), then 5 timed passes over every batch. The path is single-threaded (gzipSync runs
  // on the main thread), so events per second of process CPU time is the per-core rate, and it does
  // not drop when other processes share the machine; wall-clock rates are printed beside it.
  cpuPath(all.slice(0, 10), receivedAt);
  const perCpuSecond: number[] = [];
  const perWallSecond: number[] = [];
  let last = { events: 0, bytes: 0, rejected: 0 };
  for (let pass = 0; pass < 5; pass++) {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    last = cpuPath(all, receivedAt);
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    perCpuSecond.push(last.events / ((used.user + used.system) / 1e6));
    perWallSecond.push(last.events / wall);
  }
  if (last.rejected > 0) throw new Error(`${last.rejected} simulated messages were rejected: the bench would measure the wrong path`);
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const best = median(perCpuSecond);
  const bestWall = Math.max(...perWallSecond);
  process.stdout.write(
    `CPU path (validate + normalise + stitch + NDJSON gzip): ${best.toFixed(0)} events per CPU-second (median of 5 passes; goal ≥ 50000: ${best >= 50_000 ? 'met' : 'NOT met'}); wall clock best ${bestWall.toFixed(0)} events/s, median ${median(perWallSecond).toFixed(0)} (load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores); ${(last.bytes / last.events).toFixed(0)} B/event stored\n`,
  );

  const cpuFigures = {
    messages: total,
    batchSize: BATCH,
    cpuEventsPerCpuSecond: Math.round(best),
    cpuEventsPerWallSecondBest: Math.round(bestWall),
    loadAverage: Number(loadavg()[0]?.toFixed(1)),
    storedBytesPerEvent: Math.round(last.bytes / last.events),
    goalEventsPerSecondPerCore: 50_000,
    goalMet: best >= 50_000,
  };
  if (process.env.CAPTURE_BENCH_SKIP_HTTP === '1') return cpuFigures;

  // End to end over HTTP against the embedded local stack.
  process.env.LOG_LEVEL = 'ERROR';
  process.env.METRICS_DISABLED = 'true';
  process.env.WRITE_KEYS = 'bench-write-key';
  const dataDir = mkdtempSync(join(tmpdir(), 'capture-bench-'));
  const stack = await startLocalStack({ projectRoot: resolve(import.meta.dirname, '../..'), dataDir, stage: 'bench', quiet: true });
  const authorization = `Basic ${Buffer.from('bench-write-key:').toString('base64')}`;
  const bodies = all.slice(0, 21).map((batch) => JSON.stringify({ batch, sentAt: receivedAt.toISOString() }));
  const post = async (body: string) => {
    const response = await fetch(`${stack.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body });
    const out = (await response.json()) as { accepted?: number };
    if (response.status !== 200 || out.accepted !== BATCH) throw new Error(`POST /v1/batch answered ${response.status}: ${JSON.stringify(out).slice(0, 300)}`);
  };
  let sequential = 0;
  let parallel = 0;
  try {
    await post(bodies[0] as string); // cold start of the handler module
    const seqBodies = bodies.slice(1, 11);
    let started = performance.now();
    for (const body of seqBodies) await post(body);
    sequential = (seqBodies.length * BATCH) / ((performance.now() - started) / 1000);
    const parBodies = bodies.slice(11, 21);
    const queue = [...parBodies];
    started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let body = queue.shift(); body; body = queue.shift()) await post(body);
      }),
    );
    parallel = (parBodies.length * BATCH) / ((performance.now() - started) / 1000);
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.stdout.write(
    `End to end over HTTP (local stack, dynalite + s3rver in process): ${sequential.toFixed(0)} events/s sequential, ${parallel.toFixed(0)} events/s with 4 clients\n`,
  );
  return { ...cpuFigures, httpEventsPerSecondSequential: Math.round(sequential), httpEventsPerSecondFourClients: Math.round(parallel) };
}
