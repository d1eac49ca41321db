/**
 * Object storage for the model registry, with the two conditional writes the registry is built on:
 * create-only (`If-None-Match: *`) and compare-and-swap on the ETag (`If-Match`).
 *
 * Backends (Gorse-style: one interface, several stores, one shared test suite):
 * - `S3ObjectStore`, mode `native`: Amazon S3 conditional writes (PutObject If-None-Match / If-Match,
 *   GA since 2024). S3 answers 412 when the condition fails and 409 when a concurrent conditional
 *   write on the same key is in flight; both surface as PreconditionFailedError.
 * - `S3ObjectStore`, mode `emulated`: s3rver 3.7 IGNORES If-None-Match and If-Match on PUT (and on
 *   DELETE; checked against it, see test/unit/registry-store.test.ts). The guard is then a HEAD
 *   (existence / ETag) check followed by the PUT, both under a per-key lock of this process: atomic
 *   for everything running in one process (the embedded local stack runs every function in process),
 *   NOT across processes. Reads of a key take the same lock (s3rver serves torn bodies during a
 *   write). The native headers are sent as well, so a server that honours them (MinIO, LocalStack)
 *   still enforces them.
 * - `MemoryObjectStore`: the same semantics in memory, for tests and tools.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface ObjectInfo {
  key: string;
  /** Normalised ETag (no quotes). */
  etag: string;
  size: number;
  lastModified: Date;
}

export interface StoredObject extends ObjectInfo {
  body: Uint8Array;
}

export interface PutOptions {
  contentType?: string;
  /** Create only: fail when the key exists. */
  ifNoneMatch?: '*';
  /** Replace only the object with this ETag (quoted or not). */
  ifMatch?: string;
}

export interface ObjectStore {
  readonly description: string;
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Throws PreconditionFailedError when a condition does not hold. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }>;
  /** Every object under a prefix, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** The "sub-folders" directly under a prefix (`models/` → `recommender`, …), sorted. */
  listFolders(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

/** A conditional write lost: 412 (condition false), 409 (concurrent conditional write) or 404 (If-Match on a missing key). */
export class PreconditionFailedError extends Error {
  constructor(
    readonly key: string,
    readonly status: 412 | 409 | 404,
    detail: string,
  ) {
    super(`Conditional write to ${key} failed (${status}): ${detail}`);
    this.name = 'PreconditionFailedError';
  }
}

export type ConditionalWriteMode = 'native' | 'emulated';

export const normaliseEtag = (etag: string | undefined): string => (etag ?? '').replace(/^W\//, '').replace(/"/g, '');

/** MD5 hex: the ETag S3 gives a single-part upload (SSE-S3 or no encryption). */
export const md5Hex = (body: Uint8Array): string => createHash('md5').update(body).digest('hex');

/**
 * Default mode for a client: `emulated` when the SDK is pointed at a local endpoint (the embedded
 * stack sets AWS_ENDPOINT_URL_S3 for s3rver), `native` on AWS. S3_CONDITIONAL_WRITES overrides.
 */
export function defaultConditionalWriteMode(env: NodeJS.ProcessEnv = process.env): ConditionalWriteMode {
  const forced = env.S3_CONDITIONAL_WRITES;
  if (forced === 'native' || forced === 'emulated') return forced;
  if (forced) throw new Error(`S3_CONDITIONAL_WRITES must be "native" or "emulated", got "${forced}"`);
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL ? 'emulated' : 'native';
}

// One lock table per process (globalThis: module copies loaded through different URLs share it).
const LOCKS_SYMBOL = Symbol.for('omnichannel-ai.registry.key-locks');
const globalLocks = globalThis as unknown as Record<symbol, Map<string, Promise<void>> | undefined>;
if (!globalLocks[LOCKS_SYMBOL]) globalLocks[LOCKS_SYMBOL] = new Map();
const keyLocks: Map<string, Promise<void>> = globalLocks[LOCKS_SYMBOL];

/** Runs `fn` alone for this key in this process (a promise chain per key). */
export async function withKeyLock<T>(lockKey: string, fn: () => Promise<T>): Promise<T> {
  const previous = keyLocks.get(lockKey) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  keyLocks.set(lockKey, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (keyLocks.get(lockKey) === tail) keyLocks.delete(lockKey);
  }
}

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const statusOf = (error: unknown) => (error as SdkError)?.$metadata?.httpStatusCode;
const isMissing = (error: unknown) => {
  const e = error as SdkError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || statusOf(error) === 404;
};

export interface S3ObjectStoreOptions {
  conditionalWrites?: ConditionalWriteMode;
}

export class S3ObjectStore implements ObjectStore {
  readonly mode: ConditionalWriteMode;

  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    options: S3ObjectStoreOptions = {},
  ) {
    this.mode = options.conditionalWrites ?? defaultConditionalWriteMode();
  }

  get description(): string {
    return `s3://${this.bucket} (${this.mode} conditional writes)`;
  }

  // s3rver rewrites a file in place: a read during a write of the same key sees a torn (often empty)
  // body. Emulated mode therefore serialises reads with the conditional writes of the same key.
  get(key: string): Promise<StoredObject | undefined> {
    return this.mode === 'emulated' ? withKeyLock(this.lockKey(key), () => this.rawGet(key)) : this.rawGet(key);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.mode === 'emulated' ? withKeyLock(this.lockKey(key), () => this.rawHead(key)) : this.rawHead(key);
  }

  private lockKey(key: string): string {
    return `${this.bucket}/${key}`;
  }

  private async rawGet(key: string): Promise<StoredObject | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      return { key, body, etag: normaliseEtag(out.ETag), size: body.byteLength, lastModified: out.LastModified ?? new Date(0) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  private async rawHead(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, etag: normaliseEtag(out.ETag), size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    const conditional = options.ifNoneMatch !== undefined || options.ifMatch !== undefined;
    if (!conditional || this.mode === 'native') return this.send(key, body, options);
    return withKeyLock(this.lockKey(key), async () => {
      const current = await this.rawHead(key);
      if (options.ifNoneMatch === '*' && current) throw new PreconditionFailedError(key, 412, 'the object already exists');
      if (options.ifMatch !== undefined) {
        if (!current) throw new PreconditionFailedError(key, 404, 'the object does not exist');
        if (current.etag !== normaliseEtag(options.ifMatch)) {
          throw new PreconditionFailedError(key, 412, `ETag is ${current.etag}, expected ${normaliseEtag(options.ifMatch)}`);
        }
      }
      return this.send(key, body, options);
    });
  }

  private async send(key: string, body: Uint8Array, options: PutOptions): Promise<{ etag: string }> {
    try {
      const out = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: options.contentType ?? 'application/octet-stream',
          ...(options.ifNoneMatch ? { IfNoneMatch: options.ifNoneMatch } : {}),
          ...(options.ifMatch ? { IfMatch: `"${normaliseEtag(options.ifMatch)}"` } : {}),
        }),
      );
      return { etag: normaliseEtag(out.ETag) || md5Hex(body) };
    } catch (error) {
      const status = statusOf(error);
      const name = (error as SdkError)?.name;
      if (status === 412 || name === 'PreconditionFailed') throw new PreconditionFailedError(key, 412, 'precondition failed');
      if (status === 409 || name === 'ConditionalRequestConflict') throw new PreconditionFailedError(key, 409, 'a concurrent conditional write is in flight');
      if (options.ifMatch !== undefined && isMissing(error)) throw new PreconditionFailedError(key, 404, 'the object does not exist');
      throw error;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (o.Key) out.push({ key: o.Key, etag: normaliseEtag(o.ETag), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listFolders(prefix: string): Promise<string[]> {
    const folders = new Set<string>();
    if (this.mode === 'emulated') {
      // s3rver 3.7 stops walking its directory tree one level below a Delimiter listing and misses
      // deeper keys (CommonPrefixes comes back empty): derive the folders from the full listing.
      for (const o of await this.list(prefix)) {
        const rest = o.key.slice(prefix.length);
        if (rest.indexOf('/') > 0) folders.add(rest.slice(0, rest.indexOf('/')));
      }
      return [...folders].sort();
    }
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) folders.add(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...folders].filter(Boolean).sort();
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

/** In-memory store with S3's conditional-write semantics (each call yields once, so interleavings happen). */
export class MemoryObjectStore implements ObjectStore {
  readonly description = 'memory';
  private readonly objects = new Map<string, StoredObject>();

  constructor(private readonly clock: () => Date = () => new Date()) {}

  async get(key: string): Promise<StoredObject | undefined> {
    await Promise.resolve();
    const o = this.objects.get(key);
    return o ? { ...o, body: o.body.slice() } : undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    await Promise.resolve();
    const o = this.objects.get(key);
    return o ? { key, etag: o.etag, size: o.size, lastModified: o.lastModified } : undefined;
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag: string }> {
    await Promise.resolve();
    const current = this.objects.get(key);
    if (options.ifNoneMatch === '*' && current) throw new PreconditionFailedError(key, 412, 'the object already exists');
    if (options.ifMatch !== undefined) {
      if (!current) throw new PreconditionFailedError(key, 404, 'the object does not exist');
      if (current.etag !== normaliseEtag(options.ifMatch)) throw new PreconditionFailedError(key, 412, 'ETag differs');
    }
    const etag = md5Hex(body);
    this.objects.set(key, { key, body: body.slice(), etag, size: body.byteLength, lastModified: this.clock() });
    return { etag };
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    await Promise.resolve();
    return [...this.objects.values()]
      .filter((o) => o.key.startsWith(prefix))
      .map(({ key, etag, size, lastModified }) => ({ key, etag, size, lastModified }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async listFolders(prefix: string): Promise<string[]> {
    const folders = new Set<string>();
    for (const o of await this.list(prefix)) {
      const rest = o.key.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash > 0) folders.add(rest.slice(0, slash));
    }
    return [...folders].sort();
  }

  async delete(key: string): Promise<void> {
    await Promise.resolve();
    this.objects.delete(key);
  }

  /** Test hook: set an object's last-modified time. */
  touch(key: string, lastModified: Date): void {
    const o = this.objects.get(key);
    if (o) this.objects.set(key, { ...o, lastModified });
  }
}
