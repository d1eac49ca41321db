/**
 * Packages the service for real (`serverless package`, offline, no AWS credentials) through
 * `shared/cli/package.ts`, then checks the CloudFormation template and the function artifacts.
 *
 * The CLI runs with --isolated: serverless v3 always builds in <serviceDir>/.serverless and
 * serverless-esbuild in <serviceDir>/.esbuild (also with --package), so the project is staged in a
 * temp dir (node_modules symlinked) and the output goes to a separate --package temp dir: this test
 * never touches the project's .serverless/ and concurrent runs do not collide.
 *
 * The same run is compared with the CloudFormation baseline (test/fixtures/cloudformation/baseline-resources.json,
 * shared/cli/cloudformation-baseline.ts): every added, removed or changed resource must be listed, with a
 * reason, in test/fixtures/cloudformation/intended-changes.ts. The variables serverless.yml reads with
 * `${env:...}` are unset for the run, so the template holds their defaults, as the baseline does.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASELINE_STAGE, compareWithBaseline, formatComparison, normaliseTemplate, packagingEnv, readBaseline } from '../../shared/cli/cloudformation-baseline';
import { type ArtifactReport, type CliResult, LAMBDA_LIMITS, measureArtifact, openZip, PROJECT_ROOT, serverlessBin } from '../../shared/cli/package';
import { AUTHORIZER_OF_CLASS, gatewayCheck, ROUTES, routeByKey, routeKey } from '../../shared/http/routes';
import { INTENDED_CHANGES } from '../fixtures/cloudformation/intended-changes';

const STAGE = BASELINE_STAGE; // 'pkgtest'
const CLI_TIMEOUT_S = 240;

const bin = serverlessBin();
const serverlessInstalled = bin !== undefined && existsSync(bin);
if (!serverlessInstalled) console.warn('SKIPPING test/integration/package.test.ts: `serverless` is not installed (run npm install)');

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
}
type Template = { Resources: Record<string, CfnResource>; Outputs?: Record<string, unknown> };
interface ServerlessState {
  service: { functions: Record<string, { handler: string; package?: { artifact?: string }; environment?: Record<string, string> }> };
}
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const getAttName = (v: unknown): string | undefined => {
  const att = (v as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  return Array.isArray(att) && att[1] === 'Arn' ? String(att[0]) : undefined;
};

/** Every policy document in the template (identity policies, trust policies, resource policies). */
function policyDocuments(template: Template): { where: string; statements: Statement[] }[] {
  const found: { where: string; statements: Statement[] }[] = [];
  const walk = (node: unknown, where: string) => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${where}[${i}]`);
    } else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'PolicyDocument' || key === 'AssumeRolePolicyDocument') {
          found.push({ where: `${where}.${key}`, statements: asArray((value as { Statement?: Statement | Statement[] }).Statement) });
        } else walk(value, `${where}.${key}`);
      }
    }
  };
  for (const [id, r] of Object.entries(template.Resources)) walk(r.Properties, `${id}(${r.Type})`);
  return found;
}

/**
 * The only `Resource: "*"` tolerated. X-Ray's write actions have no resource-level permissions
 * (IAM Service Authorization Reference, AWS X-Ray: PutTraceSegments, PutTelemetryRecords and the
 * sampling reads list no resource types), and a Lambda with active tracing (provider.tracing.lambda)
 * needs them on its execution role. serverless itself writes this statement into the provider role
 * IamRoleLambdaExecution; it cannot be scoped any further.
 */
const XRAY_WRITE_ACTIONS = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'xray:GetSamplingStatisticSummaries',
]);
/**
 * ecr:GetAuthorizationToken has no resource-level permissions either; the Fargate training task's
 * execution role needs it to pull the training image (the pull itself is scoped to one repository).
 */
const ECR_TOKEN_ROLES = new Set(['TrainingTaskExecutionRole']);
const isEcrTokenOnStar = (s: Statement, where: string) =>
  ECR_TOKEN_ROLES.has(where.slice(0, where.indexOf('('))) &&
  asArray(s.Action).every((a) => a === 'ecr:GetAuthorizationToken') &&
  asArray(s.Resource).length === 1 &&
  asArray(s.Resource)[0] === '*';
const isXrayWriteOnStar = (s: Statement) => {
  const actions = asArray(s.Action);
  const resources = asArray(s.Resource);
  return actions.length > 0 && actions.every((a) => XRAY_WRITE_ACTIONS.has(a)) && resources.length === 1 && resources[0] === '*';
};

/** A resource that grants a whole service or account: `*`, `{"Fn::Sub": "*"}` or an ARN whose resource part is only `*`. */
const isWildcardResource = (r: unknown): boolean => {
  const text =
    typeof r === 'string' ? r : typeof (r as { 'Fn::Sub'?: unknown })?.['Fn::Sub'] === 'string' ? (r as { 'Fn::Sub': string })['Fn::Sub'] : undefined;
  if (text === undefined) return false;
  const arn = text.replace(/\$\{[^}]*\}/g, 'x'); // Fn::Sub placeholders such as ${AWS::Region}
  return arn === '*' || /^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$/.test(arn) || /^arn:[^:]*:s3:::\*$/.test(arn);
};

/** Allow statements with a wildcard action, a wildcard resource or NotAction/NotResource. */
function auditStatements(documents: { where: string; statements: Statement[] }[]): { violations: string[]; tolerated: string[] } {
  const violations: string[] = [];
  const tolerated: string[] = [];
  for (const { where, statements } of documents) {
    for (const s of statements) {
      // A wildcard in a Deny narrows access (e.g. the deployment bucket's "deny s3:* without TLS").
      if (s.Effect !== 'Allow') continue;
      const line = `${where}: ${JSON.stringify({ Action: s.Action, Resource: s.Resource })}`;
      if (s.NotAction !== undefined || s.NotResource !== undefined) violations.push(`${line} uses NotAction/NotResource`);
      if (asArray(s.Action).some((a) => a.includes('*'))) violations.push(`${line} has a wildcard action`);
      if (!asArray(s.Resource).some(isWildcardResource)) continue;
      if (isXrayWriteOnStar(s) || isEcrTokenOnStar(s, where)) tolerated.push(line);
      else violations.push(`${line} has a "*" resource`);
    }
  }
  return { violations, tolerated };
}

describe.skipIf(!serverlessInstalled)('serverless package (offline, no AWS credentials)', () => {
  let outDir = '';
  let exitCode: number | null = null;
  let stdout = '';
  let stderr = '';
  let cli: CliResult = { artifacts: [], ok: false };
  let template: Template = { Resources: {} };
  let state: ServerlessState = { service: { functions: {} } };
  let reports = new Map<string, ArtifactReport>();

  const resources = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  const diagnostics = () => `exit ${exitCode}\n--- stdout ---\n${stdout.slice(-3000)}\n--- stderr ---\n${stderr.slice(-6000)}`;

  beforeAll(
    async () => {
      outDir = join(realpathSync(mkdtempSync(join(tmpdir(), 'omnichannel-package-test-'))), 'artifacts');
      const args = [
        '--import',
        'tsx',
        join(PROJECT_ROOT, 'shared/cli/package.ts'),
        '--isolated',
        '--stage',
        STAGE,
        '--package',
        outDir,
        '--timeout',
        String(CLI_TIMEOUT_S),
      ];
      const child = spawn(process.execPath, args, {
        cwd: PROJECT_ROOT,
        env: packagingEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
      });
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      exitCode = await new Promise<number | null>((done, fail) => {
        child.once('error', fail);
        child.once('close', done);
      });
      const lastLine = stdout.trim().split('\n').at(-1) ?? '';
      try {
        cli = JSON.parse(lastLine) as CliResult;
      } catch {
        throw new Error(`the CLI's last stdout line is not JSON\n${diagnostics()}`);
      }
      if (existsSync(join(outDir, 'cloudformation-template-update-stack.json'))) {
        template = JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
        state = JSON.parse(readFileSync(join(outDir, 'serverless-state.json'), 'utf8')) as ServerlessState;
        reports = new Map(Object.keys(state.service.functions).map((name) => [name, measureArtifact(join(outDir, `${name}.zip`))]));
      }
    },
    (CLI_TIMEOUT_S + 60) * 1000,
  );

  afterAll(() => {
    if (outDir) rmSync(join(outDir, '..'), { recursive: true, force: true });
  });

  it('packages every function, within the limits, and the CLI reports it', () => {
    expect(exitCode, diagnostics()).toBe(0);
    expect(cli.ok).toBe(true);
    const functionNames = Object.keys(state.service.functions).sort();
    expect(functionNames).toEqual(
      expect.arrayContaining([
        'buildFeatures',
        'captureBatch',
        'evaluateCandidate',
        'getRecommendations',
        'prepareSnapshot',
        'promoteModel',
        'recordRun',
        'trainCandidate',
        'validateModelUpload',
      ]),
    );
    expect(cli.artifacts.map((a) => a.name).sort()).toEqual(functionNames);
    for (const name of functionNames) {
      expect(state.service.functions[name]?.package?.artifact, name).toMatch(new RegExp(`${name}\\.zip$`));
      expect(cli.artifacts.find((a) => a.name === name)?.unzippedMB).toBe(reports.get(name)?.unzippedMB);
    }
  });

  it('deploys what the CloudFormation baseline holds, apart from the listed intended changes', () => {
    expect(exitCode, diagnostics()).toBe(0);
    const comparison = compareWithBaseline(normaliseTemplate(template), readBaseline().resources, INTENDED_CHANGES);
    const report = formatComparison(comparison);
    expect(comparison.unexplained.length + comparison.stale.length, report).toBe(0);
    expect(report).toBe('');
  });

  it('keeps every artifact under 250 MB unzipped and 50 MB zipped', () => {
    expect(reports.size).toBe(Object.keys(state.service.functions).length);
    for (const [name, r] of reports) {
      expect(r.unzippedBytes, `${name} unzipped`).toBeLessThan(LAMBDA_LIMITS.unzippedBytes);
      expect(r.zippedBytes, `${name} zipped`).toBeLessThan(LAMBDA_LIMITS.zippedBytes);
      expect(r.problems, name).toEqual([]);
    }
  });

  it('ships onnxruntime-node (linux/x64 only) exactly to the functions whose bundle requires it', () => {
    const withOrt: string[] = [];
    for (const [name, r] of reports) {
      const fn = state.service.functions[name]!;
      const bundlePath = `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.js`;
      const zip = openZip(r.file);
      const bundle = zip.getEntry(bundlePath)?.getData().toString('utf8');
      expect(bundle, `${name}: ${bundlePath} in the zip`).toBeDefined();
      const requiresOrt = /require\("onnxruntime-node"\)/.test(bundle!);
      const names = zip.getEntries().map((e) => e.entryName);
      // No binary for another OS or CPU anywhere in the artifact.
      expect(
        names.filter((n) => /\.(dylib|dll)$|\/(darwin|win32)\/|\/linux\/arm64\//.test(n)),
        name,
      ).toEqual([]);
      // The Lambda runtime provides AWS SDK v3 (custom.esbuild.exclude).
      expect(
        names.filter((n) => n.startsWith('node_modules/@aws-sdk/')),
        name,
      ).toEqual([]);
      if (requiresOrt) {
        withOrt.push(name);
        expect(r.onnxruntimePlatforms, name).toEqual(['napi-v6/linux/x64']);
        expect(names, name).toContain('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node');
        expect(names, name).toContain('node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1');
        expect(names, name).toContain('node_modules/onnxruntime-common/package.json');
      } else {
        expect(
          names.filter((n) => n.startsWith('node_modules/onnxruntime-')),
          name,
        ).toEqual([]);
      }
    }
    // The model-serving and model-building functions must have it; the capture and feature
    // functions must not. (prepareSnapshot, promoteModel and recordRun currently require it too:
    // shared/training/pipeline.ts imports models/recommender/evaluate.ts, which imports it.)
    expect(withOrt).toEqual(expect.arrayContaining(['getRecommendations', 'trainCandidate', 'evaluateCandidate']));
    expect(withOrt).not.toContain('captureBatch');
    expect(withOrt).not.toContain('buildFeatures');
    expect(withOrt).not.toContain('importEvents');
  });

  it('ships the tfjs WebAssembly binaries (the GRU candidate) to trainCandidate only, where TFJS_WASM_DIR points', () => {
    const dir = state.service.functions.trainCandidate?.environment?.TFJS_WASM_DIR;
    expect(dir).toBe('/var/task/node_modules/@tensorflow/tfjs-backend-wasm/dist');
    for (const [name, r] of reports) {
      const wasm = openZip(r.file)
        .getEntries()
        .map((e) => e.entryName)
        .filter((n) => n.endsWith('.wasm'));
      if (name === 'trainCandidate') {
        expect(wasm.map((n) => `/var/task/${n}`).sort()).toEqual([`${dir}/tfjs-backend-wasm-simd.wasm`, `${dir}/tfjs-backend-wasm.wasm`]);
      } else expect(wasm, name).toEqual([]);
    }
  });

  it('has the HTTP API routes', () => {
    const routeKeys = resources('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties?.RouteKey);
    expect(routeKeys).toEqual(expect.arrayContaining(['POST /v1/batch', 'GET /v1/users/{userId}/recommendations']));
  });

  it('deploys exactly the routes of the route table, each with the authorizer of its class when the table says so', () => {
    // Prepare: route key -> the name of the authorizer it references (or none).
    const authorizerName = (id: unknown) => {
      const ref = (id as { Ref?: string } | undefined)?.Ref;
      return ref ? (template.Resources[ref]?.Properties?.Name as string | undefined) : undefined;
    };
    const deployed = resources('AWS::ApiGatewayV2::Route').map(([, r]) => ({
      key: String(r.Properties?.RouteKey),
      type: r.Properties?.AuthorizationType,
      authorizer: authorizerName(r.Properties?.AuthorizerId),
    }));

    // Assess: every deployed route has a row (a route without a policy fails the build), and the reverse.
    expect(deployed.map((r) => r.key).sort()).toEqual(ROUTES.map(routeKey).sort());
    for (const route of deployed) {
      const row = routeByKey(route.key);
      const wanted = row && gatewayCheck(row.class) === 'authorizer' ? AUTHORIZER_OF_CLASS[row.class] : undefined;
      expect({ key: route.key, authorizer: route.authorizer, type: route.type }).toEqual({
        key: route.key,
        authorizer: wanted,
        type: wanted ? 'CUSTOM' : undefined,
      });
    }
    expect(deployed.filter((r) => r.authorizer).length).toBe(ROUTES.filter((r) => r.class === 'read' || r.class === 'admin').length);
  });

  it('defines one cached simple-response Lambda authorizer per guarded class, on the Authorization header, and no API-wide CORS', () => {
    // Prepare
    const authorizers = resources('AWS::ApiGatewayV2::Authorizer').map(([, r]) => r.Properties ?? {});
    const api = resources('AWS::ApiGatewayV2::Api').map(([, r]) => r.Properties ?? {});

    // Assess
    expect(authorizers.map((a) => a.Name).sort()).toEqual(['adminKeys', 'readKeys']);
    for (const a of authorizers) {
      expect(a).toMatchObject({
        AuthorizerType: 'REQUEST',
        EnableSimpleResponses: true,
        AuthorizerPayloadFormatVersion: '2.0',
        AuthorizerResultTtlInSeconds: 300,
        IdentitySource: ['$request.header.Authorization'],
      });
      expect(JSON.stringify(a.AuthorizerUri)).toContain('KeyAuthorizerLambdaFunction');
    }
    expect(resources('AWS::Lambda::Permission').filter(([id]) => /Authorizer/i.test(id))).toHaveLength(2);
    expect(api).toHaveLength(1);
    expect(api[0]?.CorsConfiguration).toBeUndefined(); // per-route CORS: shared/http/routes.ts
  });

  it('triggers importEvents for event files under imports/events/ and their parts under imports/parts/, with no overlapping S3 rules', () => {
    const configs = resources('AWS::S3::Bucket').flatMap(([, r]) =>
      asArray((r.Properties?.NotificationConfiguration as { LambdaConfigurations?: unknown[] } | undefined)?.LambdaConfigurations),
    ) as { Event: string; Function: unknown; Filter?: { S3Key?: { Rules?: { Name: string; Value: string }[] } } }[];
    const rules = configs.map((c) => ({
      event: c.Event,
      fn: getAttName(c.Function),
      ...(Object.fromEntries((c.Filter?.S3Key?.Rules ?? []).map((rule) => [rule.Name.toLowerCase(), rule.Value])) as { prefix?: string; suffix?: string }),
    }));
    const imports = rules.filter((r) => r.fn === 'ImportEventsLambdaFunction');
    expect(imports.map((r) => [r.event, r.prefix, r.suffix])).toEqual(
      expect.arrayContaining([
        ...['.ndjson', '.ndjson.gz', '.csv', '.csv.gz'].map((suffix) => ['s3:ObjectCreated:*', 'imports/events/', suffix]),
        ...['.ndjson.gz', '.csv.gz'].map((suffix) => ['s3:ObjectCreated:*', 'imports/parts/', suffix]),
      ]),
    );
    expect(rules.filter((r) => r.fn === 'BuildFeaturesLambdaFunction')).toEqual([]);
    // S3 rejects a bucket notification whose rules overlap for the same event type: one prefix must not
    // start the other while their suffixes also overlap.
    for (const [i, a] of rules.entries()) {
      for (const b of rules.slice(i + 1)) {
        const prefixes = (a.prefix ?? '').startsWith(b.prefix ?? '') || (b.prefix ?? '').startsWith(a.prefix ?? '');
        const suffixes = (a.suffix ?? '').endsWith(b.suffix ?? '') || (b.suffix ?? '').endsWith(a.suffix ?? '');
        expect(a.event === b.event && prefixes && suffixes, `${JSON.stringify(a)} overlaps ${JSON.stringify(b)}`).toBe(false);
      }
    }
  });

  it('schedules buildFeatures and the retraining state machine', () => {
    const rules = resources('AWS::Events::Rule').map(
      ([, r]) => r.Properties as { ScheduleExpression?: string; Targets: { Arn: unknown; RoleArn?: unknown }[] },
    );
    const stateMachineId = resources('AWS::StepFunctions::StateMachine').find(([id]) => /retrain/i.test(id))?.[0];
    const lambdaRule = rules.find((r) => r.Targets.some((t) => getAttName(t.Arn) === 'BuildFeaturesLambdaFunction'));
    const sfnRule = rules.find((r) => r.Targets.some((t) => (t.Arn as { Ref?: string }).Ref === stateMachineId));
    expect(lambdaRule?.ScheduleExpression).toMatch(/^(rate|cron)\(/);
    expect(sfnRule?.ScheduleExpression).toMatch(/^(rate|cron)\(/);
    expect(getAttName(sfnRule?.Targets[0]?.RoleArn)).toBeDefined();
  });

  it('defines the retraining state machine and the distributed features state machine', () => {
    const machines = resources('AWS::StepFunctions::StateMachine');
    const definitionOf = (id: string) => {
      const def = machines.find(([mid]) => mid === id)?.[1].Properties?.DefinitionString as string | { 'Fn::Sub': [string, unknown] | string };
      const text = typeof def === 'string' ? def : Array.isArray(def['Fn::Sub']) ? def['Fn::Sub'][0] : def['Fn::Sub'];
      return JSON.parse(text) as { StartAt: string; States: Record<string, unknown> };
    };
    const stateNames = (states: Record<string, unknown>): string[] =>
      Object.entries(states).flatMap(([name, state]) => {
        const s = state as { Branches?: { States: Record<string, unknown> }[]; ItemProcessor?: { States: Record<string, unknown> } };
        return [name, ...(s.Branches ?? []).flatMap((b) => stateNames(b.States)), ...(s.ItemProcessor ? stateNames(s.ItemProcessor.States) : [])];
      });
    const ids = machines.map(([id]) => id);
    const retrain = ids.find((id) => /retrain/i.test(id));
    const features = ids.find((id) => /features/i.test(id));
    expect(retrain, ids.join()).toBeDefined();
    expect(features, ids.join()).toBeDefined();
    const definition = definitionOf(retrain!);
    expect(definition.StartAt).toBe('PrepareSnapshot');
    expect(stateNames(definition.States)).toEqual(
      expect.arrayContaining(['PrepareSnapshot', 'TrainCandidate', 'TrainCandidateOnFargate', 'EvaluateCandidate', 'PromoteModel', 'RecordFailure']),
    );
    expect(JSON.stringify(definitionOf(features!))).toContain('"Mode":"DISTRIBUTED"');
  });

  it('defines the profiles and catalogue DynamoDB tables, on demand', () => {
    const tables = new Map(
      resources('AWS::DynamoDB::Table').map(([id, r]) => [
        id,
        r.Properties as { KeySchema: { AttributeName: string; KeyType: string }[]; BillingMode?: string },
      ]),
    );
    expect([...tables.keys()].sort()).toEqual(['CatalogTable', 'ProfilesTable']);
    expect(tables.get('ProfilesTable')!.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    for (const [id, table] of tables) expect(table.BillingMode, id).toBe('PAY_PER_REQUEST');
  });

  it('gives every function its own IAM role', () => {
    const functions = resources('AWS::Lambda::Function');
    expect(functions).toHaveLength(Object.keys(state.service.functions).length);
    const roleIds = functions.map(([id, r]) => {
      const roleId = getAttName(r.Properties?.Role);
      expect(roleId, `${id}.Role`).toBeDefined();
      expect(template.Resources[roleId!]?.Type, `${id} -> ${roleId}`).toBe('AWS::IAM::Role');
      expect(roleId, id).not.toBe('IamRoleLambdaExecution'); // the shared provider role
      return roleId;
    });
    expect(new Set(roleIds).size).toBe(functions.length);
  });

  it('grants no IAM action with a wildcard and no "*" resource', () => {
    const documents = policyDocuments(template);
    expect(documents.length).toBeGreaterThan(resources('AWS::IAM::Role').length); // trust + inline policies were walked
    const { violations, tolerated } = auditStatements(documents);
    expect(violations).toEqual([]);
    // X-Ray's write actions on "*" (see XRAY_WRITE_ACTIONS) only in Lambda execution roles; the ECR token only in the training task's.
    const executionRoles = new Set([
      'IamRoleLambdaExecution',
      ...ECR_TOKEN_ROLES,
      ...resources('AWS::Lambda::Function').map(([, r]) => getAttName(r.Properties?.Role)),
    ]);
    expect(tolerated.filter((line) => !executionRoles.has(line.slice(0, line.indexOf('('))))).toEqual([]);
    // Managed policies would bring statements this walk cannot see.
    for (const [id, r] of resources('AWS::IAM::Role')) expect(asArray(r.Properties?.ManagedPolicyArns), id).toEqual([]);
    for (const [id] of [...resources('AWS::IAM::ManagedPolicy'), ...resources('AWS::IAM::Policy')]) {
      expect(
        documents.some((d) => d.where.startsWith(`${id}(`)),
        id,
      ).toBe(true);
    }
  });

  // Tracing is on for every function, so each per-function role must carry the X-Ray write actions
  // (inherited from provider.iam.role.statements via serverless-iam-roles-per-function defaultInherit).
  it('lets every actively traced function write X-Ray segments', () => {
    for (const [id, r] of resources('AWS::Lambda::Function')) {
      if ((r.Properties?.TracingConfig as { Mode?: string } | undefined)?.Mode !== 'Active') continue;
      const role = template.Resources[getAttName(r.Properties?.Role) ?? ''];
      const actions = asArray(role?.Properties?.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) =>
        asArray(p.PolicyDocument.Statement)
          .filter((s) => s.Effect === 'Allow')
          .flatMap((s) => asArray(s.Action)),
      );
      expect(actions, id).toEqual(expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']));
    }
  });
});

describe('IAM wildcard audit', () => {
  it('flags wildcard actions and resources in Allow statements, and tolerates only X-Ray writes on "*"', () => {
    const doc = (statements: Statement[]) => [{ where: 'SomeRole(AWS::IAM::Role).Policies[0].PolicyDocument', statements }];
    const flagged = (s: Statement) => auditStatements(doc([s])).violations.length;
    expect(flagged({ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::b/k' })).toBe(1);
    expect(flagged({ Effect: 'Allow', Action: ['s3:Get*'], Resource: 'arn:aws:s3:::b/k' })).toBe(1);
    expect(flagged({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' })).toBe(1);
    expect(flagged({ Effect: 'Allow', Action: 's3:GetObject', Resource: ['arn:aws:s3:::b/k', '*'] })).toBe(1);
    expect(flagged({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::*' })).toBe(1);
    expect(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string, not a JS template
      flagged({ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:*' } }),
    ).toBe(1);
    expect(flagged({ Effect: 'Allow', NotAction: 'iam:*', Resource: 'arn:aws:s3:::b/k' })).toBe(1);
    expect(flagged({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/raw/events/*' })).toBe(0);
    expect(flagged({ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': ['ProfilesTable', 'Arn'] } })).toBe(0);
    expect(flagged({ Effect: 'Deny', Action: 's3:*', Resource: '*' })).toBe(0);
    const xray = auditStatements(doc([{ Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: ['*'] }]));
    expect(xray).toEqual({ violations: [], tolerated: [expect.stringContaining('xray:PutTraceSegments')] });
    expect(flagged({ Effect: 'Allow', Action: ['xray:PutTraceSegments', 's3:GetObject'], Resource: '*' })).toBe(1);
  });
});
