/**
 * Bring your own ONNX, for every family whose descriptor says `uploads: true`. An operator uploads,
 * IN THIS ORDER:
 *   1. uploads/models/<family>/<name>.onnx   the model (the family's serving contract)
 *   2. uploads/models/<family>/<name>.json   its manifest: the common fields below plus the family's
 *                                            own (its `uploadManifest`, e.g. the recommender's itemIndex)
 * The manifest upload triggers the validation (S3 → functions/jobs/validate-upload.ts), so the model
 * file must already be there; re-uploading the manifest re-runs the validation.
 *
 * The common steps are here: manifest, size, hashes, a deterministic version id, onnxruntime must
 * load it, no leaked holdout, the gate with the family's policy (shared/registry/gate.ts), registration. The family's
 * trainer (`judgeUpload`, e.g. models/recommender/upload.ts) checks the model against its contract
 * and scores it next to its baseline and the champion on the latest snapshot's evaluation cases. It then becomes a new immutable
 * version with its card and the `challenger` alias moves to it; promotion to champion happens only
 * through the retraining state machine's gate. Otherwise nothing is registered. Either way a report
 * with every reason goes to uploads/reports/<name>.json.
 *
 * Holdout contract for uploads: train on data before the holdout start of the latest snapshot (the
 * report and the card give it); a manifest `dataWindow.to` after it is refused (leaked metrics). An
 * upload that states no window is trusted to respect it.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type * as ort from 'onnxruntime-node';
import type { FamilyScores, Holdout, UploadJudgement } from '../families/contract';
import { familyNames, getFamily, hasFamily } from '../../models/families';
import { loadTrainer } from '../../models/trainers';
import { servingSignatureProblems } from '../families/serving';
import { zodIssues } from '../http/validation';
import { readModelMetadata } from '../onnx/graph';
import { createSession, describeSession, type ValueDescription } from '../onnx/session';
import type { BlobStore } from '../storage/blob';
import type { ObjectStore, StoredObject } from '../storage/object-store';
import { loadSnapshot, SNAPSHOTS_PREFIX, type SnapshotManifest } from '../snapshots/snapshot';
import { type GateDecision, type GatePolicy, gateAgainstChampion, withCases } from '../registry/gate';
import { type AliasPointer, type ModelCard, type ModelRegistry, newVersionId, sha256Hex } from '../registry/registry';

export type { Holdout };
export const UPLOADS_PREFIX = 'uploads/models/';
export const UPLOAD_REPORTS_PREFIX = 'uploads/reports/';
/** Families with a contract an uploaded model can be checked against (descriptor `uploads: true`). */
export const uploadableFamilies = (): string[] => familyNames().filter((f) => getFamily(f).uploads);
export const DEFAULT_MAX_MODEL_BYTES = 256 * 1024 * 1024;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const FAMILY_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The fields every upload manifest has; a family adds its own (its descriptor's `uploadManifest`, e.g. the recommender's `itemIndex`). */
export const uploadManifestSchema = z.object({
  family: z.string({ message: 'must be a string' }).regex(FAMILY_RE, 'must be a model family name (lowercase letters, digits, - and _)'),
  name: z.string({ message: 'must be a string' }).regex(NAME_RE, 'must be 1-100 letters, digits, ".", "-" or "_", starting with a letter or digit'),
  description: z.string({ message: 'must be a string' }).max(2000, 'must be at most 2000 characters').optional(),
  algorithm: z.string().max(200, 'must be at most 200 characters').optional(),
  codeVersion: z.string().max(200, 'must be at most 200 characters').optional(),
  trainingSeconds: z.number({ message: 'must be a number' }).min(0, 'must be ≥ 0').optional(),
  hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).optional(),
  dataWindow: z
    .strictObject({
      from: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
      to: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }),
    })
    .optional(),
});
/** A manifest: the common fields and the family's own (e.g. `itemIndex`). */
export type UploadManifest = z.infer<typeof uploadManifestSchema> & Record<string, unknown>;

export interface UploadReport {
  status: 'accepted' | 'rejected';
  family?: string;
  name: string;
  manifestKey: string;
  modelKey?: string;
  reportKey: string;
  checkedAt: string;
  /** The registered version (accepted only) and the alias moved to it. */
  version?: string;
  alias?: 'challenger';
  /** Accepted: why it passed the gate. Rejected: EVERY reason it was refused. */
  reasons: string[];
  model?: { bytes: number; sha256: string; kind?: string; inputs?: string[]; outputs?: string[] };
  /** Recommender uploads: the item index the scores are for (other families add their own fields the same way). */
  itemIndex?: { source: 'champion' | 'explicit'; items: number; championVersion?: string };
  evaluation?: {
    snapshot: string;
    holdoutStart: string;
    cases: number;
    model: Record<string, number>;
    baseline: Record<string, number>;
    champion?: NonNullable<FamilyScores['champion']>;
  };
  gate?: GateDecision;
  /** A re-delivered S3 event found this upload already registered. */
  alreadyRegistered?: boolean;
}

export interface UploadDeps {
  registry: ModelRegistry;
  /** The bucket: uploads/ is read, uploads/reports/ written. */
  objects: ObjectStore;
  /** The latest snapshot's holdout (undefined: no snapshot yet). */
  loadHoldout(): Promise<Holdout | undefined>;
  policyFor(family: string): GatePolicy;
  maxModelBytes?: number;
  now?: () => Date;
}

/** `uploads/models/<family>/<name>.json` → family and name; undefined for any other key. */
export function parseUploadKey(key: string): { family: string; name: string } | undefined {
  const m = /^uploads\/models\/([^/]+)\/([^/]+)\.json$/.exec(key);
  if (!m) return undefined;
  const [, family, name] = m as unknown as [string, string, string];
  return FAMILY_RE.test(family) && NAME_RE.test(name) ? { family, name } : undefined;
}

const reportKeyFor = (name: string) => `${UPLOAD_REPORTS_PREFIX}${name}.json`;
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Validates one uploaded model from its manifest key; writes the report and returns it. Throws only on storage failures (so S3 retries). */
export async function validateUpload(deps: UploadDeps, manifestKey: string): Promise<UploadReport> {
  return new UploadValidation(deps, manifestKey).run();
}

/** One validation: each step adds every reason it finds to the report, later steps run when they can. */
class UploadValidation {
  private readonly now: Date;
  private readonly report: UploadReport;
  private readonly key: { family: string; name: string } | undefined;
  private manifestObject: StoredObject | undefined;
  private manifest: UploadManifest | undefined;
  private modelBytes: Uint8Array | undefined;
  private holdout: Holdout | undefined;
  private champion: AliasPointer | undefined;
  /** The manifest's family-specific fields, validated by the family. */
  private familyFields: Record<string, unknown> | undefined;

  constructor(
    private readonly deps: UploadDeps,
    private readonly manifestKey: string,
  ) {
    this.now = deps.now?.() ?? new Date();
    this.key = parseUploadKey(manifestKey);
    const fallback =
      (manifestKey.split('/').pop() ?? 'upload')
        .replace(/\.json$/, '')
        .replace(/[^A-Za-z0-9._-]/g, '_')
        .slice(0, 100) || 'upload';
    const name = this.key?.name ?? fallback;
    this.report = { status: 'rejected', name, manifestKey, reportKey: reportKeyFor(name), checkedAt: this.now.toISOString(), reasons: [] };
  }

  private reject(reason: string): void {
    this.report.reasons.push(reason);
  }

  private async finish(): Promise<UploadReport> {
    await this.deps.objects.put(this.report.reportKey, Buffer.from(JSON.stringify(this.report, null, 2)), { contentType: 'application/json' });
    return this.report;
  }

  async run(): Promise<UploadReport> {
    if (!this.key) {
      this.reject(`key: "${this.manifestKey}" is not uploads/models/<family>/<name>.json (family: ${FAMILY_RE.source}, name: ${NAME_RE.source})`);
      return this.finish();
    }
    const { family } = this.key;
    this.report.family = family;
    this.report.modelKey = `${UPLOADS_PREFIX}${family}/${this.key.name}.onnx`;
    this.manifestObject = await this.deps.objects.get(this.manifestKey);
    if (!this.manifestObject) {
      this.reject(`manifest: ${this.manifestKey} no longer exists`);
      return this.finish();
    }
    this.readManifest(this.manifestObject, this.key);
    this.modelBytes = await this.readModel(this.report.modelKey);
    const version = this.versionId();
    // A re-delivered event: the version this upload maps to already exists.
    if (version && this.report.reasons.length === 0 && (await this.deps.registry.hasVersion(family, version))) return this.registered(version);
    await this.readHoldout();
    this.champion = await this.deps.registry.getAlias(family, 'champion');
    let session: ort.InferenceSession | undefined;
    try {
      session = await this.openSession();
      if (!session || !this.familyFields || !this.holdout) return this.finish();
      const judgement = await this.judge(session, family, this.holdout, this.familyFields);
      if (!judgement || this.report.reasons.length > 0 || !version) return this.finish();
      await this.register(session, family, version, judgement);
      return this.registered(version);
    } finally {
      await session?.release();
    }
  }

  private readManifest(object: StoredObject, key: { family: string; name: string }): void {
    const uploadable = hasFamily(key.family) && getFamily(key.family).uploads;
    const own = uploadable ? (getFamily(key.family).uploadManifest?.shape ?? {}) : {};
    // The common fields and the family's own, strict: a field neither names is refused by name.
    const schema = z.strictObject({ ...uploadManifestSchema.shape, ...own });
    try {
      const parsed = schema.safeParse(JSON.parse(Buffer.from(object.body).toString('utf8')));
      if (parsed.success) {
        this.manifest = parsed.data as UploadManifest;
        this.familyFields = Object.fromEntries(Object.keys(own).map((k) => [k, (parsed.data as Record<string, unknown>)[k]]));
      } else for (const issue of zodIssues(parsed.error)) this.reject(`manifest.${issue.field}: ${issue.reason}`);
    } catch (error) {
      this.reject(`manifest: not valid JSON (${message(error)})`);
    }
    if (this.manifest && this.manifest.family !== key.family)
      this.reject(`manifest.family: "${this.manifest.family}" does not match the upload folder "${key.family}"`);
    if (this.manifest && this.manifest.name !== key.name) this.reject(`manifest.name: "${this.manifest.name}" does not match the file name "${key.name}"`);
    if (!uploadable) {
      this.familyFields = undefined;
      this.reject(`family: "${key.family}" has no contract an uploaded model can be checked against (supported: ${uploadableFamilies().join(', ')})`);
    }
  }

  private async readModel(modelKey: string): Promise<Uint8Array | undefined> {
    const maxBytes = this.deps.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
    const head = await this.deps.objects.head(modelKey);
    if (!head) return void this.reject(`model: ${modelKey} not found; upload the .onnx file BEFORE its manifest, then re-upload the manifest`);
    if (head.size > maxBytes) return void this.reject(`model: ${head.size} bytes, more than the ${maxBytes} bytes an upload may have`);
    if (head.size === 0) return void this.reject('model: the file is empty');
    const bytes = (await this.deps.objects.get(modelKey))?.body;
    if (!bytes) return void this.reject(`model: ${modelKey} disappeared while it was being read`);
    this.report.model = { bytes: bytes.byteLength, sha256: sha256Hex(bytes) };
    return bytes;
  }

  /** Deterministic per upload (manifest time + content hashes), so a re-delivered event maps to the same version. */
  private versionId(): string | undefined {
    if (!this.modelBytes || !this.report.model || !this.manifestObject) return undefined;
    const hash = createHash('sha256').update(this.report.model.sha256).update(this.manifestObject.body).digest('hex');
    return newVersionId(this.manifestObject.lastModified, hash);
  }

  private async readHoldout(): Promise<void> {
    this.holdout = await this.deps.loadHoldout();
    if (!this.holdout) return this.reject('evaluation: there is no training snapshot to evaluate on yet; run the retraining state machine first');
    const to = this.manifest?.dataWindow?.to;
    const start = this.holdout.manifest.holdoutStart;
    if (to && Date.parse(to) > Date.parse(start))
      this.reject(`manifest.dataWindow.to: ${to} is after the holdout start ${start}: its holdout metrics would be leaked`);
  }

  private async openSession(): Promise<ort.InferenceSession | undefined> {
    if (!this.modelBytes || !this.report.model) return undefined;
    let session: ort.InferenceSession;
    try {
      session = await createSession(this.modelBytes);
    } catch (error) {
      return void this.reject(`model: onnxruntime cannot load it (${message(error).split('\n')[0]})`);
    }
    this.report.model.inputs = [...session.inputNames];
    this.report.model.outputs = [...session.outputNames];
    const kind = safeMetadata(this.modelBytes).model_kind; // written by our exporters (ModelProto.metadata_props)
    if (kind) this.report.model.kind = kind;
    return session;
  }

  /** The family checks the model against its contract and scores it, champion and baseline on the same cases; then the gate. */
  private async judge(session: ort.InferenceSession, family: string, holdout: Holdout, fields: Record<string, unknown>) {
    const trainer = await loadTrainer(family);
    if (!trainer.judgeUpload) {
      this.reject(`family: "${family}" declares uploads but its trainer cannot judge one`);
      return undefined;
    }
    const judgement = await trainer.judgeUpload({
      registry: this.deps.registry,
      blobs: this.deps.objects,
      session,
      model: this.modelBytes as Uint8Array,
      manifest: fields,
      ...(this.champion ? { champion: { version: this.champion.version } } : {}),
      holdout,
    });
    if (!judgement.ok) {
      for (const reason of judgement.reasons) this.reject(reason);
      return undefined;
    }
    // The family's golden checks passed; the declared signature must match its serving contract too.
    const signature = servingSignatureProblems(getFamily(family).serving, describeSession(session));
    if (signature.length) {
      for (const problem of signature) this.reject(`contract: ${problem}`);
      return undefined;
    }
    Object.assign(this.report, judgement.details ?? {});
    const { scores } = judgement;
    if (scores.championNotComparable) this.reject(`evaluation: the champion cannot be compared on this holdout: ${scores.championNotComparable}`);
    this.report.evaluation = {
      snapshot: holdout.manifest.runId,
      holdoutStart: holdout.manifest.holdoutStart,
      cases: scores.cases,
      model: scores.metrics,
      baseline: scores.baseline,
      ...(scores.champion ? { champion: scores.champion } : {}),
    };
    const gate = gateAgainstChampion(
      withCases(scores.metrics, scores.cases),
      scores.champion ? withCases(scores.champion.metrics, scores.cases) : null,
      withCases(scores.baseline, scores.cases),
      this.deps.policyFor(family),
    );
    this.report.gate = gate;
    if (!gate.passed) for (const reason of gate.reasons) this.reject(`gate: ${reason}`);
    return { judgement, gate, holdout };
  }

  /** Artifacts first, the card last (a version is listed once its card exists). */
  private async register(session: ort.InferenceSession, family: string, version: string, judged: NonNullable<Awaited<ReturnType<UploadValidation['judge']>>>) {
    const { manifest, modelBytes, manifestObject, report } = this;
    if (!manifest || !modelBytes || !manifestObject || !report.model || !report.modelKey) throw new Error('register: validation state is incomplete');
    const { holdout, gate } = judged;
    const judgement = judged.judgement as Extract<UploadJudgement, { ok: true }>;
    const { scores } = judgement;
    const description = describeSession(session);
    const tensor = (v: ValueDescription) => ({ name: v.name, type: v.type ?? 'unknown', shape: v.shape ?? [] });
    const card: ModelCard = {
      family,
      version,
      createdAt: manifestObject.lastModified.toISOString(),
      algorithm: manifest.algorithm ?? `uploaded ONNX${report.model.kind ? ` (${report.model.kind})` : ''}`,
      hyperparameters: manifest.hyperparameters ?? {},
      signature: { inputs: description.inputs.map(tensor), outputs: description.outputs.map(tensor) },
      data: {
        snapshot: `uploaded:${manifest.name}`,
        // Trained before the holdout start (the upload contract) unless the manifest says when.
        asOf: manifest.dataWindow?.to ?? holdout.manifest.holdoutStart,
        holdoutStart: holdout.manifest.holdoutStart,
        ...judgement.data,
        ...(manifest.dataWindow?.from ? { from: manifest.dataWindow.from } : {}),
      },
      trainingSeconds: manifest.trainingSeconds ?? 0,
      ...(this.champion ? { parentVersion: this.champion.version } : {}),
      codeVersion: manifest.codeVersion ?? `upload:sha256:${report.model.sha256.slice(0, 12)}`,
      metrics: scores.metrics,
      baseline: scores.baseline,
      ...(scores.champion ? { champion: { version: scores.champion.version, metrics: scores.champion.metrics } } : {}),
      holdout: { snapshot: holdout.manifest.runId, asOf: holdout.manifest.asOf, holdoutStart: holdout.manifest.holdoutStart, cases: scores.cases },
      gate,
      source: {
        kind: 'uploaded',
        name: manifest.name,
        ...(manifest.description ? { description: manifest.description } : {}),
        manifestKey: this.manifestKey,
        modelKey: report.modelKey,
        sha256: report.model.sha256,
        ...(this.familyFields?.itemIndex !== undefined
          ? { itemIndex: this.familyFields.itemIndex === 'champion' ? ('champion' as const) : ('explicit' as const) }
          : {}),
      },
    };
    await this.deps.registry.putArtifact(family, version, 'model.onnx', modelBytes);
    for (const [name, artifact] of Object.entries(judgement.artifacts)) await this.deps.registry.putArtifact(family, version, name, artifact);
    await this.deps.registry.putArtifact(family, version, 'upload/manifest.json', manifestObject.body);
    await this.deps.registry.putCard(card);
  }

  /** The version exists: move `challenger` to it (unless a previous delivery finished) and write the report last. */
  private async registered(version: string): Promise<UploadReport> {
    const family = this.key?.family as string;
    const report = this.report;
    const card = await this.deps.registry.getCard(family, version);
    const stored = await this.deps.objects.get(report.reportKey);
    const previous = stored ? (JSON.parse(Buffer.from(stored.body).toString('utf8')) as UploadReport) : undefined;
    if (previous?.status === 'accepted' && previous.version === version) return { ...previous, alreadyRegistered: true };
    const reasons = card?.gate?.reasons ?? [];
    await this.deps.registry.setAlias(family, 'challenger', version, `uploaded model ${report.name} passed validation: ${reasons.join('; ')}`, this.now);
    Object.assign(report, { status: 'accepted', version, alias: 'challenger', reasons }, card?.gate ? { gate: card.gate } : {});
    if (!report.evaluation && card?.metrics && card.baseline && card.holdout) {
      report.alreadyRegistered = true;
      const { snapshot, holdoutStart, cases } = card.holdout;
      report.evaluation = { snapshot, holdoutStart, cases, model: card.metrics, baseline: card.baseline };
    }
    return this.finish();
  }
}

function safeMetadata(bytes: Uint8Array): Record<string, string> {
  try {
    return readModelMetadata(bytes);
  } catch {
    return {};
  }
}

/** The newest snapshot under snapshots/ (by its manifest's write time) with its interactions. */
export async function latestHoldout(blobs: BlobStore, objects: ObjectStore): Promise<Holdout | undefined> {
  const manifests = (await objects.list(SNAPSHOTS_PREFIX)).filter((o) => o.key.endsWith('/manifest.json'));
  const newest = manifests.sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || (a.key < b.key ? -1 : 1)).at(-1);
  if (!newest) return undefined;
  const manifest = await blobs.getJson<SnapshotManifest>(newest.key);
  if (!manifest) return undefined;
  const { interactions, items } = await loadSnapshot(blobs, manifest);
  return { manifest, interactions, items };
}
