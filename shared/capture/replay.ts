import type { FieldIssue } from '../http/errors';
import { zodIssues } from '../http/validation';
import { mergeEnvelope } from './http';
import { applyMergePatch, type QuarantineRow, quarantinePayloadJson, readQuarantineDay, replayedIds, writeReplayLog } from './quarantine';
import { QuarantineSealError, type QuarantineSealer, sealerFor } from './quarantine-seal';
import { batchEnvelopeSchema, MESSAGE_TYPES, type MessageType } from './schema';
import { type CaptureDeps, captureBatch } from './service';

export interface ReplayRequest {
  day: string;
  ids?: string[];
  /** RFC 7386 merge patch applied to each message (or, for a request row, to the request body). */
  patch?: Record<string, unknown>;
  /** Rows replayed by this call (default 500). */
  limit?: number;
  /** Who asked (recorded in the replay log). */
  by?: string;
}

export interface ReplayReport {
  day: string;
  /** Rows taken by this call. */
  considered: number;
  /** Rows delivered: their messages accepted (or found already counted), or a request split into messages. */
  replayed: number;
  /** Messages accepted as new events. */
  accepted: number;
  /** Messages already counted before (stored once, counted once). */
  duplicates: number;
  /** Rows skipped because an earlier replay delivered them. */
  alreadyReplayed: number;
  /** Requested ids with no row that day. */
  notFound: string[];
  /** Rows still failing, with the reasons: they stay in the quarantine, unreplayed. */
  stillRejected: { id: string; issues: FieldIssue[] }[];
  /** Messages of replayed request rows that failed on their own: quarantined as message rows. */
  requarantined: number;
  /** Rows left for the next call. */
  remaining: number;
  /** The replay log written (absent when nothing was delivered). */
  logKey?: string;
}

const SINGLE_ROUTE = new RegExp(`^POST /v1/(${MESSAGE_TYPES.join('|')})$`);

/** The row's payload, opened (sealed rows) and parsed; a row that cannot be opened stays quarantined with the reason. */
function payloadOf(row: QuarantineRow, sealer: QuarantineSealer): { ok: true; value: unknown } | { ok: false; issues: FieldIssue[] } {
  if (!row.sealed && row.messageJson === undefined) return { ok: true, value: row.message };
  let text: string | undefined;
  try {
    text = quarantinePayloadJson(row, sealer);
  } catch (error) {
    if (!(error instanceof QuarantineSealError)) throw error;
    return { ok: false, issues: [{ field: '(message)', reason: error.message }] };
  }
  try {
    return { ok: true, value: text === undefined ? undefined : JSON.parse(text) };
  } catch (error) {
    return { ok: false, issues: [{ field: '(message)', reason: `stored JSON is unreadable: ${(error as Error).message}` }] };
  }
}

/** The messages a request row holds once its body parses (after the patch); issues when it still does not. */
function expandRequest(
  row: QuarantineRow,
  body: unknown,
  patch: Record<string, unknown> | undefined,
): { messages: unknown[]; sentAt?: string } | { issues: FieldIssue[] } {
  let value = body;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (error) {
      return { issues: [{ field: 'body', reason: `malformed JSON: ${(error as Error).message}` }] };
    }
  }
  if (patch) value = applyMergePatch(value, patch);
  const single = SINGLE_ROUTE.exec(row.source)?.[1] as MessageType | undefined;
  if (single) {
    const message =
      value !== null && typeof value === 'object' && !Array.isArray(value) && (value as { type?: unknown }).type === undefined
        ? { ...value, type: single }
        : value;
    return { messages: [message] };
  }
  const envelope = batchEnvelopeSchema.safeParse(value);
  if (!envelope.success) return { issues: zodIssues(envelope.error) };
  return { messages: mergeEnvelope(envelope.data), ...(envelope.data.sentAt ? { sentAt: envelope.data.sentAt } : {}) };
}

interface Group {
  receivedAt: string;
  sentAt?: string;
  /** Message rows (not quarantined again on failure) or a request row's messages (quarantined on failure). */
  requeue: boolean;
  items: { rowId: string; message: unknown }[];
}

/** What one replay call works through. */
interface Plan {
  /** Delivered rows (request rows count once they split into messages). */
  delivered: Set<string>;
  /** Rows that still fail, with the reasons. */
  failures: Map<string, FieldIssue[]>;
  groups: Map<string, Group>;
  /** Opens sealed payloads. */
  sealer: QuarantineSealer;
}

/** The rows this call takes: not replayed before, among `ids` when given, at most `limit`. */
function selectRows(rows: readonly QuarantineRow[], done: ReadonlySet<string>, request: ReplayRequest) {
  const wanted = request.ids ? new Set(request.ids) : undefined;
  const present = new Set(rows.map((r) => r.id));
  const pending = rows.filter((row) => (!wanted || wanted.has(row.id)) && !done.has(row.id));
  const alreadyReplayed = rows.filter((row) => (!wanted || wanted.has(row.id)) && done.has(row.id)).length;
  const taken = pending.slice(0, request.limit ?? 500);
  return { taken, alreadyReplayed, remaining: pending.length - taken.length, notFound: (request.ids ?? []).filter((id) => !present.has(id)) };
}

/** The messages of one row after the patch; records unreadable rows as failures. */
function messagesOf(row: QuarantineRow, patch: Record<string, unknown> | undefined, plan: Plan): { messages: unknown[]; sentAt?: string } | undefined {
  const payload = payloadOf(row, plan.sealer);
  if (!payload.ok) {
    plan.failures.set(row.id, payload.issues);
    return undefined;
  }
  if (row.kind !== 'request')
    return { messages: [patch ? applyMergePatch(payload.value, patch) : payload.value], ...(row.sentAt ? { sentAt: row.sentAt } : {}) };
  const expanded = expandRequest(row, payload.value, patch);
  if ('issues' in expanded) {
    plan.failures.set(row.id, expanded.issues);
    return undefined;
  }
  // The request is delivered once it splits into messages: each is captured or quarantined on its own.
  plan.delivered.add(row.id);
  return expanded;
}

/** Rows grouped by (receivedAt, sentAt, kind): one capture call per group, as the original request was. */
function plan(taken: readonly QuarantineRow[], patch: Record<string, unknown> | undefined, sealer: QuarantineSealer): Plan {
  const out: Plan = { delivered: new Set(), failures: new Map(), groups: new Map(), sealer };
  for (const row of taken) {
    const found = messagesOf(row, patch, out);
    if (!found) continue;
    const requeue = row.kind === 'request';
    const key = `${row.receivedAt}|${found.sentAt ?? ''}|${requeue}`;
    const group = out.groups.get(key) ?? { receivedAt: row.receivedAt, ...(found.sentAt ? { sentAt: found.sentAt } : {}), requeue, items: [] };
    out.groups.set(key, group);
    for (const message of found.messages) group.items.push({ rowId: row.id, message });
  }
  return out;
}

async function captureGroup(deps: CaptureDeps, group: Group, work: Plan, report: ReplayReport): Promise<void> {
  const result = await captureBatch(
    { ...deps, quarantine: group.requeue, source: group.requeue ? `replay:${group.items[0]?.rowId}` : 'replay' },
    { batch: group.items.map((i) => i.message), receivedAt: new Date(group.receivedAt), ...(group.sentAt ? { sentAt: group.sentAt } : {}) },
  );
  report.accepted += result.results.filter((r) => r.status === 'accepted').length;
  report.duplicates += result.results.filter((r) => r.status === 'duplicate').length;
  report.requarantined += result.quarantined;
  if (group.requeue) return;
  for (const rejected of result.rejected) work.failures.set(group.items[rejected.index]?.rowId as string, rejected.issues);
  for (const r of result.results) if (r.status !== 'rejected') work.delivered.add(group.items[r.index]?.rowId as string);
}

/**
 * Re-runs a day's quarantined messages through the capture path, after a code or configuration
 * fix or with a merge patch. Messages keep their original receivedAt and batch sentAt, so event
 * times come out as they would have. Delivered rows are written to a replay log only after the
 * capture path succeeded, and capture is idempotent by messageId, so a replay interrupted at any
 * point can simply be run again; a finished one skips what it delivered.
 */
export async function replayQuarantine(deps: CaptureDeps, request: ReplayRequest): Promise<ReplayReport> {
  const [rows, done] = await Promise.all([readQuarantineDay(deps.blobs, request.day), replayedIds(deps.blobs, request.day)]);
  const { taken, alreadyReplayed, remaining, notFound } = selectRows(rows, done, request);
  const report: ReplayReport = {
    day: request.day,
    considered: taken.length,
    replayed: 0,
    accepted: 0,
    duplicates: 0,
    alreadyReplayed,
    notFound,
    stillRejected: [],
    requarantined: 0,
    remaining,
  };
  const work = plan(taken, request.patch, sealerFor(deps.profiles.hasher));
  for (const group of work.groups.values()) await captureGroup(deps, group, work, report);
  report.stillRejected = [...work.failures].map(([id, issues]) => ({ id, issues }));
  report.replayed = work.delivered.size;
  if (work.delivered.size > 0) {
    report.logKey = await writeReplayLog(deps.blobs, {
      day: request.day,
      replayedAt: (deps.now?.() ?? new Date()).toISOString(),
      ids: [...work.delivered].sort(),
      ...(request.patch ? { patch: request.patch } : {}),
      ...(request.by ? { by: request.by } : {}),
    });
  }
  return report;
}
