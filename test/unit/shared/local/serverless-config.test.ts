// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Serverless Framework variables, not JS templates
/**
 * shared/local/serverless-config.ts with a serverless.yml split into included files (`${file(...)}`), as the
 * real one is: test/fixtures/local-stack-includes/ (its serverless-print.json is what serverless 3.40 itself
 * resolves for that fixture), and the real serverless.yml with its serverless/ files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  functionLogicalId,
  loadServerlessConfig,
  mergeConfigArrays,
  resolveVariables,
  ServerlessConfigError,
} from '../../../../shared/local/serverless-config';

const fixtureRoot = fileURLToPath(new URL('../../../fixtures/local-stack-includes/', import.meta.url));
const fixtureConfig = join(fixtureRoot, 'serverless.yml');
const realConfig = fileURLToPath(new URL('../../../../serverless.yml', import.meta.url));

/** Every string in a value. */
const strings = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : Array.isArray(value)
      ? value.flatMap(strings)
      : value && typeof value === 'object'
        ? Object.values(value).flatMap(strings)
        : [];

describe('loadServerlessConfig with ${file(...)} includes', () => {
  it('resolves the includes exactly as serverless v3 does (serverless print of the fixture)', () => {
    // Prepare
    const printed = JSON.parse(readFileSync(join(fixtureRoot, 'serverless-print.json'), 'utf8')) as Record<string, unknown>;

    // Act
    const config = loadServerlessConfig(fixtureConfig, { stage: 'dev', env: {} });

    // Assess
    for (const key of ['custom', 'functions', 'stepFunctions', 'resources']) expect(config.resolved[key], key).toEqual(printed[key]);
    expect(strings(config.resolved).filter((s) => s.includes('${'))).toEqual([]);
  });

  it('merges the function files in order, deep-merging a function a later file extends', () => {
    // Act
    const config = loadServerlessConfig(fixtureConfig, { stage: 'prod', env: {} });

    // Assess
    expect(Object.keys(config.functions)).toEqual(['getItem', 'putItem', 'importItems']);
    expect(config.functions.getItem).toMatchObject({ handlerModule: 'functions/items', timeout: 3, memorySize: 1024 }); // memory.prod, via :address
    expect(config.functions.putItem?.environment).toEqual({ DATA_BUCKET: 'includes-fixture-prod-data', ITEMS_TABLE: 'includes-fixture-prod-items' });
    expect(config.functions.getItem?.events).toEqual([{ type: 'httpApi', method: 'GET', path: '/items/{id}' }]);
  });

  it('resolves a nested include against the service directory (as v3) and its ${self:...} against serverless.yml', () => {
    // Act
    const config = loadServerlessConfig(fixtureConfig, { stage: 'dev', env: {} });

    // Assess
    expect(config.functions.importItems).toMatchObject({ handler: 'functions/on-import.handler', timeout: 120 }); // custom.limits from the JSON file
    expect(config.functions.importItems?.events).toEqual([
      {
        type: 's3',
        bucketRef: 'data',
        bucketName: 'includes-fixture-dev-data',
        event: 's3:ObjectCreated:*',
        rules: [{ prefix: 'imports/' }, { suffix: '.json' }],
        existing: false,
      },
    ]);
    expect((config.resolved.custom as Record<string, unknown>).optional).toBe('no-such-file'); // missing file -> fallback
  });

  it('merges the resource files (tables and outputs) and includes a state machine per key with shared Retry values', () => {
    // Act
    const config = loadServerlessConfig(fixtureConfig, { stage: 'dev', env: {} });

    // Assess
    expect(config.tables.map((t) => [t.logicalId, t.TableName])).toEqual([['ItemsTable', 'includes-fixture-dev-items']]);
    expect(Object.keys((config.resolved.resources as { Resources: object }).Resources)).toEqual(['ItemsTable', 'DeadLetterQueue']);
    expect((config.resolved.resources as { Outputs: object }).Outputs).toEqual({ DeadLetterQueueArn: { Value: { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] } } });
    const machine = config.stateMachines.pipeline!;
    expect(machine.name).toBe('includes-fixture-dev-pipeline');
    const states = machine.definition.States as Record<string, { Retry: { ErrorEquals: string[] }[] }>;
    expect(states.Import!.Retry.map((r) => r.ErrorEquals)).toEqual([['Lambda.ServiceException'], ['States.Timeout']]);
    expect(states.Get!.Retry.map((r) => r.ErrorEquals)).toEqual([['Lambda.ServiceException']]);
    // Two references to custom.retry values are independent copies.
    expect(states.Import!.Retry[0]).not.toBe(states.Get!.Retry[0]);
    expect(states.Import!.Retry[0]).toEqual(states.Get!.Retry[0]);
  });

  it('fails on a missing include without fallback and on a circular include', () => {
    expect(() => resolveVariables({ a: '${file(./parts/absent.yml)}' }, {}, fixtureRoot)).toThrow(
      /Cannot resolve variable \$\{file\(\.\/parts\/absent\.yml\)\}/,
    );
    expect(() => resolveVariables({ a: '${file(./parts/loop.yml)}' }, {}, fixtureRoot)).toThrow(/Circular file include/);
    expect(() => mergeConfigArrays({ functions: [{ a: { handler: 'x.y' } }, 'nope'] })).toThrow(ServerlessConfigError);
  });

  it('leaves CloudFormation placeholders alone next to file variables', () => {
    const resolved = resolveVariables({ a: 'arn:${AWS::Partition}:x', b: '${file(./config/settings.yml):memory.dev}' }, {}, fixtureRoot);
    expect(resolved).toEqual({ a: 'arn:${AWS::Partition}:x', b: 256 });
  });
});

describe('the real serverless.yml and its serverless/ files', () => {
  const config = loadServerlessConfig(realConfig, { stage: 'test', env: {} });

  it('loads every function file, in the deployed order, every state machine and resource file', () => {
    expect(Object.keys(config.functions)).toEqual(
      expect.arrayContaining(['captureBatch', 'getRecommendations', 'importEvents', 'prepareSnapshot', 'featureReduce', 'validateModelUpload']),
    );
    expect(Object.keys(config.functions)[0]).toBe('captureBatch');
    expect(Object.keys(config.stateMachines)).toEqual(['retrain', 'features']);
    expect(config.tables.map((t) => t.logicalId).sort()).toEqual(['CatalogTable', 'ProfilesTable']);
    const resources = (config.resolved.resources as { Resources: Record<string, { Type: string }> }).Resources;
    expect(resources.RetrainStateMachineRole?.Type).toBe('AWS::IAM::Role');
    expect(resources.TrainingTaskDefinition?.Type).toBe('AWS::ECS::TaskDefinition');
  });

  it('leaves no variable unresolved and resolves every Retry of the state machines to a list of retriers', () => {
    expect(strings(config.resolved).filter((s) => /\$\{(self|file|opt|env|sls):?/.test(s))).toEqual([]);
    const retries: unknown[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'Retry') retries.push(v);
          walk(v);
        }
      }
    };
    for (const machine of Object.values(config.stateMachines)) walk(machine.definition);
    expect(retries.length).toBeGreaterThan(10);
    for (const retry of retries) {
      expect(Array.isArray(retry)).toBe(true);
      for (const retrier of retry as { ErrorEquals: unknown }[]) expect(Array.isArray(retrier.ErrorEquals)).toBe(true);
    }
  });

  it('points every Lambda task of the state machines at a declared function', () => {
    const logicalIds = new Set(Object.keys(config.functions).map(functionLogicalId));
    const refs = strings(Object.values(config.stateMachines).map((m) => m.definition)).filter((s) => s.endsWith('LambdaFunction'));
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(logicalIds.has(ref), ref).toBe(true);
  });
});
