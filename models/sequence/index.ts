/**
 * The sequence-aware next-item candidate ('gru'): trains the tfjs network of ./model on
 * TrainData.sequences, exports it to ONNX (./export) and scores histories with that ONNX model through
 * onnxruntime, so offline evaluation scores exactly the artifact that would be served.
 *
 * TrainData.weights and timestamps are not used: the model reads the order of the items only.
 */
import type * as ort from 'onnxruntime-node';
import { createSession, runChecked } from '../../shared/onnx/session';
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { OUTPUT_SCORES, recommenderFeeds } from '../recommender/contract';
import { type BackendOptions, initTfjsBackend } from './backend';
import { buildSequenceOnnx } from './export';
import { type EpochLog, type SequenceModelConfig, sequenceWeights, trainSequenceModel } from './model';

export { DEFAULT_SEQUENCE_CONFIG, type SequenceModelConfig } from './model';

export interface SequenceCandidateOptions extends Partial<SequenceModelConfig> {
  /** Candidate name in evaluation tables (default: the cell, 'gru' or 'lstm'). */
  name?: string;
  backend?: BackendOptions;
  onEpoch?: (log: EpochLog) => void;
}

/** Scores one history (item indices, oldest first) with the ONNX session: item_weights are all 1. */
export async function scoreWithSession(session: ort.InferenceSession, history: ArrayLike<number>): Promise<Float32Array> {
  const out = await runChecked(session, recommenderFeeds(Array.from(history)));
  const scores = out[OUTPUT_SCORES];
  if (!scores || !(scores.data instanceof Float32Array)) throw new Error(`sequence model: ONNX output '${OUTPUT_SCORES}' is missing or not float32`);
  return scores.data;
}

export function createSequenceCandidate(options: SequenceCandidateOptions = {}): Candidate {
  const { name, backend, onEpoch, ...config } = options;
  return {
    name: name ?? config.cell ?? 'gru',
    async train(data: TrainData): Promise<TrainedCandidate> {
      const started = performance.now();
      const backendName = await initTfjsBackend(backend);
      const trained = await trainSequenceModel(data.sequences, data.nItems, config, onEpoch);
      let bytes: Uint8Array;
      try {
        bytes = buildSequenceOnnx(sequenceWeights(trained.model, data.nItems, trained.config));
      } finally {
        trained.model.dispose();
      }
      const session = await createSession(bytes);
      const last = trained.epochs[trained.epochs.length - 1];
      return {
        name: name ?? trained.config.cell,
        score: (history) => scoreWithSession(session, history),
        trainingSeconds: (performance.now() - started) / 1000,
        params: {
          cell: trained.config.cell,
          maxLength: trained.config.maxLength,
          embeddingDim: trained.config.embeddingDim,
          hiddenUnits: trained.config.hiddenUnits,
          batchSize: trained.config.batchSize,
          learningRate: trained.config.learningRate,
          epochs: trained.epochs.length,
          bestEpoch: trained.bestEpoch,
          earlyStoppingMetric: trained.config.earlyStoppingMetric,
          trainingExamples: trained.trainingExamples,
          examplesPerSecond: Math.round(last?.examplesPerSecond ?? 0),
          seed: trained.config.seed,
          backend: backendName,
        },
        toOnnx: () => bytes,
      };
    },
  };
}

/** The default GRU candidate (DEFAULT_SEQUENCE_CONFIG: L 20, d 64, h 64, ≤ 20 epochs with early stopping). */
export const sequenceCandidate: Candidate = createSequenceCandidate();
