/**
 * The one object-store seam of the stack (Gorse's storage/blob: one small interface, several backends,
 * one shared contract test — test/unit/shared/storage/object-store.test.ts).
 *
 * - Primitives every backend implements: get, head, put (with the two conditional writes the model
 *   registry is built on: create-only `If-None-Match: *` and compare-and-swap `If-Match`), stream,
 *   list (every page), listFolders, copy, delete, deleteMany.
 * - Helpers written once on top of them (`ObjectStoreBase`): bytes, JSON, NDJSON(.gz), key listings.
 *
 * Backends: `S3ObjectStore` (./s3-object-store, over an S3Client, with the local emulation of
 * conditional writes for s3rver) and `MemoryObjectStore` (./memory-object-store).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';

export interface ObjectInfo {
  key: string;
  /** Normalised ETag (no quotes). */
  etag: string;
  size: number;
  lastModified: Date;
  /** Set by head() on a versioned bucket. */
  versionId?: string;
  /** User metadata (x-amz-meta-*), as head() returns it. */
  metadata?: Record<string, string>;
}

export interface StoredObject extends ObjectInfo {
  body: Uint8Array;
}

export interface PutOptions {
  contentType?: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
  /** Create only: fail when the key exists. */
  ifNoneMatch?: '*';
  /** Replace only the object with this ETag (quoted or not). */
  ifMatch?: string;
}

export interface CopyOptions {
  /** Replaces the source's metadata on the copy. */
  metadata?: Record<string, string>;
  contentType?: string;
}

export interface ListOptions {
  /** Only keys after this one (S3 StartAfter). */
  startAfter?: string;
}

export interface ObjectStore {
  readonly bucket: string;
  readonly description: string;

  /** Undefined when the key does not exist. */
  get(key: string): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Throws PreconditionFailedError when a condition does not hold. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }>;
  /** The stored bytes as a stream (throws a not-found error, see isNotFound, when the key does not exist). */
  stream(key: string): Promise<Readable>;
  /** Every object under a prefix (all pages), sorted by key. */
  list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]>;
  /** The "sub-folders" directly under a prefix (`models/` → `recommender`, …), sorted. */
  listFolders(prefix: string): Promise<string[]>;
  copy(from: string, to: string, options?: CopyOptions): Promise<void>;
  /** No error when the key does not exist. */
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;

  getBytes(key: string): Promise<Uint8Array | undefined>;
  putBytes(key: string, body: Uint8Array, contentType?: string, extra?: { contentEncoding?: string }): Promise<void>;
  /** Streams an object, gunzipped when the key ends in .gz, without holding it in memory. */
  getStream(key: string): Promise<Readable>;
  getJson<T>(key: string): Promise<T | undefined>;
  putJson(key: string, value: unknown): Promise<void>;
  /** Rows of a newline-delimited JSON object (gunzipped when the key ends in .gz); [] when it does not exist. */
  getNdjson<T>(key: string): Promise<T[]>;
  /** Gzipped newline-delimited JSON: the format of raw events, snapshots and features. */
  putNdjsonGz(key: string, rows: readonly unknown[]): Promise<void>;
  /** Every key under a prefix, sorted. */
  listKeys(prefix: string, options?: ListOptions): Promise<string[]>;
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

/** What a read of a missing key throws where it cannot answer undefined (stream): shaped like the SDK's NoSuchKey. */
export class ObjectNotFoundError extends Error {
  readonly $metadata = { httpStatusCode: 404 };

  constructor(readonly key: string) {
    super(`${key}: no such object`);
    this.name = 'NoSuchKey';
  }
}

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export const normaliseEtag = (etag: string | undefined): string => (etag ?? '').replace(/^W\//, '').replace(/"/g, '');

/** MD5 hex: the ETag S3 gives a single-part upload (SSE-S3 or no encryption). */
export const md5Hex = (body: Uint8Array): string => createHash('md5').update(body).digest('hex');

export const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Folder names directly under a prefix, derived from a full listing. */
export function foldersOf(objects: readonly ObjectInfo[], prefix: string): string[] {
  const folders = new Set<string>();
  for (const o of objects) {
    const rest = o.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash > 0) folders.add(rest.slice(0, slash));
  }
  return [...folders].sort();
}

export function parseNdjson<T>(buffer: Buffer): T[] {
  const rows: T[] = [];
  for (const line of buffer.toString('utf8').split('\n')) {
    if (line.trim() !== '') rows.push(JSON.parse(line) as T);
  }
  return rows;
}

/** The helpers, written once over the primitives. Every write is a whole-object PUT, so a retry rewrites the same bytes. */
export abstract class ObjectStoreBase implements ObjectStore {
  abstract readonly bucket: string;
  abstract readonly description: string;
  abstract get(key: string): Promise<StoredObject | undefined>;
  abstract head(key: string): Promise<ObjectInfo | undefined>;
  abstract put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag: string }>;
  abstract stream(key: string): Promise<Readable>;
  abstract list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]>;
  abstract listFolders(prefix: string): Promise<string[]>;
  abstract copy(from: string, to: string, options?: CopyOptions): Promise<void>;
  abstract delete(key: string): Promise<void>;
  abstract deleteMany(keys: readonly string[]): Promise<void>;

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    return (await this.get(key))?.body;
  }

  async putBytes(key: string, body: Uint8Array, contentType = 'application/octet-stream', extra: { contentEncoding?: string } = {}): Promise<void> {
    await this.put(key, body, { contentType, ...(extra.contentEncoding ? { contentEncoding: extra.contentEncoding } : {}) });
  }

  async getStream(key: string): Promise<Readable> {
    const body = await this.stream(key);
    return key.endsWith('.gz') ? body.pipe(createGunzip()) : body;
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.getBytes(key);
    return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as T) : undefined;
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.putBytes(key, Buffer.from(JSON.stringify(value, null, 2)), 'application/json');
  }

  async getNdjson<T>(key: string): Promise<T[]> {
    const bytes = await this.getBytes(key);
    if (!bytes) return [];
    return parseNdjson<T>(key.endsWith('.gz') ? gunzipSync(bytes) : Buffer.from(bytes));
  }

  async putNdjsonGz(key: string, rows: readonly unknown[]): Promise<void> {
    const text = rows.map((row) => JSON.stringify(row)).join('\n');
    await this.putBytes(key, gzipSync(text), 'application/x-ndjson', { contentEncoding: 'gzip' });
  }

  async listKeys(prefix: string, options: ListOptions = {}): Promise<string[]> {
    return (await this.list(prefix, options)).map((o) => o.key);
  }
}
