/**
 * The CloudFormation baseline: what `serverless package` produces for the service, normalised, kept in
 * test/fixtures/cloudformation/baseline-resources.json, so that a change of serverless.yml (or of the files
 * it includes from serverless/) that changes what gets deployed shows up in a test, resource by resource.
 * test/integration/package.test.ts compares its package run with the baseline; every difference must be
 * listed, with a reason, in test/fixtures/cloudformation/intended-changes.ts.
 *
 *   npm run package:baseline                     package (offline, --isolated, stage pkgtest) and rewrite the baseline
 *   npm run package:baseline -- --template <f>   normalise an existing cloudformation-template-update-stack.json
 *                                                (packaged with --stage pkgtest) instead of packaging
 *
 * Normalisation drops what changes on every build: the S3 key of each artifact (timestamped dir), the code
 * hashes of the Lambda versions and the hash suffix of their logical ids (`XLambdaVersion<hash>` ->
 * `XLambdaVersion`, also where they are referenced). State machine definitions (a JSON string) are parsed,
 * so a change shows as the path of the state that changed. Outputs are kept as `Outputs.<name>` entries.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { PROJECT_ROOT } from './package';

/** The stage the baseline is packaged for: the one test/integration/package.test.ts packages. */
export const BASELINE_STAGE = 'pkgtest';
export const BASELINE_PATH = join(PROJECT_ROOT, 'test/fixtures/cloudformation/baseline-resources.json');

export interface Baseline {
  comment: string;
  stage: string;
  /** Logical id (or `Outputs.<name>`) -> normalised resource (or output). */
  resources: Record<string, unknown>;
}

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface IntendedChange {
  /** Logical id as in the baseline (Lambda versions without their hash; outputs as `Outputs.<name>`). */
  id: string;
  change: ChangeKind;
  /** One line: why the deployed stack changes. */
  reason: string;
}

export interface ResourceDifference {
  id: string;
  change: ChangeKind;
  /** For `changed`: the JSON paths that differ (at most a few, with both values). */
  details: string[];
}

export interface BaselineComparison {
  differences: ResourceDifference[];
  /** Differences not listed in the intended changes. */
  unexplained: ResourceDifference[];
  /** Intended changes that did not happen (stale entries: remove them, e.g. after regenerating the baseline). */
  stale: IntendedChange[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface CfnTemplate {
  Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep copy with object keys sorted (stable files and diffs; arrays keep their order, which matters). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isObject(value)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

/** A state machine's DefinitionString (a JSON string, or `Fn::Sub: [string, vars]`) as an object. */
function parseDefinition(definition: unknown): unknown {
  const parse = (text: unknown) => {
    if (typeof text !== 'string') return text;
    try {
      return { parsedJson: JSON.parse(text) as Json };
    } catch {
      return text;
    }
  };
  if (typeof definition === 'string') return parse(definition);
  if (isObject(definition) && Array.isArray(definition['Fn::Sub'])) {
    const [text, vars] = definition['Fn::Sub'] as [unknown, unknown];
    return { 'Fn::Sub': [parse(text), vars] };
  }
  if (isObject(definition) && typeof definition['Fn::Sub'] === 'string') return { 'Fn::Sub': parse(definition['Fn::Sub']) };
  return definition;
}

/** Normalises a packaged template (cloudformation-template-update-stack.json) into baseline entries. */
export function normaliseTemplate(template: CfnTemplate): Record<string, unknown> {
  const resources = template.Resources ?? {};
  // `PrepareSnapshotLambdaVersion<hash of the code and config>` -> `PrepareSnapshotLambdaVersion`.
  const renames = new Map<string, string>();
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== 'AWS::Lambda::Version') continue;
    const m = /^(.+LambdaVersion)[A-Za-z0-9]+$/.exec(id);
    if (m?.[1]) renames.set(id, m[1]);
  }
  const renameText = (s: string) => (renames.has(s) ? (renames.get(s) as string) : s);
  const normaliseString = (value: string, key?: string) => {
    // Ref / GetAtt / DependsOn targets and `${XLambdaVersion...}` inside Fn::Sub strings.
    let s = renameText(value);
    if (s === value && value.includes('LambdaVersion')) for (const [from, to] of renames) s = s.split(from).join(to);
    // serverless/<service>/<stage>/<epoch>-<ISO time>/<fn>.zip
    return key === 'S3Key' ? s.replace(/^serverless\/([^/]+)\/([^/]+)\/\d+-[^/]+\//, 'serverless/$1/$2/<build>/') : s;
  };
  const walk = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') return normaliseString(value, key);
    if (Array.isArray(value)) return value.map((v) => walk(v));
    if (!isObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'CodeSha256' && typeof v === 'string') out[k] = '<code sha256>';
      else out[k] = walk(k === 'DefinitionString' ? parseDefinition(v) : v, k);
    }
    return out;
  };
  const entries: Record<string, unknown> = {};
  for (const [id, r] of Object.entries(resources)) entries[renameText(id)] = walk(r);
  for (const [name, output] of Object.entries(template.Outputs ?? {})) entries[`Outputs.${name}`] = walk(output);
  return sortKeys(entries) as Record<string, unknown>;
}

const show = (v: unknown) => {
  const text = v === undefined ? '(absent)' : JSON.stringify(v);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
};

/** The JSON paths where two values differ, with both values (`path: before -> after`). */
export function differingPaths(before: unknown, after: unknown, path = '', out: string[] = []): string[] {
  if (isDeepStrictEqual(before, after)) return out;
  if (isObject(before) && isObject(after)) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) differingPaths(before[k], after[k], path ? `${path}.${k}` : k, out);
  } else if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    for (const [i, b] of before.entries()) differingPaths(b, after[i], `${path}[${i}]`, out);
  } else {
    out.push(`${path || '(root)'}: ${show(before)} -> ${show(after)}`);
  }
  return out;
}

/** Compares normalised entries with the baseline; every difference must be an intended change. */
export function compareWithBaseline(
  current: Record<string, unknown>,
  baseline: Record<string, unknown>,
  intended: readonly IntendedChange[],
  maxDetails = 8,
): BaselineComparison {
  const differences: ResourceDifference[] = [];
  for (const id of [...new Set([...Object.keys(baseline), ...Object.keys(current)])].sort()) {
    if (!(id in current)) differences.push({ id, change: 'removed', details: [] });
    else if (!(id in baseline)) differences.push({ id, change: 'added', details: [] });
    else if (!isDeepStrictEqual(current[id], baseline[id])) {
      const details = differingPaths(baseline[id], current[id]);
      differences.push({
        id,
        change: 'changed',
        details: details.length > maxDetails ? [...details.slice(0, maxDetails), `... ${details.length - maxDetails} more`] : details,
      });
    }
  }
  const listed = (d: { id: string; change: ChangeKind }) => intended.some((c) => c.id === d.id && c.change === d.change);
  return {
    differences,
    unexplained: differences.filter((d) => !listed(d)),
    stale: intended.filter((c) => !differences.some((d) => d.id === c.id && d.change === c.change)),
  };
}

/** A readable report of a comparison (empty when nothing is unexplained or stale). */
export function formatComparison(comparison: BaselineComparison): string {
  const lines: string[] = [];
  const group = (kind: ChangeKind) => comparison.unexplained.filter((d) => d.change === kind);
  for (const kind of ['added', 'removed', 'changed'] as const) {
    const list = group(kind);
    if (!list.length) continue;
    lines.push(`${kind} (${list.length}):`);
    for (const d of list) {
      lines.push(`  ${d.id}`);
      for (const detail of d.details) lines.push(`      ${detail}`);
    }
  }
  if (lines.length) {
    lines.unshift(
      'The packaged CloudFormation differs from test/fixtures/cloudformation/baseline-resources.json.',
      'If the change is intended, list each resource in test/fixtures/cloudformation/intended-changes.ts (id, change, reason).',
    );
  }
  if (comparison.stale.length) {
    lines.push('Listed in intended-changes.ts but not different from the baseline (remove them; after `npm run package:baseline` the list starts empty):');
    for (const c of comparison.stale) lines.push(`  ${c.change} ${c.id}: ${c.reason}`);
  }
  return lines.join('\n');
}

function listYamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listYamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/**
 * The environment variables serverless.yml and serverless/**.yml read (`${env:NAME, ...}`): unset them in
 * the packaging process so the template holds the defaults, whatever the developer's shell exports.
 */
export function serverlessEnvVariables(root = PROJECT_ROOT): string[] {
  const names = new Set<string>();
  for (const file of [join(root, 'serverless.yml'), ...listYamlFiles(join(root, 'serverless'))]) {
    if (!existsSync(file)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1] as string);
  }
  return [...names].sort();
}

/** process.env without the variables the service configuration reads. */
export function packagingEnv(root = PROJECT_ROOT): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  for (const name of serverlessEnvVariables(root)) delete env[name];
  return env;
}

export function readBaseline(path = BASELINE_PATH): Baseline {
  return JSON.parse(readFileSync(path, 'utf8')) as Baseline;
}

export function writeBaseline(template: CfnTemplate, path = BASELINE_PATH): Baseline {
  const baseline: Baseline = {
    comment:
      'Normalised `serverless package --stage pkgtest` output (shared/cli/cloudformation-baseline.ts). Regenerate with `npm run package:baseline` when a change is intended; never edit by hand.',
    stage: BASELINE_STAGE,
    resources: normaliseTemplate(template),
  };
  writeFileSync(path, `${JSON.stringify(baseline, null, 2)}\n`);
  return baseline;
}

/** Runs `npm run package -- --isolated` (stage pkgtest) in a child process; returns the template path. */
async function packageTemplate(outDir: string, timeoutS: number): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(PROJECT_ROOT, 'shared/cli/package.ts'),
      '--isolated',
      '--stage',
      BASELINE_STAGE,
      '--package',
      outDir,
      '--timeout',
      String(timeoutS),
    ],
    { cwd: PROJECT_ROOT, env: packagingEnv(), stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', done);
  });
  const template = join(outDir, 'cloudformation-template-update-stack.json');
  if (code !== 0 || !existsSync(template)) throw new Error(`serverless package failed (exit ${code}); the baseline is unchanged`);
  return template;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { template: { type: 'string' }, timeout: { type: 'string', default: '480' } },
    allowPositionals: false,
  });
  let tmp: string | undefined;
  try {
    let templatePath = values.template;
    if (!templatePath) {
      tmp = realpathSync(mkdtempSync(join(tmpdir(), 'omnichannel-baseline-')));
      templatePath = await packageTemplate(join(tmp, 'artifacts'), Number(values.timeout));
    }
    const template = JSON.parse(readFileSync(templatePath, 'utf8')) as CfnTemplate;
    const previous = existsSync(BASELINE_PATH) ? readBaseline().resources : {};
    const baseline = writeBaseline(template);
    const { differences } = compareWithBaseline(baseline.resources, previous, []);
    console.log(`wrote ${relative(PROJECT_ROOT, BASELINE_PATH)}: ${Object.keys(baseline.resources).length} entries`);
    for (const d of differences) console.log(`  ${d.change} ${d.id}`);
    if (differences.length) {
      console.log('Now remove the entries of test/fixtures/cloudformation/intended-changes.ts that the new baseline contains.');
    }
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
