/**
 * Bring your own recommender: what the `recommender` family checks and scores in an uploaded ONNX
 * model (shared/training/upload.ts runs the common steps — manifest, size, hashes, gate, registration).
 * The manifest's `itemIndex` names the item of each output score: a list, or `champion` (the
 * champion's items.json). The model must meet the contract (./contract.ts) for that many items; it is
 * scored next to the popularity baseline and the champion on the same holdout cases.
 */
import type { FamilyScores, UploadContext, UploadJudgement } from '../../shared/families/contract';
import { createSession } from '../../shared/onnx/session';
import type { ModelRegistry } from '../../shared/registry/registry';
import { type Interaction, type ItemMeta, loadSnapshot } from '../../shared/snapshots/snapshot';
import { checkRecommenderSession, RECOMMENDER_FAMILY } from './contract';
import { buildTestCases, evaluateScorer, onnxScorer, popularityScorer, type TestCase } from './evaluate';
import { buildItemIndex, DEFAULT_TRAIN_OPTIONS, type ItemIndex } from './train';

type ItemsArtifact = ItemIndex & { categories?: (string | null)[] };

/** Time-decayed popularity (as the trainer computes it) of the given items; 0 for items never seen. */
function popularityOf(interactions: readonly Interaction[], itemIds: readonly string[]): number[] {
  if (interactions.length === 0) return itemIds.map(() => 0);
  const index = buildItemIndex(interactions, { ...DEFAULT_TRAIN_OPTIONS, minItemInteractions: 1, maxItems: Number.MAX_SAFE_INTEGER });
  const byId = new Map(index.itemIds.map((id, i) => [id, index.popularity[i] ?? 0]));
  return itemIds.map((id) => byId.get(id) ?? 0);
}

/**
 * Scores the champion on the same cases without leakage (the retraining run's rule): its served model
 * when trained on data up to the holdout start at most, else its evaluation artifact (trained before
 * its own holdout start) when that start is no later than this one; otherwise it cannot be compared.
 */
async function scoreChampion(
  registry: ModelRegistry,
  version: string,
  holdoutStart: string,
  cases: readonly TestCase[],
): Promise<NonNullable<FamilyScores['champion']> | { reason: string }> {
  const card = await registry.getCard(RECOMMENDER_FAMILY, version);
  if (!card) return { reason: `champion ${version} has no model card` };
  const holdoutMs = Date.parse(holdoutStart);
  const artifact = Date.parse(card.data.asOf) <= holdoutMs ? 'serving' : Date.parse(card.data.holdoutStart) <= holdoutMs ? 'eval' : undefined;
  if (!artifact) return { reason: `champion ${version} was trained on data up to ${card.data.asOf}, after this holdout's start ${holdoutStart}` };
  const prefix = artifact === 'eval' ? 'eval/' : '';
  const [bytes, items] = await Promise.all([
    registry.getModelBytes(RECOMMENDER_FAMILY, version, `${prefix}model.onnx`),
    registry.getJson<ItemIndex>(RECOMMENDER_FAMILY, version, `${prefix}items.json`),
  ]);
  if (!bytes || !items) return { reason: `champion ${version} has no ${prefix}model.onnx / ${prefix}items.json` };
  const session = await createSession(bytes);
  try {
    return { version, artifact, metrics: await evaluateScorer(cases, items.itemIds, onnxScorer(session)) };
  } finally {
    await session.release();
  }
}

export async function judgeRecommenderUpload(context: UploadContext): Promise<UploadJudgement> {
  const { registry, blobs, session, holdout, champion } = context;
  const tables =
    holdout.interactions && holdout.items ? { interactions: holdout.interactions, items: holdout.items } : await loadSnapshot(blobs, holdout.manifest);
  const interactions: readonly Interaction[] = tables.interactions;
  const meta: Readonly<Record<string, ItemMeta>> = tables.items;
  const itemIndex = context.manifest.itemIndex as 'champion' | string[];

  let items: ItemsArtifact;
  let details: Record<string, unknown>;
  if (itemIndex !== 'champion') {
    items = { itemIds: itemIndex, popularity: popularityOf(interactions, itemIndex), categories: itemIndex.map((id) => meta[id]?.category ?? null) };
    details = { itemIndex: { source: 'explicit', items: itemIndex.length } };
  } else {
    if (!champion)
      return {
        ok: false,
        reasons: [`manifest.itemIndex: "champion", but ${RECOMMENDER_FAMILY} has no champion yet; list the item ids in the model's output order`],
      };
    const stored = await registry.getJson<ItemsArtifact>(RECOMMENDER_FAMILY, champion.version, 'items.json');
    if (!stored) return { ok: false, reasons: [`manifest.itemIndex: the champion ${champion.version} has no items.json`] };
    items = stored;
    details = { itemIndex: { source: 'champion', items: stored.itemIds.length, championVersion: champion.version } };
  }

  const contract = await checkRecommenderSession(session, items.itemIds.length);
  if (!contract.ok) return { ok: false, reasons: contract.reasons.map((r) => `contract: ${r}`) };

  const holdoutStartMs = Date.parse(holdout.manifest.holdoutStart);
  const cases = buildTestCases(interactions, holdoutStartMs);
  const before = interactions.filter((x) => x.ts < holdoutStartMs);
  const metrics = await evaluateScorer(cases, items.itemIds, onnxScorer(session));
  const baseline = await evaluateScorer(cases, items.itemIds, popularityScorer(popularityOf(before, items.itemIds)));
  const scored = champion ? await scoreChampion(registry, champion.version, holdout.manifest.holdoutStart, cases) : undefined;
  const scores: FamilyScores = {
    metrics,
    baseline,
    ...(scored && 'metrics' in scored ? { champion: scored } : {}),
    ...(scored && 'reason' in scored ? { championNotComparable: scored.reason } : {}),
    cases: cases.length,
  };
  return { ok: true, scores, artifacts: { 'items.json': items }, data: { users: 0, items: items.itemIds.length, interactions: 0 }, details };
}
