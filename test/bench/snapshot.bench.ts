/**
 * Training snapshot build. `npm run bench -- snapshot`
 *
 * For the simulator's default shop (600 shoppers, 400 items, 56 days) and one 10× larger (6,000
 * shoppers, 4,000 items, 56 days): the shop's messages go through validation/normalisation into raw
 * storage (an in-memory object store, not timed), then
 * - prepareSnapshot end to end (read raw objects, suppression, redirects, the one pass, every table
 *   serialised, gzipped and PUT), median of 3, and readRawEvents alone (the part that was already there);
 * - the pass alone over the loaded events: buildSnapshot (interactions + items + sequences + orders +
 *   item daily) beside buildInteractions (what the snapshot built before), median of 5;
 * - the size of each object written (gzipped bytes as stored, and the NDJSON/JSON text).
 * Times are wall clock and process CPU (user + system): on a shared machine CPU time is the steadier figure.
 */
import { gunzipSync } from 'node:zlib';
import { readRawEvents, storeRawEvents } from '../../shared/capture/raw-events';
import { MemoryObjectStore } from '../../shared/storage/memory-object-store';
import { buildInteractions, buildSnapshot, prepareSnapshot } from '../../shared/snapshots/snapshot';
import { simulatedEvents } from '../helpers/snapshot-fixture';

const MB = 1024 * 1024;

interface Timing {
  wall: number;
  cpu: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const medianTiming = (runs: Timing[]): Timing => ({ wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)) });
const show = (t: Timing) => `${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s CPU`;

async function timed<T>(fn: () => Promise<T> | T): Promise<Timing & { value: T }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6, value };
}

async function repeat(times: number, fn: () => unknown): Promise<Timing> {
  const runs: Timing[] = [];
  for (let k = 0; k < times; k++) runs.push(await timed(fn));
  return medianTiming(runs);
}

async function measure(label: string, shop: { seed: number; shoppers: number; items: number; days: number }): Promise<Record<string, number>> {
  const generated = await timed(() => simulatedEvents(shop));
  const blobs = new MemoryObjectStore();
  await storeRawEvents(blobs, generated.value);
  const eventCount = generated.value.length;
  generated.value.length = 0; // only raw storage holds the events from here on
  let rawBytes = 0;
  for (const key of await blobs.listKeys('raw/events/')) rawBytes += (await blobs.getBytes(key))?.length ?? 0;
  process.stdout.write(
    `${label}: ${shop.shoppers} shoppers, ${shop.items} items, ${shop.days} days → ${eventCount} events, raw ${(rawBytes / MB).toFixed(2)} MB gzipped (generated in ${generated.wall.toFixed(1)} s)\n`,
  );

  await prepareSnapshot(blobs, { runId: 'bench' }); // warm-up (JIT)
  const end = await repeat(3, () => prepareSnapshot(blobs, { runId: 'bench' }));
  const read = await repeat(3, () => readRawEvents(blobs));
  const manifest = await prepareSnapshot(blobs, { runId: 'bench' });
  const events = await readRawEvents(blobs);
  const asOfMs = Date.parse(manifest.asOf);
  const full = await repeat(5, () => buildSnapshot(events, asOfMs));
  const legacy = await repeat(5, () => buildInteractions(events, asOfMs));

  const sizes: Record<string, number> = {};
  const table = async (name: string, key: string) => {
    const stored = (await blobs.getBytes(key)) ?? new Uint8Array();
    const text = key.endsWith('.gz') ? gunzipSync(stored).length : stored.length;
    sizes[`${name}MB`] = stored.length / MB;
    sizes[`${name}TextMB`] = text / MB;
    process.stdout.write(`  ${name.padEnd(12)} ${(stored.length / MB).toFixed(3).padStart(8)} MB stored ${(text / MB).toFixed(3).padStart(9)} MB text\n`);
  };
  await table('interactions', manifest.interactionsKey);
  await table('items', manifest.itemsKey);
  await table('sequences', manifest.sequencesKey);
  await table('orders', manifest.ordersKey);
  await table('itemDaily', manifest.itemDailyKey);
  const newMB = (sizes.sequencesMB ?? 0) + (sizes.ordersMB ?? 0) + (sizes.itemDailyMB ?? 0);
  const c = manifest.counts;
  process.stdout.write(
    `  counts: ${c.interactions} interactions, ${c.sequences} sequences (${c.sequenceEvents} events), ${c.orders} orders, ${c.refunds} refunds, ` +
      `${c.itemDays} item-day rows over ${manifest.window.days} days\n` +
      `  prepareSnapshot end to end: ${show(end)}; readRawEvents alone: ${show(read)}\n` +
      `  the pass: buildSnapshot ${show(full)}; buildInteractions alone ${show(legacy)}\n` +
      `  new tables: ${newMB.toFixed(3)} MB stored\n`,
  );
  return {
    events: eventCount,
    endToEndSeconds: end.wall,
    endToEndCpuSeconds: end.cpu,
    readRawSeconds: read.wall,
    readRawCpuSeconds: read.cpu,
    buildSnapshotSeconds: full.wall,
    buildSnapshotCpuSeconds: full.cpu,
    buildInteractionsSeconds: legacy.wall,
    buildInteractionsCpuSeconds: legacy.cpu,
    newTablesMB: newMB,
    ...sizes,
    itemDays: c.itemDays ?? 0,
    orders: c.orders ?? 0,
    sequences: c.sequences ?? 0,
  };
}

export default async function snapshotBench(): Promise<Record<string, unknown>> {
  const base = await measure('default shop', { seed: 42, shoppers: 600, items: 400, days: 56 });
  const large = await measure('10× shop', { seed: 42, shoppers: 6000, items: 4000, days: 56 });
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`peak RSS of the bench process: ${maxRssMB.toFixed(0)} MB\n`);
  const flat: Record<string, unknown> = { maxRssMB };
  for (const [k, v] of Object.entries(base)) flat[`default.${k}`] = v;
  for (const [k, v] of Object.entries(large)) flat[`x10.${k}`] = v;
  return flat;
}
