import { s3Client } from '../aws/clients';
import { appConfig } from '../config/env';
import { BlobStore } from '../storage/blob';

/** The bucket every retraining task reads and writes, built once per container. */
export function dataBlobs(): BlobStore {
  return new BlobStore(s3Client(), appConfig().dataBucket);
}
