/**
 * The retraining state machine of the REAL serverless.yml, run by the embedded local stack
 * (aws-local-stepfunctions, every Lambda task in process, S3 on s3rver): promotion, a worse candidate
 * rejected against the champion, a training task failing on a corrupted snapshot, the Fargate branch
 * (its container entry point run in process), bad input, a skipped run, and the reports over HTTP.
 *
 * The shop's events go through the capture path's validation and normalisation
 * (validateMessages) straight into raw storage (storeRawEvents): the profile writes of the full
 * captureBatch cost ~16 ms an event on dynalite (≈ 90 s for this shop) and retraining reads raw
 * events only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetClients, s3Client } from '../../shared/aws/clients';
import { storeRawEvents } from '../../shared/capture/raw-events';
import { type LocalStack, startLocalStack, validateDefinition } from '../../shared/local';
import { ModelRegistry } from '../../shared/registry/registry';
import { BlobStore } from '../../shared/storage/blob';
import type { RunReport } from '../../shared/reports/run-report';
import { simulatedEvents } from '../helpers/snapshot-fixture';

const projectRoot = resolve(import.meta.dirname, '../..');

/** Simulated shop events (validated, normalised, anonymous ids linked to their user) into raw storage. */
async function loadShop(blobs: BlobStore, options: { seed: number; shoppers: number; items: number; days: number }) {
  const events = simulatedEvents(options);
  await storeRawEvents(blobs, events);
  return events.length;
}

describe('retraining state machine (real serverless.yml, local stack)', () => {
  let stack: LocalStack;
  let dataDir: string;
  let blobs: BlobStore;
  let registry: ModelRegistry;
  const champion = async () => (await registry.getAlias('recommender', 'champion'))?.version;
  const s3Text = async (key: string) =>
    (await s3Client()
      .send(new GetObjectCommand({ Bucket: blobs.bucket, Key: key }))
      .then((o) => o.Body?.transformToString())) ?? '';

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'retrain-sm-'));
    // Subnets and security groups only let the Fargate branch be chosen; locally it runs in process.
    stack = await startLocalStack({
      projectRoot,
      dataDir,
      stage: 'retraintest',
      quiet: true,
      env: { ...process.env, TRAINING_SUBNETS: 'subnet-local', TRAINING_SECURITY_GROUPS: 'sg-local' },
    });
    resetClients();
    blobs = new BlobStore(s3Client(), stack.config.provider.environment.DATA_BUCKET as string);
    registry = new ModelRegistry(blobs);
    await loadShop(blobs, { seed: 11, shoppers: 100, items: 80, days: 35 });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('validates the retrain and features definitions with asl-validator', () => {
    // Act
    const retrain = validateDefinition(stack.config.stateMachines.retrain?.definition, stack.config);
    const features = validateDefinition(stack.config.stateMachines.features?.definition, stack.config);

    // Assess
    expect(retrain).toEqual({ isValid: true, errors: [] });
    expect(features).toEqual({ isValid: true, errors: [] });
    const states = stack.config.stateMachines.features?.definition.States as Record<string, Record<string, unknown>> | undefined;
    const map = states?.FeaturePartitions;
    expect(map?.ItemReader).toMatchObject({ Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Prefix: 'raw/events/' } });
    expect(map?.ItemProcessor).toMatchObject({ ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } });
  });

  it('promotes the first candidate that beats popularity, then moves the champion to a better one', async () => {
    // Prepare: a deliberately weak first model (an index of the 20 most popular items only) still beats popularity.
    const weak = await stack.runStateMachine(
      'retrain',
      { trigger: 'test', hyperparameters: { recommender: { maxItems: 20 } } },
      { executionName: 'run-1-weak' },
    );
    const weakReport = weak.output as RunReport;
    expect(weak.status).toBe('SUCCEEDED');
    expect(weakReport.outcome).toBe('promoted');
    expect(await champion()).toBe(weakReport.candidate?.version);

    // Act
    const better = await stack.runStateMachine('retrain', { trigger: 'test' }, { executionName: 'run-2-better' });

    // Assess
    const report = better.output as RunReport;
    expect(better.status).toBe('SUCCEEDED');
    expect(report.outcome).toBe('promoted');
    const family = report.families[0];
    expect(family?.champion?.version).toBe(weakReport.candidate?.version);
    expect(family?.metrics['NDCG@10']).toBeGreaterThan(family?.champion?.metrics['NDCG@10'] ?? 1);
    expect(family?.metrics.count).toBe(family?.champion?.metrics.count); // the same holdout cases
    expect(report.promoted).toEqual({ family: 'recommender', version: report.candidate?.version, previous: weakReport.candidate?.version });
    expect(await champion()).toBe(report.candidate?.version);
    const card = await registry.getCard('recommender', report.candidate?.version as string);
    expect(card?.gate?.passed).toBe(true);
    expect(card?.champion?.version).toBe(weakReport.candidate?.version);
    expect(card?.metrics?.['NDCG@10']).toBe(family?.metrics['NDCG@10']);
  });

  it('rejects a candidate worse than the champion on the same holdout and leaves the champion untouched', async () => {
    // Prepare
    const before = await champion();

    // Act
    const run = await stack.runStateMachine(
      'retrain',
      { trigger: 'test', hyperparameters: { recommender: { maxItems: 20 } } },
      { executionName: 'run-3-worse' },
    );

    // Assess
    const report = run.output as RunReport;
    expect(run.status).toBe('SUCCEEDED');
    expect(report.outcome).toBe('rejected');
    expect(report.promoted).toBeUndefined();
    expect(await champion()).toBe(before);
    expect(report.gate?.passed).toBe(false);
    expect(report.gate?.reasons.join('\n')).toMatch(/NDCG@10 .* improves on the champion's .* at least .* needed/);
    const card = await registry.getCard('recommender', report.candidate?.version as string);
    expect(card?.gate).toEqual(report.gate);
    const stored = JSON.parse(await s3Text('runs/run-3-worse/report.json')) as RunReport;
    expect(stored.outcome).toBe('rejected');
  });

  it('records a failed training task, notifies, and leaves the champion untouched', async () => {
    // Prepare: the real PrepareSnapshot, then the snapshot object is corrupted before training reads it.
    const before = await champion();
    const prepareThenCorrupt = async (input: unknown) => {
      const payload = (input as { Payload: unknown }).Payload;
      const state = (await stack.invoke('prepareSnapshot', payload)) as { snapshot: { interactionsKey: string } };
      await s3Client().send(new PutObjectCommand({ Bucket: blobs.bucket, Key: state.snapshot.interactionsKey, Body: 'not gzip at all' }));
      return { Payload: state };
    };

    // Act
    const run = await stack.runStateMachine(
      'retrain',
      { trigger: 'test' },
      { executionName: 'run-4-corrupt', retryDelayMs: 0, runOptions: { overrides: { taskResourceLocalHandlers: { PrepareSnapshot: prepareThenCorrupt } } } },
    );

    // Assess: the family's iteration ends in FamilyFailed; the run is reported, notified and failed.
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('ModelFamiliesFailed');
    expect(await champion()).toBe(before);
    const report = JSON.parse(await s3Text('runs/run-4-corrupt/report.json')) as RunReport;
    expect(report.outcome).toBe('failed');
    expect(report.failedFamilies).toEqual(['recommender']);
    expect(report.families[0]?.error?.Cause).toMatch(/header|gzip|check/i);
    const notifications = (await blobs.listKeys('notifications/run-4-corrupt/')).filter((k) => k.endsWith('NotifyFamilyFailure.json'));
    expect(notifications).toHaveLength(1);
    const notification = JSON.parse(await s3Text(notifications[0] as string)) as { Subject: string; Message: string; TopicArn: string };
    expect(notification.Subject).toBe('Retraining run had failing model families');
    expect(notification.Message).toContain('run-4-corrupt');
    expect(notification.Message).toContain('["recommender"]');
    expect(notification.TopicArn).toContain('RetrainNotificationsTopic');
  });

  it('takes the Fargate branch above the interaction threshold and runs the training container entry point', async () => {
    // Act
    const run = await stack.runStateMachine('retrain', { trigger: 'test', compute: { fargateAboveInteractions: 0 } }, { executionName: 'run-5-fargate' });

    // Assess
    const report = run.output as RunReport;
    expect(run.status).toBe('SUCCEEDED');
    expect(report.families[0]?.candidate.compute).toBe('ecs-fargate (local emulation)');
    expect(report.families[0]?.gate).toBeDefined();
  });

  it('fails a run with an invalid request, naming each bad field, and still writes its report', async () => {
    // Act
    const run = await stack.runStateMachine(
      'retrain',
      { trigger: 'test', holdoutDays: 0, hyperparameters: { recommender: { lambda: -1 } }, surprise: 1 },
      { executionName: 'run-6-invalid' },
    );

    // Assess
    expect(run.status).toBe('FAILED');
    const report = JSON.parse(await s3Text('runs/run-6-invalid/report.json')) as RunReport;
    expect(report.outcome).toBe('failed');
    expect(report.error?.Error).toBe('InvalidRunRequest');
    expect(report.error?.Cause).toContain('holdoutDays');
    expect(report.error?.Cause).toContain('surprise');
  });

  it('skips a run without enough holdout shoppers', async () => {
    // Act
    const run = await stack.runStateMachine('retrain', { trigger: 'test', minUsers: 100_000 }, { executionName: 'run-7-skipped' });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    const report = run.output as RunReport;
    expect(report.outcome).toBe('skipped');
    expect(report.plan?.find((p) => p.family === 'recommender')).toEqual(
      expect.objectContaining({ family: 'recommender', enough: false, reason: expect.stringMatching(/at least 100000 needed/) }),
    );
  });

  it('lists the runs newest first and serves each HTML report over HTTP', async () => {
    // Act
    const list = await fetch(`${stack.url}/v1/runs?limit=3`);
    const page = (await list.json()) as { runs: { runId: string; outcome: string; report: string }[]; nextCursor?: string };
    const next = await fetch(`${stack.url}/v1/runs?limit=10&cursor=${encodeURIComponent(page.nextCursor ?? '')}`);
    const rest = (await next.json()) as { runs: { runId: string }[] };
    const html = await fetch(`${stack.url}/v1/runs/run-2-better/report`);
    const failed = await fetch(`${stack.url}/v1/runs/run-4-corrupt/report`);
    const missing = await fetch(`${stack.url}/v1/runs/no-such-run/report`);
    const bad = await fetch(`${stack.url}/v1/runs/${encodeURIComponent('bad id!')}/report`);

    // Assess
    expect(list.status).toBe(200);
    expect(page.runs.map((r) => r.runId)).toEqual(['run-7-skipped', 'run-6-invalid', 'run-5-fargate']);
    expect(page.runs[0]?.report).toBe('/v1/runs/run-7-skipped/report');
    expect(rest.runs.map((r) => r.runId)).toEqual(['run-4-corrupt', 'run-3-worse', 'run-2-better', 'run-1-weak']);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    const body = await html.text();
    expect(body).toContain('<svg');
    expect(body).toContain('gain over champion');
    expect(body).toMatch(/became champion/);
    expect(body).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(await failed.text()).toContain('This family’s champion was left untouched');
    expect(missing.status).toBe(404);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('"field":"runId"');
  });
});
