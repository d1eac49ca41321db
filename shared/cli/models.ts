/**
 * `npm run models -- <command> [family] [version] [options]`: the model registry from a terminal.
 *
 *   list     [family]            versions (created, the family's main and shown metrics, gate), aliases and their history
 *   show     <family> [version]  one version's card (default: the champion's)
 *   promote  <family> <version>  moves champion to the version (an operator decision: no gate;
 *                                recorded with reason "manual promote by CLI")
 *   rollback <family>            moves champion back to its previous version (only if nobody moved it meanwhile)
 *
 * Where the registry is:
 *   (default)        the local stack's data dir (--data-dir, default .local-data): starts the emulators
 *                    on it (stop `npm start` first: the DynamoDB emulator's files are locked while it runs)
 *   --endpoint URL   an S3 endpoint that is already running (e.g. the s3rver of `npm start`)
 *   --aws            Amazon S3 with the environment's credentials (AWS_PROFILE, …)
 *   --stage S        the stage whose bucket to use (default: local, or dev with --aws); --bucket overrides
 * --json prints one JSON document; --reason overrides the recorded reason of promote/rollback.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { createLocalS3Client, type Emulators, startEmulators } from '../local/emulators';
import { loadServerlessConfig, type ServerlessConfig } from '../local/serverless-config';
import { type ConditionalWriteMode, S3ObjectStore } from '../storage/s3-object-store';
import { getFamily, hasFamily } from '../../models/families';
import { metricDirection } from '../registry/gate';
import { type AliasPointer, KNOWN_ALIASES, type ModelCard, ModelRegistry } from '../registry/registry';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');
export const MANUAL_PROMOTE_REASON = 'manual promote by CLI';
export const ROLLBACK_REASON = 'rollback by CLI';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const defaultIo: CliIo = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const USAGE = `usage: npm run models -- list|show|promote|rollback [family] [version]
         [--json] [--data-dir DIR | --endpoint URL | --aws] [--stage STAGE] [--bucket NAME] [--region R] [--reason TEXT]`;

interface Target {
  registry: ModelRegistry;
  bucket: string;
  where: string;
  close(): Promise<void>;
}

async function connect(values: Options): Promise<Target> {
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const aws = values.aws === true;
  const endpoint = str('endpoint');
  if (aws && endpoint) throw new UsageError('--aws and --endpoint cannot be combined');
  const region = str('region');
  const config = loadServerlessConfig(resolve(PROJECT_ROOT, 'serverless.yml'), {
    stage: str('stage') ?? (aws ? 'dev' : 'local'),
    ...(region ? { region } : {}),
  });
  const bucket = str('bucket') ?? config.provider.environment.DATA_BUCKET;
  if (!bucket) throw new UsageError('no bucket: serverless.yml has no DATA_BUCKET and --bucket was not given');
  const open = (s3: S3Client, mode: ConditionalWriteMode) => new ModelRegistry(new S3ObjectStore(s3, bucket, { conditionalWrites: mode }));
  if (aws) {
    const awsRegion = region ?? process.env.AWS_REGION ?? config.region;
    const s3 = new S3Client({ region: awsRegion });
    return { registry: open(s3, 'native'), bucket, where: `s3://${bucket} (AWS ${awsRegion})`, close: async () => s3.destroy() };
  }
  if (endpoint) {
    const s3 = createLocalS3Client(endpoint, config.region);
    return { registry: open(s3, 'emulated'), bucket, where: `s3://${bucket} at ${endpoint}`, close: async () => s3.destroy() };
  }
  const dataDir = resolve(str('data-dir') ?? resolve(PROJECT_ROOT, '.local-data'));
  const emulators = await startLocalEmulators(dataDir, config);
  return { registry: open(emulators.s3Client(), 'emulated'), bucket, where: `s3://${bucket} in ${dataDir}`, close: () => emulators.stop() };
}

/** Only the emulators on the data dir (no HTTP API, no triggers), leaving the process environment alone. */
async function startLocalEmulators(dataDir: string, config: ServerlessConfig): Promise<Emulators> {
  try {
    return await startEmulators({ dataDir, config, setEnv: false });
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    if (/lock/i.test(text))
      throw new UsageError(`${dataDir} is in use (is \`npm start\` running?): pass --endpoint <its s3rver URL> or stop it first (${text})`);
    throw error;
  }
}

/** The metrics a family shows (its main metric first, then its presentation's), rounded; every metric for a family this process does not know. */
function pickMetrics(family: string, m: Record<string, number> | undefined): Record<string, number> {
  if (!m) return {};
  const shown = hasFamily(family)
    ? [...new Set([getFamily(family).policy.mainMetric, ...getFamily(family).presentation.metrics])]
    : Object.keys(m).filter((k) => k !== 'count');
  return Object.fromEntries(shown.filter((k) => typeof m[k] === 'number').map((k) => [k, Number((m[k] as number).toFixed(4))]));
}

/** "MAE ↓ (main)" for the family's main metric and lower-is-better ones. */
function metricLabel(family: string, metric: string): string {
  if (!hasFamily(family)) return metric;
  const policy = getFamily(family).policy;
  const lower = metricDirection(policy, metric) === 'lower';
  return `${metric}${lower ? ' ↓' : ''}${metric === policy.mainMetric ? ' (main)' : ''}`;
}

export interface FamilyListing {
  family: string;
  versions: {
    version: string;
    createdAt?: string;
    source: string;
    algorithm?: string;
    metrics: Record<string, number>;
    gate?: { passed: boolean; reasons: string[] };
    aliases: string[];
  }[];
  aliases: Record<string, { current: AliasPointer | null; history: AliasPointer[] }>;
}

export async function listFamily(registry: ModelRegistry, family: string): Promise<FamilyListing> {
  const names = [...new Set([...KNOWN_ALIASES, ...(await registry.listAliases(family))])];
  const aliases: FamilyListing['aliases'] = {};
  for (const alias of names) {
    aliases[alias] = { current: (await registry.getAlias(family, alias)) ?? null, history: await registry.getAliasHistory(family, alias) };
  }
  const versions = (await registry.describeVersions(family)).map(({ version, card }) => ({
    version,
    ...(card?.createdAt ? { createdAt: card.createdAt } : {}),
    source: card?.source?.kind === 'uploaded' ? `uploaded:${card.source.name ?? ''}` : 'trained',
    ...(card?.algorithm ? { algorithm: card.algorithm } : {}),
    metrics: pickMetrics(family, card?.metrics),
    ...(card?.gate ? { gate: card.gate } : {}),
    aliases: names.filter((a) => aliases[a]?.current?.version === version),
  }));
  return { family, versions, aliases };
}

function printListing(io: CliIo, listing: FamilyListing): void {
  io.out(`${listing.family}`);
  for (const [alias, { current, history }] of Object.entries(listing.aliases)) {
    io.out(`  ${alias.padEnd(10)} ${current ? `${current.version}  (since ${current.updatedAt}; ${current.reason})` : '(not set)'}`);
    for (const move of history.slice(-5).reverse())
      io.out(`  ${''.padEnd(10)}   ${move.updatedAt}  → ${move.version}${move.previous ? ` (from ${move.previous})` : ''}`);
  }
  if (listing.versions.length === 0) io.out('  no versions');
  for (const v of [...listing.versions].reverse()) {
    const metrics =
      Object.entries(v.metrics)
        .map(([k, x]) => `${metricLabel(listing.family, k)} ${x.toFixed(4)}`)
        .join('  ') || 'not evaluated';
    const gate = v.gate ? (v.gate.passed ? 'gate passed' : 'gate failed') : 'no gate';
    io.out(`  ${v.version}  ${v.createdAt ?? '?'}  ${v.source.padEnd(12)} ${metrics}  ${gate}${v.aliases.length ? `  [${v.aliases.join(', ')}]` : ''}`);
  }
}

function printCard(io: CliIo, card: ModelCard, aliases: string[]): void {
  io.out(`${card.family}/${card.version}${aliases.length ? `  [${aliases.join(', ')}]` : ''}`);
  io.out(`  created     ${card.createdAt}   (${card.source?.kind ?? 'trained'}${card.source?.name ? `: ${card.source.name}` : ''})`);
  io.out(`  algorithm   ${card.algorithm}  code ${card.codeVersion}  parent ${card.parentVersion ?? '-'}`);
  io.out(
    `  data        snapshot ${card.data.snapshot}, up to ${card.data.asOf}, holdout from ${card.data.holdoutStart}; ${card.data.users} users, ${card.data.items} items`,
  );
  io.out(`  training    ${card.trainingSeconds} s`);
  io.out(
    `  signature   ${card.signature.inputs.map((i) => `${i.name} ${i.type}[${i.shape.join(',')}]`).join(', ')} → ${card.signature.outputs.map((o) => `${o.name} ${o.type}[${o.shape.join(',')}]`).join(', ')}`,
  );
  if (card.metrics)
    io.out(
      `  metrics     ${Object.entries(card.metrics)
        .map(([k, v]) => `${metricLabel(card.family, k)} ${Number(v.toFixed(4))}`)
        .join('  ')}`,
    );
  if (card.baseline)
    io.out(
      `  baseline    ${Object.entries(pickMetrics(card.family, card.baseline))
        .map(([k, v]) => `${k} ${v}`)
        .join('  ')}`,
    );
  if (card.champion)
    io.out(
      `  champion    ${card.champion.version}: ${Object.entries(pickMetrics(card.family, card.champion.metrics))
        .map(([k, v]) => `${k} ${v}`)
        .join('  ')}`,
    );
  if (card.gate) io.out(`  gate        ${card.gate.passed ? 'passed' : 'failed'}: ${card.gate.reasons.join('; ')}`);
}

async function requireFamily(registry: ModelRegistry, family: string | undefined, command: string): Promise<string> {
  if (!family) throw new UsageError(`${command} needs a family (one of: ${(await registry.listFamilies()).join(', ') || 'none yet'})`);
  return family;
}

type Options = Record<string, string | boolean | undefined>;
interface CommandArgs {
  family?: string | undefined;
  version?: string | undefined;
  options: Options;
  io: CliIo;
}
type Command = (registry: ModelRegistry, args: CommandArgs) => Promise<unknown>;

const aliasesOf = async (registry: ModelRegistry, family: string) => [...new Set([...KNOWN_ALIASES, ...(await registry.listAliases(family))])];
const reasonOption = (options: Options, fallback: string) => (typeof options.reason === 'string' ? options.reason : fallback);

const COMMANDS: Record<string, Command> = {
  async list(registry, { family, options, io }) {
    const listings: FamilyListing[] = [];
    for (const f of family ? [family] : await registry.listFamilies()) listings.push(await listFamily(registry, f));
    if (!options.json && listings.length === 0) io.out('no model families in the registry yet');
    if (!options.json) for (const l of listings) printListing(io, l);
    return { families: listings };
  },

  async show(registry, { family, version, options, io }) {
    const f = await requireFamily(registry, family, 'show');
    const target = version ?? (await registry.getAlias(f, 'champion'))?.version;
    if (!target) throw new UsageError(`${f} has no champion: name a version (npm run models -- list ${f})`);
    const card = await registry.getCard(f, target);
    if (!card) throw new UsageError(`no such version ${f}/${target}`);
    const aliases: string[] = [];
    for (const a of await aliasesOf(registry, f)) if ((await registry.getAlias(f, a))?.version === target) aliases.push(a);
    if (!options.json) printCard(io, card, aliases);
    return { card, aliases };
  },

  async promote(registry, { family, version, options, io }) {
    const f = await requireFamily(registry, family, 'promote');
    if (!version) throw new UsageError('promote needs a version: npm run models -- promote <family> <version>');
    const pointer = await registry.setAlias(f, 'champion', version, reasonOption(options, MANUAL_PROMOTE_REASON));
    const was = pointer.previous && pointer.previous !== pointer.version ? ` (was ${pointer.previous})` : '';
    if (!options.json) io.out(`${f} champion → ${pointer.version}${was}`);
    return { family: f, alias: 'champion', pointer };
  },

  async rollback(registry, { family, options, io }) {
    const f = await requireFamily(registry, family, 'rollback');
    const current = await registry.getAlias(f, 'champion');
    if (!current) throw new UsageError(`${f} has no champion to roll back`);
    if (!current.previous) throw new UsageError(`${f} champion ${current.version} has no previous version to roll back to`);
    // Compare-and-set: if someone moved the champion since it was read, nothing is rolled back.
    const reason = reasonOption(options, `${ROLLBACK_REASON} (from ${current.version})`);
    const pointer = await registry.compareAndSetAlias(f, 'champion', current.version, current.previous, reason);
    if (!options.json) io.out(`${f} champion → ${pointer.version} (rolled back from ${current.version})`);
    return { family: f, alias: 'champion', pointer };
  },
};

/** Runs one CLI command; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        'data-dir': { type: 'string' },
        endpoint: { type: 'string' },
        aws: { type: 'boolean', default: false },
        stage: { type: 'string' },
        bucket: { type: 'string' },
        region: { type: 'string' },
        reason: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const values = parsed.values as Options;
  const [command, ...positionals] = parsed.positionals;
  if (values.help || !command) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const commandFn = COMMANDS[command];
  if (!commandFn) {
    io.err(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  let target: Target | undefined;
  try {
    target = await connect(values);
    const result = await commandFn(target.registry, { family: positionals[0], version: positionals[1], options: values, io });
    if (values.json) io.out(JSON.stringify({ registry: target.where, ...(result as object) }, null, 2));
    return 0;
  } catch (error) {
    const e = error as Error;
    if (values.json) io.out(JSON.stringify({ error: e.name, message: e.message }));
    else io.err(`${e.name === 'UsageError' ? '' : `${e.name}: `}${e.message}`);
    return e.name === 'UsageError' ? 2 : 1;
  } finally {
    await target?.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
