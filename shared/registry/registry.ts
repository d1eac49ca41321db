import type { BlobStore } from '../storage/blob';

export const MODELS_PREFIX = 'models/';

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
  data: { snapshot: string; asOf: string; holdoutStart: string; users: number; items: number; interactions: number };
  trainingSeconds: number;
  parentVersion?: string;
  codeVersion: string;
  metrics?: Record<string, number>;
  baseline?: Record<string, number>;
  gate?: { passed: boolean; reasons: string[] };
}

export interface AliasPointer {
  version: string;
  updatedAt: string;
  previous?: string;
  reason: string;
}

export const versionPrefix = (family: string, version: string) => `${MODELS_PREFIX}${family}/versions/${version}/`;
const aliasKey = (family: string, alias: string) => `${MODELS_PREFIX}${family}/aliases/${alias}.json`;
const aliasHistoryKey = (family: string, alias: string, at: string, version: string) =>
  `${MODELS_PREFIX}${family}/aliases/history/${alias}/${at.replace(/[:.]/g, '')}-${version}.json`;

/** Sortable, unique version id: UTC time then a run fragment. */
export function newVersionId(now: Date, runId: string): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${runId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8)}`;
}

/**
 * The model registry in S3 (Gorse-style: versions written under increasing ids, aliases point at them).
 * Versions are immutable once written; aliases move and every move is kept as history.
 */
export class ModelRegistry {
  constructor(private readonly blobs: BlobStore) {}

  async putArtifact(family: string, version: string, name: string, body: Uint8Array | object): Promise<string> {
    const key = versionPrefix(family, version) + name;
    if (body instanceof Uint8Array) await this.blobs.putBytes(key, body, name.endsWith('.onnx') ? 'application/octet-stream' : 'application/json');
    else await this.blobs.putJson(key, body);
    return key;
  }

  getModelBytes(family: string, version: string, name = 'model.onnx'): Promise<Uint8Array | undefined> {
    return this.blobs.getBytes(versionPrefix(family, version) + name);
  }

  getJson<T>(family: string, version: string, name: string): Promise<T | undefined> {
    return this.blobs.getJson<T>(versionPrefix(family, version) + name);
  }

  getCard(family: string, version: string): Promise<ModelCard | undefined> {
    return this.getJson<ModelCard>(family, version, 'card.json');
  }

  putCard(card: ModelCard): Promise<string> {
    return this.putArtifact(card.family, card.version, 'card.json', card);
  }

  async listVersions(family: string): Promise<string[]> {
    const keys = await this.blobs.listKeys(`${MODELS_PREFIX}${family}/versions/`);
    return [...new Set(keys.filter((k) => k.endsWith('/card.json')).map((k) => k.split('/')[3] as string))].sort();
  }

  getAlias(family: string, alias: string): Promise<AliasPointer | undefined> {
    return this.blobs.getJson<AliasPointer>(aliasKey(family, alias));
  }

  /** Points an alias at a version that exists; the move is recorded under aliases/history/. */
  async setAlias(family: string, alias: string, version: string, reason: string, now = new Date()): Promise<AliasPointer> {
    if (!(await this.getCard(family, version))) throw new Error(`Cannot point ${family}/${alias} at ${version}: no such version`);
    const current = await this.getAlias(family, alias);
    const pointer: AliasPointer = { version, updatedAt: now.toISOString(), reason, ...(current ? { previous: current.version } : {}) };
    await this.blobs.putJson(aliasHistoryKey(family, alias, pointer.updatedAt, version), pointer);
    await this.blobs.putJson(aliasKey(family, alias), pointer);
    return pointer;
  }
}
