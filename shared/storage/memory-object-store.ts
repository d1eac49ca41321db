import { Readable } from 'node:stream';
import {
  byKey,
  type CopyOptions,
  foldersOf,
  type ListOptions,
  md5Hex,
  normaliseEtag,
  type ObjectInfo,
  ObjectNotFoundError,
  ObjectStoreBase,
  PreconditionFailedError,
  type PutOptions,
  type StoredObject,
} from './object-store';

const info = ({ key, etag, size, lastModified, metadata }: StoredObject): ObjectInfo => ({ key, etag, size, lastModified, ...(metadata ? { metadata } : {}) });

/** The object store in memory, with S3's semantics (each call yields once, so interleavings happen): tests and tools. */
export class MemoryObjectStore extends ObjectStoreBase {
  readonly description = 'memory';
  private readonly objects = new Map<string, StoredObject>();

  constructor(
    private readonly clock: () => Date = () => new Date(),
    readonly bucket = 'memory',
  ) {
    super();
  }

  async get(key: string): Promise<StoredObject | undefined> {
    await Promise.resolve();
    const o = this.objects.get(key);
    return o ? { ...o, body: o.body.slice() } : undefined;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    await Promise.resolve();
    const o = this.objects.get(key);
    return o ? info(o) : undefined;
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
    this.objects.set(key, {
      key,
      body: body.slice(),
      etag,
      size: body.byteLength,
      lastModified: this.clock(),
      ...(options.metadata ? { metadata: { ...options.metadata } } : {}),
    });
    return { etag };
  }

  async stream(key: string): Promise<Readable> {
    const o = await this.get(key);
    if (!o) throw new ObjectNotFoundError(key);
    return Readable.from([Buffer.from(o.body)]);
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectInfo[]> {
    await Promise.resolve();
    const { startAfter } = options;
    return [...this.objects.values()]
      .filter((o) => o.key.startsWith(prefix) && (startAfter === undefined || o.key > startAfter))
      .map(info)
      .sort(byKey);
  }

  async listFolders(prefix: string): Promise<string[]> {
    return foldersOf(await this.list(prefix), prefix);
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    const source = await this.get(from);
    if (!source) throw new ObjectNotFoundError(from);
    const metadata = options.metadata ?? source.metadata;
    await this.put(to, source.body, metadata ? { metadata } : {});
  }

  async delete(key: string): Promise<void> {
    await Promise.resolve();
    this.objects.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  /** Test hook: set an object's last-modified time. */
  touch(key: string, lastModified: Date): void {
    const o = this.objects.get(key);
    if (o) this.objects.set(key, { ...o, lastModified });
  }
}
