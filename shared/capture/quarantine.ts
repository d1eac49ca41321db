import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { FieldIssue } from '../http/errors';
import type { ObjectStore } from '../storage/object-store';
import { clearFieldsOf, defaultSealer, type QuarantineClearFields, type QuarantineSealer, type SealedPayload } from './quarantine-seal';

/**
 * The quarantine: every message (or request) that failed validation, kept with its reasons so that
 * nothing is lost and it can be replayed after a fix. Gzipped NDJSON under
 * `quarantine/dt=<day received>/<hash of the row ids>.ndjson.gz`: a retried request rewrites the
 * same object. Replays write logs under `quarantine/replays/dt=<day>/`. Payloads are sealed
 * (AES-256-GCM, quarantine-seal.ts): no personal identifier is stored in clear; rows carry the keyed
 * hashes of their identifiers, by which the compaction job drops the rows of erased shoppers.
 */
export const QUARANTINE_PREFIX = 'quarantine/';
export const REPLAY_LOG_PREFIX = 'quarantine/replays/';

/** `message`: one Segment message. `request`: a body that never became messages (malformed JSON, bad envelope). */
export type QuarantineKind = 'message' | 'request';

export interface QuarantineInput {
  kind: QuarantineKind;
  /** The message as validated (batch-level context merged in), or the request body (text when it was not JSON). */
  payload: unknown;
  reasons: FieldIssue[];
  receivedAt: string;
  /** The batch `sentAt`, needed to correct clock skew again on replay. */
  sentAt?: string;
  /** Where it came from: the HTTP route (`POST /v1/batch`), `import:<key>`, `replay:<row id>`. */
  source: string;
}

/** A row as stored. The payload is sealed (AES-256-GCM, see quarantine-seal.ts); only non-personal fields are clear. */
export interface QuarantineRow extends QuarantineClearFields {
  /** Keyed hash of the serialised payload (32 hex): the same message quarantined twice has one id. */
  id: string;
  kind: QuarantineKind;
  /** The payload's JSON text, encrypted. */
  sealed?: SealedPayload;
  /** Rows written before sealing: the payload as a JSON value … */
  message?: unknown;
  /** … or, when it is nested too deep to travel as a value, its JSON text. */
  messageJson?: string;
  reasons: FieldIssue[];
  receivedAt: string;
  sentAt?: string;
  source: string;
}

/** The payload of a row (opened, or read from a row written before sealing). Throws QuarantineSealError. */
export function quarantinePayloadJson(row: QuarantineRow, sealer: QuarantineSealer = defaultSealer()): string | undefined {
  if (row.sealed) return sealer.open(row.sealed, row.id);
  if (row.messageJson !== undefined) return row.messageJson;
  return row.message === undefined ? undefined : serialiseJson(row.message);
}

/** Identifier keys of a row: stored ones, or (rows written before sealing) read from the clear payload. */
export function rowIdentifierKeys(row: QuarantineRow, sealer: QuarantineSealer = defaultSealer()): string[] {
  if (row.identifiers) return row.identifiers;
  if (row.sealed) return [];
  return clearFieldsOf(row.kind, legacyPayload(row), sealer.hasher).identifiers ?? [];
}

function legacyPayload(row: QuarantineRow): unknown {
  if (row.messageJson === undefined) return row.message;
  try {
    return JSON.parse(row.messageJson);
  } catch {
    return undefined;
  }
}

/** Whether a value nests deeper than `limit` (iterative: safe for any depth JSON.parse produced). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

type Frame = { items: [string | undefined, unknown][]; next: number; array: boolean; wrote: boolean };

/**
 * JSON text of any value JSON.parse can produce. JSON.stringify recurses on the native stack and
 * throws past ~5,000 levels (measured on Node 20) while JSON.parse accepts far deeper input, so this
 * fallback walks with an explicit stack; it is written by hand because no installed library does it.
 */
export function serialiseJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  const out: string[] = [];
  const open = (node: unknown): Frame | undefined => {
    if (node === null || typeof node !== 'object') {
      out.push(JSON.stringify(node) ?? 'null');
      return undefined;
    }
    const array = Array.isArray(node);
    out.push(array ? '[' : '{');
    const items: [string | undefined, unknown][] = array
      ? (node as unknown[]).map((child) => [undefined, child])
      : Object.entries(node as Record<string, unknown>).filter(([, child]) => child !== undefined && typeof child !== 'function');
    return { items, next: 0, array, wrote: false };
  };
  const stack: Frame[] = [];
  const first = open(value);
  if (first) stack.push(first);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    if (frame.next >= frame.items.length) {
      out.push(frame.array ? ']' : '}');
      stack.pop();
      continue;
    }
    const [key, child] = frame.items[frame.next] as [string | undefined, unknown];
    frame.next += 1;
    if (frame.wrote) out.push(',');
    frame.wrote = true;
    if (key !== undefined) out.push(JSON.stringify(key), ':');
    const nested = open(child === undefined || typeof child === 'function' ? null : child);
    if (nested) stack.push(nested);
  }
  return out.join('');
}

export function quarantineRowId(payloadJson: string, kind: QuarantineKind, sealer: QuarantineSealer = defaultSealer()): string {
  return sealer.rowId(kind, payloadJson);
}

/** One NDJSON line: clear metadata, keyed hashes of the identifiers, the payload's JSON text sealed. */
function rowLine(input: QuarantineInput, sealer: QuarantineSealer): { id: string; line: string } {
  const payloadJson = serialiseJson(input.payload);
  const id = quarantineRowId(payloadJson, input.kind, sealer);
  const row: QuarantineRow = {
    id,
    kind: input.kind,
    ...clearFieldsOf(input.kind, input.payload, sealer.hasher),
    reasons: input.reasons,
    receivedAt: input.receivedAt,
    ...(input.sentAt ? { sentAt: input.sentAt } : {}),
    source: input.source,
    sealed: sealer.seal(payloadJson, id),
  };
  return { id, line: JSON.stringify(row) };
}

export function quarantineDay(receivedAt: string): string {
  return receivedAt.slice(0, 10);
}

/**
 * Writes rows, one object per received day; the key hashes the sorted row ids, so writing the same
 * rows again (a client retry, a re-uploaded import) rewrites the same object. Returns ids and keys.
 */
export async function quarantineRows(
  blobs: ObjectStore,
  inputs: readonly QuarantineInput[],
  sealer: QuarantineSealer = defaultSealer(),
): Promise<{ ids: string[]; keys: string[] }> {
  const byDay = new Map<string, { id: string; line: string }[]>();
  const ids: string[] = [];
  for (const input of inputs) {
    const row = rowLine(input, sealer);
    ids.push(row.id);
    const day = quarantineDay(input.receivedAt);
    const group = byDay.get(day);
    if (group) group.push(row);
    else byDay.set(day, [row]);
  }
  const keys = await Promise.all(
    [...byDay].map(async ([day, rows]) => {
      const hash = createHash('sha256');
      for (const rowId of rows.map((r) => r.id).sort()) hash.update(rowId).update('\n');
      const key = `${QUARANTINE_PREFIX}dt=${day}/${hash.digest('hex').slice(0, 32)}.ndjson.gz`;
      await blobs.putBytes(key, gzipSync(rows.map((r) => r.line).join('\n')), 'application/x-ndjson', { contentEncoding: 'gzip' });
      return key;
    }),
  );
  return { ids, keys: keys.sort() };
}

export function quarantineDayPrefix(day: string): string {
  return `${QUARANTINE_PREFIX}dt=${day}/`;
}

export function replayLogPrefix(day: string): string {
  return `${REPLAY_LOG_PREFIX}dt=${day}/`;
}

function parseRows(key: string, bytes: Uint8Array): QuarantineRow[] {
  const rows: QuarantineRow[] = [];
  for (const line of gunzipSync(bytes).toString('utf8').split('\n')) if (line.trim() !== '') rows.push(JSON.parse(line) as QuarantineRow);
  if (rows.some((row) => typeof row.id !== 'string')) throw new Error(`quarantine object ${key} holds a row without an id`);
  return rows;
}

export async function readQuarantineObject(blobs: ObjectStore, key: string): Promise<QuarantineRow[]> {
  const bytes = await blobs.getBytes(key);
  return bytes ? parseRows(key, bytes) : [];
}

export interface ReplayLog {
  day: string;
  replayedAt: string;
  /** Row ids whose messages the capture path accepted. */
  ids: string[];
  patch?: unknown;
  by?: string;
}

/** Every row id of a day that a replay already delivered. */
export async function replayedIds(blobs: ObjectStore, day: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const key of await blobs.listKeys(replayLogPrefix(day))) {
    const log = await blobs.getJson<ReplayLog>(key);
    for (const id of log?.ids ?? []) ids.add(id);
  }
  return ids;
}

/** Records delivered rows; the key hashes the ids, so recording the same ids again is a no-op rewrite. */
export async function writeReplayLog(blobs: ObjectStore, log: ReplayLog): Promise<string> {
  const hash = createHash('sha256');
  for (const id of [...log.ids].sort()) hash.update(id).update('\n');
  const key = `${replayLogPrefix(log.day)}${hash.digest('hex').slice(0, 32)}.json`;
  await blobs.putJson(key, log);
  return key;
}

/** A row as listed: reasons and non-personal fields only, never the payload (sealed or not). */
export interface QuarantineItem extends Omit<QuarantineClearFields, 'identifiers'> {
  id: string;
  kind: QuarantineKind;
  reasons: FieldIssue[];
  receivedAt: string;
  sentAt?: string;
  source: string;
  /** The object holding the row. */
  key: string;
  replayed: boolean;
}

/** The listed view of a row; rows written before sealing get their clear fields computed, their payload left out. */
export function quarantineItem(row: QuarantineRow, key: string, replayed: boolean, sealer: QuarantineSealer = defaultSealer()): QuarantineItem {
  const { sealed: _sealed, message: _message, messageJson: _messageJson, identifiers: _identifiers, ...clear } = row;
  const legacy = row.sealed ? {} : clearFieldsOf(row.kind, legacyPayload(row), sealer.hasher);
  const { identifiers: _legacyIdentifiers, ...legacyClear } = legacy;
  return { ...legacyClear, ...clear, key, replayed };
}

export interface QuarantinePage {
  day: string;
  items: QuarantineItem[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

interface Cursor {
  k: string;
  i: number;
}

export class InvalidCursorError extends Error {
  constructor() {
    super('is not a cursor this API returned');
    this.name = 'InvalidCursorError';
  }
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string, day: string): Cursor {
  try {
    const cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof cursor.k === 'string' && cursor.k.startsWith(quarantineDayPrefix(day)) && Number.isInteger(cursor.i) && (cursor.i as number) >= 0) {
      return cursor as Cursor;
    }
  } catch {
    // reported below
  }
  throw new InvalidCursorError();
}

/**
 * One page of a day's quarantine, in object-key order then row order. A message quarantined by two
 * different requests appears once per request; replay de-duplicates by row id.
 */
export async function listQuarantine(blobs: ObjectStore, query: { day: string; limit: number; cursor?: string }): Promise<QuarantinePage> {
  const start = query.cursor ? decodeCursor(query.cursor, query.day) : undefined;
  const keys = (await blobs.listKeys(quarantineDayPrefix(query.day))).filter((key) => !start || key >= start.k);
  const replayed = await replayedIds(blobs, query.day);
  const items: QuarantineItem[] = [];
  for (const key of keys) {
    const rows = await readQuarantineObject(blobs, key);
    const from = start && key === start.k ? start.i : 0;
    for (let i = from; i < rows.length; i++) {
      if (items.length === query.limit) return { day: query.day, items, nextCursor: encodeCursor({ k: key, i }) };
      const row = rows[i] as QuarantineRow;
      items.push(quarantineItem(row, key, replayed.has(row.id)));
    }
  }
  return { day: query.day, items };
}

/** Every distinct row of a day (first occurrence of each id), in key order. */
export async function readQuarantineDay(blobs: ObjectStore, day: string): Promise<QuarantineRow[]> {
  const seen = new Set<string>();
  const rows: QuarantineRow[] = [];
  for (const key of await blobs.listKeys(quarantineDayPrefix(day))) {
    for (const row of await readQuarantineObject(blobs, key)) {
      if (seen.has(row.id)) continue;
      seen.add(row.id);
      rows.push(row);
    }
  }
  return rows;
}

const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * RFC 7386 JSON Merge Patch: objects merge key by key, `null` deletes, anything else replaces.
 * Written by hand (RFC 7386 §2 is ten lines; no merge-patch library is installed); results are
 * built with own data properties only, so a `__proto__` key can never reach a prototype (a patch
 * may delete such a key with `null`, never set one).
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base = target !== null && typeof target === 'object' && !Array.isArray(target) ? (target as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(base)) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete out[key];
    else if (!RESERVED_KEYS.has(key)) out[key] = applyMergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value);
  }
  return out;
}
