/**
 * S3 -> Lambda notifications for the local stack. s3rver emits an event for every write but
 * filters nothing and builds a malformed bucket ARN, so each event is matched here against the
 * `s3` events of serverless.yml with AWS semantics (bucket, event type, prefix AND suffix) and
 * rebuilt as a proper notification before the handler is invoked asynchronously, like S3 does.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { invokeFunction } from './invoke';
import type { FunctionConfig, S3TriggerEvent, ServerlessConfig } from './serverless-config';

/** The record shape s3rver emits (see s3rver/lib/models/event.js). */
interface S3rverRecord {
  eventName: string;
  eventTime?: string;
  requestParameters?: { sourceIPAddress?: string };
  s3: {
    bucket: { name: string };
    object: { key: string; size?: number; eTag?: string; sequencer?: string };
  };
}

export interface S3EventError {
  functionName: string;
  bucket: string;
  key: string;
  eventName: string;
  error: unknown;
}

export interface S3EventInvocation {
  functionName: string;
  bucket: string;
  key: string;
  eventName: string;
  ok: boolean;
}

export interface S3EventRouterOptions {
  config: ServerlessConfig;
  projectRoot?: string;
  /** The s3rver instance (emits `event`). */
  emitter: EventEmitter;
  /** Used to fill in the eTag/size s3rver leaves out for copies. */
  s3Client?: S3Client;
  region?: string;
  onError?: (error: S3EventError) => void;
  /** Do not log handler errors to the console. */
  quiet?: boolean;
}

export interface S3EventRouter {
  /** Handler failures, in order (never thrown into s3rver). */
  readonly errors: S3EventError[];
  /** Every invocation made, in order of completion. */
  readonly invocations: S3EventInvocation[];
  /** Resolves when every triggered invocation (including ones triggered meanwhile) has finished. */
  waitForIdle(): Promise<void>;
  /** Stop listening (pending invocations still finish). */
  close(): void;
}

/** `s3:ObjectCreated:*` matches `ObjectCreated:Put` etc.; exact names match exactly. */
export function eventTypeMatches(configured: string, eventName: string): boolean {
  const want = configured.replace(/^s3:/, '');
  const got = eventName.replace(/^s3:/, '');
  if (want.endsWith(':*')) return got.startsWith(want.slice(0, -1));
  if (want === '*') return true;
  return want === got;
}

/** Every rule must hold: prefix AND suffix, on the (decoded) key, as S3 filters do. */
export function rulesMatch(rules: S3TriggerEvent['rules'], key: string): boolean {
  return rules.every((rule) => (rule.prefix === undefined || key.startsWith(rule.prefix)) && (rule.suffix === undefined || key.endsWith(rule.suffix)));
}

/** Functions (each once, with its first matching event) that S3 would notify. */
export function matchS3Event(
  config: ServerlessConfig,
  bucket: string,
  eventName: string,
  key: string,
): { fn: FunctionConfig; event: S3TriggerEvent; index: number }[] {
  const out: { fn: FunctionConfig; event: S3TriggerEvent; index: number }[] = [];
  for (const fn of Object.values(config.functions)) {
    const index = fn.events.findIndex(
      (ev) => ev.type === 's3' && ev.bucketName === bucket && eventTypeMatches(ev.event, eventName) && rulesMatch(ev.rules, key),
    );
    const event = fn.events[index];
    if (event?.type === 's3') out.push({ fn, event, index });
  }
  return out;
}

/**
 * Object keys in S3 notifications are URL-encoded like an HTML form value (space -> `+`),
 * with `/` left as is.
 */
export function encodeS3EventKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment)
        .replace(/%20/g, '+')
        .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join('/');
}

/** Inverse of encodeS3EventKey: what handlers must do with `Records[].s3.object.key`. */
export function decodeS3EventKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

function normaliseEventName(eventName: string, eTag: string | undefined): string {
  // s3rver reports CompleteMultipartUpload as Post; multipart ETags end in -<parts>.
  if (eventName === 'ObjectCreated:Post' && eTag && /-\d+$/.test(eTag)) return 'ObjectCreated:CompleteMultipartUpload';
  return eventName;
}

export function buildS3Notification(params: {
  bucket: string;
  key: string;
  eventName: string;
  size?: number;
  eTag?: string;
  sequencer?: string;
  region: string;
  sourceIp?: string;
  configurationId: string;
}): S3Event {
  const object: S3EventRecord['s3']['object'] & { size?: number; eTag?: string } = {
    key: encodeS3EventKey(params.key),
    sequencer: params.sequencer ?? Date.now().toString(16).toUpperCase().padStart(16, '0'),
  } as S3EventRecord['s3']['object'];
  if (params.eventName.startsWith('ObjectCreated:')) {
    object.size = params.size ?? 0;
    object.eTag = params.eTag ?? '';
  }
  const record: S3EventRecord = {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: params.region,
    eventTime: new Date().toISOString(),
    eventName: params.eventName,
    userIdentity: { principalId: 'AWS:LOCALSTACKUSER' },
    requestParameters: { sourceIPAddress: params.sourceIp ?? '127.0.0.1' },
    responseElements: {
      'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-amz-id-2': randomBytes(32).toString('base64'),
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: params.configurationId,
      bucket: {
        name: params.bucket,
        ownerIdentity: { principalId: 'LOCALOWNER' },
        arn: `arn:aws:s3:::${params.bucket}`,
      },
      object,
    },
  };
  return { Records: [record] };
}

export function startS3EventRouter(options: S3EventRouterOptions): S3EventRouter {
  const { config, emitter } = options;
  const region = options.region ?? config.region;
  const errors: S3EventError[] = [];
  const invocations: S3EventInvocation[] = [];
  const pending = new Set<Promise<void>>();
  let idleWaiters: (() => void)[] = [];

  const settle = (p: Promise<void>) => {
    pending.delete(p);
    if (pending.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  const deliver = async (raw: S3rverRecord) => {
    const bucket = raw.s3.bucket.name;
    const key = raw.s3.object.key;
    let eTag = raw.s3.object.eTag;
    let size = raw.s3.object.size;
    const eventName = normaliseEventName(raw.eventName, eTag);
    const targets = matchS3Event(config, bucket, eventName, key);
    if (!targets.length) return;
    if (eventName.startsWith('ObjectCreated:') && (eTag === undefined || size === undefined || Number.isNaN(size))) {
      // s3rver omits the eTag of copies.
      const head = await options.s3Client?.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      eTag ??= head?.ETag?.replace(/"/g, '');
      if (size === undefined || Number.isNaN(size)) size = head?.ContentLength;
    }
    await Promise.all(
      targets.map(async ({ fn, index }) => {
        const notification = buildS3Notification({
          bucket,
          key,
          eventName,
          region,
          configurationId: `${fn.name}-s3-${index}`,
          ...(size !== undefined ? { size } : {}),
          ...(eTag !== undefined ? { eTag } : {}),
          ...(raw.s3.object.sequencer ? { sequencer: raw.s3.object.sequencer } : {}),
          ...(raw.requestParameters?.sourceIPAddress ? { sourceIp: raw.requestParameters.sourceIPAddress } : {}),
        });
        try {
          await invokeFunction(fn, notification, { projectRoot: options.projectRoot ?? fn.servicePath, region });
          invocations.push({ functionName: fn.name, bucket, key, eventName, ok: true });
        } catch (error) {
          const failure: S3EventError = { functionName: fn.name, bucket, key, eventName, error };
          errors.push(failure);
          invocations.push({ functionName: fn.name, bucket, key, eventName, ok: false });
          if (!options.quiet) console.error(`[local s3-events] ${fn.name} failed on s3://${bucket}/${key}:`, error);
          try {
            options.onError?.(failure);
          } catch {
            // a failing callback must not break delivery
          }
        }
      }),
    );
  };

  const listener = (event: { Records?: S3rverRecord[] }) => {
    for (const record of event.Records ?? []) {
      // Registered synchronously, so an awaited PutObject is already pending for waitForIdle().
      const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => deliver(record))
        .catch((err: unknown) => {
          if (!options.quiet) console.error('[local s3-events] delivery failed:', err);
        })
        .finally(() => settle(p));
      pending.add(p);
    }
  };
  emitter.on('event', listener);

  return {
    errors,
    invocations,
    waitForIdle: () => (pending.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    close: () => {
      emitter.off('event', listener);
    },
  };
}
