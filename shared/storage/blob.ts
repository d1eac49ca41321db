import type { Readable } from 'node:stream';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Thin typed access to one bucket; every write is a whole-object PUT, so a retry rewrites the same bytes. */
export class BlobStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async putBytes(key: string, body: Uint8Array, contentType = 'application/octet-stream', extra: { contentEncoding?: string } = {}): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ContentEncoding: extra.contentEncoding }),
    );
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Streams an object (gunzipped when the key ends in .gz) without holding it in memory. */
  async getStream(key: string): Promise<Readable> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const body = out.Body as Readable;
    return key.endsWith('.gz') ? body.pipe(createGunzip()) : body;
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.putBytes(key, Buffer.from(JSON.stringify(value, null, 2)), 'application/json');
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.getBytes(key);
    return bytes ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as T) : undefined;
  }

  /** Gzipped newline-delimited JSON: the format of raw events, snapshots and features. */
  async putNdjsonGz(key: string, rows: readonly unknown[]): Promise<void> {
    const text = rows.map((row) => JSON.stringify(row)).join('\n');
    await this.putBytes(key, gzipSync(text), 'application/x-ndjson', { contentEncoding: 'gzip' });
  }

  async getNdjson<T>(key: string): Promise<T[]> {
    const bytes = await this.getBytes(key);
    if (!bytes) return [];
    return parseNdjson<T>(key.endsWith('.gz') ? gunzipSync(bytes) : Buffer.from(bytes));
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }
}

export function parseNdjson<T>(buffer: Buffer): T[] {
  const rows: T[] = [];
  for (const line of buffer.toString('utf8').split('\n')) {
    if (line.trim() !== '') rows.push(JSON.parse(line) as T);
  }
  return rows;
}

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
