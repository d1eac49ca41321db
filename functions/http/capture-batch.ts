/**
 * The deployed handler path of the capture function (`functions/http/capture-batch.handler` in
 * serverless.yml): every capture route, `/v1/batch` included, is served by functions/http/capture.ts.
 */
export { captureCore as captureBatchCore, handler } from './capture';
