import { type RouteClass, routeForRequest } from '../http/routes';

/**
 * The credentials the demo client sends, per route, from the same environment the local stack reads:
 * WRITE_KEYS, READ_KEYS, ADMIN_KEYS (or DEMO_WRITE_KEY, DEMO_READ_KEY, DEMO_ADMIN_KEY when the lists hold
 * only sha256 digests, which the stack accepts but the client cannot send). Basic with the write key as
 * user name on capture (Segment's scheme), `Authorization: Bearer` on read and admin routes (a read route
 * takes the admin key when no read key is set). A class with no key configured is open on the local stack:
 * nothing is sent.
 */
const DIGEST = /^(?:sha256:)?[0-9a-f]{64}$/i;
type KeyClass = Exclude<RouteClass, 'public'>;
const LISTS: Record<KeyClass, string> = { write: 'WRITE_KEYS', read: 'READ_KEYS', admin: 'ADMIN_KEYS' };

export class DemoCredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoCredentialError';
  }
}

function entries(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter((e) => e !== '');
}

/** The plain key of a class for the demo, `undefined` when none is configured; throws when only digests are. */
export function demoKey(keyClass: KeyClass, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env[`DEMO_${keyClass.toUpperCase()}_KEY`]?.trim();
  if (override) return override;
  const list = entries(env[LISTS[keyClass]]);
  const plain = list.find((entry) => !DIGEST.test(entry));
  if (plain === undefined && list.length > 0)
    throw new DemoCredentialError(
      `${LISTS[keyClass]} holds only sha256 digests: set DEMO_${keyClass.toUpperCase()}_KEY=<the key> so the demo client can send it`,
    );
  return plain;
}

/** The headers that authorise the demo's request `method path` (query string ignored). */
export function demoAuthHeaders(method: string, pathAndQuery: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const path = pathAndQuery.split('?')[0] as string;
  const route = routeForRequest(method.toUpperCase(), path);
  if (!route || route.class === 'public') return {};
  if (route.class === 'write') {
    const key = demoKey('write', env);
    return key ? { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` } : {};
  }
  const key = route.class === 'read' ? (demoKey('read', env) ?? demoKey('admin', env)) : demoKey('admin', env);
  return key ? { authorization: `Bearer ${key}` } : {};
}
