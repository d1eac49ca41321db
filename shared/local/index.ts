/**
 * The embedded local stack: serverless.yml read once, DynamoDB and S3 emulated in process with
 * their real wire protocols (persisted under dataDir), the HTTP API served over node:http, S3
 * notifications routed to their functions, state machines and schedules run on demand. One stack
 * per data directory: `<dataDir>/local-stack.lock` (./data-lock.ts) is held from start to stop.
 */
import { join, resolve as resolvePath } from 'node:path';
import { acquireDataDirLock, type DataDirLock } from './data-lock';
import { type Emulators, startEmulators } from './emulators';
import { type HttpApi, startHttpApi } from './http-api';
import { invokeFunction } from './invoke';
import { type S3EventError, type S3EventRouter, startS3EventRouter } from './s3-events';
import { type LoadServerlessConfigOptions, loadServerlessConfig, type ServerlessConfig } from './serverless-config';
import { type RunStateMachineOptions, runScheduledFunction, runStateMachine, type StateMachineResult, waitForBackgroundTasks } from './step-functions';

export * from './data-lock';
export * from './emulators';
export * from './http-api';
export * from './invoke';
export * from './s3-events';
export * from './serverless-config';
export * from './step-functions';

export interface StartLocalStackOptions {
  /** Directory holding serverless.yml and the handler sources. */
  projectRoot: string;
  /** Persisted emulator state (`dynamodb/`, `s3/`); default `<projectRoot>/.local-data` (git-ignored). */
  dataDir?: string;
  /** HTTP API port; 0 = a free one (default 0). */
  port?: number;
  /** `--stage`, default the config's own default (`${opt:stage, 'dev'}`). */
  stage?: string;
  region?: string;
  /** Source of `${env:...}` (default process.env). */
  env?: Record<string, string | undefined>;
  /** serverless.yml path (default `<projectRoot>/serverless.yml`). */
  configPath?: string;
  host?: string;
  /** Do not log handler errors to the console (they are still collected). */
  quiet?: boolean;
  /** Also run enabled `rate(...)` schedules on timers (default false: run them with runSchedule). */
  schedules?: boolean;
  /**
   * Take `<dataDir>/local-stack.lock` first (default true): a second stack on the same data directory
   * fails with DataDirInUseError (naming the holder) instead of breaking dynalite's LevelDB.
   */
  lockDataDir?: boolean;
}

export interface StateMachineRunOptions extends Omit<RunStateMachineOptions, 'config' | 'projectRoot' | 'name' | 'input'> {}

export interface LocalStack {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:3000`. */
  url: string;
  port: number;
  config: ServerlessConfig;
  emulators: Pick<Emulators, 's3Endpoint' | 'dynamodbEndpoint' | 'region' | 's3Client' | 'dynamodbClient' | 'created'>;
  /** Invoke any function directly with an event. */
  invoke(fnName: string, event: unknown): Promise<unknown>;
  /** Run a state machine (key in serverless.yml or its deployed name) to completion. */
  runStateMachine(name: string, input?: unknown, options?: StateMachineRunOptions): Promise<StateMachineResult>;
  /**
   * Run a schedule now: a function's schedule event (its `input` or a CloudWatch scheduled
   * event), or, for a state machine name, the machine with its schedule's `input`.
   */
  runSchedule(name: string): Promise<unknown>;
  s3Events: Pick<S3EventRouter, 'waitForIdle' | 'errors' | 'invocations'> & {
    onError(listener: (error: S3EventError) => void): () => void;
  };
  stop(): Promise<void>;
}

/** `rate(5 minutes)` -> ms; undefined for cron() and anything else. */
export function rateToMs(expression: string): number | undefined {
  const m = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] as string;
  const base = unit.startsWith('minute') ? 60_000 : unit.startsWith('hour') ? 3_600_000 : 86_400_000;
  return n * base;
}

/** Takes the data directory's lock (unless `lockDataDir: false`), then starts the emulators on it; a failed start releases the lock. */
async function lockAndStartEmulators(
  dataDir: string,
  config: ServerlessConfig,
  options: Pick<StartLocalStackOptions, 'lockDataDir' | 'host'>,
): Promise<{ lock?: DataDirLock; emulators: Emulators }> {
  const lock = options.lockDataDir === false ? undefined : acquireDataDirLock(dataDir);
  try {
    const emulators = await startEmulators({ dataDir, config, ...(options.host ? { host: options.host } : {}) });
    return lock ? { lock, emulators } : { emulators };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

export async function startLocalStack(options: StartLocalStackOptions): Promise<LocalStack> {
  const projectRoot = resolvePath(options.projectRoot);
  const configOptions: LoadServerlessConfigOptions = {};
  if (options.stage !== undefined) configOptions.stage = options.stage;
  if (options.region !== undefined) configOptions.region = options.region;
  if (options.env !== undefined) configOptions.env = options.env;
  const config = loadServerlessConfig(options.configPath ?? join(projectRoot, 'serverless.yml'), configOptions);
  const dataDir = resolvePath(options.dataDir ?? join(projectRoot, '.local-data'));

  const { lock, emulators } = await lockAndStartEmulators(dataDir, config, options);
  const errorListeners = new Set<(error: S3EventError) => void>();
  const quiet = options.quiet ?? false;
  let router: S3EventRouter | undefined;
  let api: HttpApi | undefined;
  const timers: NodeJS.Timeout[] = [];

  const stop = async () => {
    for (const t of timers) clearInterval(t);
    timers.length = 0;
    router?.close();
    const errors: unknown[] = [];
    await api?.close().catch((e: unknown) => errors.push(e));
    await router?.waitForIdle();
    // Containers started by a plain ecs:runTask still use the emulators.
    await waitForBackgroundTasks();
    await emulators.stop().catch((e: unknown) => errors.push(e));
    lock?.release();
    if (errors.length) throw new AggregateError(errors, 'Errors while stopping the local stack');
  };

  try {
    router = startS3EventRouter({
      config,
      projectRoot,
      emitter: emulators.s3rver,
      s3Client: emulators.s3Client(),
      quiet,
      onError: (e) => {
        for (const l of errorListeners) l(e);
      },
    });
    api = await startHttpApi({
      config,
      projectRoot,
      port: options.port ?? 0,
      quiet,
      ...(options.host ? { host: options.host } : {}),
    });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }

  const runMachine = (name: string, input?: unknown, runOptions?: StateMachineRunOptions) =>
    runStateMachine({ ...runOptions, config, projectRoot, name, input: input ?? {} });

  const runSchedule = async (name: string): Promise<unknown> => {
    if (config.functions[name]) return runScheduledFunction(config, projectRoot, name);
    const sm = config.stateMachines[name] ?? Object.values(config.stateMachines).find((s) => s.name === name);
    if (sm) {
      const schedule = sm.events[0];
      if (!schedule) throw new Error(`State machine ${name} has no schedule event`);
      return runMachine(sm.key, schedule.input ?? {});
    }
    throw new Error(`No function or state machine named "${name}"`);
  };

  if (options.schedules) {
    const every = (name: string, expression: string) => {
      const ms = rateToMs(expression);
      if (ms === undefined) {
        if (!quiet) console.warn(`[local schedules] ${name}: "${expression}" is not run on a timer (only rate(...))`);
        return;
      }
      const t = setInterval(() => {
        runSchedule(name).catch((err: unknown) => {
          if (!quiet) console.error(`[local schedules] ${name} failed:`, err);
        });
      }, ms);
      t.unref();
      timers.push(t);
    };
    for (const fn of Object.values(config.functions)) {
      const first = fn.events.find((e) => e.type === 'schedule' && e.enabled);
      if (first?.type === 'schedule') every(fn.name, first.rate);
    }
    for (const sm of Object.values(config.stateMachines)) {
      const first = sm.events.find((e) => e.enabled);
      if (first) every(sm.key, first.rate);
    }
  }

  const s3Router = router;
  const httpApi = api;
  return {
    url: httpApi.url,
    port: httpApi.port,
    config,
    emulators: {
      s3Endpoint: emulators.s3Endpoint,
      dynamodbEndpoint: emulators.dynamodbEndpoint,
      region: emulators.region,
      s3Client: emulators.s3Client,
      dynamodbClient: emulators.dynamodbClient,
      created: emulators.created,
    },
    invoke: (fnName, event) => {
      const fn = config.functions[fnName];
      if (!fn) return Promise.reject(new Error(`Unknown function "${fnName}"`));
      return invokeFunction(fn, event, { projectRoot, region: config.region });
    },
    runStateMachine: runMachine,
    runSchedule,
    s3Events: {
      waitForIdle: () => s3Router.waitForIdle(),
      errors: s3Router.errors,
      invocations: s3Router.invocations,
      onError: (listener) => {
        errorListeners.add(listener);
        return () => errorListeners.delete(listener);
      },
    },
    stop,
  };
}
