import { describe, expect, it } from 'vitest';
import { batchEnvelopeSchema, segmentMessageSchema } from '../../../../shared/capture/schema';
import { zodIssues } from '../../../../shared/http/validation';
import type { FieldIssue } from '../../../../shared/http/errors';

const valid = { type: 'track', event: 'Product Viewed', messageId: 'm-1', anonymousId: 'a-1', properties: { product_id: 'p-1' } };

function issuesOf(value: unknown): FieldIssue[] {
  const result = segmentMessageSchema.safeParse(value);
  return result.success ? [] : zodIssues(result.error);
}

describe('segmentMessageSchema', () => {
  it('accepts a Segment track message with an anonymousId only', () => {
    // Act
    const result = segmentMessageSchema.safeParse(valid);

    // Assess
    expect(result.success).toBe(true);
  });

  it('rejects an unknown top-level field, naming the field', () => {
    // Act
    const issues = issuesOf({ ...valid, userid: 'u-1' });

    // Assess
    expect(issues).toEqual([{ field: 'userid', reason: 'unknown field' }]);
  });

  it('rejects a message with neither userId nor anonymousId', () => {
    // Prepare
    const { anonymousId: _omit, ...withoutIds } = valid;

    // Act
    const issues = issuesOf(withoutIds);

    // Assess
    expect(issues).toEqual([{ field: 'userId', reason: 'userId or anonymousId is required' }]);
  });

  it('rejects blank identifiers as missing', () => {
    // Act
    const issues = issuesOf({ ...valid, anonymousId: '   ' });

    // Assess
    expect(issues.map((i) => i.field)).toContain('anonymousId');
  });

  it('rejects a track without event', () => {
    // Prepare
    const { event: _omit, ...withoutEvent } = valid;

    // Act
    const issues = issuesOf(withoutEvent);

    // Assess
    expect(issues).toEqual([{ field: 'event', reason: 'is required for track messages' }]);
  });

  it('accepts a page without event', () => {
    // Act
    const issues = issuesOf({ type: 'page', name: 'Home', messageId: 'm-2', userId: 'u-1' });

    // Assess
    expect(issues).toEqual([]);
  });

  it('rejects an unknown message type and a context.channel outside the known channels', () => {
    // Act
    const issues = issuesOf({ ...valid, type: 'click', context: { channel: 'fax' } });

    // Assess
    expect(issues.map((i) => i.field).sort()).toEqual(['context.channel', 'type']);
  });

  it('keeps context open (free-form keys) as in Segment', () => {
    // Act
    const issues = issuesOf({ ...valid, context: { channel: 'web', ip: '192.0.2.1', page: { url: 'https://shop.example' } } });

    // Assess
    expect(issues).toEqual([]);
  });

  it('rejects a timestamp that is not ISO-8601', () => {
    // Act
    const issues = issuesOf({ ...valid, timestamp: 'yesterday' });

    // Assess
    expect(issues).toEqual([{ field: 'timestamp', reason: 'must be an ISO-8601 date-time' }]);
  });
});

describe('batchEnvelopeSchema', () => {
  it('rejects an unknown top-level key and a batch that is not an array, naming both', () => {
    // Act
    const result = batchEnvelopeSchema.safeParse({ batch: { 0: valid }, events: [] });

    // Assess
    expect(result.success).toBe(false);
    expect(
      zodIssues(result.error!)
        .map((i) => i.field)
        .sort(),
    ).toEqual(['batch', 'events']);
  });

  it('rejects an empty batch', () => {
    // Act
    const result = batchEnvelopeSchema.safeParse({ batch: [] });

    // Assess
    expect(zodIssues(result.error!)).toEqual([{ field: 'batch', reason: 'must hold at least one message' }]);
  });
});
