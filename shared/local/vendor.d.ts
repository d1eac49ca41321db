/** Minimal typings for the untyped local-emulation packages used by shared/local. */

declare module 'dynalite' {
  import type { Server } from 'node:http';
  interface DynaliteOptions {
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
    verbose?: boolean;
    debug?: boolean;
    ssl?: boolean;
  }
  function dynalite(options?: DynaliteOptions): Server;
  export default dynalite;
}

declare module 's3rver' {
  import type { EventEmitter } from 'node:events';
  import type { AddressInfo } from 'node:net';
  import type { Server } from 'node:http';
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    serviceEndpoint?: string;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }
  class S3rver extends EventEmitter {
    constructor(options?: S3rverOptions);
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    httpServer?: Server;
    reset(): void;
  }
  export default S3rver;
}

declare module 'asl-validator' {
  interface AslValidatorOptions {
    checkPaths?: boolean;
    checkArn?: boolean;
  }
  interface AslValidatorResult {
    isValid: boolean;
    errors: { message?: string; [key: string]: unknown }[];
    errorsText: (separator?: string) => string;
  }
  function aslValidator(definition: unknown, options?: AslValidatorOptions): AslValidatorResult;
  export default aslValidator;
}
