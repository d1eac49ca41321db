/**
 * Loaders for the offline evaluation data sets. They only parse: the split protocols (what is trained
 * on, what is predicted) live in ./protocols.
 *
 *   amazon-sequences  one line per user: `user item1 item2 …` (time order)          → SequenceData
 *   sessions          TSV SessionId, ItemId, Time (unix s), a *_train_full / *_test pair → SessionData
 *   taobao            CSV user_id,item_id,category_id,behavior_type,timestamp         → Interaction[]
 *   events            NDJSON(.gz) files of CanonicalEvent (file or folder)            → Interaction[]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import type { CanonicalEvent, CanonicalType } from '../../shared/events/canonical';
import { parseNdjson } from '../../shared/storage/blob';
import { buildInteractions, type Interaction } from '../../shared/snapshots/snapshot';

export const DATASET_FORMATS = ['amazon-sequences', 'sessions', 'taobao', 'events'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** One time-ordered item sequence per user (raw item ids). */
export interface SequenceData {
  users: string[];
  sequences: string[][];
}

export interface RawSession {
  id: string;
  items: string[];
  /** Unix seconds, same length as items, non-decreasing. */
  times: number[];
}

export interface SessionData {
  train: RawSession[];
  test: RawSession[];
}

function readText(path: string): string {
  const bytes = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

export function parseAmazonSequences(text: string): SequenceData {
  const users: string[] = [];
  const sequences: string[][] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || fields[0] === '') continue;
    users.push(fields[0]!);
    sequences.push(fields.slice(1));
  }
  return { users, sequences };
}

export function loadAmazonSequences(path: string): SequenceData {
  return parseAmazonSequences(readText(path));
}

/** Sessions from `SessionId\tItemId\tTime` rows (header optional), each session sorted by time (stable). */
export function parseSessions(text: string): RawSession[] {
  const rows = parse(text, { delimiter: '\t', skip_empty_lines: true, relax_column_count: true }) as string[][];
  const bySession = new Map<string, { item: string; time: number; order: number }[]>();
  rows.forEach((row, order) => {
    const [sessionId, itemId, time] = row;
    const t = Number(time);
    if (sessionId === undefined || itemId === undefined || !Number.isFinite(t)) return; // header or malformed
    (bySession.get(sessionId) ?? bySession.set(sessionId, []).get(sessionId))?.push({ item: itemId, time: t, order });
  });
  const sessions: RawSession[] = [];
  for (const [id, clicks] of bySession) {
    clicks.sort((a, b) => a.time - b.time || a.order - b.order);
    sessions.push({ id, items: clicks.map((c) => c.item), times: clicks.map((c) => c.time) });
  }
  return sessions;
}

/**
 * `path` is the train file (`…_train_full.txt`, its `…_test.txt` sibling is the test file), a folder
 * holding exactly one such pair, or `train,test`.
 */
export function resolveSessionFiles(path: string): { train: string; test: string } {
  if (path.includes(',')) {
    const [train, test] = path.split(',');
    return { train: train!, test: test! };
  }
  if (statSync(path).isDirectory()) {
    const trains = readdirSync(path).filter((f) => /_train_full\.txt(\.gz)?$/.test(f));
    if (trains.length !== 1) throw new Error(`sessions: expected one *_train_full.txt in ${path}, found ${trains.length}`);
    return resolveSessionFiles(join(path, trains[0]!));
  }
  if (!/_train_full\.txt(\.gz)?$/.test(path)) throw new Error(`sessions: ${path} is not a *_train_full.txt file (or give "train,test")`);
  return { train: path, test: path.replace('_train_full.txt', '_test.txt') };
}

export function loadSessions(path: string): SessionData {
  const files = resolveSessionFiles(path);
  return { train: parseSessions(readText(files.train)), test: parseSessions(readText(files.test)) };
}

/**
 * Taobao behaviour types mapped onto canonical types (their interaction weights apply). The canonical
 * schema has no wishlist type: `fav` (favourite) is a purchase-intent signal and is read as a cart add.
 */
export const TAOBAO_BEHAVIOUR: Readonly<Record<string, CanonicalType>> = {
  pv: 'view',
  cart: 'add_to_cart',
  fav: 'add_to_cart',
  buy: 'purchase',
};

/** Taobao UserBehavior rows as interactions (timestamp in ms), time-ordered. */
export function parseTaobao(text: string): Interaction[] {
  const rows = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  const out: Interaction[] = [];
  for (const row of rows) {
    const type = TAOBAO_BEHAVIOUR[row.behavior_type ?? ''];
    const ts = Number(row.timestamp) * 1000;
    if (!type || !row.user_id || !row.item_id || !Number.isFinite(ts)) continue;
    out.push({ p: row.user_id, i: row.item_id, t: type, ts, c: 'taobao' });
  }
  return out.sort((a, b) => a.ts - b.ts);
}

export function loadTaobao(path: string): Interaction[] {
  return parseTaobao(readText(path));
}

function ndjsonFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ndjson|jsonl)(\.gz)?$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/**
 * The project's raw events (a file, or a folder searched recursively for *.ndjson[.gz]), de-duplicated by
 * event id, as item interactions exactly as the training snapshot builds them (shared/training/snapshot).
 */
export function loadEvents(path: string): Interaction[] {
  const byId = new Map<string, CanonicalEvent>();
  for (const file of ndjsonFiles(path)) {
    for (const event of parseNdjson<CanonicalEvent>(Buffer.from(readText(file), 'utf8'))) {
      if (!byId.has(event.eventId)) byId.set(event.eventId, event);
    }
  }
  const events = [...byId.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return buildInteractions(events, Number.POSITIVE_INFINITY).interactions;
}
