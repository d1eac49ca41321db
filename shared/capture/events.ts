/**
 * The canonical event model lives in shared/events/canonical.ts (below capture, identity and profiles,
 * which all speak it). Re-exported here for the training and model code that still imports it from
 * capture; new code imports shared/events/canonical.
 */
export * from '../events/canonical';
