import { createHash } from 'node:crypto';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { authConfig, authenticate } from '../../../../shared/capture/auth';
import { sealerFor } from '../../../../shared/capture/quarantine-seal';
import {
  SecretConfigError,
  SecretNotLoadedError,
  SecretParameterError,
  SecretStore,
  secretSource,
  secretsMaxAgeSeconds,
} from '../../../../shared/config/secrets';
import { DEV_PII_HASH_KEY, IdentifierHasher, defaultHasher, piiHashKey } from '../../../../shared/identity/hashing';

const ssmMock = mockClient(SSMClient);

const PII_PARAMETER = '/omnichannel-ai/test/pii-hash-key';
const WRITE_PARAMETER = '/omnichannel-ai/test/write-keys';
const ADMIN_PARAMETER = '/omnichannel-ai/test/admin-keys';
const PII_KEY = 'ssm-pii-key-0123456789abcdef0123456789abcdef';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const WRITE_USE = { name: 'write key', hint: 'send it as Basic auth', service: 'capture' };
const T0 = new Date('2026-05-01T10:00:00.000Z');

/** A GetParameters answer holding the given values; every other requested name comes back invalid (missing). */
function answer(values: Record<string, string>) {
  return (input: { Names?: string[] }) => ({
    Parameters: (input.Names ?? []).filter((n) => n in values).map((Name) => ({ Name, Type: 'SecureString' as const, Value: values[Name], Version: 1 })),
    InvalidParameters: (input.Names ?? []).filter((n) => !(n in values)),
  });
}

const requestedNames = () => ssmMock.commandCalls(GetParametersCommand).map((c) => [...(c.args[0].input.Names ?? [])].sort());

function store(env: NodeJS.ProcessEnv): SecretStore {
  return new SecretStore({ env: { AWS_REGION: 'eu-west-1', ...env } });
}

beforeEach(() => {
  ssmMock.reset();
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('secretSource', () => {
  it('keeps the environment variable when no parameter name is set', () => {
    // Act
    const source = secretSource('WRITE_KEYS', { WRITE_KEYS: 'k1,k2' });

    // Assess
    expect(source).toEqual({ from: 'env', name: 'WRITE_KEYS', variable: 'WRITE_KEYS', value: 'k1,k2' });
  });

  it('reads SSM when the parameter name is set', () => {
    // Act
    const source = secretSource('PII_HASH_KEY', { PII_HASH_KEY_PARAMETER: PII_PARAMETER });

    // Assess
    expect(source).toEqual({ from: 'ssm', name: 'PII_HASH_KEY', parameter: PII_PARAMETER, variable: 'PII_HASH_KEY_PARAMETER' });
  });

  it('ignores parameter names on the local stack (emulated S3/DynamoDB, no SSM endpoint)', () => {
    // Prepare: what the local stack gives a function (serverless.yml environment + emulator endpoints).
    const local = {
      PII_HASH_KEY_PARAMETER: PII_PARAMETER,
      ADMIN_KEYS_PARAMETER: ADMIN_PARAMETER,
      ADMIN_KEYS: 'admin',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:4567',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4568',
    };

    // Act
    const pii = secretSource('PII_HASH_KEY', local);
    const admin = secretSource('ADMIN_KEYS', local);
    const withSsmEmulator = secretSource('PII_HASH_KEY', { ...local, AWS_ENDPOINT_URL_SSM: 'http://127.0.0.1:4566' });

    // Assess
    expect(pii).toEqual({ from: 'env', name: 'PII_HASH_KEY', variable: 'PII_HASH_KEY', value: undefined });
    expect(admin).toMatchObject({ from: 'env', value: 'admin' });
    expect(withSsmEmulator).toMatchObject({ from: 'ssm', parameter: PII_PARAMETER });
    expect(piiHashKey(local)).toBe(DEV_PII_HASH_KEY);
  });

  it('refuses both sources at once and a malformed parameter name, naming the variables', () => {
    // Act
    const both = () => secretSource('WRITE_KEYS', { WRITE_KEYS: 'k', WRITE_KEYS_PARAMETER: WRITE_PARAMETER });
    const relative = () => secretSource('ADMIN_KEYS', { ADMIN_KEYS_PARAMETER: 'admin-keys' });

    // Assess
    expect(both).toThrow(SecretConfigError);
    expect(both).toThrow(/WRITE_KEYS_PARAMETER.*WRITE_KEYS.*not both/);
    expect(relative).toThrow(/ADMIN_KEYS_PARAMETER must be an SSM parameter name starting with "\/".*"admin-keys"/);
  });

  it('validates SECRETS_MAX_AGE_SECONDS', () => {
    // Act & Assess
    expect(secretsMaxAgeSeconds({})).toBe(300);
    expect(secretsMaxAgeSeconds({ SECRETS_MAX_AGE_SECONDS: '60' })).toBe(60);
    expect(() => secretsMaxAgeSeconds({ SECRETS_MAX_AGE_SECONDS: '0' })).toThrow(/SECRETS_MAX_AGE_SECONDS .*≥ 1, got "0"/);
    expect(() => secretsMaxAgeSeconds({ SECRETS_MAX_AGE_SECONDS: 'soon' })).toThrow(/SECRETS_MAX_AGE_SECONDS must be a number/);
  });
});

describe('SecretStore.load', () => {
  it('does nothing (no SSM call) when no parameter name is configured', async () => {
    // Prepare
    const secrets = store({ WRITE_KEYS: 'k' });

    // Act
    const report = await secrets.load();

    // Assess
    expect(report).toEqual({ read: [], stale: [] });
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('fetches every configured parameter decrypted in one call, then serves them from the cache', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: PII_KEY, [WRITE_PARAMETER]: 'k1' }));
    const secrets = store({ PII_HASH_KEY_PARAMETER: PII_PARAMETER, WRITE_KEYS_PARAMETER: WRITE_PARAMETER });

    // Act
    await secrets.load();
    vi.setSystemTime(T0.getTime() + 299_000);
    await secrets.load();
    await secrets.load();

    // Assess
    expect(ssmMock.commandCalls(GetParametersCommand)).toHaveLength(1);
    expect(ssmMock.commandCalls(GetParametersCommand)[0]?.args[0].input).toEqual({ Names: [PII_PARAMETER, WRITE_PARAMETER], WithDecryption: true });
    expect(secrets.loadedValue('PII_HASH_KEY', PII_PARAMETER)).toBe(PII_KEY);
    expect(secrets.loadedValue('WRITE_KEYS', WRITE_PARAMETER)).toBe('k1');
  });

  it('re-reads the write keys after the max age, but never the PII key', async () => {
    // Prepare
    ssmMock
      .on(GetParametersCommand)
      .callsFakeOnce(answer({ [PII_PARAMETER]: PII_KEY, [WRITE_PARAMETER]: 'k1' }))
      .callsFake(answer({ [PII_PARAMETER]: 'rotated-pii-key-0123456789abcdef0123456789', [WRITE_PARAMETER]: 'k1,k2' }));
    const secrets = store({ PII_HASH_KEY_PARAMETER: PII_PARAMETER, WRITE_KEYS_PARAMETER: WRITE_PARAMETER, SECRETS_MAX_AGE_SECONDS: '60' });
    await secrets.load();

    // Act
    vi.setSystemTime(T0.getTime() + 61_000);
    const report = await secrets.load();

    // Assess
    expect(requestedNames()).toEqual([[PII_PARAMETER, WRITE_PARAMETER], [WRITE_PARAMETER]]);
    expect(report.read).toEqual([WRITE_PARAMETER]);
    expect(secrets.loadedValue('WRITE_KEYS', WRITE_PARAMETER)).toBe('k1,k2');
    expect(secrets.loadedValue('PII_HASH_KEY', PII_PARAMETER)).toBe(PII_KEY);
  });

  it('shares one read between concurrent callers', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [WRITE_PARAMETER]: 'k1' }));
    const secrets = store({ WRITE_KEYS_PARAMETER: WRITE_PARAMETER });

    // Act
    await Promise.all([secrets.load(), secrets.load(), secrets.load()]);

    // Assess
    expect(ssmMock.commandCalls(GetParametersCommand)).toHaveLength(1);
  });

  it('names a missing parameter and its variable, with the command that creates it', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: PII_KEY }));
    const secrets = store({ PII_HASH_KEY_PARAMETER: PII_PARAMETER, ADMIN_KEYS_PARAMETER: ADMIN_PARAMETER });

    // Act
    const error = await secrets.load().catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(SecretParameterError);
    expect((error as SecretParameterError).parameters).toEqual([ADMIN_PARAMETER]);
    expect((error as Error).message).toContain(`SSM parameter ${ADMIN_PARAMETER} (ADMIN_KEYS_PARAMETER) does not exist`);
    expect((error as Error).message).toContain(`aws ssm put-parameter --type SecureString --name ${ADMIN_PARAMETER}`);
    expect(() => secrets.loadedValue('ADMIN_KEYS', ADMIN_PARAMETER)).toThrow(SecretNotLoadedError);
    // What could be read is kept.
    expect(secrets.loadedValue('PII_HASH_KEY', PII_PARAMETER)).toBe(PII_KEY);
  });

  it('names the parameter when SSM refuses the read, with the SDK error as cause', async () => {
    // Prepare
    const denied = Object.assign(new Error('User is not authorized to perform: ssm:GetParameters'), { name: 'AccessDeniedException' });
    ssmMock.on(GetParametersCommand).rejects(denied);
    const secrets = store({ WRITE_KEYS_PARAMETER: WRITE_PARAMETER });

    // Act
    const error = await secrets.load().catch((e: unknown) => e);

    // Assess
    expect((error as Error).message).toBe(
      `SSM parameter ${WRITE_PARAMETER} (WRITE_KEYS_PARAMETER) could not be read: User is not authorized to perform: ssm:GetParameters`,
    );
    expect((error as Error).cause).toBeDefined();
  });

  it('refuses a PII key shorter than 32 bytes, naming the parameter', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: 'too-short' }));
    const secrets = store({ PII_HASH_KEY_PARAMETER: PII_PARAMETER });

    // Act & Assess
    await expect(secrets.load()).rejects.toThrow(`SSM parameter ${PII_PARAMETER} (PII_HASH_KEY_PARAMETER) must hold at least 32 bytes`);
  });

  it('keeps the previous write keys when a refresh fails, reports them stale and retries after 30 s', async () => {
    // Prepare
    ssmMock
      .on(GetParametersCommand)
      .callsFakeOnce(answer({ [WRITE_PARAMETER]: 'k1' }))
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .callsFake(answer({ [WRITE_PARAMETER]: 'k2' }));
    const secrets = store({ WRITE_KEYS_PARAMETER: WRITE_PARAMETER, SECRETS_MAX_AGE_SECONDS: '60' });
    await secrets.load();
    vi.setSystemTime(T0.getTime() + 61_000);

    // Act
    const failed = await secrets.load();
    vi.setSystemTime(T0.getTime() + 61_000 + 29_000);
    const tooSoon = await secrets.load();
    vi.setSystemTime(T0.getTime() + 61_000 + 31_000);
    await secrets.load();

    // Assess
    expect(failed.stale).toEqual([{ name: 'WRITE_KEYS', parameter: WRITE_PARAMETER, reason: 'could not be read: Rate exceeded' }]);
    expect(tooSoon.read).toEqual([]);
    expect(ssmMock.commandCalls(GetParametersCommand)).toHaveLength(3);
    expect(secrets.loadedValue('WRITE_KEYS', WRITE_PARAMETER)).toBe('k2');
  });
});

describe('the PII hash key from SSM', () => {
  const env = { PII_HASH_KEY_PARAMETER: PII_PARAMETER, AWS_LAMBDA_FUNCTION_NAME: 'omnichannel-ai-prod-captureBatch' };

  it('is not readable before the load, then hashes exactly as the same key from the environment', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [PII_PARAMETER]: PII_KEY }));
    const secrets = store(env);
    const lazy = new IdentifierHasher(() => piiHashKey(env, secrets));

    const attempt = (fn: () => unknown) => {
      try {
        fn();
        return undefined;
      } catch (error) {
        return error;
      }
    };

    // Act
    const hashBefore = attempt(() => lazy.hash('email', 'Ada@Example.com'));
    const keyBefore = attempt(() => piiHashKey(env, secrets));
    await secrets.load();

    // Assess
    expect(keyBefore).toBeInstanceOf(SecretNotLoadedError);
    expect((hashBefore as Error).message).toContain(
      `PII_HASH_KEY comes from SSM parameter ${PII_PARAMETER} (PII_HASH_KEY_PARAMETER) and has not been loaded yet`,
    );
    expect(piiHashKey(env, secrets)).toBe(PII_KEY);
    expect(lazy.hash('email', 'Ada@Example.com')).toEqual(new IdentifierHasher(PII_KEY).hash('email', 'ada@example.com'));
    expect(sealerFor(lazy).rowId('message', '{}')).toBe(sealerFor(new IdentifierHasher(PII_KEY)).rowId('message', '{}'));
  });

  it('builds the default hasher without the key (module scope, before the load)', () => {
    // Act
    const hasher = () => defaultHasher(env);

    // Assess
    expect(hasher).not.toThrow();
  });

  it('still falls back to the dev key locally and fails at cold start when deployed with neither, naming both', () => {
    // Act & Assess
    expect(piiHashKey({})).toBe(DEV_PII_HASH_KEY);
    expect(() => defaultHasher({ AWS_LAMBDA_FUNCTION_NAME: 'omnichannel-ai-prod-captureBatch' })).toThrow(
      /Missing required environment variable PII_HASH_KEY_PARAMETER: .*SSM SecureString.*PII_HASH_KEY/,
    );
  });
});

describe('write keys from SSM', () => {
  const env = { WRITE_KEYS_PARAMETER: WRITE_PARAMETER, AWS_LAMBDA_FUNCTION_NAME: 'omnichannel-ai-prod-captureBatch', SECRETS_MAX_AGE_SECONDS: '60' };

  it('honours a rotation after the max age without a new authConfig', async () => {
    // Prepare: first key-1 (stored as its digest), then key-2 added and key-1 removed.
    ssmMock
      .on(GetParametersCommand)
      .callsFakeOnce(answer({ [WRITE_PARAMETER]: `sha256:${sha256('key-1')}` }))
      .callsFake(answer({ [WRITE_PARAMETER]: `sha256:${sha256('key-2')}\n` }));
    const secrets = store(env);
    const auth = authConfig('WRITE_KEYS', env, secrets);
    await secrets.load();
    const accepts = (key: string) => {
      try {
        authenticate(auth, { via: 'basic', key }, WRITE_USE);
        return true;
      } catch {
        return false;
      }
    };
    const beforeRotation = [accepts('key-1'), accepts('key-2')];

    // Act
    vi.setSystemTime(T0.getTime() + 61_000);
    await secrets.load();

    // Assess
    expect(auth.source).toBe('ssm');
    expect(beforeRotation).toEqual([true, false]);
    expect([accepts('key-1'), accepts('key-2')]).toEqual([false, true]);
  });

  it('answers 503 naming the variable (not the parameter) when the parameter holds no key', async () => {
    // Prepare
    ssmMock.on(GetParametersCommand).callsFake(answer({ [WRITE_PARAMETER]: ' , ' }));
    const secrets = store(env);
    const auth = authConfig('WRITE_KEYS', env, secrets);
    await secrets.load();

    // Act
    const act = () => authenticate(auth, { via: 'basic', key: 'k' }, WRITE_USE);

    // Assess
    expect(act).toThrow(
      expect.objectContaining({ statusCode: 503, message: expect.stringContaining('the SSM parameter named by WRITE_KEYS_PARAMETER holds no key') }),
    );
    expect(act).toThrow(expect.objectContaining({ message: expect.not.stringContaining(WRITE_PARAMETER) }));
  });
});
