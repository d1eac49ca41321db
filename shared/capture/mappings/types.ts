import type { FieldIssue } from '../../http/errors';
import type { SplitRule } from '../import-split';

/** A Segment-shaped message built from one or more source rows. */
export interface MappedMessage {
  message: Record<string, unknown>;
  /** 1-based line numbers of the rows it came from (the first one names it in error reports). */
  lines: number[];
}

export interface RowError {
  line: number;
  issues: FieldIssue[];
}

export interface MapperOutput {
  messages: MappedMessage[];
  errors: RowError[];
}

/**
 * Turns a stream of source rows into Segment messages. Stateful (e.g. rows of one invoice become one
 * order) but bounded: a mapper holds at most a fixed window of rows, never the whole file.
 */
export interface RowMapper {
  push(row: Record<string, unknown>, line: number): MapperOutput;
  /** End of the file: whatever is still open. */
  end(): MapperOutput;
}

/** How the rows of one source (the `<source>` of `imports/<source>/…`) become Segment messages. */
export interface SourceMapping {
  /** The `<source>` folder name under imports/. */
  source: string;
  description: string;
  /** CSV header names the mapping needs (checked before any row is read). */
  requiredColumns: readonly string[];
  createMapper(): RowMapper;
  /**
   * How the mapper groups rows (absent: every row is on its own). A large file is split into parts
   * (shared/capture/import-split.ts) only where no group straddles the cut.
   */
  split?: SplitRule;
}
