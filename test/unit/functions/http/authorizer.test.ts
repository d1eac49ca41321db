import { createHash } from 'node:crypto';
import type { APIGatewayRequestAuthorizerEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { authorizeCore } from '../../../../functions/http/authorizer';
import { authConfig } from '../../../../shared/capture/auth';
import { ACCEPTS, type KeyClass, type KeyRings } from '../../../../shared/http/authorize';
import { gatewayCheck, ROUTES, routeKey } from '../../../../shared/http/routes';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const KEYS: Record<KeyClass, string> = { write: 'wk', read: 'rk', admin: 'ak' };
const env = { WRITE_KEYS: sha('wk'), READ_KEYS: sha('rk'), ADMIN_KEYS: sha('ak') };
const rings = (): KeyRings => ({ write: authConfig('WRITE_KEYS', env), read: authConfig('READ_KEYS', env), admin: authConfig('ADMIN_KEYS', env) });

const event = (key: string, authorization: string | undefined): APIGatewayRequestAuthorizerEventV2 =>
  ({
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:eu-west-1:123456789012:api/$default/GET/x',
    identitySource: authorization ? [authorization] : [],
    routeKey: key,
    rawPath: '/',
    rawQueryString: '',
    headers: authorization ? { authorization } : {},
  }) as unknown as APIGatewayRequestAuthorizerEventV2;

describe('the API Gateway Lambda authorizer, over the route table', () => {
  // Only the routes API Gateway sends to it (gatewayCheck = authorizer): read and admin.
  const guarded = ROUTES.filter((route) => gatewayCheck(route.class) === 'authorizer');
  const cases = guarded.flatMap((route) => (['wrong', 'write', 'read', 'admin'] as const).map((presented) => [routeKey(route), presented, route] as const));

  it('guards exactly the read and admin routes', () => {
    expect(new Set(guarded.map((r) => r.class))).toEqual(new Set(['read', 'admin']));
  });

  it.each(cases)('%s with a %s key', async (key, presented, route) => {
    // Act
    const result = await authorizeCore(event(key, `Bearer ${presented === 'wrong' ? 'guess' : KEYS[presented]}`), rings);

    // Assess
    const allowed = presented !== 'wrong' && ACCEPTS[route.class as KeyClass].includes(presented);
    expect(result.isAuthorized).toBe(allowed);
    expect(result.context.keyClass).toBe(allowed ? presented : 'none');
  });

  it('denies a route that is not in the table', async () => {
    expect((await authorizeCore(event('GET /v1/secret', 'Bearer ak'), rings)).isAuthorized).toBe(false);
  });
});
