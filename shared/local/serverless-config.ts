/**
 * Reads serverless.yml (the single source of truth of the deployed stack) and resolves the
 * Serverless Framework v3 variables the project uses, so the embedded local stack runs exactly
 * the routes, buckets, tables, events and state machines that get deployed.
 *
 * Supported variable sources: `self`, `opt` (stage, region and any extra option), `env`, `sls`
 * (stage, instanceId) and `file` (below). Fallbacks may be quoted strings, numbers, booleans, other
 * references (`${opt:stage, self:custom.stage}`) or nested variables (`${env:A, ${env:B, 'x'}}`);
 * addresses may be built from nested variables (`${self:custom.${opt:stage}}`). Values pulled in by
 * `self` are resolved recursively, with cycle detection. Any other source (ssm, cf, s3, aws, ...)
 * only resolves through a fallback: there is no cloud to ask locally.
 *
 * `${file(./path.yml)}` and `${file(./path.yml):a.b}` include a YAML or JSON file (or one value of it)
 * as v3 does: the path is resolved against the SERVICE directory (the directory of serverless.yml), also
 * when the variable sits in an included file (v3's file source knows only the service directory); a
 * missing file resolves to nothing, so a fallback applies. Variables inside the included content are
 * resolved like the rest (`${self:...}` refers to serverless.yml). Other extensions are read as text.
 * After resolution, `functions:` and `resources:` given as LISTS (one included file each) are merged
 * the way v3's Service.mergeArrays does (a deep merge, in order).
 *
 * Text like `${AWS::Region}` (a CloudFormation `Fn::Sub` placeholder) is not a variable and is
 * left as is, as the framework does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface LoadServerlessConfigOptions {
  /** `--stage`; `${opt:stage}` is undefined (and its fallback applies) when omitted. */
  stage?: string;
  /** `--region`. */
  region?: string;
  /** Source for `${env:...}`; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Any other CLI option, for `${opt:name}`. */
  options?: Record<string, string | undefined>;
}

export interface HttpApiRouteEvent {
  type: 'httpApi';
  /** Upper-case HTTP method, or `*` for ANY. */
  method: string;
  /** Path template, e.g. `/v1/users/{userId}/recommendations`, or `*` for the `$default` route. */
  path: string;
}

export interface S3Rule {
  prefix?: string;
  suffix?: string;
}

export interface S3TriggerEvent {
  type: 's3';
  /** The `bucket` value of the event: a key of `provider.s3` or a literal bucket name. */
  bucketRef: string;
  /** The bucket name once the reference is resolved. */
  bucketName: string;
  /** E.g. `s3:ObjectCreated:*`. */
  event: string;
  /** ALL rules must hold (prefix AND suffix), as in AWS. */
  rules: S3Rule[];
  existing: boolean;
}

export interface ScheduleTriggerEvent {
  type: 'schedule';
  /** First rate/cron expression, e.g. `rate(1 hour)`. */
  rate: string;
  /** All expressions (the framework accepts an array). */
  rates: string[];
  enabled: boolean;
  /** Constant input given to the target instead of the CloudWatch scheduled event. */
  input?: unknown;
  name?: string;
}

export type FunctionEvent = HttpApiRouteEvent | S3TriggerEvent | ScheduleTriggerEvent;

export interface FunctionConfig {
  /** Key under `functions:`, e.g. `captureBatch`. */
  name: string;
  /** Name of the deployed Lambda function (`name:` or `<service>-<stage>-<key>`). */
  deployedName: string;
  /** As written, e.g. `functions/http/capture-batch.handler`. */
  handler: string;
  /** Module path relative to the service directory, no extension: `functions/http/capture-batch`. */
  handlerModule: string;
  /** Exported name: `handler`. */
  handlerExport: string;
  /** Directory of serverless.yml (the module is resolved against it by default). */
  servicePath: string;
  /** What the function sees in Lambda: provider.environment merged with the function's own. */
  environment: Record<string, string>;
  /** Only the function-level `environment:` block. */
  functionEnvironment: Record<string, string>;
  /** Seconds (function, else provider, else the framework default 6). */
  timeout: number;
  /** MB (function, else provider, else the framework default 1024). */
  memorySize: number;
  events: FunctionEvent[];
  /** The resolved raw block, for anything not modelled here. */
  raw: Record<string, unknown>;
}

export interface BucketConfig {
  /** `provider.s3` key, or the CloudFormation logical id, or the literal name from an s3 event. */
  ref: string;
  name: string;
  source: 'provider.s3' | 'resources' | 's3-event';
}

export interface KeySchemaElement {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}

export interface AttributeDefinition {
  AttributeName: string;
  AttributeType: 'S' | 'N' | 'B';
}

export interface SecondaryIndex {
  IndexName: string;
  KeySchema: KeySchemaElement[];
  Projection: { ProjectionType?: string; NonKeyAttributes?: string[] };
  ProvisionedThroughput?: { ReadCapacityUnits: number; WriteCapacityUnits: number };
}

export interface TableConfig {
  logicalId: string;
  TableName: string;
  KeySchema: KeySchemaElement[];
  AttributeDefinitions: AttributeDefinition[];
  GlobalSecondaryIndexes?: SecondaryIndex[];
  LocalSecondaryIndexes?: SecondaryIndex[];
  BillingMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
  ProvisionedThroughput?: { ReadCapacityUnits: number; WriteCapacityUnits: number };
  /** All resolved Properties (TTL, SSE, PITR, streams: not emulated). */
  properties: Record<string, unknown>;
}

export interface StateMachineConfig {
  /** Key under `stepFunctions.stateMachines`, e.g. `retrain`. */
  key: string;
  /** Deployed name (`name:` or `<service>-<stage>-<key>`). */
  name: string;
  /** The ASL definition as written; Lambda references are still `{ 'Fn::GetAtt': [...] }`. */
  definition: Record<string, unknown>;
  events: ScheduleTriggerEvent[];
}

export interface ServerlessConfig {
  /** Absolute path of serverless.yml. */
  configPath: string;
  /** Directory of serverless.yml. */
  servicePath: string;
  service: string;
  stage: string;
  region: string;
  runtime?: string;
  provider: {
    environment: Record<string, string>;
    timeout: number;
    memorySize: number;
    httpApi: { cors: boolean | Record<string, unknown>; payload?: string };
  };
  functions: Record<string, FunctionConfig>;
  buckets: BucketConfig[];
  tables: TableConfig[];
  stateMachines: Record<string, StateMachineConfig>;
  /** The whole resolved document. */
  resolved: Record<string, unknown>;
}

export class ServerlessConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerlessConfigError';
  }
}

// ---------------------------------------------------------------------------------------------
// Variable parsing
// ---------------------------------------------------------------------------------------------

type Part = { kind: 'text'; text: string } | { kind: 'var'; node: VarNode };
type Template = Part[];
interface VarNode {
  raw: string;
  params: Template[];
}

/**
 * `${` opens a variable only when followed by `source:` (not `AWS::`), `source(params)` (`${file(./x.yml)}`,
 * with or without an address) or a nested `${`.
 */
const VAR_START = /^\s*(?:\$\{|[A-Za-z][\w-]*(?:\([^)]*\)\s*(?:[,}]|:(?!:))|:(?!:)))/;

function opensVariable(s: string, i: number): boolean {
  return s.startsWith('${', i) && VAR_START.test(s.slice(i + 2, i + 2 + 200));
}

function parseTemplate(s: string, start: number, inVar: boolean): { tpl: Template; end: number } {
  const tpl: Template = [];
  let buf = '';
  let i = start;
  const flush = () => {
    if (buf) tpl.push({ kind: 'text', text: buf });
    buf = '';
  };
  while (i < s.length) {
    if (opensVariable(s, i)) {
      flush();
      const { node, end } = parseVariable(s, i);
      tpl.push({ kind: 'var', node });
      i = end;
      continue;
    }
    const ch = s[i] as string;
    if (inVar) {
      if (ch === "'" || ch === '"') {
        const close = s.indexOf(ch, i + 1);
        if (close < 0) throw new ServerlessConfigError(`Unterminated quote in variable: ${s}`);
        buf += s.slice(i, close + 1);
        i = close + 1;
        continue;
      }
      if (ch === ',' || ch === '}') break;
    }
    buf += ch;
    i++;
  }
  flush();
  return { tpl, end: i };
}

function parseVariable(s: string, start: number): { node: VarNode; end: number } {
  let i = start + 2;
  const params: Template[] = [];
  for (;;) {
    const { tpl, end } = parseTemplate(s, i, true);
    params.push(trimTemplate(tpl));
    i = end;
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === '}') {
      i++;
      break;
    }
    throw new ServerlessConfigError(`Unterminated variable in: ${s}`);
  }
  return { node: { raw: s.slice(start, i), params }, end: i };
}

function trimTemplate(tpl: Template): Template {
  const out = tpl.map((p) => ({ ...p }));
  const first = out[0];
  if (first?.kind === 'text') first.text = first.text.trimStart();
  const last = out[out.length - 1];
  if (last?.kind === 'text') last.text = last.text.trimEnd();
  return out.filter((p) => p.kind !== 'text' || p.text !== '');
}

// ---------------------------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------------------------

const MISSING = Symbol('missing');
type Lookup = unknown | typeof MISSING;

const REFERENCE = /^([A-Za-z][\w-]*)(\([^)]*\))?:(.*)$/s;
/** A source with parameters and no address: `file(./x.yml)`. */
const CALL = /^([A-Za-z][\w-]*)\(([^)]*)\)$/s;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Resolver {
  private readonly cache = new Map<string, unknown>();
  private readonly inProgress: string[] = [];
  private readonly unsupported = new Set<string>();

  private readonly files = new Map<string, unknown>();

  constructor(
    private readonly root: Record<string, unknown>,
    private readonly opts: LoadServerlessConfigOptions,
    private readonly servicePath: string,
  ) {}

  resolveDeep(value: unknown): unknown {
    if (typeof value === 'string') return this.resolveString(value);
    if (Array.isArray(value)) return value.map((v) => this.resolveDeep(v));
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.resolveDeep(v);
      return out;
    }
    return value;
  }

  resolveString(s: string): unknown {
    if (!s.includes('${')) return s;
    const { tpl } = parseTemplate(s, 0, false);
    if (tpl.length === 1 && tpl[0]?.kind === 'var') return this.evalVar(tpl[0].node);
    return tpl.map((p) => (p.kind === 'text' ? p.text : stringify(this.evalVar(p.node), p.node.raw))).join('');
  }

  private evalVar(node: VarNode): unknown {
    for (const param of node.params) {
      const value = this.evalParam(param);
      if (value !== MISSING && value !== null && value !== undefined) return value;
    }
    const unsupported = [...this.unsupported];
    this.unsupported.clear();
    const hint = unsupported.length ? ` (source ${unsupported.join(', ')} is not available locally)` : '';
    throw new ServerlessConfigError(`Cannot resolve variable ${node.raw}${hint}`);
  }

  private evalParam(tpl: Template): Lookup {
    if (tpl.length === 1 && tpl[0]?.kind === 'var') return this.evalVar(tpl[0].node);
    const text = tpl.map((p) => (p.kind === 'text' ? p.text : stringify(this.evalVar(p.node), p.node.raw))).join('');
    const quoted = /^(['"])(.*)\1$/s.exec(text);
    if (quoted) return this.resolveString(quoted[2] as string);
    const call = CALL.exec(text);
    if (call) return this.lookup(call[1] as string, '', call[2] as string);
    const ref = REFERENCE.exec(text);
    if (ref) return this.lookup(ref[1] as string, (ref[3] as string).trim(), ref[2]?.slice(1, -1));
    if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
    if (text === 'true' || text === 'false') return text === 'true';
    if (text === 'null') return MISSING;
    return text;
  }

  private lookup(source: string, address: string, params?: string): Lookup {
    switch (source) {
      case 'self':
        return this.self(address);
      case 'file':
        return this.file(params ?? '', address);
      case 'opt':
        return this.opt(address);
      case 'env': {
        const env = this.opts.env ?? process.env;
        const v = env[address];
        return v === undefined ? MISSING : v;
      }
      case 'sls':
        return this.sls(address);
      default:
        this.unsupported.add(source);
        return MISSING;
    }
  }

  private opt(address: string): Lookup {
    if (address === 'stage') return this.opts.stage ?? this.opts.options?.stage ?? MISSING;
    if (address === 'region') return this.opts.region ?? this.opts.options?.region ?? MISSING;
    return this.opts.options?.[address] ?? MISSING;
  }

  private sls(address: string): Lookup {
    if (address === 'stage') {
      if (this.opts.stage) return this.opts.stage;
      const stage = this.self('provider.stage');
      return stage === MISSING || stage === undefined ? 'dev' : stage;
    }
    if (address === 'instanceId') return `local-${process.pid}`;
    return MISSING;
  }

  /**
   * `${file(path)}` / `${file(path):a.b}`: the file's content (or the value at the address), variables
   * inside resolved. The path is relative to the service directory, as in v3.
   */
  private file(pathParam: string, address: string): Lookup {
    const param = pathParam.trim();
    const quoted = /^(['"])(.*)\1$/s.exec(param);
    const relative = quoted ? (quoted[2] as string) : param;
    if (!relative) throw new ServerlessConfigError('Missing path argument in variable "file" source');
    const path = resolvePath(this.servicePath, relative);
    const key = `${path}\0${address}`;
    if (this.inProgress.includes(`file:${key}`)) {
      throw new ServerlessConfigError(`Circular file include: ${[...this.inProgress, `file:${key}`].join(' -> ')}`);
    }
    if (!this.files.has(path)) this.files.set(path, readIncludedFile(path));
    let current = this.files.get(path);
    if (current === undefined) return MISSING;
    this.inProgress.push(`file:${key}`);
    try {
      for (const segment of address ? address.split('.') : []) {
        if (typeof current === 'string') current = this.resolveString(current);
        if (Array.isArray(current)) current = current[Number(segment)];
        else if (isPlainObject(current)) current = current[segment];
        else return MISSING;
        if (current === undefined || current === null) return MISSING;
      }
      return this.resolveDeep(current);
    } finally {
      this.inProgress.pop();
    }
  }

  /** `${self:a.b.c}`: walk the raw document, resolving variables met on the way, then the value. */
  private self(address: string): Lookup {
    const key = address.trim();
    if (this.cache.has(key)) {
      const cached = this.cache.get(key);
      return typeof cached === 'object' && cached !== null ? structuredClone(cached) : cached;
    }
    if (this.inProgress.includes(key)) {
      throw new ServerlessConfigError(`Circular variable reference: ${[...this.inProgress, key].map((k) => `self:${k}`).join(' -> ')}`);
    }
    this.inProgress.push(key);
    try {
      let current: unknown = this.root;
      const segments = key === '' ? [] : key.split('.');
      for (const [index, segment] of segments.entries()) {
        if (typeof current === 'string') current = this.resolveString(current);
        if (Array.isArray(current)) current = current[Number(segment)];
        else if (isPlainObject(current)) current = current[segment];
        else return MISSING;
        if (current === undefined) return MISSING;
        // `service: { name: x }` is the older form of `service: x`.
        if (index === 0 && segment === 'service' && segments.length === 1 && isPlainObject(current)) {
          current = current.name;
        }
      }
      const value = this.resolveDeep(current);
      this.cache.set(key, value);
      // Objects are handed out as copies: two places that reference the same value must not share it.
      return typeof value === 'object' && value !== null ? structuredClone(value) : value;
    } finally {
      this.inProgress.pop();
    }
  }
}

function stringify(value: unknown, raw: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ServerlessConfigError(`Variable ${raw} resolves to a non-string value inside a string`);
}

/** A file of `${file(...)}`: YAML or JSON parsed, anything else as text; undefined when it does not exist. */
function readIncludedFile(path: string): unknown {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.yml' || ext === '.yaml') return parseYaml(text, { merge: true }) ?? undefined;
    if (ext === '.json') return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ServerlessConfigError(`Cannot parse "${path}": ${error instanceof Error ? error.message : String(error)}`);
  }
  return text;
}

/**
 * Resolve `${...}` variables in any value against a document (exported for tests and tools). `${file(...)}`
 * paths are resolved against `servicePath` (default: the working directory).
 */
export function resolveVariables(
  document: Record<string, unknown>,
  options: LoadServerlessConfigOptions = {},
  servicePath: string = process.cwd(),
): Record<string, unknown> {
  const resolver = new Resolver(document, options, servicePath);
  return resolver.resolveDeep(document) as Record<string, unknown>;
}

/** lodash `_.merge` for JSON values: objects deep-merged, arrays merged by index, `undefined` skipped. */
function deepMerge(target: unknown, source: unknown): unknown {
  if (source === undefined) return target;
  if (Array.isArray(source)) {
    const out: unknown[] = Array.isArray(target) ? [...target] : [];
    for (const [i, v] of source.entries()) out[i] = deepMerge(out[i], v);
    return out;
  }
  if (isPlainObject(source)) {
    const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
    for (const [k, v] of Object.entries(source)) out[k] = deepMerge(out[k], v);
    return out;
  }
  return source;
}

/**
 * v3's Service.mergeArrays: `functions:` and `resources:` may be lists of maps (typically one
 * `${file(...)}` each), merged in order into one map; empty entries are skipped.
 */
export function mergeConfigArrays(doc: Record<string, unknown>): Record<string, unknown> {
  const out = { ...doc };
  for (const key of ['resources', 'functions'] as const) {
    const value = out[key];
    if (!Array.isArray(value)) continue;
    out[key] = value.reduce<Record<string, unknown>>((memo, entry) => {
      if (entry === undefined || entry === null || entry === '' || entry === false || entry === 0) return memo;
      if (!isPlainObject(entry)) throw new ServerlessConfigError(`Non-object value specified in ${key} array: ${String(entry)}`);
      return deepMerge(memo, entry) as Record<string, unknown>;
    }, {});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Naming (mirrors the framework's lib/plugins/aws/lib/naming.js)
// ---------------------------------------------------------------------------------------------

/** `prepareSnapshot` -> `PrepareSnapshot`; `my-fn_x` -> `MyDashfnUnderscorex`. */
export function normalizedFunctionName(functionName: string): string {
  const n = functionName.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return n.charAt(0).toUpperCase() + n.slice(1);
}

/** CloudFormation logical id of a function: `prepareSnapshot` -> `PrepareSnapshotLambdaFunction`. */
export function functionLogicalId(functionName: string): string {
  return `${normalizedFunctionName(functionName)}LambdaFunction`;
}

/**
 * `PrepareSnapshotLambdaFunction` -> `prepareSnapshot`. With `knownFunctions` the exact function
 * whose logical id matches is returned (undefined when none does); without it the naming is
 * inverted heuristically.
 */
export function functionNameFromLogicalId(logicalId: string, knownFunctions?: Iterable<string>): string | undefined {
  if (knownFunctions) {
    for (const name of knownFunctions) if (functionLogicalId(name) === logicalId) return name;
    return undefined;
  }
  if (!logicalId.endsWith('LambdaFunction')) return undefined;
  const base = logicalId.slice(0, -'LambdaFunction'.length);
  if (!base) return undefined;
  const n = base.replace(/Dash/g, '-').replace(/Underscore/g, '_');
  return n.charAt(0).toLowerCase() + n.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Typed extraction
// ---------------------------------------------------------------------------------------------

function asRecord(v: unknown): Record<string, unknown> {
  return isPlainObject(v) ? v : {};
}

function stringRecord(v: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(asRecord(v))) {
    if (val === undefined || val === null) continue;
    if (typeof val === 'object') {
      // An intrinsic function (Ref, Fn::GetAtt...) has no local value.
      throw new ServerlessConfigError(`${where}.${k} is a CloudFormation expression; it cannot be resolved locally`);
    }
    out[k] = String(val);
  }
  return out;
}

function scheduleEvent(spec: unknown): ScheduleTriggerEvent | undefined {
  if (typeof spec === 'string') return { type: 'schedule', rate: spec, rates: [spec], enabled: true };
  if (!isPlainObject(spec)) return undefined;
  const rates = (Array.isArray(spec.rate) ? spec.rate : [spec.rate]).filter((r): r is string => typeof r === 'string');
  const first = rates[0];
  if (!first) return undefined;
  const event: ScheduleTriggerEvent = {
    type: 'schedule',
    rate: first,
    rates,
    enabled: spec.enabled === undefined ? true : spec.enabled !== false && spec.enabled !== 'false',
  };
  if (spec.input !== undefined) {
    event.input = typeof spec.input === 'string' ? tryJson(spec.input) : spec.input;
  }
  if (typeof spec.name === 'string') event.name = spec.name;
  return event;
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function httpApiEvent(spec: unknown, fnName: string): HttpApiRouteEvent {
  if (typeof spec === 'string') {
    if (spec.trim() === '*') return { type: 'httpApi', method: '*', path: '*' };
    const [method, path] = spec.trim().split(/\s+/);
    if (!method || !path) throw new ServerlessConfigError(`functions.${fnName}: bad httpApi route "${spec}"`);
    return { type: 'httpApi', method: method === 'ANY' ? '*' : method.toUpperCase(), path };
  }
  const obj = asRecord(spec);
  const method = typeof obj.method === 'string' ? obj.method.toUpperCase() : '*';
  const path = typeof obj.path === 'string' ? obj.path : '*';
  return { type: 'httpApi', method: method === 'ANY' ? '*' : method, path };
}

export function loadServerlessConfig(path: string, options: LoadServerlessConfigOptions = {}): ServerlessConfig {
  const configPath = resolvePath(path);
  const servicePath = dirname(configPath);
  const parsed: unknown = parseYaml(readFileSync(configPath, 'utf8'), { merge: true });
  if (!isPlainObject(parsed)) throw new ServerlessConfigError(`${configPath} is not a YAML mapping`);
  const doc = mergeConfigArrays(resolveVariables(parsed, options, servicePath));

  const serviceValue = doc.service;
  const service = typeof serviceValue === 'string' ? serviceValue : String(asRecord(serviceValue).name ?? '');
  if (!service) throw new ServerlessConfigError(`${configPath}: service is missing`);

  const provider = asRecord(doc.provider);
  const stage = String(options.stage ?? provider.stage ?? 'dev');
  const region = String(options.region ?? provider.region ?? 'us-east-1');
  const providerEnv = stringRecord(provider.environment, 'provider.environment');
  const providerTimeout = Number(provider.timeout ?? 6);
  const providerMemory = Number(provider.memorySize ?? 1024);
  const httpApiCfg = asRecord(provider.httpApi);

  // Buckets ------------------------------------------------------------------------------
  const buckets: BucketConfig[] = [];
  const addBucket = (b: BucketConfig) => {
    if (!buckets.some((x) => x.name === b.name)) buckets.push(b);
  };
  const providerS3 = asRecord(provider.s3);
  for (const [ref, spec] of Object.entries(providerS3)) {
    const name = asRecord(spec).name;
    addBucket({ ref, name: typeof name === 'string' ? name : ref, source: 'provider.s3' });
  }
  const resources = asRecord(asRecord(doc.resources).Resources);
  for (const [logicalId, res] of Object.entries(resources)) {
    const r = asRecord(res);
    if (r.Type !== 'AWS::S3::Bucket') continue;
    const name = asRecord(r.Properties).BucketName;
    if (typeof name === 'string') addBucket({ ref: logicalId, name, source: 'resources' });
  }

  // Functions ----------------------------------------------------------------------------
  const functions: Record<string, FunctionConfig> = {};
  for (const [fnName, fnSpec] of Object.entries(asRecord(doc.functions))) {
    const spec = asRecord(fnSpec);
    const handler = spec.handler;
    if (typeof handler !== 'string') throw new ServerlessConfigError(`functions.${fnName}.handler is missing`);
    const dot = handler.lastIndexOf('.');
    if (dot <= 0) throw new ServerlessConfigError(`functions.${fnName}.handler "${handler}" is not <file>.<export>`);
    const functionEnvironment = stringRecord(spec.environment, `functions.${fnName}.environment`);
    const events: FunctionEvent[] = [];
    for (const ev of Array.isArray(spec.events) ? spec.events : []) {
      const e = asRecord(ev);
      if ('httpApi' in e) events.push(httpApiEvent(e.httpApi, fnName));
      else if ('schedule' in e) {
        const s = scheduleEvent(e.schedule);
        if (s) events.push(s);
      } else if ('s3' in e) {
        const s3Spec = e.s3;
        const s3 = typeof s3Spec === 'string' ? { bucket: s3Spec } : asRecord(s3Spec);
        const bucketRef = String(s3.bucket);
        const fromProvider = asRecord(providerS3[bucketRef]).name;
        const bucketName = typeof fromProvider === 'string' ? fromProvider : bucketRef;
        const rules: S3Rule[] = (Array.isArray(s3.rules) ? s3.rules : []).map((rule) => {
          const r = asRecord(rule);
          const out: S3Rule = {};
          if (typeof r.prefix === 'string') out.prefix = r.prefix;
          if (typeof r.suffix === 'string') out.suffix = r.suffix;
          return out;
        });
        const existing = s3.existing === true;
        events.push({
          type: 's3',
          bucketRef,
          bucketName,
          event: typeof s3.event === 'string' ? s3.event : 's3:ObjectCreated:*',
          rules,
          existing,
        });
        // The framework creates a bucket for an s3 event that names neither provider.s3 nor an existing one.
        if (!(bucketRef in providerS3)) addBucket({ ref: bucketRef, name: bucketName, source: 's3-event' });
      }
    }
    functions[fnName] = {
      name: fnName,
      deployedName: typeof spec.name === 'string' ? spec.name : `${service}-${stage}-${fnName}`,
      handler,
      handlerModule: handler.slice(0, dot),
      handlerExport: handler.slice(dot + 1),
      servicePath,
      environment: { ...providerEnv, ...functionEnvironment },
      functionEnvironment,
      timeout: Number(spec.timeout ?? providerTimeout),
      memorySize: Number(spec.memorySize ?? providerMemory),
      events,
      raw: spec,
    };
  }

  // Tables -------------------------------------------------------------------------------
  const tables: TableConfig[] = [];
  for (const [logicalId, res] of Object.entries(resources)) {
    const r = asRecord(res);
    if (r.Type !== 'AWS::DynamoDB::Table') continue;
    const p = asRecord(r.Properties);
    if (typeof p.TableName !== 'string') {
      throw new ServerlessConfigError(
        `resources.Resources.${logicalId}: TableName must be a plain string for the local stack (generated names are not supported)`,
      );
    }
    const table: TableConfig = {
      logicalId,
      TableName: p.TableName,
      KeySchema: (p.KeySchema ?? []) as KeySchemaElement[],
      AttributeDefinitions: (p.AttributeDefinitions ?? []) as AttributeDefinition[],
      BillingMode: p.BillingMode === 'PAY_PER_REQUEST' ? 'PAY_PER_REQUEST' : 'PROVISIONED',
      properties: p,
    };
    if (Array.isArray(p.GlobalSecondaryIndexes)) table.GlobalSecondaryIndexes = p.GlobalSecondaryIndexes as SecondaryIndex[];
    if (Array.isArray(p.LocalSecondaryIndexes)) table.LocalSecondaryIndexes = p.LocalSecondaryIndexes as SecondaryIndex[];
    if (isPlainObject(p.ProvisionedThroughput)) {
      table.ProvisionedThroughput = p.ProvisionedThroughput as TableConfig['ProvisionedThroughput'];
    }
    tables.push(table);
  }

  // State machines -----------------------------------------------------------------------
  const stateMachines: Record<string, StateMachineConfig> = {};
  for (const [key, smSpec] of Object.entries(asRecord(asRecord(doc.stepFunctions).stateMachines))) {
    const sm = asRecord(smSpec);
    const events: ScheduleTriggerEvent[] = [];
    for (const ev of Array.isArray(sm.events) ? sm.events : []) {
      const e = asRecord(ev);
      if ('schedule' in e) {
        const s = scheduleEvent(e.schedule);
        if (s) events.push(s);
      }
    }
    stateMachines[key] = {
      key,
      name: typeof sm.name === 'string' ? sm.name : `${service}-${stage}-${key}`,
      definition: asRecord(sm.definition),
      events,
    };
  }

  return {
    configPath,
    servicePath,
    service,
    stage,
    region,
    ...(typeof provider.runtime === 'string' ? { runtime: provider.runtime } : {}),
    provider: {
      environment: providerEnv,
      timeout: providerTimeout,
      memorySize: providerMemory,
      httpApi: {
        cors: isPlainObject(httpApiCfg.cors) ? httpApiCfg.cors : httpApiCfg.cors === true,
        ...(httpApiCfg.payload !== undefined ? { payload: String(httpApiCfg.payload) } : {}),
      },
    },
    functions,
    buckets,
    tables,
    stateMachines,
    resolved: doc,
  };
}

/** Find a function by key, deployed name, ARN (with or without qualifier) or CloudFormation logical id. */
export function findFunction(config: ServerlessConfig, ref: string): FunctionConfig | undefined {
  const direct = config.functions[ref];
  if (direct) return direct;
  const arn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(?::.+)?$/.exec(ref);
  const name = arn ? (arn[1] as string) : ref;
  for (const fn of Object.values(config.functions)) {
    if (fn.deployedName === name || fn.name === name) return fn;
  }
  const fromLogical = functionNameFromLogicalId(name, Object.keys(config.functions));
  return fromLogical ? config.functions[fromLogical] : undefined;
}
