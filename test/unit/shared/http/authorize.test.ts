import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authConfig } from '../../../../shared/capture/auth';
import { ACCEPTS, decide, type KeyRings, MAX_CREDENTIAL_CHARS, openClasses, presentedCredential } from '../../../../shared/http/authorize';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const DEPLOYED = { WRITE_KEYS: sha('wk'), READ_KEYS: sha('rk'), ADMIN_KEYS: sha('ak') };
const rings = (env: NodeJS.ProcessEnv): KeyRings => ({
  write: authConfig('WRITE_KEYS', env),
  read: authConfig('READ_KEYS', env),
  admin: authConfig('ADMIN_KEYS', env),
});
const bearer = (key: string) => presentedCredential({ authorization: `Bearer ${key}` });
const basic = (key: string) => presentedCredential({ Authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

describe('decide', () => {
  it('lets an admin key call read routes, never a write key, and tells 403 (another class) from 401 (unknown)', () => {
    // Prepare
    const keys = rings(DEPLOYED);

    // Act / Assess
    expect(decide('read', bearer('ak'), keys)).toEqual({ allow: true, as: 'admin' });
    expect(decide('read', bearer('rk'), keys)).toEqual({ allow: true, as: 'read' });
    expect(decide('read', basic('wk'), keys)).toMatchObject({
      allow: false,
      status: 403,
      reason: 'this route needs a read key or admin key; the key sent is a write key',
    });
    expect(decide('admin', bearer('rk'), keys)).toMatchObject({ allow: false, status: 403 });
    expect(decide('write', basic('ak'), keys)).toMatchObject({ allow: false, status: 403 });
    expect(decide('write', bearer('wk'), keys)).toMatchObject({ allow: false, status: 401, code: 'WrongScheme' });
    expect(decide('admin', bearer('guess'), keys)).toMatchObject({ allow: false, status: 401, code: 'UnknownKey' });
    expect(decide('admin', presentedCredential({}), keys)).toMatchObject({ allow: false, status: 401, code: 'Missing' });
    expect(decide('write', presentedCredential({}), keys)).toEqual({ allow: true, deferred: true }); // writeKey in the body: capture checks it
    expect(decide('public', bearer('guess'), keys)).toEqual({ allow: true });
    expect(ACCEPTS).toEqual({ write: ['write'], read: ['read', 'admin'], admin: ['admin'] });
  });

  it('is open on the local stack only for a class with no key configured, and fails closed (503) when deployed', () => {
    // Prepare
    const local = { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' };

    // Act / Assess
    expect(decide('admin', presentedCredential({}), rings(local))).toEqual({ allow: true, open: true });
    expect(decide('read', presentedCredential({}), rings({ ...local, ADMIN_KEYS: 'ak' }))).toMatchObject({ status: 401 }); // admin keys guard read routes
    expect(decide('admin', bearer('ak'), rings({}))).toMatchObject({ allow: false, status: 503, reason: expect.stringContaining('ADMIN_KEYS') });
    expect(decide('read', bearer('ak'), rings({}))).toMatchObject({ allow: false, status: 503, reason: expect.stringContaining('READ_KEYS or ADMIN_KEYS') });
  });
});

describe('openClasses (the startup warning of npm start)', () => {
  it('names every class served without any key', () => {
    expect(openClasses({})).toEqual(['write', 'read', 'admin']);
    expect(openClasses({ WRITE_KEYS: 'wk', ADMIN_KEYS: 'ak' })).toEqual([]); // read routes take admin keys
    expect(openClasses({ WRITE_KEYS: 'wk' })).toEqual(['read', 'admin']);
  });
});

describe('presentedCredential', () => {
  it.each([
    ['a wrong scheme', { authorization: 'Token abc' }, 'WrongScheme'],
    ['an empty Bearer token', { authorization: 'Bearer' }, 'EmptyKey'],
    ['an empty Basic user', { authorization: `Basic ${Buffer.from(':pw').toString('base64')}` }, 'EmptyKey'],
    ['a very long header', { authorization: `Bearer ${'k'.repeat(MAX_CREDENTIAL_CHARS)}` }, 'TooLong'],
    ['control characters', { authorization: 'Bearer a\u0007b' }, 'ControlCharacters'],
    ['decoded control characters', { authorization: `Basic ${Buffer.from('k\u0000:').toString('base64')}` }, 'ControlCharacters'],
    ['Basic credentials that are not base64', { authorization: 'Basic %%%' }, 'Malformed'],
    ['the key as x-api-key', { 'x-api-key': 'ak' }, 'ApiKeyHeader'],
  ])('refuses %s with a reason that never holds the key', (_what, headers, code) => {
    // Act
    const presented = presentedCredential(headers);

    // Assess
    expect(presented).toMatchObject({ problem: { code } });
    expect(JSON.stringify(presented)).not.toMatch(/"ak"|kkkk/);
  });
});
