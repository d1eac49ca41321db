/**
 * Where a serving request spends its time, stage by stage, published on a Node diagnostics channel
 * (`node:diagnostics_channel`) so a benchmark or a profiler can subscribe. With no subscriber nothing
 * is measured or allocated: `stageClock()` returns undefined and every `lap` is skipped.
 *
 *   import { subscribe } from 'node:diagnostics_channel';
 *   subscribe(SERVING_STAGES_CHANNEL, (m) => record((m as StageTiming).stage, (m as StageTiming).ms));
 */
import { channel } from 'node:diagnostics_channel';

export const SERVING_STAGES_CHANNEL = 'omnichannel:serving:stage';

/**
 * parse: request validation · resolve: model / catalogue / rules caches (and the A/B assignment) ·
 * profile: the shopper's profile read · encode: history → model input · score: the ONNX run ·
 * rank: filters, exclusions, promotions, new items, diversity cap · explain: reasons and item fields ·
 * record: the served list buffered and, when due, written · serialise: the JSON body ·
 * core: the whole handler core (the rest of a request's time is middy + Powertools).
 */
export type ServingStage = 'parse' | 'resolve' | 'profile' | 'encode' | 'score' | 'rank' | 'explain' | 'record' | 'serialise' | 'core';

export interface StageTiming {
  stage: ServingStage;
  ms: number;
}

const stages = channel(SERVING_STAGES_CHANNEL);

export interface StageClock {
  /** Publishes the time since the previous lap (or since the clock started) as `stage`. */
  lap(stage: ServingStage): void;
  /** Publishes the time since `since` (a `performance.now()` value) as `stage`, without moving the lap mark. */
  since(stage: ServingStage, since: number): void;
  /** Moves the lap mark to now without publishing (after stages timed with `timedStage`). */
  mark(): void;
  readonly startedAt: number;
}

/** A per-request clock, or undefined when nobody listens (the usual case in production). */
export function stageClock(): StageClock | undefined {
  if (!stages.hasSubscribers) return undefined;
  const startedAt = performance.now();
  let mark = startedAt;
  return {
    startedAt,
    lap(stage) {
      const now = performance.now();
      stages.publish({ stage, ms: now - mark } satisfies StageTiming);
      mark = now;
    },
    since(stage, since) {
      stages.publish({ stage, ms: performance.now() - since } satisfies StageTiming);
    },
    mark() {
      mark = performance.now();
    },
  };
}

/** Times a promise as one stage (stages that run concurrently, e.g. the profile read beside the caches). */
export function timedStage<T>(clock: StageClock | undefined, stage: ServingStage, work: Promise<T>): Promise<T> {
  if (!clock) return work;
  const started = performance.now();
  return work.finally(() => clock.since(stage, started));
}
