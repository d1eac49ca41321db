/**
 * The name the stack's code has used for its S3 bucket access since the start: `BlobStore` is the one
 * object-store interface (./object-store) as a type, and its S3 implementation as a value, so both
 * `new BlobStore(s3Client(), bucket)` and `blobs: BlobStore` keep working. New code imports
 * ObjectStore / S3ObjectStore / MemoryObjectStore directly.
 */
import type { ObjectStore } from './object-store';
import { S3ObjectStore } from './s3-object-store';

export type BlobStore = ObjectStore;
export const BlobStore = S3ObjectStore;

export { isNotFound, parseNdjson } from './object-store';
