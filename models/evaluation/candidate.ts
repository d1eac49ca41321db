/**
 * The contract every recommendation candidate (model or baseline) meets inside the offline evaluation
 * and model selection: train on integer-indexed sequences, then score a history against every item.
 * Both the evaluation CLI and the retraining pipeline use it, so "the blend actually served is chosen by
 * validation" compares like with like.
 */
export interface TrainData {
  /** Number of items; item indices are in [0, nItems). */
  nItems: number;
  /** One time-ordered item sequence per user (or session). */
  sequences: readonly Int32Array[];
  /** Optional per-position interaction strength (same shape as sequences); default 1. */
  weights?: readonly Float32Array[];
  /** Optional per-position epoch-ms timestamps (same shape as sequences). */
  timestamps?: readonly Float64Array[];
}

export interface TrainedCandidate {
  name: string;
  /** Scores every item for a history (time-ordered item indices). Higher is better. */
  score(history: Int32Array): Float32Array | Promise<Float32Array>;
  trainingSeconds: number;
  /** Hyperparameters actually used (for the model card and the evaluation table). */
  params?: Record<string, number | string | boolean>;
  /** ONNX export of the recommender contract, when the candidate can be served. */
  toOnnx?(): Uint8Array;
}

export interface Candidate {
  name: string;
  train(data: TrainData): Promise<TrainedCandidate>;
}
