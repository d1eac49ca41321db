/**
 * Bulk import figures: `npm run bench -- import`.
 * 1. CPU path on the real Online Retail II file (../shared/data): CSV parse + mapping + capture validation, rows/s and peak RSS.
 * 2. Memory bound on a synthetic file of IMPORT_BENCH_GB gigabytes (default 0.25; IMPORT_BENCH_GB=1 for the 1 GB figure, ~8 min) streamed the same way.
 * 3. End to end on the local emulators (dynalite + s3rver): the first IMPORT_BENCH_ROWS rows (default 20,000) of the real file
 *    imported by S3 key (ledger hash, capture, identity resolution, raw storage, profile updates), then the same file again (skipped).
 * 4. Large files (shared/capture/import-parts.ts), on the local emulators: a synthetic IMPORT_BENCH_GB file, gzipped in s3rver, goes
 *    through importEvents' split stage (read once, cut into IMPORT_PART_BYTES parts, staged, claimed, copied to imports/parts/): MiB/s,
 *    wall seconds, peak RSS; then ONE part is imported end to end (as its own S3 event would). Printed with the Lambda wall time these
 *    measurements project to (a projection, labelled with its inputs; parts run in parallel on Lambda).
 */
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type ImportReport, importFile, streamMessages } from '../../shared/capture/import';
import { importObject, importSettings, type ObjectImportDeps } from '../../shared/capture/import-parts';
import { onlineRetailMapping } from '../../shared/capture/mappings/online-retail-ii';
import type { MappedMessage } from '../../shared/capture/mappings/types';
import { validateMessages } from '../../shared/capture/service';
import { loadServerlessConfig, startEmulators } from '../../shared/local/index';
import { ProfileRepository } from '../../shared/profiles/repository';
import { BlobStore } from '../../shared/storage/blob';

const dataFile = resolve(import.meta.dirname, '../../../shared/data/online-retail-ii-2009-2010.csv.gz');
const MiB = 2 ** 20;

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

async function cpuPath(input: Readable) {
  const report = { lines: 0, messages: 0, rejected: 0, errors: [], errorsTruncated: false } as Pick<
    ImportReport,
    'lines' | 'messages' | 'rejected' | 'errors' | 'errorsTruncated'
  >;
  const receivedAt = new Date();
  let valid = 0;
  const sampler = rssSampler();
  const started = performance.now();
  await streamMessages(input, 'csv', onlineRetailMapping({ utcOffsetMinutes: 0 }), report, async (batch: MappedMessage[]) => {
    valid += validateMessages(
      batch.map((m) => m.message),
      receivedAt,
    ).valid.length;
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    rows: report.lines,
    messages: report.messages,
    valid,
    seconds,
    rowsPerSecond: Math.round(report.lines / seconds),
    peakRssMiB: Math.round(sampler.stop() / MiB),
  };
}

/** A synthetic Online Retail file of `bytes` bytes, generated while it is read (never held in memory). */
function syntheticCsv(bytes: number): { stream: Readable; size: () => number } {
  let produced = 0;
  const stream = Readable.from(
    (function* () {
      const header = 'Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n';
      produced += header.length;
      yield header;
      let invoice = 600000;
      while (produced < bytes) {
        invoice += 1;
        const lines: string[] = [];
        const customer = invoice % 7 === 0 ? '' : String(12000 + (invoice % 5000));
        const minute = String(invoice % 60).padStart(2, '0');
        for (let l = 0; l < 1 + (invoice % 25); l++) {
          lines.push(
            `${invoice},${20000 + ((invoice * 7 + l * 13) % 4000)},SYNTHETIC PRODUCT ${l},${1 + (l % 12)},2010-06-01 10:${minute}:00,${(1 + (l % 9) * 0.75).toFixed(2)},${customer},United Kingdom\n`,
          );
        }
        const chunk = lines.join('');
        produced += chunk.length;
        yield chunk;
      }
    })(),
  );
  return { stream, size: () => produced };
}

async function endToEnd(rows: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'import-bench-'));
  const config = loadServerlessConfig(resolve(import.meta.dirname, '../../serverless.yml'), { stage: 'bench', env: {} });
  const emulators = await startEmulators({ dataDir, config, setEnv: false });
  try {
    const ddb = DynamoDBDocumentClient.from(emulators.dynamodbClient(), { marshallOptions: { removeUndefinedValues: true } });
    const bucket = config.buckets[0]?.name as string;
    const s3 = emulators.s3Client();
    const lines = gunzipSync(readFileSync(dataFile))
      .toString('utf8')
      .split('\n')
      .slice(0, rows + 1);
    const key = `imports/events/online-retail-ii/first-${rows}.csv.gz`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: gzipSync(lines.join('\n')) }));
    const deps = { blobs: new BlobStore(s3, bucket), profiles: new ProfileRepository(ddb, config.tables[0]?.TableName as string), quarantine: false };
    const sampler = rssSampler();
    const started = performance.now();
    const report = await importFile(deps, key);
    const seconds = (performance.now() - started) / 1000;
    const again = performance.now();
    const second = await importFile(deps, key);
    const secondSeconds = (performance.now() - again) / 1000;
    return {
      rows: report.lines,
      messages: report.messages,
      accepted: report.accepted,
      rejected: report.rejected,
      seconds: Number(seconds.toFixed(1)),
      rowsPerSecond: Math.round(report.lines / seconds),
      messagesPerSecond: Math.round(report.messages / seconds),
      peakRssMiB: Math.round(sampler.stop() / MiB),
      reuploadSkipped: second.skipped,
      reuploadSeconds: Number(secondSeconds.toFixed(2)),
    };
  } finally {
    await emulators.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Lambda gives a function one full vCPU at 1,769 MB (AWS Lambda docs, "memory and computing power"). */
const LAMBDA_MB_PER_VCPU = 1769;
const LAMBDA_TIMEOUT_S = 900;

async function splitAndOnePart(gigabytes: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'import-split-bench-'));
  const config = loadServerlessConfig(resolve(import.meta.dirname, '../../serverless.yml'), { stage: 'bench', env: {} });
  const emulators = await startEmulators({ dataDir, config, setEnv: false });
  try {
    const ddb = DynamoDBDocumentClient.from(emulators.dynamodbClient(), { marshallOptions: { removeUndefinedValues: true } });
    const bucket = config.buckets[0]?.name as string;
    const s3 = emulators.s3Client();
    // The upload: a synthetic Online Retail CSV, gzipped (what a shop would upload), put in s3rver.
    const synthetic = syntheticCsv(gigabytes * 2 ** 30);
    const file = join(dataDir, 'upload.csv.gz');
    await pipeline(synthetic.stream, createGzip(), createWriteStream(file));
    const size = statSync(file).size;
    const key = `imports/events/online-retail-ii/synthetic-${gigabytes}GiB.csv.gz`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: size }));
    rmSync(file);
    const settings = importSettings(process.env);
    const deps: ObjectImportDeps = {
      blobs: new BlobStore(s3, bucket),
      profiles: new ProfileRepository(ddb, config.tables[0]?.TableName as string),
      quarantine: false,
      ...settings,
    };
    const fn = config.functions.importEvents;

    // Split stage: exactly what importEvents does with the upload's S3 event (no trigger runs here: parts are not imported).
    const baseRss = process.memoryUsage().rss;
    let sampler = rssSampler();
    let started = performance.now();
    const split = await importObject(deps, { key, size });
    const splitSeconds = (performance.now() - started) / 1000;
    const splitPeakRss = sampler.stop();
    const uncompressedMiB = synthetic.size() / 2 ** 20;

    // One part, end to end: what importEvents does with that part's S3 event (hash, claim, capture, profiles, progress).
    const partKey = `${split.split?.partsPrefix}part-00001.csv.gz`;
    sampler = rssSampler();
    started = performance.now();
    const part = await importObject(deps, { key: partKey });
    const partSeconds = (performance.now() - started) / 1000;
    const partPeakRss = sampler.stop();
    return {
      gigabytes: Number((synthetic.size() / 2 ** 30).toFixed(2)),
      uploadMiB: Number((size / 2 ** 20).toFixed(1)),
      partBytes: settings.partBytes,
      parts: split.split?.parts ?? 0,
      forcedCuts: split.split?.forcedCuts ?? 0,
      splitSeconds: Number(splitSeconds.toFixed(1)),
      splitMiBPerSecond: Number((uncompressedMiB / splitSeconds).toFixed(1)),
      splitRows: split.lines,
      baseRssMiB: Math.round(baseRss / MiB),
      splitPeakRssMiB: Math.round(splitPeakRss / MiB),
      partRows: part.lines,
      partMessages: part.messages,
      partAccepted: part.accepted,
      partSeconds: Number(partSeconds.toFixed(1)),
      partRowsPerSecond: Math.round(part.lines / partSeconds),
      partPeakRssMiB: Math.round(partPeakRss / MiB),
      memorySize: fn?.memorySize ?? 0,
    };
  } finally {
    await emulators.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export default async function importBench(): Promise<Record<string, unknown>> {
  process.env.LOG_LEVEL = 'ERROR';
  process.env.METRICS_DISABLED = 'true';
  const out: Record<string, unknown> = {};
  if (existsSync(dataFile)) {
    const real = await cpuPath(createReadStream(dataFile).pipe(createGunzip()));
    console.log(
      `real file, CPU path: ${real.rows} rows → ${real.messages} messages (${real.valid} valid) in ${real.seconds.toFixed(1)} s = ${real.rowsPerSecond} rows/s, peak RSS ${real.peakRssMiB} MiB`,
    );
    out.realRows = real.rows;
    out.realRowsPerSecond = real.rowsPerSecond;
    out.realPeakRssMiB = real.peakRssMiB;
  } else console.log(`real file absent (${dataFile}): CPU and end-to-end figures skipped`);

  const gigabytes = Number(process.env.IMPORT_BENCH_GB ?? 0.25);
  if (gigabytes > 0) {
    const synthetic = syntheticCsv(gigabytes * 2 ** 30);
    const big = await cpuPath(synthetic.stream);
    console.log(
      `synthetic ${(synthetic.size() / 2 ** 30).toFixed(2)} GiB CSV, CPU path: ${big.rows} rows in ${big.seconds.toFixed(1)} s = ${big.rowsPerSecond} rows/s, peak RSS ${big.peakRssMiB} MiB`,
    );
    out.syntheticGiB = Number((synthetic.size() / 2 ** 30).toFixed(2));
    out.syntheticRowsPerSecond = big.rowsPerSecond;
    out.syntheticPeakRssMiB = big.peakRssMiB;
  }

  const rows = Number(process.env.IMPORT_BENCH_ROWS ?? 20_000);
  if (existsSync(dataFile) && rows > 0) {
    const e2e = await endToEnd(rows);
    console.log(
      `end to end on dynalite + s3rver: ${e2e.rows} rows → ${e2e.messages} messages in ${e2e.seconds} s = ${e2e.rowsPerSecond} rows/s (${e2e.messagesPerSecond} messages/s), peak RSS ${e2e.peakRssMiB} MiB; re-upload ${e2e.reuploadSkipped} in ${e2e.reuploadSeconds} s`,
    );
    Object.assign(out, Object.fromEntries(Object.entries(e2e).map(([k, v]) => [`e2e_${k}`, v])));
  }

  if (gigabytes > 0) {
    const big = await splitAndOnePart(gigabytes);
    console.log(
      `split stage (importEvents on a ${big.gigabytes} GiB CSV uploaded as ${big.uploadMiB} MiB .gz, dynalite + s3rver): ${big.splitRows} rows cut into ${big.parts} parts of ~${big.partBytes / MiB} MiB (${big.forcedCuts} forced cuts) in ${big.splitSeconds} s = ${big.splitMiBPerSecond} MiB/s uncompressed, peak RSS ${big.splitPeakRssMiB} MiB (process with both emulators: ${big.baseRssMiB} MiB before)`,
    );
    console.log(
      `one part end to end (importEvents on part-00001's S3 event): ${big.partRows} rows → ${big.partMessages} messages (${big.partAccepted} accepted) in ${big.partSeconds} s = ${big.partRowsPerSecond} rows/s, peak RSS ${big.partPeakRssMiB} MiB`,
    );
    // A projection, not a measurement: the inputs are printed with it.
    const cpuShare = Math.min(1, big.memorySize / LAMBDA_MB_PER_VCPU);
    const projectedSplit = big.splitSeconds / cpuShare;
    const projectedPart = big.partSeconds / cpuShare;
    console.log(
      `PROJECTED Lambda wall time (not measured on AWS; inputs: the two times above, importEvents memorySize ${big.memorySize} MB = ${cpuShare.toFixed(2)} vCPU at ${LAMBDA_MB_PER_VCPU} MB per vCPU, one vCPU as fast as one core here, S3/DynamoDB as fast as the in-process emulators): split ≈ ${projectedSplit.toFixed(0)} s, one part ≈ ${projectedPart.toFixed(0)} s, each under the ${LAMBDA_TIMEOUT_S} s limit: ${projectedSplit < LAMBDA_TIMEOUT_S && projectedPart < LAMBDA_TIMEOUT_S ? 'yes' : 'NO'}. The ${big.parts} parts run in parallel on Lambda (each part's copy under imports/parts/ is its own S3 event and invocation: the fan-out is bounded by the account's concurrency, or a reservedConcurrency on importEvents), so the file takes ≈ split + one part ≈ ${(projectedSplit + projectedPart).toFixed(0)} s, not ${big.parts} × ${projectedPart.toFixed(0)} s`,
    );
    Object.assign(out, Object.fromEntries(Object.entries(big).map(([k, v]) => [`split_${k}`, v])));
    out.projected_splitSeconds = Math.round(projectedSplit);
    out.projected_partSeconds = Math.round(projectedPart);
  }
  return out;
}
