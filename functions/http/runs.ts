import { z } from 'zod';
import { s3Client } from '../../shared/aws/clients';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { notFound } from '../../shared/http/errors';
import { listRuns, readRunReportHtml, RUN_INDEX_PREFIX } from '../../shared/reports/runs';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const blobs = new S3ObjectStore(s3Client(), config.dataBucket);

const runId = z
  .string()
  .min(1, 'must not be empty')
  .max(80, 'must be at most 80 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ".", "_" and "-"')
  .refine((v) => !v.includes('..'), 'must not contain ".."');

const listSchema = z.strictObject({
  limit: z.coerce.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').default(20),
  cursor: z.string().startsWith(RUN_INDEX_PREFIX, `must be a nextCursor returned by GET /v1/runs`).max(300).optional(),
});

/** The report is self-contained: nothing may load from anywhere (inline CSS and SVG only). */
const HTML_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** GET /v1/runs?limit=20&cursor=… (newest first) and GET /v1/runs/{runId}/report (text/html). */
export async function runsCore(event: ApiEvent): Promise<ApiResult> {
  if (event.routeKey === 'GET /v1/runs/{runId}/report') {
    const { runId: id } = parseWith(z.strictObject({ runId }), { runId: event.pathParameters?.runId }, 'run id');
    const html = await readRunReportHtml(blobs, id);
    if (html === undefined) throw notFound(`No report for run ${id}`);
    return { statusCode: 200, headers: HTML_HEADERS, body: html };
  }
  const query = parseWith(listSchema, event.queryStringParameters ?? {}, 'query');
  const page = await listRuns(blobs, { limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) });
  return json(200, {
    runs: page.runs.map((run) => ({ ...run, report: `/v1/runs/${encodeURIComponent(run.runId)}/report` })),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  });
}

export const handler = httpHandler(runsCore);
