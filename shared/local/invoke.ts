/**
 * Runs a function's handler in this process the way Lambda would: its module is imported once
 * (module scope = one warm container), each call gets a Lambda context and the function's
 * environment, and the function's timeout is enforced.
 *
 * The process runs under tsx or vitest, so handler modules are imported from their `.ts` source.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import type { FunctionConfig } from './serverless-config';

export type LambdaHandler = (event: unknown, context: Context, callback?: (err?: unknown, result?: unknown) => void) => unknown;

const EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs'];

/** `functions/http/capture-batch` -> `<root>/functions/http/capture-batch.ts` (or .js, or /index.ts). */
export function resolveHandlerFile(projectRoot: string, fn: Pick<FunctionConfig, 'handlerModule' | 'name'>): string {
  const base = isAbsolute(fn.handlerModule) ? fn.handlerModule : resolvePath(projectRoot, fn.handlerModule);
  const candidates = [...EXTENSIONS.map((ext) => base + ext), ...EXTENSIONS.map((ext) => join(base, `index${ext}`)), base];
  for (const file of candidates) if (existsSync(file) && !file.endsWith('/')) return file;
  throw new Error(`Handler module of function ${fn.name} not found: tried ${base}{${EXTENSIONS.join(',')}}`);
}

const handlerCache = new Map<string, Promise<LambdaHandler>>();

/** Imports (once) and returns the exported handler of a function. */
export function loadHandler(projectRoot: string, fn: FunctionConfig): Promise<LambdaHandler> {
  const file = resolveHandlerFile(projectRoot, fn);
  const key = `${file}#${fn.handlerExport}`;
  let cached = handlerCache.get(key);
  if (!cached) {
    cached = (async () => {
      const mod = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
      const exported = mod[fn.handlerExport] ?? (mod.default as Record<string, unknown> | undefined)?.[fn.handlerExport];
      if (typeof exported !== 'function') {
        throw new Error(`Function ${fn.name}: ${file} does not export a function named "${fn.handlerExport}"`);
      }
      return exported as LambdaHandler;
    })();
    // A failed import is not cached: fix the file and call again.
    cached.catch(() => handlerCache.delete(key));
    handlerCache.set(key, cached);
  }
  return cached;
}

/** Forget imported handlers (the modules themselves stay in the module cache). */
export function clearHandlerCache(): void {
  handlerCache.clear();
}

export class LambdaTimeoutError extends Error {
  constructor(seconds: number) {
    super(`Task timed out after ${seconds.toFixed(2)} seconds`);
    // What Step Functions reports for a Lambda that timed out.
    this.name = 'Sandbox.Timedout';
  }
}

// Environment of concurrent invocations: values are set when an invocation starts and the
// previous values restored when the last running invocation ends. Two different functions
// running at the same time share one process.env (last writer wins), unlike real Lambda.
let activeInvocations = 0;
const savedEnv = new Map<string, string | undefined>();

function applyEnv(vars: Record<string, string>): void {
  for (const [name, value] of Object.entries(vars)) {
    if (!savedEnv.has(name)) savedEnv.set(name, process.env[name]);
    process.env[name] = value;
  }
}

function restoreEnv(): void {
  for (const [name, value] of savedEnv) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  savedEnv.clear();
}

export interface InvokeOptions {
  /** Where handler modules are resolved (default: the directory of serverless.yml). */
  projectRoot?: string;
  /** Enforce the function timeout (default true). */
  enforceTimeout?: boolean;
  /** Region for the ARN in the context (default AWS_REGION or us-east-1). */
  region?: string;
  requestId?: string;
}

export function createLambdaContext(fn: FunctionConfig, deadline: number, options: InvokeOptions = {}): Context {
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.deployedName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${fn.deployedName}`,
    memoryLimitInMB: String(fn.memorySize),
    awsRequestId: options.requestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${fn.deployedName}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  return context;
}

/**
 * Invokes a function's handler with an event. Resolves with the handler's result; rejects with
 * the handler's error (or a LambdaTimeoutError). Callback-style handlers are supported.
 */
export async function invokeFunction(fn: FunctionConfig, event: unknown, options: InvokeOptions = {}): Promise<unknown> {
  const handler = await loadHandler(options.projectRoot ?? fn.servicePath, fn);
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const deadline = Date.now() + fn.timeout * 1000;
  const context = createLambdaContext(fn, deadline, { ...options, region });

  activeInvocations++;
  applyEnv({
    ...fn.environment,
    AWS_LAMBDA_FUNCTION_NAME: fn.deployedName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(fn.timeout),
    AWS_LAMBDA_LOG_GROUP_NAME: context.logGroupName,
    AWS_LAMBDA_LOG_STREAM_NAME: context.logStreamName,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const callback = (err?: unknown, result?: unknown) => {
        if (settled) return;
        settled = true;
        if (err !== undefined && err !== null) reject(err);
        else resolve(result);
      };
      context.done = callback as Context['done'];
      context.fail = ((err: unknown) => callback(err ?? new Error('fail'))) as Context['fail'];
      context.succeed = ((result: unknown) => callback(undefined, result)) as Context['succeed'];
      try {
        const out = handler(event, context, callback);
        // Async handlers (or ones returning a promise) settle through it; callback style (3
        // parameters, no promise) through the callback.
        if (out && typeof (out as Promise<unknown>).then === 'function') {
          (out as Promise<unknown>).then(
            (r) => callback(undefined, r),
            (e: unknown) => callback(e ?? new Error('Handler rejected')),
          );
        } else if (handler.length < 3) {
          callback(undefined, out);
        }
      } catch (err) {
        callback(err);
      }
    });
    if (options.enforceTimeout === false) return await run;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LambdaTimeoutError(fn.timeout)), fn.timeout * 1000);
      timer.unref();
    });
    return await Promise.race([run, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
    activeInvocations--;
    if (activeInvocations === 0) restoreEnv();
  }
}

/** How Lambda reports a thrown value: `{ errorType, errorMessage, trace }`. */
export function lambdaErrorPayload(err: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message,
      trace: (err.stack ?? '').split('\n'),
    };
  }
  return { errorType: 'Error', errorMessage: typeof err === 'string' ? err : JSON.stringify(err), trace: [] };
}
