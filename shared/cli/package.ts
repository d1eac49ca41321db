/**
 * `npm run package`: runs `serverless package` offline (no AWS credentials, no AWS calls), then
 * checks every function artifact against Lambda's deployment-package limits.
 *
 *   npm run package -- [--stage dev] [--package <dir>] [--timeout <seconds>] [--isolated]
 *
 *   --stage     stage to package (default dev)
 *   --package   output dir for artifacts and templates (serverless `--package`); default .serverless/
 *   --timeout   kill serverless (and the npm installs it runs) after this many seconds (default 480)
 *   --isolated  package a copy of the project staged in a temp dir (node_modules symlinked), so the
 *               project's own .serverless/ and .esbuild/ are not touched and concurrent runs do not
 *               collide (serverless v3 always builds in <serviceDir>/.serverless, even with --package)
 *
 * Prints the serverless output on stderr, a table of the artifacts on stdout, and as the last line
 * of stdout `{"artifacts":[{"name","zippedMB","unzippedMB"}],"ok":true|false}`. Exits 1 if
 * packaging fails or any artifact exceeds the limits.
 *
 * Sizes: MB = MiB (2^20 bytes), as Lambda counts them (its error reads "Unzipped size must be
 * smaller than 262144000 bytes" = 250 MiB). The unzipped size is the sum of the uncompressed sizes
 * in the zip's central directory (read with adm-zip, installed as a dependency of onnxruntime-node).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const MIB = 1024 * 1024;
/** Lambda quotas: 250 MB unzipped (function + layers), 50 MB zipped for a direct upload. */
export const LAMBDA_LIMITS = { unzippedBytes: 250 * MIB, zippedBytes: 50 * MIB } as const;

/** The part of adm-zip's API used here (the package ships no typings). */
interface ZipEntry {
  entryName: string;
  isDirectory: boolean;
  header: { size: number; compressedSize: number };
  getData(): Buffer;
}
interface ZipFile {
  getEntries(): ZipEntry[];
  getEntry(name: string): ZipEntry | null;
}
type AdmZipConstructor = new (path: string) => ZipFile;

/** Opens a zip (central directory only; entry data is inflated on demand). */
export function openZip(file: string): ZipFile {
  const AdmZip = require('adm-zip') as AdmZipConstructor;
  return new AdmZip(file);
}

export interface ArtifactReport {
  name: string;
  file: string;
  zippedBytes: number;
  unzippedBytes: number;
  zippedMB: number;
  unzippedMB: number;
  files: number;
  /** `<napi>/<os>/<arch>` dirs of onnxruntime-node binaries found in the artifact. */
  onnxruntimePlatforms: string[];
  problems: string[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const ORT_BIN = /^node_modules\/onnxruntime-node\/bin\/([^/]+\/[^/]+\/[^/]+)\//;

export function measureArtifact(file: string): ArtifactReport {
  const entries = openZip(file)
    .getEntries()
    .filter((e) => !e.isDirectory);
  const zippedBytes = statSync(file).size;
  const unzippedBytes = entries.reduce((sum, e) => sum + e.header.size, 0);
  const platforms = new Set<string>();
  for (const e of entries) {
    const m = ORT_BIN.exec(e.entryName);
    if (m?.[1]) platforms.add(m[1]);
  }
  const problems: string[] = [];
  if (unzippedBytes >= LAMBDA_LIMITS.unzippedBytes) problems.push(`unzipped ${round2(unzippedBytes / MIB)} MB >= 250 MB`);
  if (zippedBytes >= LAMBDA_LIMITS.zippedBytes) problems.push(`zipped ${round2(zippedBytes / MIB)} MB >= 50 MB`);
  return {
    name: basename(file, '.zip'),
    file,
    zippedBytes,
    unzippedBytes,
    zippedMB: round2(zippedBytes / MIB),
    unzippedMB: round2(unzippedBytes / MIB),
    files: entries.length,
    onnxruntimePlatforms: [...platforms].sort(),
    problems,
  };
}

export function measureArtifacts(dir: string): ArtifactReport[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.zip'))
    .sort()
    .map((f) => measureArtifact(join(dir, f)));
}

export function formatTable(reports: ArtifactReport[]): string {
  const rows = [
    ['artifact', 'zipped MB', 'unzipped MB', 'files', 'onnxruntime', 'limits (50 MB zipped / 250 MB unzipped)'],
    ...reports.map((r) => [
      r.name,
      r.zippedMB.toFixed(2),
      r.unzippedMB.toFixed(2),
      String(r.files),
      r.onnxruntimePlatforms.join(',') || '-',
      r.problems.length ? `FAIL: ${r.problems.join('; ')}` : 'ok',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i >= 1 && i <= 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function serverlessBin(): string | undefined {
  try {
    return join(dirname(require.resolve('serverless/package.json')), 'bin', 'serverless.js');
  } catch {
    return undefined;
  }
}

/** Dirs never copied into an isolated staging copy. */
const NOT_STAGED = new Set(['node_modules', '.git', '.serverless', '.esbuild', '.local-data', 'coverage']);

/** Copies the project (sources and config, not node_modules) to a temp dir and links node_modules. */
export function stageProject(root = PROJECT_ROOT): string {
  const staged = realpathSync(mkdtempSync(join(tmpdir(), 'omnichannel-sls-')));
  for (const name of readdirSync(root)) {
    if (NOT_STAGED.has(name) || name.endsWith('.log')) continue;
    cpSync(join(root, name), join(staged, name), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(staged, 'node_modules'), 'dir');
  return staged;
}

export interface PackageRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  output: string;
  /** Where the zips and CloudFormation templates were written. */
  artifactsDir: string;
}

export interface PackageOptions {
  stage?: string;
  /** Output dir (serverless `--package`); default `<serviceDir>/.serverless`. */
  packageDir?: string;
  timeoutMs?: number;
  /** Directory holding serverless.yml; default the project root. */
  serviceDir?: string;
  /** Receives serverless' stdout and stderr as they arrive. */
  onOutput?: (chunk: string) => void;
}

/** Runs `serverless package` in its own process group; kills the whole group on timeout. */
export async function runServerlessPackage(options: PackageOptions = {}): Promise<PackageRun> {
  const bin = serverlessBin();
  if (!bin) throw new Error('serverless is not installed (npm install)');
  const serviceDir = options.serviceDir ?? PROJECT_ROOT;
  const stage = options.stage ?? 'dev';
  const timeoutMs = options.timeoutMs ?? 8 * 60_000;
  const packageDir = options.packageDir ? resolve(options.packageDir) : undefined;
  if (packageDir && basename(packageDir) === '.serverless' && packageDir !== join(serviceDir, '.serverless')) {
    // serverless v3 only moves artifacts to --package when the path does not end with .serverless.
    throw new Error(`--package ${packageDir}: serverless ignores output dirs named .serverless; choose another name`);
  }
  const args = [bin, 'package', '--stage', stage];
  if (packageDir) args.push('--package', packageDir);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // onnxruntime-node's install script downloads CUDA providers: fails offline, may hang.
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    npm_config_onnxruntime_node_install: 'skip',
    // No telemetry, update or dashboard notifications, no instance-metadata credential probing.
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    AWS_EC2_METADATA_DISABLED: 'true',
    FORCE_COLOR: '0',
  };

  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: serviceDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    options.onOutput?.(text);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      /* already gone */
    }
  };
  let timedOut = false;
  let hardKill: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup('SIGTERM');
    hardKill = setTimeout(() => killGroup('SIGKILL'), 10_000);
  }, timeoutMs);
  const onParentSignal = () => killGroup('SIGTERM');
  process.once('SIGINT', onParentSignal);
  process.once('SIGTERM', onParentSignal);

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done, fail) => {
    child.once('error', fail);
    child.once('close', (c, s) => done({ code: c, signal: s }));
  });
  clearTimeout(timer);
  if (hardKill) clearTimeout(hardKill);
  process.off('SIGINT', onParentSignal);
  process.off('SIGTERM', onParentSignal);
  // npm or esbuild children left behind by a killed run.
  if (timedOut) killGroup('SIGKILL');

  return { code, signal, timedOut, durationMs: Date.now() - started, output, artifactsDir: packageDir ?? join(serviceDir, '.serverless') };
}

export interface CliResult {
  artifacts: { name: string; zippedMB: number; unzippedMB: number }[];
  ok: boolean;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string', default: 'dev' },
      package: { type: 'string' },
      timeout: { type: 'string', default: '480' },
      isolated: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout must be a positive number of seconds, got ${values.timeout}`);

  const staged = values.isolated ? stageProject() : undefined;
  const packageDir = values.package ? resolve(values.package) : staged ? realpathSync(mkdtempSync(join(tmpdir(), 'omnichannel-artifacts-'))) : undefined;
  const report = (result: CliResult) => {
    console.log(JSON.stringify(result));
    return result.ok ? 0 : 1;
  };

  try {
    console.error(`serverless package --stage ${values.stage}${packageDir ? ` --package ${packageDir}` : ''}${staged ? ` (staged copy in ${staged})` : ''}`);
    const run = await runServerlessPackage({
      stage: values.stage,
      packageDir,
      timeoutMs: timeoutS * 1000,
      serviceDir: staged,
      onOutput: (chunk) => process.stderr.write(chunk),
    });
    const seconds = (run.durationMs / 1000).toFixed(1);
    if (run.timedOut || run.code !== 0) {
      console.error(
        run.timedOut
          ? `serverless package timed out after ${timeoutS} s (killed)`
          : `serverless package failed (exit ${run.code ?? run.signal}) after ${seconds} s`,
      );
      return report({ artifacts: [], ok: false });
    }
    if (!existsSync(run.artifactsDir)) {
      console.error(`no artifacts dir at ${run.artifactsDir}`);
      return report({ artifacts: [], ok: false });
    }
    const reports = measureArtifacts(run.artifactsDir);
    console.log(`\nserverless package --stage ${values.stage}: ${seconds} s; artifacts in ${run.artifactsDir}\n`);
    console.log(formatTable(reports));
    const ok = reports.length > 0 && reports.every((r) => r.problems.length === 0);
    if (!reports.length) console.error('no .zip artifacts were produced');
    console.log('');
    return report({ artifacts: reports.map(({ name, zippedMB, unzippedMB }) => ({ name, zippedMB, unzippedMB })), ok });
  } finally {
    if (staged) rmSync(staged, { recursive: true, force: true });
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      console.log(JSON.stringify({ artifacts: [], ok: false }));
      process.exitCode = 1;
    },
  );
}
