/**
 * The model registry in S3 (Gorse-style: versions written under increasing ids, aliases point at them).
 *
 *   models/<family>/versions/<version>/model.onnx, items.json, eval/…, card.json[, card.addendum.json]
 *   models/<family>/aliases/<alias>.json                       the pointer (champion, challenger)
 *   models/<family>/aliases/history/<alias>/<at>-<version>.json every move ever made
 *
 * Versions are immutable for real: every object of a version is written create-only (If-None-Match: *).
 * A retry that writes the same bytes succeeds; different bytes fail with ImmutableVersionError. The card
 * is the one object that grows once: a later putCard may ADD fields card.json lacks (the evaluation:
 * metrics, baseline, gate, …), stored create-only as card.addendum.json and merged by getCard; it may never
 * change a field card.json has.
 *
 * Aliases move by compare-and-swap on the pointer object's ETag (If-Match; If-None-Match for the first
 * move), re-read and retried on 412/409. Each move is recorded under aliases/history/ after it wins;
 * a move also back-fills the entry of the pointer it replaces, so the history is complete even when a
 * writer died between the two writes. See shared/storage/s3-object-store.ts for how s3rver (which
 * ignores the headers) is handled locally.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { md5Hex, type ObjectStore, PreconditionFailedError } from '../storage/object-store';
import { type ConditionalWriteMode, S3ObjectStore } from '../storage/s3-object-store';
import type { AliasPointer } from './alias';
import { checkRetentionOptions, planRetention, type RetentionAlias, type RetentionOptions, type RetentionVersion } from './retention';

export type { AliasPointer } from './alias';

export const MODELS_PREFIX = 'models/';
/** The aliases this stack uses (others are allowed; these are listed even when unset). */
export const KNOWN_ALIASES = ['champion', 'challenger'] as const;

/** Signature of an ONNX model: tensor names, element types and shapes (symbolic dims as strings). */
export interface TensorSignature {
  name: string;
  type: string;
  shape: (number | string)[];
}

/** What is known about one immutable model version (stored beside model.onnx). */
export interface ModelCard {
  family: string;
  version: string;
  createdAt: string;
  algorithm: string;
  hyperparameters: Record<string, number | string | boolean>;
  signature: { inputs: TensorSignature[]; outputs: TensorSignature[] };
  /** Training data window: the snapshot, its end (asOf), the holdout start; `from` = first interaction when known. */
  data: { snapshot: string; asOf: string; holdoutStart: string; users: number; items: number; interactions: number; from?: string };
  /** 0 when an uploaded model's manifest does not report it (see `source`). */
  trainingSeconds: number;
  parentVersion?: string;
  codeVersion: string;
  /** Holdout metrics of the model (HR@K, NDCG@K, MRR@K, count). */
  metrics?: Record<string, number>;
  /** The popularity baseline on the same holdout. */
  baseline?: Record<string, number>;
  /** The champion at evaluation time, scored on the same holdout. */
  champion?: { version: string; metrics: Record<string, number>; artifact?: 'serving' | 'eval' };
  /** The holdout the metrics were measured on. */
  holdout?: { snapshot: string; asOf: string; holdoutStart: string; cases: number };
  gate?: { passed: boolean; reasons: string[] };
  /** Where the model came from: trained by the state machine (absent) or uploaded (bring your own ONNX). */
  source?: {
    kind: 'trained' | 'uploaded';
    name?: string;
    description?: string;
    manifestKey?: string;
    modelKey?: string;
    sha256?: string;
    itemIndex?: 'champion' | 'explicit';
  };
}

export class RegistryInputError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'RegistryInputError';
  }
}

export class ImmutableVersionError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`${key} is part of an immutable model version: ${detail}`);
    this.name = 'ImmutableVersionError';
  }
}

export class UnknownVersionError extends Error {
  constructor(
    readonly family: string,
    readonly version: string,
    context: string,
  ) {
    super(`${context}: no such version ${family}/${version}`);
    this.name = 'UnknownVersionError';
  }
}

export class AliasConflictError extends Error {
  constructor(
    readonly family: string,
    readonly alias: string,
    readonly expected: string | null,
    readonly actual: string | null,
    detail?: string,
  ) {
    super(detail ?? `${family}/${alias} points to ${actual ?? '(nothing)'}, expected ${expected ?? '(nothing)'}: it was moved concurrently`);
    this.name = 'AliasConflictError';
  }
}

const FAMILY_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ALIAS_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const ARTIFACT_RE = /^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,127}\/){0,3}[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function check(field: string, value: string, re: RegExp, what: string): void {
  if (typeof value !== 'string' || !re.test(value) || value.includes('..')) {
    throw new RegistryInputError(field, `"${String(value)}" is not a valid ${what} (${re.source})`);
  }
}
const checkFamily = (family: string) => check('family', family, FAMILY_RE, 'model family');
const checkVersion = (version: string) => check('version', version, VERSION_RE, 'version id');
const checkAlias = (alias: string) => check('alias', alias, ALIAS_RE, 'alias name');

export const familyPrefix = (family: string) => `${MODELS_PREFIX}${family}/`;
export const versionsPrefix = (family: string) => `${familyPrefix(family)}versions/`;
export const versionPrefix = (family: string, version: string) => `${versionsPrefix(family)}${version}/`;
const aliasesPrefix = (family: string) => `${familyPrefix(family)}aliases/`;
const aliasKey = (family: string, alias: string) => `${aliasesPrefix(family)}${alias}.json`;
const aliasHistoryPrefix = (family: string, alias: string) => `${aliasesPrefix(family)}history/${alias}/`;
const aliasHistoryKey = (family: string, alias: string, at: string, version: string) =>
  `${aliasHistoryPrefix(family, alias)}${at.replace(/[:.]/g, '')}-${version}.json`;

export const CARD_FILE = 'card.json';
/** Fields added to a card after it was written (the evaluation), stored create-only. */
export const CARD_ADDENDUM_FILE = 'card.addendum.json';

/** Sortable, unique version id: UTC time then a run fragment. */
export function newVersionId(now: Date, runId: string): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${runId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8)}`;
}

const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value, null, 2));
const decodeJson = <T>(bytes: Uint8Array): T => JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
/** Drops undefined values the way a JSON round trip does. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RegistryOptions {
  /** On an S3 store: another client for the registry's reads and writes (default: the store's own). */
  s3?: S3Client;
  /** On an S3 store: override its conditional-write mode (default: the store's, see defaultConditionalWriteMode). */
  conditionalWrites?: ConditionalWriteMode;
  /** Attempts of an alias move before AliasConflictError (default 25). */
  maxAliasAttempts?: number;
}

export interface VersionSummary {
  version: string;
  createdAt?: string;
  card?: ModelCard;
}

export interface RetentionReport {
  family: string;
  dryRun: boolean;
  kept: { version: string; reasons: string[] }[];
  deleted: string[];
  /** Planned for deletion, but an alias moved to it meanwhile: restored. */
  skipped: string[];
  orphansDeleted: string[];
  objectsDeleted: number;
}

type Decision = { move: { version: string; reason: string } } | { keep: true };

export class ModelRegistry {
  readonly objects: ObjectStore;
  private readonly maxAliasAttempts: number;

  /** Built on the app's object store (the data bucket, or memory in tests). */
  constructor(storage: ObjectStore, options: RegistryOptions = {}) {
    this.objects =
      storage instanceof S3ObjectStore && (options.s3 || options.conditionalWrites)
        ? new S3ObjectStore(options.s3 ?? storage.client, storage.bucket, { conditionalWrites: options.conditionalWrites ?? storage.mode })
        : storage;
    this.maxAliasAttempts = options.maxAliasAttempts ?? 25;
  }

  // ------------------------------------------------------------------ versions (immutable)

  /** Writes one artifact of a version, create-only. Re-writing identical content is a no-op (retries). */
  async putArtifact(family: string, version: string, name: string, body: Uint8Array | object): Promise<string> {
    checkFamily(family);
    checkVersion(version);
    check('name', name, ARTIFACT_RE, 'artifact name');
    if (name === CARD_FILE || name === CARD_ADDENDUM_FILE) throw new RegistryInputError('name', `${name} is written by putCard`);
    const key = versionPrefix(family, version) + name;
    const bytes = body instanceof Uint8Array ? body : encodeJson(body);
    await this.putOnce(key, bytes, name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    return key;
  }

  /** Create-only write; an existing object with the same content counts as written. */
  private async putOnce(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await this.objects.put(key, bytes, { contentType, ifNoneMatch: '*' });
        return;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        if (error.status === 409) {
          await sleep(20 * 2 ** attempt);
          continue;
        }
      }
      const same = await this.holdsSameContent(key, bytes, contentType === 'application/json');
      if (same === undefined) continue; // deleted in between: write again
      if (same) return;
      throw new ImmutableVersionError(key, 'it already exists with different content');
    }
    throw new Error(`${key}: create-only write kept conflicting; retry later`);
  }

  /** Whether the stored object has these bytes (JSON: this content); undefined when it is gone. */
  private async holdsSameContent(key: string, bytes: Uint8Array, json: boolean): Promise<boolean | undefined> {
    const existing = await this.objects.head(key);
    if (!existing) return undefined;
    const md5Etag = /^[0-9a-f]{32}$/.test(existing.etag);
    if (md5Etag && existing.etag === md5Hex(bytes)) return true;
    if (md5Etag && !json) return false;
    const stored = await this.objects.get(key);
    if (!stored) return undefined;
    return sameBytes(stored.body, bytes) || (json && isDeepStrictEqual(decodeJson(stored.body), decodeJson(bytes)));
  }

  async getModelBytes(family: string, version: string, name = 'model.onnx'): Promise<Uint8Array | undefined> {
    return (await this.objects.get(versionPrefix(family, version) + name))?.body;
  }

  async getJson<T>(family: string, version: string, name: string): Promise<T | undefined> {
    const object = await this.objects.get(versionPrefix(family, version) + name);
    return object ? decodeJson<T>(object.body) : undefined;
  }

  /** The card with its evaluation addendum merged in. */
  async getCard(family: string, version: string): Promise<ModelCard | undefined> {
    const [card, addendum] = await Promise.all([
      this.getJson<ModelCard>(family, version, CARD_FILE),
      this.getJson<Partial<ModelCard>>(family, version, CARD_ADDENDUM_FILE),
    ]);
    return card ? { ...card, ...addendum } : undefined;
  }

  /**
   * Writes a version's card (create-only). Called again for the same version, it may only add fields
   * the stored card lacks (written once to card.addendum.json); changing a stored field is refused.
   */
  async putCard(card: ModelCard): Promise<string> {
    checkFamily(card.family);
    checkVersion(card.version);
    const next = plain(card);
    const key = versionPrefix(card.family, card.version) + CARD_FILE;
    const stored = await this.objects.get(key);
    if (!stored) {
      try {
        await this.objects.put(key, encodeJson(next), { contentType: 'application/json', ifNoneMatch: '*' });
        return key;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        return this.putCard(card); // written concurrently: compare with what won
      }
    }
    const current = decodeJson<Record<string, unknown>>(stored.body);
    const incoming = next as unknown as Record<string, unknown>;
    const changed = Object.keys(incoming).filter((field) => field in current && !isDeepStrictEqual(current[field], incoming[field]));
    if (changed.length) throw new ImmutableVersionError(key, `the card's ${changed.join(', ')} cannot change once written`);
    const added = Object.fromEntries(Object.entries(incoming).filter(([field]) => !(field in current)));
    if (Object.keys(added).length === 0) return key;
    const addendumKey = versionPrefix(card.family, card.version) + CARD_ADDENDUM_FILE;
    const existing = await this.objects.get(addendumKey);
    if (existing) {
      const recorded = decodeJson<Record<string, unknown>>(existing.body);
      const differs = Object.keys(added).filter((field) => !isDeepStrictEqual(recorded[field], added[field]));
      if (differs.length === 0) return key;
      throw new ImmutableVersionError(addendumKey, `the evaluation (${differs.join(', ')}) was already recorded with other values`);
    }
    await this.putOnce(addendumKey, encodeJson(added), 'application/json');
    return key;
  }

  async hasVersion(family: string, version: string): Promise<boolean> {
    return (await this.objects.head(versionPrefix(family, version) + CARD_FILE)) !== undefined;
  }

  /** Versions with a card, oldest id first. */
  async listVersions(family: string): Promise<string[]> {
    checkFamily(family);
    const prefix = versionsPrefix(family);
    const keys = await this.objects.list(prefix);
    return [...new Set(keys.filter((o) => o.key.endsWith(`/${CARD_FILE}`)).map((o) => o.key.slice(prefix.length).split('/')[0] as string))].sort();
  }

  async listFamilies(): Promise<string[]> {
    return (await this.objects.listFolders(MODELS_PREFIX)).filter((f) => FAMILY_RE.test(f));
  }

  /** Every version with its card (for listings). */
  async describeVersions(family: string): Promise<VersionSummary[]> {
    const versions = await this.listVersions(family);
    const out: VersionSummary[] = [];
    for (const version of versions) {
      const card = await this.getCard(family, version);
      out.push({ version, ...(card ? { card, createdAt: card.createdAt } : {}) });
    }
    return out;
  }

  // ------------------------------------------------------------------ aliases

  async getAlias(family: string, alias: string): Promise<AliasPointer | undefined> {
    return (await this.readAlias(family, alias))?.pointer;
  }

  private async readAlias(family: string, alias: string): Promise<{ pointer: AliasPointer; etag: string } | undefined> {
    const object = await this.objects.get(aliasKey(family, alias));
    return object ? { pointer: decodeJson<AliasPointer>(object.body), etag: object.etag } : undefined;
  }

  /** Aliases that exist for a family. */
  async listAliases(family: string): Promise<string[]> {
    const prefix = aliasesPrefix(family);
    return (await this.objects.list(prefix))
      .map((o) => o.key.slice(prefix.length))
      .filter((rest) => !rest.includes('/') && rest.endsWith('.json'))
      .map((rest) => rest.slice(0, -'.json'.length))
      .sort();
  }

  /** Every move of an alias, oldest first (the current pointer included even if its entry is missing). */
  async getAliasHistory(family: string, alias: string, limit?: number): Promise<AliasPointer[]> {
    checkFamily(family);
    checkAlias(alias);
    let keys = (await this.objects.list(aliasHistoryPrefix(family, alias))).map((o) => o.key);
    if (limit !== undefined) keys = keys.slice(-limit);
    const moves = new Map<string, AliasPointer>();
    for (const key of keys) {
      const object = await this.objects.get(key);
      if (!object) continue;
      const p = decodeJson<AliasPointer>(object.body);
      moves.set(`${p.updatedAt}|${p.version}`, p);
    }
    const current = await this.getAlias(family, alias);
    if (current) moves.set(`${current.updatedAt}|${current.version}`, current);
    const ordered = [...moves.values()].sort((a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt));
    return limit !== undefined ? ordered.slice(-limit) : ordered;
  }

  /** Points an alias at a version that exists (no-op when it already does); the move is recorded under aliases/history/. */
  async setAlias(family: string, alias: string, version: string, reason: string, now = new Date()): Promise<AliasPointer> {
    return this.moveTo(family, alias, version, now, (current) => (current?.version === version ? { keep: true } : { move: { version, reason } }));
  }

  /**
   * Moves an alias only if it still points to `expectedVersion` (null: the alias does not exist yet).
   * Throws AliasConflictError otherwise. Retrying a move that already happened returns its pointer.
   */
  async compareAndSetAlias(
    family: string,
    alias: string,
    expectedVersion: string | null,
    version: string,
    reason: string,
    now = new Date(),
  ): Promise<AliasPointer> {
    return this.moveTo(family, alias, version, now, (current) => {
      const actual = current?.version ?? null;
      if (actual === expectedVersion) return actual === version ? { keep: true } : { move: { version, reason } };
      if (actual === version && (current?.previous ?? null) === expectedVersion) return { keep: true };
      throw new AliasConflictError(family, alias, expectedVersion, actual);
    });
  }

  private async moveTo(
    family: string,
    alias: string,
    version: string,
    now: Date,
    decide: (current: AliasPointer | undefined) => Decision,
  ): Promise<AliasPointer> {
    checkFamily(family);
    checkAlias(alias);
    checkVersion(version);
    if (!(await this.hasVersion(family, version))) throw new UnknownVersionError(family, version, `Cannot point ${family}/${alias} at ${version}`);
    const pointer = await this.move(family, alias, now, decide);
    if (!pointer) throw new Error(`${family}/${alias}: alias vanished during the move`);
    // Retention deletes card.json first, then re-checks the aliases: if the version vanished while we
    // moved, put the alias back so it never points at a deleted version.
    if (pointer.version === version && !(await this.hasVersion(family, version))) {
      if (pointer.previous) {
        const previous = pointer.previous;
        await this.move(family, alias, new Date(), (current) =>
          current?.version === version
            ? { move: { version: previous, reason: `reverted: ${version} was deleted while ${alias} moved to it` } }
            : { keep: true },
        );
      } else {
        await this.objects.delete(aliasKey(family, alias));
      }
      throw new UnknownVersionError(family, version, `Cannot point ${family}/${alias} at ${version} (deleted by retention meanwhile)`);
    }
    return pointer;
  }

  /** The compare-and-swap loop: read pointer + ETag, decide, write If-Match (If-None-Match when absent), retry on conflict. */
  private async move(family: string, alias: string, now: Date, decide: (current: AliasPointer | undefined) => Decision): Promise<AliasPointer | undefined> {
    const key = aliasKey(family, alias);
    for (let attempt = 0; attempt < this.maxAliasAttempts; attempt++) {
      const current = await this.readAlias(family, alias);
      if (current) await this.recordHistory(family, alias, current.pointer);
      const decision = decide(current?.pointer);
      if ('keep' in decision) return current?.pointer;
      const previousAt = current ? Date.parse(current.pointer.updatedAt) : Number.NEGATIVE_INFINITY;
      // Strictly increasing times per alias: history keys never collide and sort in move order.
      const at = new Date(Math.max(now.getTime(), previousAt + 1));
      const pointer: AliasPointer = {
        version: decision.move.version,
        updatedAt: at.toISOString(),
        reason: decision.move.reason,
        ...(current ? { previous: current.pointer.version } : {}),
      };
      try {
        await this.objects.put(key, encodeJson(pointer), {
          contentType: 'application/json',
          ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' as const }),
        });
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
        continue;
      }
      await this.recordHistory(family, alias, pointer);
      return pointer;
    }
    const current = await this.getAlias(family, alias);
    throw new AliasConflictError(
      family,
      alias,
      null,
      current?.version ?? null,
      `${family}/${alias}: gave up after ${this.maxAliasAttempts} concurrent-move retries`,
    );
  }

  private async recordHistory(family: string, alias: string, pointer: AliasPointer): Promise<void> {
    try {
      await this.objects.put(aliasHistoryKey(family, alias, pointer.updatedAt, pointer.version), encodeJson(pointer), {
        contentType: 'application/json',
        ifNoneMatch: '*',
      });
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error; // already recorded
    }
  }

  // ------------------------------------------------------------------ retention

  /**
   * Deletes old versions by the retention rule (./retention): never one an alias points to, or pointed
   * to within aliasGraceDays, nor the champion's rollback target. card.json goes first (the version
   * disappears from listings), then the aliases are re-read: one that moved to the version meanwhile
   * gets its card restored and the version is skipped; otherwise the other objects are deleted.
   */
  async applyRetention(family: string, options: RetentionOptions): Promise<RetentionReport> {
    checkFamily(family);
    const checked = checkRetentionOptions(options);
    const versions = await this.retentionVersions(family);
    const aliasNames = [...new Set([...KNOWN_ALIASES, ...(await this.listAliases(family))])];
    const aliases: RetentionAlias[] = [];
    for (const alias of aliasNames) {
      const current = await this.getAlias(family, alias);
      aliases.push({ alias, history: await this.getAliasHistory(family, alias), ...(current ? { current } : {}) });
    }
    const plan = planRetention(versions, aliases, checked);
    const report: RetentionReport = { family, dryRun: checked.dryRun, kept: plan.keep, deleted: [], skipped: [], orphansDeleted: [], objectsDeleted: 0 };
    if (checked.dryRun) return { ...report, deleted: plan.delete, orphansDeleted: plan.deleteOrphans };
    for (const version of plan.delete) {
      const deleted = await this.deleteVersion(family, version, aliasNames);
      if (deleted === undefined) report.skipped.push(version);
      else {
        report.deleted.push(version);
        report.objectsDeleted += deleted;
      }
    }
    for (const version of plan.deleteOrphans) {
      report.objectsDeleted += await this.deleteFolder(versionPrefix(family, version));
      report.orphansDeleted.push(version);
    }
    return report;
  }

  /** Every version folder: its newest write and, when it has a card, the card's createdAt. */
  private async retentionVersions(family: string): Promise<RetentionVersion[]> {
    const prefix = versionsPrefix(family);
    const folders = new Map<string, { lastModified: Date; hasCard: boolean }>();
    for (const o of await this.objects.list(prefix)) {
      const [version, ...rest] = o.key.slice(prefix.length).split('/');
      if (!version) continue;
      const f = folders.get(version) ?? { lastModified: new Date(0), hasCard: false };
      if (o.lastModified > f.lastModified) f.lastModified = o.lastModified;
      if (rest.join('/') === CARD_FILE) f.hasCard = true;
      folders.set(version, f);
    }
    const versions: RetentionVersion[] = [];
    for (const [version, f] of folders) {
      const createdAt = f.hasCard ? ((await this.getJson<ModelCard>(family, version, CARD_FILE))?.createdAt ?? 'unknown') : undefined;
      versions.push({ version, lastModified: f.lastModified, ...(createdAt !== undefined ? { createdAt } : {}) });
    }
    return versions;
  }

  /** Card first, then a re-check of the aliases (restore and skip: undefined), then the rest; returns the objects deleted. */
  private async deleteVersion(family: string, version: string, aliasNames: readonly string[]): Promise<number | undefined> {
    const cardKey = versionPrefix(family, version) + CARD_FILE;
    const card = await this.objects.get(cardKey);
    if (card) {
      await this.objects.delete(cardKey);
      const pointers = await Promise.all(aliasNames.map((a) => this.getAlias(family, a)));
      if (pointers.some((p) => p?.version === version)) {
        await this.objects.put(cardKey, card.body, { contentType: 'application/json' });
        return undefined;
      }
    }
    return (card ? 1 : 0) + (await this.deleteFolder(versionPrefix(family, version)));
  }

  private async deleteFolder(prefix: string): Promise<number> {
    const keys = (await this.objects.list(prefix)).map((o) => o.key);
    for (const key of keys) await this.objects.delete(key);
    return keys.length;
  }
}

/** SHA-256 hex of bytes (uploads are identified by content). */
export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
