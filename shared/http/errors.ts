/** A problem with one field of the request: the field's path and why it was refused. */
export interface FieldIssue {
  field: string;
  reason: string;
}

/**
 * Typed HTTP error, mapped to a response once by @middy/http-error-handler.
 * The message is the JSON body; `expose` is false for 5xx so internals never reach a client.
 */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly expose: boolean;
  readonly headers: Record<string, string>;

  constructor(statusCode: number, error: string, details?: { issues?: FieldIssue[]; [key: string]: unknown }, headers: Record<string, string> = {}) {
    super(JSON.stringify({ error, ...details }));
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.headers = { 'Content-Type': 'application/json', ...headers };
    // 503 says only that a dependency is not ready yet; other 5xx bodies stay generic.
    this.expose = statusCode < 500 || statusCode === 503;
  }
}

export const badRequest = (error: string, issues?: FieldIssue[]) => new HttpError(400, error, issues ? { issues } : undefined);
export const notFound = (error: string) => new HttpError(404, error);
export const payloadTooLarge = (limitBytes: number) => new HttpError(413, `Request body is larger than ${limitBytes} bytes`, { limitBytes });
export const serviceUnavailable = (error: string) => new HttpError(503, error);
