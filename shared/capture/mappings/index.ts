import { onlineRetailMapping } from './online-retail-ii';
import type { SourceMapping } from './types';

export type { MappedMessage, MapperOutput, RowError, RowMapper, SourceMapping } from './types';

/**
 * Column mappings by source: a file under `imports/events/<source>/…` is mapped by `MAPPINGS[<source>]`.
 * NDJSON files of a source without a mapping are read as Segment messages, one per line.
 */
export const MAPPINGS: Readonly<Record<string, SourceMapping>> = Object.fromEntries(
  [onlineRetailMapping(), onlineRetailMapping({ source: 'online-retail-ii-pos', channel: 'pos' })].map((m) => [m.source, m]),
);

export function mappingFor(source: string): SourceMapping | undefined {
  return Object.hasOwn(MAPPINGS, source) ? MAPPINGS[source] : undefined;
}
