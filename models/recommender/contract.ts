/**
 * The "recommender" model family contract. Every recommender ONNX file — trained here or
 * brought by the user — must have:
 *
 *   inputs   item_ids      int64   [1, L]   L dynamic, L ≥ 1: the user's history (item indices)
 *            item_weights  float32 [1, L]   weight of each history item
 *   output   scores        float32 [1, N]   one score per item of the model's item index
 *
 * Item ids are indices in [0, N) into the model's item index. Histories are padded with
 * item id 0 and weight 0 (a padded position must not change the scores of weight-aware
 * models).
 */
import * as ort from 'onnxruntime-node';
import { describeSession, feedProblems } from '../../shared/onnx/session';
import { mulberry32 } from '../../shared/random';

export const RECOMMENDER_FAMILY = 'recommender';
export const INPUT_ITEM_IDS = 'item_ids';
export const INPUT_ITEM_WEIGHTS = 'item_weights';
export const OUTPUT_SCORES = 'scores';
/** Symbolic name of the history-length dimension in our exported models. */
export const DIM_HISTORY = 'L';
/** Item id and weight used to pad histories to a fixed length. */
export const PAD_ITEM_ID = 0;
export const PAD_WEIGHT = 0;

/** Metadata keys written by our exporters (ModelProto.metadata_props). */
export const META_FAMILY = 'model_family';
export const META_KIND = 'model_kind';
export const META_N_ITEMS = 'n_items';

export type CheckResult = { ok: true } | { ok: false; reasons: string[] };

/**
 * Builds the two input tensors for a history. With `padTo`, the history is padded with
 * (PAD_ITEM_ID, PAD_WEIGHT) up to that length (longer histories keep their last `padTo`
 * items). Weights default to 1.
 */
export function recommenderFeeds(
  itemIds: readonly number[],
  weights?: readonly number[],
  padTo?: number,
): Record<string, ort.Tensor> {
  if (weights && weights.length !== itemIds.length) {
    throw new Error(`recommenderFeeds: ${itemIds.length} item ids but ${weights.length} weights`);
  }
  let ids = [...itemIds];
  let w = weights ? [...weights] : ids.map(() => 1);
  if (padTo !== undefined) {
    if (ids.length > padTo) {
      ids = ids.slice(ids.length - padTo);
      w = w.slice(w.length - padTo);
    }
    while (ids.length < padTo) {
      ids.push(PAD_ITEM_ID);
      w.push(PAD_WEIGHT);
    }
  }
  if (ids.length === 0) {
    // L must be >= 1: an empty history is a single padded position.
    ids = [PAD_ITEM_ID];
    w = [PAD_WEIGHT];
  }
  const L = ids.length;
  const idData = new BigInt64Array(L);
  for (let i = 0; i < L; i++) {
    const id = ids[i] as number;
    if (!Number.isSafeInteger(id) || id < 0) throw new Error(`recommenderFeeds: invalid item id ${id}`);
    idData[i] = BigInt(id);
  }
  return {
    [INPUT_ITEM_IDS]: new ort.Tensor('int64', idData, [1, L]),
    [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', Float32Array.from(w), [1, L]),
  };
}

interface Golden {
  label: string;
  ids: number[];
  weights: number[];
}

function goldenInputs(nItems: number): Golden[] {
  const r = mulberry32(12345);
  const randId = () => Math.floor(r() * nItems);
  const hist = (len: number) => Array.from({ length: len }, randId);
  const wts = (len: number) => Array.from({ length: len }, () => 0.1 + r() * 2);
  const h5 = hist(5);
  const w5 = wts(5);
  const h20 = hist(20);
  return [
    { label: 'length 1, first item', ids: [0], weights: [1] },
    { label: 'length 1, last item', ids: [nItems - 1], weights: [1] },
    { label: 'random length 5', ids: h5, weights: w5 },
    { label: 'random length 20', ids: h20, weights: h20.map(() => 1) },
    {
      label: 'random length 3 padded to 8',
      ids: [...h5.slice(0, 3), 0, 0, 0, 0, 0],
      weights: [...w5.slice(0, 3), 0, 0, 0, 0, 0],
    },
  ];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

export interface CheckOptions {
  /**
   * Also require that padding (id 0, weight 0) does not change the scores (max |Δ| ≤ 1e-4
   * relative to the largest |score|). Holds for weight-aware models such as item-item and
   * popularity; off by default because a bring-your-own sequence model may ignore weights.
   */
  checkPaddingInvariance?: boolean;
}

/**
 * Verifies that a session meets the recommender contract for an item index of `nItems`
 * items: declared inputs/outputs (names; types and shapes when ORT exposes metadata), and
 * golden runs — histories of length 1, random histories, and a padded one — each giving
 * `scores` float32 [1, nItems] with only finite values.
 */
export async function checkRecommenderSession(
  session: ort.InferenceSession,
  nItems: number,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const reasons: string[] = [];
  if (!Number.isInteger(nItems) || nItems < 1) {
    return { ok: false, reasons: [`nItems must be a positive integer, got ${nItems}`] };
  }
  const expectedInputs = [INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS];
  if (!sameSet(session.inputNames, expectedInputs)) {
    reasons.push(
      `inputs must be exactly [${expectedInputs.join(', ')}], model declares [${session.inputNames.join(', ')}]`,
    );
  }
  if (!session.outputNames.includes(OUTPUT_SCORES)) {
    reasons.push(`output '${OUTPUT_SCORES}' is missing, model declares [${session.outputNames.join(', ')}]`);
  }

  // Declared types/shapes (only when this ORT version exposes metadata).
  const desc = describeSession(session);
  const declared = [...desc.inputs, ...desc.outputs];
  const want: Record<string, { type: string; fixedLast?: number }> = {
    [INPUT_ITEM_IDS]: { type: 'int64' },
    [INPUT_ITEM_WEIGHTS]: { type: 'float32' },
    [OUTPUT_SCORES]: { type: 'float32', fixedLast: nItems },
  };
  for (const v of declared) {
    const w = want[v.name];
    if (!w || v.type === undefined) continue;
    if (v.type !== w.type) reasons.push(`'${v.name}' is declared ${v.type}, must be ${w.type}`);
    const shape = v.shape ?? [];
    if (shape.length === 0) continue; // shape not declared: checked by running
    if (shape.length !== 2) {
      reasons.push(`'${v.name}' is declared with rank ${shape.length} [${shape.join(',')}], must be rank 2`);
      continue;
    }
    if (typeof shape[0] === 'number' && shape[0] !== 1) {
      reasons.push(`'${v.name}' declares batch dim ${shape[0]}, must be 1`);
    }
    const last = shape[1];
    if (w.fixedLast === undefined && typeof last === 'number') {
      reasons.push(`'${v.name}' declares a fixed history length ${last}; L must be dynamic`);
    }
    if (w.fixedLast !== undefined && typeof last === 'number' && last !== w.fixedLast) {
      reasons.push(`'${v.name}' declares ${last} items, the item index has ${w.fixedLast}`);
    }
  }
  // Running cannot succeed with the wrong input names.
  if (reasons.some((r) => r.startsWith('inputs must be') || r.startsWith(`output '`))) {
    return { ok: false, reasons };
  }

  const results = new Map<string, Float32Array>();
  for (const g of goldenInputs(nItems)) {
    const feeds = recommenderFeeds(g.ids, g.weights);
    const problems = feedProblems(session, feeds);
    if (problems.length) {
      reasons.push(`golden input '${g.label}': ${problems.join('; ')}`);
      continue;
    }
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await session.run(feeds);
    } catch (err) {
      reasons.push(`golden input '${g.label}': run failed: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const scores = out[OUTPUT_SCORES];
    if (!scores) {
      reasons.push(`golden input '${g.label}': no '${OUTPUT_SCORES}' output`);
      continue;
    }
    if (scores.type !== 'float32' || !(scores.data instanceof Float32Array)) {
      reasons.push(`golden input '${g.label}': '${OUTPUT_SCORES}' is ${scores.type}, must be float32`);
      continue;
    }
    if (scores.dims.length !== 2 || scores.dims[0] !== 1 || scores.dims[1] !== nItems) {
      reasons.push(
        `golden input '${g.label}': '${OUTPUT_SCORES}' has shape [${scores.dims.join(',')}], must be [1,${nItems}]`,
      );
      continue;
    }
    const data = scores.data;
    let bad = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) bad++;
    if (bad) {
      reasons.push(`golden input '${g.label}': ${bad} of ${data.length} scores are not finite`);
      continue;
    }
    results.set(g.label, data);
  }

  if (options.checkPaddingInvariance) {
    const goldens = goldenInputs(nItems);
    const padded = goldens.find((g) => g.label.includes('padded'));
    if (padded && results.has(padded.label)) {
      const unpadded = recommenderFeeds(padded.ids.slice(0, 3), padded.weights.slice(0, 3));
      try {
        const ref = (await session.run(unpadded))[OUTPUT_SCORES]?.data as Float32Array;
        const got = results.get(padded.label)!;
        let maxAbs = 0;
        let maxDiff = 0;
        for (let i = 0; i < nItems; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
          maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - got[i]!));
        }
        if (maxDiff > 1e-4 * Math.max(1, maxAbs)) {
          reasons.push(`padding with (id ${PAD_ITEM_ID}, weight ${PAD_WEIGHT}) changes the scores (max |Δ| ${maxDiff})`);
        }
      } catch (err) {
        reasons.push(`padding check: run failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  return reasons.length ? { ok: false, reasons } : { ok: true };
}
