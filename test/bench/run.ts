/**
 * `npm run bench [-- name…]`: runs every test/bench/*.bench.ts (or the named ones) one after another in
 * this process and prints their figures. Each bench module default-exports an async function that
 * prints human-readable lines and returns a flat record of its measured figures; the last line printed
 * here is one JSON object with every bench's record.
 */
import { readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';

type Bench = () => Promise<Record<string, unknown>>;

const dir = import.meta.dirname;
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(basename(f, '.bench.ts')))
  .sort();

const results: Record<string, unknown> = {};
for (const file of files) {
  const name = basename(file, '.bench.ts');
  process.stdout.write(`\n## ${name}\n`);
  const started = performance.now();
  const bench = (await import(resolve(dir, file))).default as Bench;
  results[name] = await bench();
  process.stdout.write(`(${name}: ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
}
process.stdout.write(`${JSON.stringify({ node: process.version, cpus: (await import('node:os')).cpus().length, results })}\n`);
