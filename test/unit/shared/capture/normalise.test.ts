import { describe, expect, it } from 'vitest';
import { canonicalType, eventTime, hostileInputIssues, normalise, type NormaliseResult } from '../../../../shared/capture/normalise';
import { MAX_DEPTH, MAX_EVENT_BYTES, type SegmentMessage, segmentMessageSchema } from '../../../../shared/capture/schema';

const RECEIVED_AT = new Date('2026-03-10T12:00:00.000Z');

function message(fields: Record<string, unknown>): SegmentMessage {
  return segmentMessageSchema.parse({ type: 'track', messageId: 'm-1', userId: 'u-1', ...fields });
}

function accepted(result: NormaliseResult) {
  if (!result.ok) throw new Error(`expected the message to be accepted, got ${JSON.stringify(result.issues)}`);
  return result.event;
}

/** An object nested `levels` deep below the message root (properties is level 1). */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 'x' };
  for (let i = 1; i < levels; i++) value = { child: value };
  return value;
}

describe('canonicalType', () => {
  it.each([
    ['Product Viewed', 'view'],
    ['Product Added', 'add_to_cart'],
    ['Order Completed', 'purchase'],
    ['Products Searched', 'search'],
    ['  order completed ', 'purchase'],
    ['Newsletter Subscribed', 'custom'],
  ])('maps track "%s" to %s', (event, expected) => {
    // Prepare
    const msg = message({ event, properties: { product_id: 'p-1' } });

    // Act
    const type = canonicalType(msg);

    // Assess
    expect(type).toBe(expected);
  });

  it('maps page to page_view and screen to screen_view', () => {
    // Prepare
    const page = message({ type: 'page', name: 'Home' });
    const screen = message({ type: 'screen', name: 'Home' });

    // Act & Assess
    expect(canonicalType(page)).toBe('page_view');
    expect(canonicalType(screen)).toBe('screen_view');
  });

  it.each(['constructor', '__proto__'])('maps a track named after an Object.prototype member ("%s") to custom', (event) => {
    // Prepare
    const msg = message({ event });

    // Act
    const type = canonicalType(msg);

    // Assess
    expect(type).toBe('custom');
  });
});

describe('normalise: e-commerce events', () => {
  it('turns Product Viewed into a view of one item with its attributes', () => {
    // Prepare
    const msg = message({ event: 'Product Viewed', properties: { product_id: 'p-1', price: '19.90', category: 'shoes', name: 'Runner' } });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event).toMatchObject({ eventId: 'm-1', type: 'view', name: 'Product Viewed', userId: 'u-1' });
    expect(event.items).toEqual([{ itemId: 'p-1', price: 19.9, category: 'shoes', name: 'Runner' }]);
  });

  it('turns Product Added into add_to_cart', () => {
    // Prepare
    const msg = message({ event: 'Product Added', properties: { sku: 'sku-9', quantity: 2 } });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.type).toBe('add_to_cart');
    expect(event.items).toEqual([{ itemId: 'sku-9', quantity: 2 }]);
  });

  it('turns Order Completed into a purchase whose items come from properties.products', () => {
    // Prepare
    const msg = message({
      event: 'Order Completed',
      properties: {
        order_id: 'o-42',
        revenue: 59.5,
        products: [{ product_id: 'p-1', price: 20, quantity: 2 }, { sku: 'p-2', price: 19.5 }, { name: 'no id' }, null, 'junk'],
      },
    });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.type).toBe('purchase');
    expect(event.orderId).toBe('o-42');
    expect(event.revenue).toBe(59.5);
    expect(event.items).toEqual([
      { itemId: 'p-1', price: 20, quantity: 2 },
      { itemId: 'p-2', price: 19.5 },
    ]);
  });

  it('turns Products Searched into search with its query', () => {
    // Prepare
    const msg = message({ event: 'Products Searched', properties: { query: ' red shoes ' } });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.type).toBe('search');
    expect(event.query).toBe('red shoes');
    expect(event.items).toEqual([]);
  });

  it('turns a page call into page_view and an unknown track into custom, keeping the name', () => {
    // Prepare
    const page = message({ type: 'page', name: 'Home' });
    const custom = message({ event: 'Newsletter Subscribed' });

    // Act
    const pageEvent = accepted(normalise(page, RECEIVED_AT));
    const customEvent = accepted(normalise(custom, RECEIVED_AT));

    // Assess
    expect(pageEvent.type).toBe('page_view');
    expect(customEvent.type).toBe('custom');
    expect(customEvent.name).toBe('Newsletter Subscribed');
  });

  it('rejects a Product Viewed without a product id, naming the field', () => {
    // Prepare
    const msg = message({ event: 'Product Viewed', properties: { name: 'Runner' } });

    // Act
    const result = normalise(msg, RECEIVED_AT);

    // Assess
    expect(result).toEqual({ ok: false, issues: [{ field: 'properties.product_id', reason: expect.stringContaining('required') }] });
  });
});

describe('normalise: channel', () => {
  it.each([
    [{ context: { channel: 'pos' }, channel: 'browser' }, 'pos'],
    [{ channel: 'browser' }, 'web'],
    [{ channel: 'mobile' }, 'app'],
    [{ channel: 'server' }, 'server'],
    [{ channel: 'carrier-pigeon' }, 'server'],
    [{}, 'server'],
  ])('resolves %j to %s', (fields, expected) => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed', ...fields });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.channel).toBe(expected);
  });

  it.each(['toString', 'constructor', 'valueOf'])('falls back to server for a top-level channel named after an Object.prototype member ("%s")', (channel) => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed', channel });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.channel).toBe('server');
  });
});

describe('normalise: event time', () => {
  it('corrects client clock skew when timestamp is absent: receivedAt − (sentAt − originalTimestamp)', () => {
    // Prepare: the device clock is 2 hours behind; the event happened 5 s before it was sent.
    const msg = message({ event: 'Newsletter Subscribed', originalTimestamp: '2026-03-10T10:00:00.000Z', sentAt: '2026-03-10T10:00:05.000Z' });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.timestamp).toBe('2026-03-10T11:59:55.000Z');
    expect(event.receivedAt).toBe(RECEIVED_AT.toISOString());
  });

  it('uses the batch sentAt when the message has none', () => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed', originalTimestamp: '2026-03-10T10:00:00.000Z' });

    // Act
    const when = eventTime(msg, RECEIVED_AT, '2026-03-10T10:01:00.000Z');

    // Assess
    expect(when.toISOString()).toBe('2026-03-10T11:59:00.000Z');
  });

  it('trusts an explicit timestamp over the skew correction', () => {
    // Prepare
    const msg = message({
      event: 'Newsletter Subscribed',
      timestamp: '2026-03-09T08:00:00.000Z',
      originalTimestamp: '2026-03-10T10:00:00.000Z',
      sentAt: '2026-03-10T10:00:05.000Z',
    });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.timestamp).toBe('2026-03-09T08:00:00.000Z');
  });

  it('falls back to receivedAt when no time is given', () => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed' });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event.timestamp).toBe(RECEIVED_AT.toISOString());
  });

  it('rejects a timestamp more than 24 hours in the future, naming the field', () => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed', timestamp: '2026-03-11T12:00:01.000Z' });

    // Act
    const result = normalise(msg, RECEIVED_AT);

    // Assess
    expect(result).toEqual({ ok: false, issues: [{ field: 'timestamp', reason: expect.stringContaining('future') }] });
  });

  it('accepts a timestamp slightly ahead of the server clock', () => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed', timestamp: '2026-03-10T13:00:00.000Z' });

    // Act
    const result = normalise(msg, RECEIVED_AT);

    // Assess
    expect(result.ok).toBe(true);
  });
});

describe('hostileInputIssues', () => {
  const base = { type: 'track', event: 'Custom', messageId: 'm-1', userId: 'u-1' };

  it('accepts an ordinary message', () => {
    // Act
    const issues = hostileInputIssues({ ...base, properties: { a: [1, 2, { b: 'c' }] } });

    // Assess
    expect(issues).toEqual([]);
  });

  it('rejects a __proto__ key (as JSON.parse produces it) with a field and reason', () => {
    // Prepare
    const raw: unknown = JSON.parse(`{"type":"track","event":"Custom","messageId":"m-1","userId":"u-1","properties":{"__proto__":{"isAdmin":true}}}`);

    // Act
    const issues = hostileInputIssues(raw);

    // Assess
    expect(issues).toEqual([{ field: '(message)', reason: expect.stringContaining('__proto__') }]);
  });

  it(`accepts nesting of ${MAX_DEPTH} levels and rejects ${MAX_DEPTH + 1}`, () => {
    // Prepare
    const atLimit = { ...base, properties: nested(MAX_DEPTH) };
    const tooDeep = { ...base, properties: nested(MAX_DEPTH + 1) };

    // Act
    const atLimitIssues = hostileInputIssues(atLimit);
    const tooDeepIssues = hostileInputIssues(tooDeep);

    // Assess
    expect(atLimitIssues).toEqual([]);
    expect(tooDeepIssues).toEqual([{ field: '(message)', reason: expect.stringContaining(`deeper than ${MAX_DEPTH}`) }]);
  });

  it('rejects very deep nesting without overflowing the stack', () => {
    // Act
    const issues = hostileInputIssues({ ...base, properties: nested(20_000) });

    // Assess
    expect(issues).toEqual([{ field: '(message)', reason: expect.stringContaining('deeper') }]);
  });

  it('rejects a string holding a lone surrogate', () => {
    // Prepare: JSON.parse of the escape yields a real lone surrogate, as an HTTP body would.
    const raw: unknown = JSON.parse(`{"type":"track","event":"Custom","messageId":"m-1","userId":"u-1","properties":{"note":"\\ud800"}}`);

    // Act
    const issues = hostileInputIssues(raw);

    // Assess
    expect(issues).toEqual([{ field: '(message)', reason: expect.stringContaining('surrogate') }]);
  });

  it('rejects a lone surrogate in a key', () => {
    // Act
    const issues = hostileInputIssues({ ...base, properties: { '\udc00': 1 } });

    // Assess
    expect(issues).toEqual([{ field: '(message)', reason: expect.stringContaining('surrogate') }]);
  });

  it(`rejects a message larger than ${MAX_EVENT_BYTES} bytes`, () => {
    // Prepare
    const raw = { ...base, properties: { blob: 'x'.repeat(MAX_EVENT_BYTES) } };

    // Act
    const issues = hostileInputIssues(raw);

    // Assess
    expect(issues).toEqual([{ field: '(message)', reason: expect.stringContaining(String(MAX_EVENT_BYTES)) }]);
  });

  it('does not mistake a string value that mentions "constructor": for a reserved key', () => {
    // Prepare
    const raw = { ...base, properties: { note: 'see {"constructor": 1}' } };

    // Act
    const issues = hostileInputIssues(raw);

    // Assess
    expect(issues).toEqual([]);
  });
});

describe('normalise: the e-commerce spec and omnichannel context', () => {
  it.each([
    ['Products Searched', 'search'],
    ['Product List Viewed', 'list_view'],
    ['Product Viewed', 'view'],
    ['Product Clicked', 'view'],
    ['Product Added', 'add_to_cart'],
    ['Product Removed', 'remove_from_cart'],
    ['Cart Viewed', 'cart_view'],
    ['Checkout Started', 'checkout'],
    ['Checkout Step Viewed', 'checkout_step'],
    ['Checkout Step Completed', 'checkout_step'],
    ['Payment Info Entered', 'payment_info'],
    ['Order Completed', 'purchase'],
    ['Order Updated', 'order_update'],
    ['Order Refunded', 'refund'],
    ['Order Cancelled', 'order_cancel'],
    ['Promotion Viewed', 'promotion_view'],
    ['Promotion Clicked', 'promotion_click'],
    ['Coupon Entered', 'coupon_entered'],
    ['Coupon Applied', 'coupon_applied'],
    ['Coupon Denied', 'coupon_denied'],
    ['Coupon Removed', 'coupon_removed'],
    ['Product Added to Wishlist', 'add_to_wishlist'],
    ['Product Shared', 'share'],
    ['Product Reviewed', 'review'],
  ])('maps the spec event "%s" to %s', (event, expected) => {
    // Prepare
    const msg = message({ event, properties: { product_id: 'p-1' } });

    // Act
    const type = accepted(normalise(msg, RECEIVED_AT)).type;

    // Assess
    expect(type).toBe(expected);
  });

  it('keeps store till, device, call-centre agent and marketplace context', () => {
    // Prepare
    const pos = message({ event: 'Order Completed', context: { channel: 'pos', store: { id: 'S-1' }, device: { id: 'TILL-2' } } });
    const callCentre = message({ event: 'Order Completed', context: { channel: 'call_center', store_id: 'CC-1', agent: { id: 'A-7' } } });
    const marketplace = message({ event: 'Order Completed', context: { channel: 'marketplace', marketplace: { name: 'amazon' } } });

    // Act
    const [a, b, c] = [pos, callCentre, marketplace].map((m) => accepted(normalise(m, RECEIVED_AT)));

    // Assess
    expect(a).toMatchObject({ channel: 'pos', storeId: 'S-1', deviceId: 'TILL-2' });
    expect(b).toMatchObject({ channel: 'call_center', storeId: 'CC-1', agentId: 'A-7' });
    expect(c).toMatchObject({ channel: 'marketplace', marketplace: 'amazon' });
  });

  it('keeps the attribution, promotion, coupon and checkout-step fields', () => {
    // Prepare
    const msg = message({
      event: 'Product Clicked',
      properties: { product_id: 'p-1', recommendation_id: 'rec-1', list_id: 'home-recs', promotion_id: 'promo-9', coupon: 'SUMMER', step: '2' },
    });

    // Act
    const event = accepted(normalise(msg, RECEIVED_AT));

    // Assess
    expect(event).toMatchObject({ recommendationId: 'rec-1', listId: 'home-recs', promotionId: 'promo-9', coupon: 'SUMMER', step: 2 });
  });

  it('names page and screen events by their name', () => {
    // Act
    const event = accepted(normalise(message({ type: 'screen', name: ' Basket ' }), RECEIVED_AT));

    // Assess
    expect(event.name).toBe('Basket');
  });

  it("corrects a Segment library's timestamp (the device clock at the call) with the batch sentAt", () => {
    // Prepare: the device clock is 2 hours behind; the event happened 5 s before the batch was sent.
    const msg = message({ event: 'Newsletter Subscribed', timestamp: '2026-03-10T10:00:00.000Z' });

    // Act
    const when = eventTime(msg, RECEIVED_AT, '2026-03-10T10:00:05.000Z');

    // Assess
    expect(when.toISOString()).toBe('2026-03-10T11:59:55.000Z');
  });

  it('refuses an event whose corrected time falls before 1970, naming timestamp', () => {
    // Prepare
    const msg = message({ event: 'Newsletter Subscribed', timestamp: '1970-01-01T00:00:00.000Z' });

    // Act
    const result = normalise(msg, RECEIVED_AT, '2100-01-01T00:00:00.000Z');

    // Assess
    expect(result).toEqual({ ok: false, issues: [{ field: 'timestamp', reason: expect.stringContaining('1970') }] });
  });
});
