/**
 * `npm start`: boots the embedded local stack (dynalite, s3rver, HTTP API, S3 triggers, the retraining
 * state machine), runs the demo shop through it, prints metrics and recommendations, then keeps serving.
 * `npm start -- --once` exits after the run and prints a one-line JSON summary last: exit code 0 when
 * the run is healthy (each model family promoted, or its champion still serving), 1 otherwise.
 * Exit code 75 (EX_TEMPFAIL) when another `npm start` holds the data directory (its lock names it).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { demoAuthHeaders } from '../demo/credentials';
import { openClasses } from '../http/authorize';
import { DataDirInUseError, describeHolder, type LocalStack, startLocalStack } from '../local';
import { describeChampion, runDemo } from '../demo/run';

const { values } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    port: { type: 'string' },
    seed: { type: 'string', default: '42' },
    shoppers: { type: 'string', default: '400' },
    items: { type: 'string', default: '300' },
    days: { type: 'string', default: '42' },
    // Capture batches in flight: every local Lambda shares this process, so a busy or small machine may want fewer.
    concurrency: { type: 'string', default: '4' },
    'data-dir': { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

// Function logs and EMF metrics are JSON lines meant for CloudWatch; keep the console readable.
if (!values.verbose) {
  process.env.LOG_LEVEL ??= 'WARN';
  process.env.METRICS_DISABLED ??= 'true';
}

const projectRoot = resolve(import.meta.dirname, '../..');
const port = Number(values.port ?? process.env.PORT ?? 3000);
const out = (line: string) => process.stdout.write(`${line}\n`);

/** A curl of a read route, with the header it needs when keys are configured (never the key itself). */
function curlExample(url: string, userId: string): string {
  const path = `/v1/users/${userId}/recommendations?k=10`;
  const auth = demoAuthHeaders('GET', path).authorization ? ` -H 'Authorization: Bearer <your ${process.env.READ_KEYS ? 'read' : 'admin'} key>'` : '';
  return `curl${auth} ${url}${path}`;
}

/** Loud, on stderr: the route classes this local stack serves without any key (README "Credentials"). */
function warnOpenClasses(): void {
  const open = openClasses(process.env);
  if (open.length === 0) return;
  const lists = { write: 'WRITE_KEYS', read: 'READ_KEYS or ADMIN_KEYS', admin: 'ADMIN_KEYS' };
  const bar = '!'.repeat(100);
  process.stderr.write(
    `${bar}\n!! OPEN LOCAL STACK: ${open.map((c) => `${c} routes`).join(', ')} accept requests WITHOUT ANY KEY (no ${open.map((c) => lists[c]).join(' / ')} set).\n` +
      `!! Fine on a laptop; a deployed stack never does this (no key configured = 503). Set the keys to try it as deployed:\n` +
      `!!   WRITE_KEYS=wk_local READ_KEYS=rk_local ADMIN_KEYS=ak_local npm start\n${bar}\n`,
  );
}
const dataDir = resolve(values['data-dir'] ?? resolve(projectRoot, '.local-data'));

/** Exit code when the data directory is held by another local stack. */
const EXIT_DATA_DIR_IN_USE = 75;

let running: LocalStack | undefined;
let serving = false;
let stopping = false;

/** Ctrl-C / SIGTERM at any time: stop the stack (releasing the data directory's lock) and exit (0 once the demo is done and the stack only serves). */
function onSignal(signal: NodeJS.Signals): void {
  const code = serving ? 0 : signal === 'SIGINT' ? 130 : 143;
  if (stopping) process.exit(code); // a second signal: leave now (the lock is released on exit)
  stopping = true;
  const stack = running;
  const stopped = stack ? stack.stop().catch(() => undefined) : Promise.resolve();
  const timer = setTimeout(() => process.exit(code), 5000);
  timer.unref();
  void stopped.then(() => process.exit(code));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function main(): Promise<number> {
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      projectRoot,
      dataDir,
      port: values.once && values.port === undefined && process.env.PORT === undefined ? 0 : port,
      stage: 'local',
      quiet: true,
    });
  } catch (error) {
    if (!(error instanceof DataDirInUseError)) throw error;
    process.stderr.write(`npm start: the data directory ${error.dataDir} is in use by another local stack: ${describeHolder(error.holder)}.\n`);
    process.stderr.write(`Stop that process, or start this one on another directory: npm start -- --data-dir <dir>   (lock file ${error.lockPath})\n`);
    return EXIT_DATA_DIR_IN_USE;
  }
  running = stack;
  out(`local stack: HTTP API on ${stack.url} (dynalite ${stack.emulators.dynamodbEndpoint}, s3rver ${stack.emulators.s3Endpoint})`);
  warnOpenClasses();
  try {
    const summary = await runDemo(stack, {
      seed: Number(values.seed),
      shoppers: Number(values.shoppers),
      items: Number(values.items),
      days: Number(values.days),
      concurrency: Math.max(1, Number(values.concurrency) || 4),
      log: (line) => out(`  ${line}`),
    });
    out('');
    out(`holdout metrics  model ${JSON.stringify(summary.run.metrics ?? {})}`);
    out(`                 popularity baseline ${JSON.stringify(summary.run.baseline ?? {})}`);
    for (const family of summary.run.families) out(`champion model   ${family.family} ${describeChampion(family)}`);
    if (summary.run.families.length === 0) out(`champion model   (none) (run ${summary.run.outcome ?? summary.run.status})`);
    for (const problem of summary.problems ?? []) out(`problem          ${problem}`);
    for (const r of summary.recommendations) out(`recommendations  ${r.userId} [${r.strategy}]: ${r.items.join(', ')}`);
    if (values.once) {
      stopping = true;
      await stack.stop();
      out(JSON.stringify(summary));
      return summary.ok ? 0 : 1;
    }
    out('');
    serving = true;
    out(`serving on ${stack.url}  e.g. ${curlExample(stack.url, summary.recommendations[0]?.userId ?? 'U-0001')}   (Ctrl-C to stop)`);
    return -1;
  } catch (error) {
    stopping = true;
    await stack.stop().catch(() => {});
    throw error;
  }
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error) => {
    process.stderr.write(`npm start failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
