/**
 * Nothing lost, on the embedded local stack: invalid messages and unreadable requests land in the
 * quarantine, the quarantine API and CLI list them, a replay with a merge patch delivers them once
 * (a second replay changes nothing), and the CLI also works on the stack's data dir directly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuarantinePage } from '../../shared/capture/quarantine';
import type { ReplayReport } from '../../shared/capture/replay';
import { readRawEvents } from '../../shared/capture/raw-events';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { ProfileRepository } from '../../shared/profiles/repository';
import { BlobStore } from '../../shared/storage/blob';

const projectRoot = resolve(import.meta.dirname, '../..');
const cli = join(projectRoot, 'shared/cli/quarantine.ts');
const STAGE = 'capquar';
const ADMIN_KEY = 'admin-integration-key';
const saved = { WRITE_KEYS: process.env.WRITE_KEYS, ADMIN_KEYS: process.env.ADMIN_KEYS };

let stack: LocalStack | undefined;
let dataDir: string;
let blobs: BlobStore;
let profiles: ProfileRepository;
const day = new Date().toISOString().slice(0, 10);

const view = (messageId: string, channel: string) => ({
  type: 'track',
  event: 'Product Viewed',
  messageId,
  userId: 'shopper-quarantine-1',
  properties: { product_id: 'SKU-Q' },
  context: { channel },
});

async function call<T>(method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack?.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Runs the CLI; resolves with its exit code and the JSON of its last stdout line. */
function runCli(args: string[]): Promise<{ code: number | null; json: Record<string, unknown>; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: projectRoot, env: { ...process.env, LOG_LEVEL: 'ERROR' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('error', fail);
    child.once('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        done({ code, json: JSON.parse(last) as Record<string, unknown>, stderr });
      } catch {
        fail(new Error(`CLI printed no JSON (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

async function viewCount(): Promise<number> {
  const events = (await readRawEvents(blobs)).filter((e) => e.eventId.startsWith('q-'));
  const profile = await profiles.get(events[0]?.profileId as string);
  return profile?.counts.view ?? 0;
}

beforeAll(async () => {
  process.env.LOG_LEVEL = 'ERROR';
  process.env.METRICS_DISABLED = 'true';
  delete process.env.WRITE_KEYS; // an open local stack for capture …
  process.env.ADMIN_KEYS = ADMIN_KEY; // … but the quarantine holds customer data: it needs the admin key
  dataDir = mkdtempSync(join(tmpdir(), 'capture-quarantine-'));
  stack = await startLocalStack({ projectRoot, dataDir, stage: STAGE, quiet: true });
  const env = stack.config.provider.environment;
  blobs = new BlobStore(stack.emulators.s3Client(), env.DATA_BUCKET as string);
  profiles = new ProfileRepository(DynamoDBDocumentClient.from(stack.emulators.dynamodbClient()), env.PROFILES_TABLE as string);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('quarantine and replay on the local stack', () => {
  it('quarantines the invalid messages of a batch and an unreadable request, keeping the valid message', async () => {
    // Act
    const batch = await call<{ accepted: number; quarantined: number }>('POST', '/v1/batch', {
      batch: [view('q-ok', 'web'), view('q-1', 'kiosk'), view('q-2', 'kiosk')],
    });
    const malformed = await call<{ quarantined: number }>('POST', '/v1/track', '{"event": "Product Viewed", ');

    // Assess
    expect(batch).toMatchObject({ status: 200, body: { accepted: 1, quarantined: 2 } });
    expect(malformed).toMatchObject({ status: 400, body: { quarantined: 1 } });
    expect(await viewCount()).toBe(1);
  });

  it('lists the day over HTTP with the admin key only, and through the CLI', async () => {
    // Act
    const refused = await call<{ reason: string }>('GET', `/v1/quarantine?day=${day}`, undefined, 'wrong');
    const page = await call<QuarantinePage>('GET', `/v1/quarantine?day=${day}&limit=10`);
    const viaCli = await runCli(['list', '--day', day, '--url', stack?.url as string, '--admin-key', ADMIN_KEY, '--json']);

    // Assess
    expect(refused.status).toBe(401);
    expect(page.status).toBe(200);
    expect(page.body.items.map((i) => [i.kind, i.source, i.replayed]).sort()).toEqual([
      ['message', 'POST /v1/batch', false],
      ['message', 'POST /v1/batch', false],
      ['request', 'POST /v1/track', false],
    ]);
    expect(viaCli.code).toBe(0);
    expect((viaCli.json.items as unknown[]).length).toBe(3);
  });

  it('replays with a merge patch through the CLI, once: a second replay over HTTP changes nothing', async () => {
    // Act
    const first = await runCli([
      'replay',
      '--day',
      day,
      '--url',
      stack?.url as string,
      '--admin-key',
      ADMIN_KEY,
      '--patch',
      '{"context":{"channel":"pos"}}',
      '--json',
    ]);
    const countAfterFirst = await viewCount();
    const second = await call<ReplayReport>('POST', '/v1/quarantine/replay', { day, patch: { context: { channel: 'pos' } } });

    // Assess: the two messages delivered; the malformed request still unreadable (it stays, with its reason).
    const [report] = first.json.reports as ReplayReport[];
    expect(report).toMatchObject({ considered: 3, replayed: 2, accepted: 2, duplicates: 0 });
    expect(report?.stillRejected).toEqual([{ id: expect.any(String), issues: [{ field: 'body', reason: expect.stringContaining('malformed JSON') }] }]);
    expect(first.code).toBe(2); // something still rejected
    expect(countAfterFirst).toBe(3);
    expect(second.body).toMatchObject({ considered: 1, replayed: 0, alreadyReplayed: 2 });
    expect(await viewCount()).toBe(3);
    const stored = (await readRawEvents(blobs)).filter((e) => e.eventId === 'q-1' || e.eventId === 'q-2');
    expect(stored.map((e) => e.channel)).toEqual(['pos', 'pos']);
    const page = await call<QuarantinePage>('GET', `/v1/quarantine?day=${day}`);
    expect(page.body.items.filter((i) => i.replayed)).toHaveLength(2);
  });

  it('works on the stopped stack’s data dir directly (no HTTP)', async () => {
    // Prepare: LevelDB admits one process: the stack lets go of the data dir first.
    await stack?.stop();
    stack = undefined;

    // Act
    const listed = await runCli(['list', '--day', day, '--data-dir', dataDir, '--stage', STAGE, '--json']);

    // Assess
    expect(listed.code).toBe(0);
    expect((listed.json.items as { replayed: boolean }[]).map((i) => i.replayed).sort()).toEqual([false, true, true]);
  });
});
