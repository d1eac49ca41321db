/**
 * The model-family contract: everything the retraining state machine, the gate, the run reports,
 * the model cards, bring-your-own-model validation and the `models` CLI need to know about a family
 * of models, in one place. A family is two modules in `models/<name>/`:
 *
 *   family.ts   a `ModelFamily` (this file's descriptor): light — no onnxruntime, no tfjs — so the
 *               light retraining tasks (PrepareSnapshot, gate, promote, record) can import it;
 *   trainer.ts  a `FamilyTrainer` (train, evaluate, artifact check): the heavy part, loaded only by
 *               the train and evaluate tasks, the training container and the upload validator
 *               (models/trainers.ts finds it by that path).
 *
 * and one line in models/families.ts. Nothing outside the family's folder names its metrics.
 * Types only: importing this file loads nothing.
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { ZodObject, ZodType } from 'zod';
import type { MetricPolicy } from '../registry/gate';
import type { ModelCard, ModelRegistry } from '../registry/registry';
import type { BlobStore } from '../storage/blob';
import type { Interaction, ItemMeta, SnapshotManifest, SnapshotTable } from '../snapshots/snapshot';

export type Hyperparameters = Record<string, number | string | boolean>;
export type Metrics = Record<string, number>;

export type { Direction, MetricPolicy } from '../registry/gate';

/** Whether a snapshot holds enough data to train and judge a family; the reason when it does not. */
export type Sufficiency = { enough: true } | { enough: false; reason: string };

/** The run settings a family's sufficiency check may read. */
export interface SufficiencyContext {
  /** Fewest shoppers with events both before and in the holdout (RETRAIN_MIN_HOLDOUT_USERS, request `minUsers`). */
  minHoldoutUsers: number;
  hyperparameters: Hyperparameters;
}

/** How the run report, the model card views and the console show a family. */
export interface FamilyPresentation {
  /** Human name: "Recommendations". */
  title: string;
  /** Metrics in the order tables and charts show them (the main metric among them). */
  metrics: string[];
  /** What one evaluation case is: "holdout shoppers", "item-days". */
  casesLabel: string;
  /** What the evaluation set is, one line: "the last 7 days of the snapshot". */
  evaluationSet: string;
}

/** The ONNX interface every artifact of the family has (checked when a model is loaded, trained or uploaded). */
export interface ServingContract {
  inputs: { name: string; type: string; shape: string }[];
  outputs: { name: string; type: string; shape: string }[];
  /** Where the full contract is written down (a source file). */
  documentedIn: string;
}

/** The descriptor of a family: light, data and pure functions only. */
export interface ModelFamily<H extends Hyperparameters = Hyperparameters> {
  /** Registry name: models/<name>/… in the bucket; lowercase letters, digits, - and _. */
  name: string;
  description: string;
  /** Hyperparameters a run may override (validated before anything is trained; unknown fields refused). */
  hyperparameters: ZodType<Partial<H>>;
  /** Which snapshot tables the family reads (shared/snapshots/snapshot.ts builds them once per run). */
  snapshotNeeds: readonly SnapshotTable[];
  /** Whether the snapshot can train and judge this family. */
  sufficiency(snapshot: SnapshotManifest, context: SufficiencyContext): Sufficiency;
  /**
   * Size of the training job, compared with `compute.fargateAboveInteractions` — the same rule for
   * every family (default: the snapshot's interactions).
   */
  computeSize?(snapshot: SnapshotManifest): number;
  /** The default gate policy. */
  policy: MetricPolicy;
  serving: ServingContract;
  presentation: FamilyPresentation;
  /** Whether the family accepts bring-your-own ONNX uploads (its trainer must implement `judgeUpload`). */
  uploads: boolean;
  /** The family's own fields of an upload manifest (e.g. the recommender's `itemIndex`), besides the common ones (shared/training/upload.ts). */
  uploadManifest?: ZodObject;
}

export type { SnapshotTable };

/** What a train or evaluate task knows about its run. */
export interface RunContext {
  runId: string;
  /** The version this run's candidate is written under (a retry rewrites the same one). */
  candidateVersion: string;
  snapshot: SnapshotManifest;
  hyperparameters: Hyperparameters;
  policy: MetricPolicy;
}

export interface TrainContext {
  blobs: BlobStore;
  registry: ModelRegistry;
  run: RunContext;
  /** Where it runs, recorded on the card: `lambda`, `ecs-fargate`, … */
  compute: string;
  now: Date;
}

/**
 * A card as the training task writes it: no evaluation yet (the gate adds metrics, baseline,
 * champion, holdout and its decision), plus where it was trained and any family-specific record.
 */
export type TrainedCard = ModelCard & { compute?: string };

/**
 * Candidate, champion and baseline scored on the SAME evaluation cases. `cases` is what the gate's
 * `minCases` and same-cases rules read (as `count` when a metric set has none).
 */
export interface FamilyScores {
  metrics: Metrics;
  baseline: Metrics;
  champion?: { version: string; artifact: 'serving' | 'eval'; metrics: Metrics };
  /** Why a champion that exists could not be scored (then nothing is promoted). */
  championNotComparable?: string;
  cases: number;
}

export interface EvaluateContext {
  blobs: BlobStore;
  registry: ModelRegistry;
  run: RunContext;
  /** The candidate's card as the train task wrote it. */
  card: TrainedCard;
}

/** The latest training snapshot an upload is judged on: its manifest, with the tables the caller already loaded. */
export interface Holdout {
  manifest: SnapshotManifest;
  interactions?: readonly Interaction[];
  items?: Readonly<Record<string, ItemMeta>>;
}

/** An uploaded ONNX model (bring your own) to be checked and scored by its family. */
export interface UploadContext {
  registry: ModelRegistry;
  blobs: BlobStore;
  /** The model, loaded by onnxruntime (the caller releases it). */
  session: InferenceSession;
  model: Uint8Array;
  /** The manifest's family-specific fields (validated by the family's `uploadManifest`). */
  manifest: Record<string, unknown>;
  /** The champion, when there is one. */
  champion?: { version: string };
  holdout: Holdout;
}

export type UploadJudgement =
  | { ok: false; reasons: string[] }
  | {
      ok: true;
      scores: FamilyScores;
      /** Artifacts stored beside model.onnx in the new version (name → bytes, or a value stored as JSON). */
      artifacts: Record<string, Uint8Array | object>;
      /** The card's data counts the family knows (users, items, interactions). */
      data: Pick<ModelCard['data'], 'users' | 'items' | 'interactions'>;
      /** Family fields for the upload report (e.g. the item index used). */
      details?: Record<string, unknown>;
    };

/** The heavy half of a family: models/<name>/trainer.ts exports one as `trainer`. */
export interface FamilyTrainer {
  /**
   * Trains the run's candidate: the evaluation artifact (on data before the evaluation window,
   * under `eval/`) and the served artifact (on the whole window), then the card — last, so a card
   * means the version is complete. Idempotent per version: a retry returns the card it finds.
   */
  train(context: TrainContext): Promise<TrainedCard>;
  /** Scores the candidate's evaluation artifact, the champion and the baseline on the same cases. Read only. */
  evaluate(context: EvaluateContext): Promise<FamilyScores>;
  /** Checks an ONNX artifact against the family's serving contract; every problem is a reason. */
  checkArtifact(model: Uint8Array, context: { items?: number }): Promise<{ ok: true } | { ok: false; reasons: string[] }>;
  /** Bring your own ONNX: checks and scores an upload (only for families with `uploads: true`). */
  judgeUpload?(context: UploadContext): Promise<UploadJudgement>;
}
