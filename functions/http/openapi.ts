import { captureOpenApiDocument } from '../../shared/capture/openapi';
import { type ApiEvent, type ApiResult, httpHandler, json } from '../../shared/http/api';

/** Built once per container: the document only changes with the code. */
let document: string | undefined;

/** GET /v1/openapi.json, with this API as its server. */
export async function openApiCore(event: ApiEvent): Promise<ApiResult> {
  const domain = event.requestContext?.domainName;
  const stage = event.requestContext?.stage;
  const server = domain ? `https://${domain}${stage && stage !== '$default' ? `/${stage}` : ''}` : undefined;
  document ??= JSON.stringify(captureOpenApiDocument(server ? { servers: [server] } : {}));
  return { ...json(200, null, { 'Cache-Control': 'public, max-age=300' }), body: document };
}

export const handler = httpHandler(openApiCore);
