import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DemoCredentialError, demoAuthHeaders, demoKey } from '../../../../shared/demo/credentials';

const digest = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;

describe('the demo client credentials', () => {
  it('sends the write key as Basic on capture and Bearer keys on read and admin routes, from the stack environment', () => {
    // Prepare
    const env = { WRITE_KEYS: `${digest('old')},wk_local`, READ_KEYS: 'rk_local', ADMIN_KEYS: 'ak_local' };

    // Act / Assess
    expect(demoAuthHeaders('POST', '/v1/batch', env)).toEqual({ authorization: `Basic ${Buffer.from('wk_local:').toString('base64')}` });
    expect(demoAuthHeaders('GET', '/v1/users/U-1/recommendations?k=5', env)).toEqual({ authorization: 'Bearer rk_local' });
    expect(demoAuthHeaders('PUT', '/v1/items', env)).toEqual({ authorization: 'Bearer ak_local' });
    expect(demoAuthHeaders('GET', '/v1/openapi.json', env)).toEqual({});
  });

  it('uses the admin key on read routes without read keys, sends nothing for an open class, and needs DEMO_*_KEY beside digests', () => {
    // Act / Assess
    expect(demoAuthHeaders('GET', '/v1/items/I-1/similar', { ADMIN_KEYS: 'ak' })).toEqual({ authorization: 'Bearer ak' });
    expect(demoAuthHeaders('POST', '/v1/batch', {})).toEqual({});
    expect(() => demoKey('write', { WRITE_KEYS: digest('wk') })).toThrow(DemoCredentialError);
    expect(() => demoKey('write', { WRITE_KEYS: digest('wk') })).toThrow(/DEMO_WRITE_KEY/);
    expect(demoKey('write', { WRITE_KEYS: digest('wk'), DEMO_WRITE_KEY: 'wk' })).toBe('wk');
  });
});
