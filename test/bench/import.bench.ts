/**
 * Bulk import figures: `npm run bench -- import`.
 * 1. CPU path on the real Online Retail II file (../shared/data): CSV parse + mapping + capture validation, rows/s and peak RSS.
 * 2. Memory bound on a synthetic file of IMPORT_BENCH_GB gigabytes (default 0.25; IMPORT_BENCH_GB=1 for the 1 GB figure, ~8 min) streamed the same way.
 * 3. End to end on the local emulators (dynalite + s3rver): the first IMPORT_BENCH_ROWS rows (default 20,000) of the real file
 *    imported by S3 key (ledger hash, capture, identity resolution, raw storage, profile updates), then the same file again (skipped).
 */
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type ImportReport, importFile, streamMessages } from '../../shared/capture/import';
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
  return out;
}
