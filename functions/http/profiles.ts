import { z } from 'zod';
import { documentClient } from '../../shared/aws/clients';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { badRequest, notFound } from '../../shared/http/errors';
import { InvalidIdentifierError } from '../../shared/identity/hashing';
import { IDENTIFIER_TYPES, identifierKey, parseIdentifierType } from '../../shared/identity/identifiers';
import { logger } from '../../shared/observability/powertools';
import { ProfileRepository } from '../../shared/profiles/repository';

const config = appConfig();
const profiles = new ProfileRepository(documentClient(), config.profilesTable);

const profileIdSchema = z.strictObject({
  profileId: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

const lookupSchema = z.strictObject({
  identifier: z
    .string({ message: 'is required: <type>:<value>' })
    .trim()
    .max(400, 'must be at most 400 characters')
    .regex(/^[^:]+:.+$/, `must be <type>:<value> with type one of ${IDENTIFIER_TYPES.join(', ')}`),
});

/**
 * GET /v1/profiles/{profileId} — the unified profile (a merged id answers with its survivor) with
 * its channels, typed hashed identifiers and merge history.
 * GET /v1/profiles?identifier=<type>:<value> — the same, found by an identifier hashed here.
 */
export async function getProfileCore(event: ApiEvent): Promise<ApiResult> {
  if (event.pathParameters?.profileId !== undefined) {
    const { profileId } = parseWith(profileIdSchema, { profileId: event.pathParameters.profileId }, 'request');
    const view = await profiles.view(profileId);
    if (!view) throw notFound(`No profile ${profileId} (never existed, or erased)`);
    return json(200, view);
  }
  const { identifier } = parseWith(lookupSchema, { ...event.queryStringParameters }, 'request');
  const colon = identifier.indexOf(':');
  const type = parseIdentifierType(identifier.slice(0, colon));
  if (!type) throw badRequest('Invalid request', [{ field: 'identifier', reason: `type must be one of ${IDENTIFIER_TYPES.join(', ')}` }]);
  let hashed: ReturnType<typeof profiles.hasher.hash>;
  try {
    hashed = profiles.hasher.hash(type, identifier.slice(colon + 1), 'identifier');
  } catch (error) {
    if (error instanceof InvalidIdentifierError) throw badRequest('Invalid request', [{ field: 'identifier', reason: `${type} ${error.reason}` }]);
    throw error;
  }
  const linked = await profiles.identity.linkedProfileId(hashed);
  const view = linked ? await profiles.view(linked) : undefined;
  // The raw value is never logged nor echoed: only its type and keyed hash.
  logger.debug('profile lookup', { identifier: identifierKey(hashed), found: Boolean(view) });
  if (!view) throw notFound(`No profile for this ${type}`);
  return json(200, { ...view, resolvedFrom: identifierKey(hashed) });
}

export const handler = httpHandler(getProfileCore);
