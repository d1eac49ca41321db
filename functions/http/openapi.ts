import { captureOpenApiDocument } from '../../shared/capture/openapi';
import { type ApiEvent, type ApiResult, httpHandler, json } from '../../shared/http/api';

/**
 * Built once per container: the document only changes with the code and the configuration. Its
 * `servers` entry is PUBLIC_API_URL when set (the API's public domain), `/` otherwise (relative to
 * where the document was fetched); never a request's Host header, which any caller chooses.
 */
let document: string | undefined;

function configuredServers(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.PUBLIC_API_URL ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => /^https?:\/\/[^\s/]+(\/\S*)?$/.test(url));
}

/** GET /v1/openapi.json (public). */
export async function openApiCore(_event: ApiEvent): Promise<ApiResult> {
  document ??= JSON.stringify(captureOpenApiDocument({ servers: configuredServers() }));
  return { ...json(200, null, { 'Cache-Control': 'public, max-age=300' }), body: document };
}

export const handler = httpHandler(openApiCore);
