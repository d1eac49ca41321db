import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

const api = handlerHarness({ handlers: { handler: () => import('../../../../functions/http/runs') } });
const { s3: s3Mock } = api;
const handler: ApiHandler = (event, context) => api.handlers.handler(event, context);

/** The part of a GetObject body BlobStore reads. */
const body = (text: string) => ({ transformToByteArray: async () => new Uint8Array(Buffer.from(text)) }) as never;
const noSuchKey = () => Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
const list = (query?: Record<string, string>) =>
  apiEvent({ method: 'GET', path: '/v1/runs', routeKey: 'GET /v1/runs', ...(query ? { queryStringParameters: query } : {}) });
const report = (runId: string) =>
  apiEvent({ method: 'GET', path: `/v1/runs/${runId}/report`, routeKey: 'GET /v1/runs/{runId}/report', pathParameters: { runId } });

beforeEach(() => {
  s3Mock.on(GetObjectCommand).rejects(noSuchKey());
});

describe('GET /v1/runs', () => {
  it('pages the run index newest first with a cursor', async () => {
    // Prepare
    const keys = ['runs/index/8-c.json', 'runs/index/9-b.json', 'runs/index/9-a.json'].sort();
    s3Mock.on(ListObjectsV2Command).resolves({ Contents: keys.map((Key) => ({ Key })), IsTruncated: false });
    for (const key of keys)
      s3Mock.on(GetObjectCommand, { Key: key }).callsFake(() => ({ Body: body(JSON.stringify({ runId: key.slice(13, -5), outcome: 'promoted' })) }));

    // Act
    const first = await handler(list({ limit: '2' }), lambdaContext());
    const cursor = (JSON.parse(first.body ?? '') as { nextCursor: string }).nextCursor;
    const second = await handler(list({ limit: '2', cursor }), lambdaContext());

    // Assess
    expect(first.statusCode).toBe(200);
    expect(JSON.parse(first.body ?? '')).toEqual({
      runs: [
        { runId: 'c', outcome: 'promoted', report: '/v1/runs/c/report' },
        { runId: 'a', outcome: 'promoted', report: '/v1/runs/a/report' },
      ],
      nextCursor: 'runs/index/9-a.json',
    });
    expect(JSON.parse(second.body ?? '')).toEqual({ runs: [{ runId: 'b', outcome: 'promoted', report: '/v1/runs/b/report' }] });
  });

  it.each([
    [{ limit: '0' }, 'limit', 'must be at least 1'],
    [{ limit: 'ten' }, 'limit', 'must be a number'],
    [{ cursor: 'models/x' }, 'cursor', 'must be a nextCursor returned by GET /v1/runs'],
    [{ sort: 'asc' }, 'sort', 'unknown field'],
  ])('answers 400 for %j naming %s', async (query, field, reason) => {
    // Act
    const result = await handler(list(query), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body ?? '').issues).toEqual([{ field, reason }]);
  });
});

describe('GET /v1/runs/{runId}/report', () => {
  it('serves the stored HTML with a policy that forbids loading anything', async () => {
    // Prepare
    s3Mock.on(GetObjectCommand, { Key: 'runs/run-1/report.html' }).resolves({ Body: body('<!doctype html><p>ok</p>') });

    // Act
    const result = await handler(report('run-1'), lambdaContext());

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers?.['Content-Type']).toBe('text/html; charset=utf-8');
    expect(result.headers?.['Content-Security-Policy']).toContain("default-src 'none'");
    expect(result.body).toBe('<!doctype html><p>ok</p>');
  });

  it('answers 404 for a run without a report and 400 for an id that is not one', async () => {
    // Act
    const missing = await handler(report('nope'), lambdaContext());
    const traversal = await handler(report('..'), lambdaContext());
    const odd = await handler(report('a/b'), lambdaContext());

    // Assess
    expect(missing.statusCode).toBe(404);
    expect(traversal.statusCode).toBe(400);
    expect(odd.statusCode).toBe(400);
    expect(JSON.parse(odd.body ?? '').issues[0].field).toBe('runId');
  });
});
