import { HttpError } from '../http/errors';
import type { AuthConfig, KeyRing } from '../config/keys';

// The key lists live in shared/config/keys.ts (shared/http/authorize.ts reads them too, without depending on capture).
export { type AuthConfig, type AuthMode, authConfig, type KeyListName, type KeyRing, keyRing } from '../config/keys';

export const unauthorized = (reason: string, challenge = 'Basic realm="capture", charset="UTF-8"') =>
  new HttpError(401, 'Unauthorized', { reason }, { 'WWW-Authenticate': challenge });

function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

export interface PresentedKey {
  /** How the key arrived. */
  via: 'basic' | 'bearer' | 'body';
  key: string;
}

/**
 * The key in the Authorization header: HTTP Basic with the key as user name (Segment's scheme:
 * `base64(writeKey + ':')`; the password is ignored), or `Bearer <key>` when `bearer` is allowed.
 * Undefined when there is no Authorization header; 401 when there is one we cannot read.
 */
export function headerKey(headers: Record<string, string | undefined> | undefined, options: { bearer?: boolean } = {}): PresentedKey | undefined {
  const value = header(headers, 'authorization');
  if (value === undefined || value.trim() === '') return undefined;
  const [scheme = '', token = ''] = value.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const key = colon >= 0 ? decoded.slice(0, colon) : decoded;
    if (key === '') throw unauthorized('the Basic credentials carry no key: send the key as the user name and an empty password');
    return { via: 'basic', key };
  }
  if (options.bearer && scheme.toLowerCase() === 'bearer' && token !== '') return { via: 'bearer', key: token };
  throw unauthorized(`the Authorization scheme must be Basic${options.bearer ? ' or Bearer' : ''}`);
}

export interface KeyUse {
  /** What the key is called in messages: `write key`, `admin key`. */
  name: string;
  /** How to send it, appended to the "missing" reason. */
  hint: string;
  /** What refuses service when no key is configured: `capture`, `the quarantine API`. */
  service: string;
}

/** Throws 401 (missing or unknown key) or 503 (no keys configured outside the local stack). */
export function authenticate(config: AuthConfig, presented: PresentedKey | undefined, use: KeyUse): void {
  if (config.mode === 'open') return;
  if (config.mode === 'unconfigured') {
    const what =
      config.source === 'environment'
        ? `${config.variable} holds no key (set ${config.variable}_PARAMETER to the SSM SecureString parameter that holds them)`
        : `the SSM parameter named by ${config.variable} holds no key`;
    throw new HttpError(503, `${use.service} is not configured: ${what}`);
  }
  if (!presented) throw unauthorized(`a ${use.name} is required: ${use.hint}`);
  const via = presented.via === 'body' ? 'writeKey in the body' : `${presented.via === 'basic' ? 'Basic' : 'Bearer'} auth`;
  if (!config.ring.matches(presented.key)) throw unauthorized(`the ${use.name} sent as ${via} is not a configured key`);
}
