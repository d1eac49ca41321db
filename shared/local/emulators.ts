/**
 * In-process AWS emulators speaking the real wire protocols: dynalite (DynamoDB, LevelDB on disk)
 * and s3rver (S3, plain files on disk). Tables and buckets come from serverless.yml; the process
 * environment is pointed at the emulators so the app's own SDK clients (shared/aws/clients.ts)
 * reach them unchanged.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type CreateTableCommandInput,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import { resetClients } from '../aws/clients';
import { resetConfigCache } from '../config/env';
import type { ServerlessConfig, TableConfig } from './serverless-config';

/** s3rver only accepts signatures made with its built-in dummy account. */
export const LOCAL_ACCESS_KEY_ID = 'S3RVER';
export const LOCAL_SECRET_ACCESS_KEY = 'S3RVER';

export interface StartEmulatorsOptions {
  /** Root of the persisted state: `<dataDir>/dynamodb` (LevelDB) and `<dataDir>/s3` (files). */
  dataDir: string;
  config: ServerlessConfig;
  /** Loopback address to bind; default 127.0.0.1. */
  host?: string;
  /** Fixed ports (0 / undefined = a free port). */
  dynamodbPort?: number;
  s3Port?: number;
  /** Set AWS_* and provider.environment in process.env (default true). */
  setEnv?: boolean;
}

export interface Emulators {
  s3Endpoint: string;
  dynamodbEndpoint: string;
  region: string;
  /** The s3rver instance (an EventEmitter: `on('event', ...)`). */
  s3rver: S3rver;
  /** S3 client for the emulator (path style, checksums only when required). */
  s3Client(): S3Client;
  dynamodbClient(): DynamoDBClient;
  /** Tables/buckets created by this start (the others already existed in dataDir). */
  created: { tables: string[]; buckets: string[] };
  /** Stops both servers, closes LevelDB and restores the environment variables it changed. */
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Keep-alive sockets of SDK clients would otherwise hold close() open.
    server.closeIdleConnections();
  });
}

export function createLocalS3Client(endpoint: string, region: string): S3Client {
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: LOCAL_ACCESS_KEY_ID, secretAccessKey: LOCAL_SECRET_ACCESS_KEY },
    // With the default checksum mode s3rver stores the aws-chunked framing of streamed bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function createLocalDynamoDbClient(endpoint: string, region: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region,
    credentials: { accessKeyId: LOCAL_ACCESS_KEY_ID, secretAccessKey: LOCAL_SECRET_ACCESS_KEY },
  });
}

function createTableInput(table: TableConfig): CreateTableCommandInput {
  const input: CreateTableCommandInput = {
    TableName: table.TableName,
    KeySchema: table.KeySchema,
    AttributeDefinitions: table.AttributeDefinitions,
    BillingMode: table.BillingMode,
  };
  const provisioned = table.BillingMode === 'PROVISIONED';
  if (provisioned) input.ProvisionedThroughput = table.ProvisionedThroughput ?? { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };
  if (table.GlobalSecondaryIndexes?.length) {
    input.GlobalSecondaryIndexes = table.GlobalSecondaryIndexes.map((gsi) => ({
      IndexName: gsi.IndexName,
      KeySchema: gsi.KeySchema,
      Projection: gsi.Projection as NonNullable<CreateTableCommandInput['GlobalSecondaryIndexes']>[number]['Projection'],
      ...(provisioned ? { ProvisionedThroughput: gsi.ProvisionedThroughput ?? { ReadCapacityUnits: 5, WriteCapacityUnits: 5 } } : {}),
    }));
  }
  if (table.LocalSecondaryIndexes?.length) {
    input.LocalSecondaryIndexes = table.LocalSecondaryIndexes.map((lsi) => ({
      IndexName: lsi.IndexName,
      KeySchema: lsi.KeySchema,
      Projection: lsi.Projection as NonNullable<CreateTableCommandInput['LocalSecondaryIndexes']>[number]['Projection'],
    }));
  }
  return input;
}

async function tableStatus(client: DynamoDBClient, name: string): Promise<string | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    return out.Table?.TableStatus ?? 'ACTIVE';
  } catch (err) {
    if (err instanceof ResourceNotFoundException || (err as Error).name === 'ResourceNotFoundException') return undefined;
    throw err;
  }
}

async function waitForStatus(client: DynamoDBClient, name: string, wanted: string | undefined): Promise<void> {
  for (let i = 0; ; i++) {
    const status = await tableStatus(client, name);
    if (status === wanted) return;
    if (i > 500) throw new Error(`Table ${name} stuck in ${status}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A table persisted in dataDir before serverless.yml gave it a global secondary index gets it now.
 * dynalite's UpdateTable only changes throughput (it cannot create an index, as DynamoDB and
 * CloudFormation do online), so the table is read whole, re-created with its indexes, and refilled.
 * With `reindexDir` the items are first saved there and the file is removed only after the refill:
 * a start interrupted half-way finishes the job on the next start. Returns the indexes added.
 */
export async function addMissingIndexes(client: DynamoDBClient, table: TableConfig, reindexDir?: string): Promise<string[]> {
  const backup = reindexDir ? join(reindexDir, `${encodeURIComponent(table.TableName)}.v8`) : undefined;
  const resumed = backup !== undefined && existsSync(backup);
  const described = await client.send(new DescribeTableCommand({ TableName: table.TableName }));
  const have = new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((g) => g.IndexName));
  const missing = (table.GlobalSecondaryIndexes ?? []).filter((g) => !have.has(g.IndexName)).map((g) => g.IndexName);
  if (missing.length === 0 && !resumed) return [];
  let items: Record<string, AttributeValue>[];
  if (resumed) items = deserialize(readFileSync(backup)) as Record<string, AttributeValue>[];
  else {
    items = await scanAll(client, table.TableName);
    if (backup) {
      // v8 serialisation keeps binary attributes (Uint8Array) that JSON would mangle.
      mkdirSync(dirname(backup), { recursive: true });
      writeFileSync(`${backup}.tmp`, serialize(items));
      renameSync(`${backup}.tmp`, backup);
    }
  }
  if (missing.length > 0) {
    await client.send(new DeleteTableCommand({ TableName: table.TableName }));
    await waitForStatus(client, table.TableName, undefined);
    await client.send(new CreateTableCommand(createTableInput(table)));
  }
  await waitForStatus(client, table.TableName, 'ACTIVE');
  await putAll(client, table.TableName, items);
  if (backup) rmSync(backup, { force: true });
  return missing;
}

async function scanAll(client: DynamoDBClient, name: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: name, ExclusiveStartKey: start, ConsistentRead: true }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

async function putAll(client: DynamoDBClient, name: string, items: readonly Record<string, AttributeValue>[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    let pending: { PutRequest: { Item: Record<string, AttributeValue> } }[] | undefined = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; pending?.length; attempt++) {
      if (attempt > 20) throw new Error(`Table ${name}: ${pending.length} items not rewritten after re-creating it with its indexes`);
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [name]: pending } }));
      pending = out.UnprocessedItems?.[name] as typeof pending;
    }
  }
}

/**
 * Creates the tables that do not exist yet, adds the indexes serverless.yml declares to those that
 * lack them (see addMissingIndexes), and waits until all of them are ACTIVE.
 */
export async function ensureTables(client: DynamoDBClient, tables: TableConfig[], options: { reindexDir?: string } = {}): Promise<string[]> {
  const created: string[] = [];
  for (const table of tables) {
    if ((await tableStatus(client, table.TableName)) === undefined) {
      try {
        await client.send(new CreateTableCommand(createTableInput(table)));
        created.push(table.TableName);
      } catch (err) {
        if ((err as Error).name !== 'ResourceInUseException') throw err;
      }
    }
    await addMissingIndexes(client, table, options.reindexDir);
  }
  for (const table of tables) await waitForStatus(client, table.TableName, 'ACTIVE');
  return created;
}

/** Creates the buckets that do not exist yet. */
export async function ensureBuckets(client: S3Client, names: string[]): Promise<string[]> {
  const created: string[] = [];
  for (const Bucket of names) {
    try {
      await client.send(new HeadBucketCommand({ Bucket }));
      continue;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404 && (err as Error).name !== 'NotFound' && (err as Error).name !== 'NoSuchBucket') throw err;
    }
    try {
      await client.send(new CreateBucketCommand({ Bucket }));
      created.push(Bucket);
    } catch (err) {
      const name = (err as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    }
  }
  return created;
}

export async function startEmulators(options: StartEmulatorsOptions): Promise<Emulators> {
  const { dataDir, config } = options;
  const host = options.host ?? '127.0.0.1';
  const region = config.region;
  const dynamoDir = join(dataDir, 'dynamodb');
  const s3Dir = join(dataDir, 's3');
  mkdirSync(dynamoDir, { recursive: true });
  mkdirSync(s3Dir, { recursive: true });

  // dynalite reads AWS_REGION when it creates its store (for table ARNs): set it first.
  const savedEnv = new Map<string, string | undefined>();
  const setEnv = (name: string, value: string | undefined) => {
    if (!savedEnv.has(name)) savedEnv.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  const manageEnv = options.setEnv !== false;
  if (manageEnv) {
    setEnv('AWS_REGION', region);
    setEnv('AWS_DEFAULT_REGION', region);
  }

  const dynamo = dynalite({ path: dynamoDir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const s3rver = new S3rver({
    address: host,
    port: options.s3Port ?? 0,
    silent: true,
    directory: s3Dir,
    resetOnClose: false,
  });

  let dynamoStarted = false;
  let s3Started = false;
  const clients: { s3?: S3Client; ddb?: DynamoDBClient } = {};

  const stop = async () => {
    clients.s3?.destroy();
    clients.ddb?.destroy();
    resetClients();
    const errors: unknown[] = [];
    if (s3Started) {
      s3Started = false;
      s3rver.httpServer?.closeIdleConnections();
      await s3rver.close().catch((e: unknown) => errors.push(e));
    }
    if (dynamoStarted) {
      dynamoStarted = false;
      await closeServer(dynamo).catch((e: unknown) => errors.push(e));
    }
    for (const [name, value] of savedEnv) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    savedEnv.clear();
    resetConfigCache();
    if (errors.length) throw new AggregateError(errors, 'Errors while stopping the emulators');
  };

  try {
    const dynamoAddress = await listen(dynamo, options.dynamodbPort ?? 0, host);
    dynamoStarted = true;
    const s3Address = await s3rver.run();
    s3Started = true;

    const dynamodbEndpoint = `http://${host}:${dynamoAddress.port}`;
    const s3Endpoint = `http://${host}:${s3Address.port}`;

    if (manageEnv) {
      setEnv('AWS_ENDPOINT_URL_S3', s3Endpoint);
      setEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamodbEndpoint);
      setEnv('AWS_ACCESS_KEY_ID', LOCAL_ACCESS_KEY_ID);
      setEnv('AWS_SECRET_ACCESS_KEY', LOCAL_SECRET_ACCESS_KEY);
      setEnv('AWS_SESSION_TOKEN', undefined);
      for (const [name, value] of Object.entries(config.provider.environment)) setEnv(name, value);
    }
    // Clients cached by the app may point at a previous emulator (other ports): drop them.
    resetClients();
    resetConfigCache();

    clients.s3 = createLocalS3Client(s3Endpoint, region);
    clients.ddb = createLocalDynamoDbClient(dynamodbEndpoint, region);
    const createdTables = await ensureTables(clients.ddb, config.tables, { reindexDir: join(dataDir, 'dynamodb-reindex') });
    const createdBuckets = await ensureBuckets(
      clients.s3,
      config.buckets.map((b) => b.name),
    );

    const s3 = clients.s3;
    const ddb = clients.ddb;
    return {
      s3Endpoint,
      dynamodbEndpoint,
      region,
      s3rver,
      s3Client: () => s3,
      dynamodbClient: () => ddb,
      created: { tables: createdTables, buckets: createdBuckets },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
