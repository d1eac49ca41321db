import { readRawEvents } from '../capture/raw-events';
import type { MergeRedirects } from '../identity/redirects';
import { withoutSuppressed } from '../privacy/suppression';
import type { ObjectStore } from '../storage/object-store';
import { type FeatureManifest, writeFeatureFiles } from './files';
import { finishFeatures, partialFromEvents, redirectPartial } from './partials';

export { FEATURES_PREFIX, type FeatureManifest, type ItemFeatures, type UserFeatures } from './files';

/**
 * The feature job in one Lambda: user and item features from raw events up to `asOf`, written under
 * features/. The same aggregation as the distributed job (./partials), over the whole event stream
 * as one partition.
 */
export async function buildFeatures(blobs: ObjectStore, options: { asOf?: Date; redirects?: MergeRedirects } = {}, now = new Date()): Promise<FeatureManifest> {
  // Privacy: erased shoppers (suppression list) never reach a feature file.
  const events = await withoutSuppressed(blobs, await readRawEvents(blobs, options.asOf ? { toDay: options.asOf.toISOString().slice(0, 10) } : {}));
  const asOfMs = options.asOf?.getTime() ?? Date.parse(events.at(-1)?.timestamp ?? now.toISOString());
  // Shoppers merged after capture count as one user (redirects: absorbed profile → survivor).
  const partial = redirectPartial(partialFromEvents(events.filter((e) => Date.parse(e.timestamp) <= asOfMs)), options.redirects);
  return writeFeatureFiles(blobs, finishFeatures(partial, asOfMs), { asOfMs, events: partial.events }, now);
}
