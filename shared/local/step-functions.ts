/**
 * Runs the state machines of serverless.yml locally with aws-local-stepfunctions: the SAME
 * definition, with every Lambda task executed by the function's handler in this process.
 *
 * - `arn:aws:states:::lambda:invoke` tasks receive `{ FunctionName, Payload }` and answer
 *   `{ Payload, StatusCode, ExecutedVersion }`, like the optimised Lambda integration.
 * - Tasks whose Resource is the function ARN itself (the older style) get the handler's result.
 * - A handler that throws fails the task with `Error` = the error's name and `Cause` = the JSON
 *   Lambda reports (`{"errorType","errorMessage","trace"}`), so Retry/Catch match as in AWS.
 * - Service integrations other than Lambda run a local implementation, matched by Resource (see
 *   `localServiceTasks`): `sns:publish` writes the message to the first bucket under
 *   `notifications/<execution>/`, `ecs:runTask(.sync)` imports the container's entry module (its
 *   TypeScript source, named by the container definition's `local.entrypoint` Docker label) and
 *   calls its `runTask(env)` with the container's environment and the task's overrides. As in
 *   AWS, `ecs:runTask.sync` completes only when the task has STOPPED: the state's output is built
 *   after `runTask(env)` has resolved, so the next state sees everything the container wrote;
 *   plain `ecs:runTask` answers at once (PROVISIONING) and the container runs on in the background
 *   (`waitForBackgroundTasks()` waits for it).
 */
import { randomUUID } from 'node:crypto';
import aslValidator from 'asl-validator';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { pathToFileURL } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import { s3Client } from '../aws/clients';
import { invokeFunction, lambdaErrorPayload } from './invoke';
import { type FunctionConfig, findFunction, functionNameFromLogicalId, type ServerlessConfig, type StateMachineConfig } from './serverless-config';

// aws-local-stepfunctions 3 targets Node >= 22 and calls Promise.withResolvers (Node 22+).
type WithResolvers = <T>() => { promise: Promise<T>; resolve: (v: T | PromiseLike<T>) => void; reject: (e?: unknown) => void };
const PromiseCtor = Promise as unknown as { withResolvers?: WithResolvers };
if (typeof PromiseCtor.withResolvers !== 'function') {
  PromiseCtor.withResolvers = <T>() => {
    let resolve!: (v: T | PromiseLike<T>) => void;
    let reject!: (e?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const ACCOUNT = '000000000000';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fakeFunctionArn(config: Pick<ServerlessConfig, 'region' | 'service' | 'stage'>, fnName: string): string {
  return `arn:aws:lambda:${config.region}:${ACCOUNT}:function:${config.service}-${config.stage}-${fnName}`;
}

/**
 * Deep copy of a definition with CloudFormation intrinsics replaced by strings the ASL tooling
 * accepts: `{ 'Fn::GetAtt': [XLambdaFunction, 'Arn'] }` -> a fake ARN of function x, `{ Ref: X }`
 * -> a fake ARN of the resource.
 */
export function substituteIntrinsics(definition: unknown, config?: ServerlessConfig): unknown {
  const region = config?.region ?? 'us-east-1';
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
      const raw = value['Fn::GetAtt'];
      const [logicalId] = Array.isArray(raw) ? raw : String(raw).split('.');
      const id = String(logicalId);
      if (config) {
        const fnName = functionNameFromLogicalId(id, Object.keys(config.functions));
        if (fnName) return fakeFunctionArn(config, fnName);
      }
      const heuristic = functionNameFromLogicalId(id);
      if (heuristic) {
        return config ? fakeFunctionArn(config, heuristic) : `arn:aws:lambda:${region}:${ACCOUNT}:function:${heuristic}`;
      }
      return `arn:aws:lambda:${region}:${ACCOUNT}:function:${id}`;
    }
    if (keys.length === 1 && keys[0] === 'Ref') {
      return `arn:aws:lambda:${region}:${ACCOUNT}:function:${String(value.Ref)}`;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = walk(v);
    return out;
  };
  return walk(definition);
}

export interface LambdaTaskRef {
  stateName: string;
  /** `lambda:invoke` (Payload wrapped) or `direct` (Resource is the function ARN). */
  style: 'invoke' | 'direct';
  /** Static function name/ARN from the (substituted) definition; undefined for `FunctionName.$`. */
  functionRef?: string;
}

/** Every Lambda Task, including those inside Parallel branches and Map iterators. */
export function findLambdaTasks(definition: unknown): LambdaTaskRef[] {
  const out: LambdaTaskRef[] = [];
  const visitMachine = (machine: unknown) => {
    if (!isObject(machine) || !isObject(machine.States)) return;
    for (const [stateName, state] of Object.entries(machine.States)) {
      if (!isObject(state)) continue;
      if (state.Type === 'Task' && typeof state.Resource === 'string') {
        const resource = state.Resource;
        if (resource === LAMBDA_INVOKE || resource.startsWith(`${LAMBDA_INVOKE}.`)) {
          const params = isObject(state.Parameters) ? state.Parameters : {};
          const ref = params.FunctionName;
          out.push({ stateName, style: 'invoke', ...(typeof ref === 'string' ? { functionRef: ref } : {}) });
        } else if (/^arn:[^:]+:lambda:/.test(resource)) {
          out.push({ stateName, style: 'direct', functionRef: resource });
        }
      }
      if (state.Type === 'Parallel' && Array.isArray(state.Branches)) state.Branches.forEach(visitMachine);
      if (state.Type === 'Map') {
        visitMachine(state.Iterator);
        visitMachine(state.ItemProcessor);
      }
    }
  };
  visitMachine(definition);
  return out;
}

/** States with a Retry field, anywhere in the definition. */
function findRetryStates(definition: unknown): string[] {
  const out: string[] = [];
  const visit = (machine: unknown) => {
    if (!isObject(machine) || !isObject(machine.States)) return;
    for (const [name, state] of Object.entries(machine.States)) {
      if (!isObject(state)) continue;
      if (Array.isArray(state.Retry)) out.push(name);
      if (Array.isArray(state.Branches)) state.Branches.forEach(visit);
      visit(state.Iterator);
      visit(state.ItemProcessor);
    }
  };
  visit(definition);
  return out;
}

export interface ServiceTaskRef {
  stateName: string;
  /** Resource without `.sync` / `.waitForTaskToken`, e.g. `arn:aws:states:::ecs:runTask`. */
  integration: string;
  /** The integration pattern of the Resource: `sync` for `.sync`/`.sync:2` (run a job and wait for it), else `request-response`. */
  pattern: 'sync' | 'request-response' | 'wait-for-task-token';
  state: Record<string, unknown>;
}

/** `….sync` / `….sync:2` → sync, `….waitForTaskToken` → wait-for-task-token, else request-response. */
export function integrationPattern(resource: string): ServiceTaskRef['pattern'] {
  if (/\.sync(:2)?$/.test(resource)) return 'sync';
  if (resource.endsWith('.waitForTaskToken')) return 'wait-for-task-token';
  return 'request-response';
}

/** Every Task of a service integration other than Lambda (`arn:aws:states:::<service>:<action>`), in branches and iterators too. */
export function findServiceTasks(definition: unknown): ServiceTaskRef[] {
  const out: ServiceTaskRef[] = [];
  const visit = (machine: unknown) => {
    if (!isObject(machine) || !isObject(machine.States)) return;
    for (const [stateName, state] of Object.entries(machine.States)) {
      if (!isObject(state)) continue;
      const resource = state.Resource;
      if (state.Type === 'Task' && typeof resource === 'string' && resource.startsWith('arn:aws:states:::') && !resource.startsWith(LAMBDA_INVOKE)) {
        out.push({ stateName, integration: resource.replace(/\.(sync(:2)?|waitForTaskToken)$/, ''), pattern: integrationPattern(resource), state });
      }
      if (Array.isArray(state.Branches)) state.Branches.forEach(visit);
      visit(state.Iterator);
      visit(state.ItemProcessor);
    }
  };
  visit(definition);
  return out;
}

const notificationCounts = new Map<string, number>();

/** `sns:publish`: the message is written to `notifications/<execution>/<n>-<state>.json` in the first bucket (as SNS would deliver it to a subscriber). */
async function localSnsPublish(parameters: Json, context: LocalServiceTaskContext): Promise<Json> {
  const params = isObject(parameters) ? parameters : {};
  const bucket = context.config.buckets[0]?.name;
  if (!bucket)
    throw new TaskFailure('SNS.InvalidParameterException', `State ${context.stateName}: no bucket in serverless.yml to write the local notification to`);
  const n = (notificationCounts.get(context.executionName) ?? 0) + 1;
  notificationCounts.set(context.executionName, n);
  const messageId = randomUUID();
  const key = `notifications/${context.executionName}/${String(n).padStart(3, '0')}-${context.stateName}.json`;
  const body = {
    MessageId: messageId,
    TopicArn: params.TopicArn ?? null,
    Subject: params.Subject ?? null,
    Message: params.Message ?? null,
    stateName: context.stateName,
    publishedAt: new Date().toISOString(),
  };
  await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(body, null, 2), ContentType: 'application/json' }));
  return { MessageId: messageId };
}

type KeyValue = { Name?: unknown; Value?: unknown };

/** The ContainerDefinitions of the task definition a Task state names with `{ Ref: <logical id> }`. */
function containerDefinitions(context: LocalServiceTaskContext): Record<string, unknown>[] {
  const rawParams = isObject(context.rawState.Parameters) ? context.rawState.Parameters : {};
  const ref = isObject(rawParams.TaskDefinition) ? rawParams.TaskDefinition.Ref : undefined;
  const resourcesBlock = context.config.resolved.resources;
  const resources = isObject(resourcesBlock) && isObject(resourcesBlock.Resources) ? resourcesBlock.Resources : {};
  const taskDefinition = typeof ref === 'string' ? resources[ref] : undefined;
  const properties = isObject(taskDefinition) && isObject(taskDefinition.Properties) ? taskDefinition.Properties : {};
  const containers = Array.isArray(properties.ContainerDefinitions) ? properties.ContainerDefinitions.filter(isObject) : [];
  if (containers.length === 0) {
    throw new TaskFailure(
      'ECS.InvalidParameterException',
      `State ${context.stateName}: TaskDefinition must be { Ref: <AWS::ECS::TaskDefinition in resources> } with ContainerDefinitions to run locally`,
    );
  }
  return containers;
}

/** The container's Environment, then its override's (string values only: intrinsics have no local value). */
function containerEnvironment(container: Record<string, unknown>, override: unknown): Record<string, string> {
  const env: Record<string, string> = { LOCAL_ECS_TASK: 'true' };
  const pairs = [
    ...(Array.isArray(container.Environment) ? container.Environment : []),
    ...(isObject(override) && Array.isArray(override.Environment) ? override.Environment : []),
  ];
  for (const pair of pairs as KeyValue[])
    if (typeof pair?.Name === 'string' && (typeof pair.Value === 'string' || typeof pair.Value === 'number')) env[pair.Name] = String(pair.Value);
  return env;
}

type ContainerModule = { runTask?: (env: Record<string, string>) => Promise<unknown> };

/** One container of the task: its entry module's runTask(env), resolved only when the container's work is done. */
async function runContainer(container: Record<string, unknown>, override: unknown, context: LocalServiceTaskContext): Promise<Json> {
  const name = String(container.Name);
  const entry = isObject(container.DockerLabels) ? container.DockerLabels['local.entrypoint'] : undefined;
  if (typeof entry !== 'string')
    throw new TaskFailure('ECS.InvalidParameterException', `State ${context.stateName}: container ${name} has no 'local.entrypoint' Docker label`);
  const env = containerEnvironment(container, override);
  const mod = (await import(/* @vite-ignore */ pathToFileURL(resolvePath(context.projectRoot, entry)).href)) as ContainerModule;
  if (typeof mod.runTask !== 'function')
    throw new TaskFailure('ECS.InvalidParameterException', `State ${context.stateName}: ${entry} does not export runTask(env)`);
  try {
    // The container has stopped only when runTask has settled: the output is built from its result.
    const output = await mod.runTask({ ...(process.env as Record<string, string>), ...env });
    return { Name: name, ExitCode: 0, LastStatus: 'STOPPED', output: jsonRoundTrip(output) };
  } catch (err) {
    // A container that exits non-zero fails an ecs:runTask.sync task with States.TaskFailed.
    const payload = lambdaErrorPayload(err);
    throw new TaskFailure(
      'States.TaskFailed',
      JSON.stringify({
        Containers: [{ Name: name, ExitCode: 1, Reason: `${payload.errorType}: ${payload.errorMessage}` }],
        StopCode: 'EssentialContainerExited',
      }),
    );
  }
}

async function runContainers(parameters: Json, context: LocalServiceTaskContext): Promise<Json[]> {
  const params = isObject(parameters) ? parameters : {};
  const overrides = isObject(params.Overrides) && Array.isArray(params.Overrides.ContainerOverrides) ? params.Overrides.ContainerOverrides : [];
  const results: Json[] = [];
  for (const container of containerDefinitions(context)) {
    results.push(
      await runContainer(
        container,
        overrides.find((o) => isObject(o) && o.Name === container.Name),
        context,
      ),
    );
  }
  return results;
}

const backgroundTasks = new Set<Promise<void>>();

/** Waits for the containers started by plain (not `.sync`) `ecs:runTask` tasks; their failures are logged, as a stopped task's would be. */
export async function waitForBackgroundTasks(): Promise<void> {
  while (backgroundTasks.size > 0) await Promise.allSettled([...backgroundTasks]);
}

/**
 * `ecs:runTask.sync`: runs the container's entry module in this process with the container's
 * environment and answers, like DescribeTasks of the STOPPED task, only after every container's
 * `runTask(env)` has resolved. Plain `ecs:runTask` answers at once (RunTask's PROVISIONING task)
 * and leaves the containers running.
 */
async function localEcsRunTask(parameters: Json, context: LocalServiceTaskContext): Promise<Json> {
  containerDefinitions(context); // a task definition that cannot run locally fails the state either way
  const taskArn = `arn:aws:ecs:${context.config.region}:${ACCOUNT}:task/local/${randomUUID().replace(/-/g, '')}`;
  if (context.pattern !== undefined && context.pattern !== 'sync') {
    const run = runContainers(parameters, context).then(
      () => undefined,
      (err: unknown) => {
        console.error(`[local ecs:runTask] ${context.stateName}: task ${taskArn} stopped with an error:`, err instanceof Error ? err.message : err);
      },
    );
    backgroundTasks.add(run);
    void run.finally(() => backgroundTasks.delete(run));
    return { Tasks: [{ TaskArn: taskArn, LastStatus: 'PROVISIONING', DesiredStatus: 'RUNNING' }], Failures: [] } as Json;
  }
  const startedAt = new Date().toISOString();
  const containers = await runContainers(parameters, context);
  return {
    Tasks: [
      {
        TaskArn: taskArn,
        LastStatus: 'STOPPED',
        DesiredStatus: 'STOPPED',
        StopCode: 'EssentialContainerExited',
        StartedAt: startedAt,
        StoppedAt: new Date().toISOString(),
        Containers: containers,
      },
    ],
  } as Json;
}

/** Default local implementations of service integrations, keyed by Resource (without `.sync`). */
export const localServiceTasks: Record<string, LocalServiceTask> = {
  'arn:aws:states:::sns:publish': localSnsPublish,
  'arn:aws:states:::ecs:runTask': localEcsRunTask,
};

export interface DefinitionValidation {
  isValid: boolean;
  errors: string[];
}

/**
 * Validates an ASL definition with asl-validator (on a copy with intrinsics substituted). With a
 * config, also checks that every Lambda task points at a function declared in serverless.yml.
 */
export function validateDefinition(definition: unknown, config?: ServerlessConfig): DefinitionValidation {
  const substituted = substituteIntrinsics(definition, config);
  // asl-validator writes QueryLanguage into the states it checks: give it its own copy.
  const result = aslValidator(structuredClone(substituted), { checkArn: true, checkPaths: true });
  const errors = result.isValid ? [] : result.errorsText('\n').split('\n').filter(Boolean);
  if (config) {
    for (const task of findLambdaTasks(substituted)) {
      if (task.functionRef !== undefined && !findFunction(config, task.functionRef)) {
        errors.push(`State ${task.stateName}: function ${task.functionRef} is not declared in serverless.yml`);
      }
    }
  }
  return { isValid: errors.length === 0, errors };
}

export interface RunStateMachineOptions {
  config: ServerlessConfig;
  projectRoot?: string;
  /** Key under stepFunctions.stateMachines (`retrain`) or its deployed name. */
  name: string;
  input?: unknown;
  /** Override every Retry interval (ms); default: the definition's own intervals, like AWS. */
  retryDelayMs?: number;
  /** Override every Wait state (ms). */
  waitMs?: number;
  executionName?: string;
  /** Extra aws-local-stepfunctions run options. */
  runOptions?: RunOptions;
  /** Called for each Lambda task invocation (for logging). */
  onTask?: (info: { stateName: string; functionName: string; ok: boolean; ms: number }) => void;
  /**
   * Local implementations of non-Lambda service integrations, by Resource ARN without the `.sync`
   * or `.waitForTaskToken` suffix (e.g. `arn:aws:states:::sns:publish`); merged over the defaults
   * of `localServiceTasks`.
   */
  serviceTasks?: Record<string, LocalServiceTask>;
}

/** A local stand-in for a service integration: gets the task's resolved Parameters, returns its result. */
export type LocalServiceTask = (parameters: Json, context: LocalServiceTaskContext) => Promise<Json>;

export interface LocalServiceTaskContext {
  stateName: string;
  /** `sync` for a `.sync` Resource: the stand-in must answer only once the job is done (absent: treated as `sync`). */
  pattern?: ServiceTaskRef['pattern'];
  /** The Task state as written in serverless.yml (intrinsics such as `Ref` not substituted). */
  rawState: Record<string, unknown>;
  config: ServerlessConfig;
  projectRoot: string;
  executionName: string;
}

export interface StateMachineResult {
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  output?: unknown;
  error?: string;
  cause?: string;
  executionArn: string;
}

export function findStateMachine(config: ServerlessConfig, name: string): StateMachineConfig {
  const sm = config.stateMachines[name] ?? Object.values(config.stateMachines).find((s) => s.name === name);
  if (!sm) {
    throw new Error(`Unknown state machine "${name}" (known: ${Object.keys(config.stateMachines).join(', ') || 'none'})`);
  }
  return sm;
}

/** Error thrown into the runtime: its `name` is what Retry/Catch `ErrorEquals` match. */
class TaskFailure extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

function jsonRoundTrip(value: unknown): Json {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as Json;
}

/** Task-state overrides that run the local stand-in of each service integration of a definition. */
function serviceTaskHandlers(definition: unknown, options: RunStateMachineOptions, executionName: string): Record<string, (input: Json) => Promise<Json>> {
  const serviceTasks = { ...localServiceTasks, ...options.serviceTasks };
  const handlers: Record<string, (input: Json) => Promise<Json>> = {};
  for (const task of findServiceTasks(definition)) {
    const local = serviceTasks[task.integration];
    if (!local) continue; // no local stand-in: aws-local-stepfunctions would call AWS
    const context: LocalServiceTaskContext = {
      stateName: task.stateName,
      pattern: task.pattern,
      rawState: task.state,
      config: options.config,
      projectRoot: options.projectRoot ?? options.config.servicePath,
      executionName,
    };
    handlers[task.stateName] = async (input: Json) => {
      const started = Date.now();
      const report = (ok: boolean) => options.onTask?.({ stateName: task.stateName, functionName: task.integration, ok, ms: Date.now() - started });
      try {
        const result = await local(input, context);
        report(true);
        return result;
      } catch (err) {
        report(false);
        if (err instanceof TaskFailure) throw err;
        throw new TaskFailure('States.TaskFailed', JSON.stringify(lambdaErrorPayload(err)));
      }
    };
  }
  return handlers;
}

export async function runStateMachine(options: RunStateMachineOptions): Promise<StateMachineResult> {
  const { config } = options;
  const sm = findStateMachine(config, options.name);
  const definition = substituteIntrinsics(sm.definition, config) as StateMachineDefinition;
  const executionName = options.executionName ?? randomUUID();
  const stateMachineArn = `arn:aws:states:${config.region}:${ACCOUNT}:stateMachine:${sm.name}`;
  const executionArn = `arn:aws:states:${config.region}:${ACCOUNT}:execution:${sm.name}:${executionName}`;

  const resolveFn = (ref: unknown, stateName: string): FunctionConfig => {
    const fn = typeof ref === 'string' ? findFunction(config, ref) : undefined;
    if (!fn) {
      // Lambda's answer to an unknown function, as the task would see it.
      throw new TaskFailure('Lambda.ResourceNotFoundException', `State ${stateName}: function ${String(ref)} is not declared in serverless.yml`);
    }
    return fn;
  };

  const callHandler = async (fn: FunctionConfig, stateName: string, payload: unknown): Promise<Json> => {
    const started = Date.now();
    try {
      const result = await invokeFunction(fn, jsonRoundTrip(payload), {
        projectRoot: options.projectRoot ?? config.servicePath,
        region: config.region,
      });
      options.onTask?.({ stateName, functionName: fn.name, ok: true, ms: Date.now() - started });
      return jsonRoundTrip(result);
    } catch (err) {
      options.onTask?.({ stateName, functionName: fn.name, ok: false, ms: Date.now() - started });
      const payloadError = lambdaErrorPayload(err);
      throw new TaskFailure(payloadError.errorType, JSON.stringify(payloadError));
    }
  };

  const handlers: Record<string, (input: Json) => Promise<Json>> = {};
  for (const task of findLambdaTasks(definition)) {
    handlers[task.stateName] =
      task.style === 'invoke'
        ? async (input: Json) => {
            const params = isObject(input) ? input : {};
            const fn = resolveFn(params.FunctionName, task.stateName);
            const Payload = await callHandler(fn, task.stateName, params.Payload ?? null);
            return { ExecutedVersion: '$LATEST', Payload, StatusCode: 200 };
          }
        : async (input: Json) => callHandler(resolveFn(task.functionRef, task.stateName), task.stateName, input);
  }

  Object.assign(handlers, serviceTaskHandlers(sm.definition, options, executionName));

  const runOptions: RunOptions = {
    ...options.runOptions,
    overrides: {
      ...options.runOptions?.overrides,
      taskResourceLocalHandlers: { ...handlers, ...options.runOptions?.overrides?.taskResourceLocalHandlers },
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: executionName,
        Input: jsonRoundTrip(options.input ?? {}),
        StartTime: new Date().toISOString(),
        RoleArn: `arn:aws:iam::${ACCOUNT}:role/${sm.name}-role`,
      },
      StateMachine: { Id: stateMachineArn, Name: sm.name },
      ...options.runOptions?.context,
    },
  };
  if (options.retryDelayMs !== undefined) {
    const overrides = runOptions.overrides ?? {};
    overrides.retryIntervalOverrides = Object.fromEntries(findRetryStates(definition).map((s) => [s, options.retryDelayMs as number]));
    runOptions.overrides = overrides;
  }
  if (options.waitMs !== undefined) {
    const overrides = runOptions.overrides ?? {};
    const waits: Record<string, number> = {};
    const visit = (machine: unknown) => {
      if (!isObject(machine) || !isObject(machine.States)) return;
      for (const [name, state] of Object.entries(machine.States)) {
        if (!isObject(state)) continue;
        if (state.Type === 'Wait') waits[name] = options.waitMs as number;
        if (Array.isArray(state.Branches)) state.Branches.forEach(visit);
        visit(state.Iterator);
        visit(state.ItemProcessor);
      }
    };
    visit(definition);
    overrides.waitTimeOverrides = waits;
    runOptions.overrides = overrides;
  }

  const machine = new StateMachine(definition, {
    // Retries and timeouts are handled by the runtime; Lambda calls never leave the process.
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const execution = machine.run(jsonRoundTrip(options.input ?? {}), runOptions);
  try {
    const output = await execution.result;
    return { status: 'SUCCEEDED', output, executionArn };
  } catch (err) {
    if (err instanceof ExecutionError) {
      const cause = (err as Error & { cause?: unknown }).cause;
      if (cause instanceof Error) return { status: 'FAILED', error: cause.name, cause: cause.message, executionArn };
      return { status: 'FAILED', error: 'States.Runtime', cause: err.message, executionArn };
    }
    if (err instanceof ExecutionTimeoutError) {
      return { status: 'TIMED_OUT', error: 'States.Timeout', cause: err.message, executionArn };
    }
    if (err instanceof ExecutionAbortedError) return { status: 'ABORTED', executionArn };
    throw err;
  }
}

/** CloudWatch Events / EventBridge scheduled event, as Lambda receives it without `input`. */
export function scheduledEvent(region: string, ruleName: string): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${ACCOUNT}:rule/${ruleName}`],
    detail: {},
  };
}

/**
 * Runs a scheduled function once, now: with the schedule's constant `input` when it has one,
 * else with a CloudWatch scheduled event. Resolves with the handler's result.
 */
export async function runScheduledFunction(config: ServerlessConfig, projectRoot: string | undefined, fnName: string, scheduleIndex = 0): Promise<unknown> {
  const fn = config.functions[fnName];
  if (!fn) throw new Error(`Unknown function "${fnName}"`);
  const schedules = fn.events.filter((e) => e.type === 'schedule');
  const schedule = schedules[scheduleIndex];
  if (!schedule) throw new Error(`Function ${fnName} has no schedule event #${scheduleIndex}`);
  const event =
    schedule.input !== undefined ? schedule.input : scheduledEvent(config.region, schedule.name ?? `${fn.deployedName}-schedule-${scheduleIndex + 1}`);
  return invokeFunction(fn, event, { projectRoot: projectRoot ?? config.servicePath, region: config.region });
}
