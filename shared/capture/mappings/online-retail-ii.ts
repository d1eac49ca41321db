import type { FieldIssue } from '../../http/errors';
import type { Channel } from '../../events/canonical';
import type { MappedMessage, MapperOutput, RowError, RowMapper, SourceMapping } from './types';

/**
 * Online Retail II (UCI) invoice lines → Segment e-commerce events.
 * Columns: Invoice, StockCode, Description, Quantity, InvoiceDate, Price, Customer ID, Country.
 * - the rows of one invoice → one `Order Completed` (products = its lines); an invoice starting with
 *   C is a cancellation → `Order Refunded` (quantities made positive); A invoices (bad-debt
 *   adjustments) and sale rows with a quantity ≤ 0 (stock adjustments) are not shopper events:
 *   they are reported, not imported;
 * - Customer ID → userId; rows without one are guest checkouts → anonymousId `guest-<invoice>`;
 * - messageId = `<source>-<invoice>-L<first line>` (+ `-p<n>` for parts): a re-upload yields the
 *   same ids, so it is counted once;
 * - invoices larger than `maxProductsPerMessage` lines are split into parts (Segment's 32 KB limit).
 */
export interface OnlineRetailConfig {
  source: string;
  channel: Channel;
  currency: string;
  /** Rows an invoice stays open after its last row (its rows are not always contiguous in the file). */
  windowRows: number;
  maxProductsPerMessage: number;
  /** Stock codes that are fees or adjustments, not products (kept in the order total, not as items). */
  nonProductCodes: ReadonlySet<string>;
  /** Minutes to add to the file's local InvoiceDate to get UTC (the file has no zone; UK local time). */
  utcOffsetMinutes: number;
  /** Prefix of user ids made from Customer ID (keeps ids of several sources apart when needed). */
  userIdPrefix: string;
}

export const ONLINE_RETAIL_COLUMNS = ['Invoice', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'Price', 'Customer ID', 'Country'] as const;

export const DEFAULT_NON_PRODUCT_CODES = [
  'POST',
  'DOT',
  'M',
  'm',
  'D',
  'C2',
  'CRUK',
  'PADS',
  'S',
  'B',
  'BANK CHARGES',
  'AMAZONFEE',
  'ADJUST',
  'ADJUST2',
  'TEST001',
  'TEST002',
];

export function onlineRetailConfig(overrides: Partial<OnlineRetailConfig> = {}): OnlineRetailConfig {
  return {
    source: 'online-retail-ii',
    channel: 'web',
    currency: 'GBP',
    windowRows: 2000,
    maxProductsPerMessage: 150,
    nonProductCodes: new Set(DEFAULT_NON_PRODUCT_CODES),
    utcOffsetMinutes: 0,
    userIdPrefix: '',
    ...overrides,
  };
}

interface Line {
  line: number;
  stockCode: string;
  description?: string;
  quantity: number;
  price: number;
  at: number;
  customerId?: string;
  country?: string;
}

interface OpenInvoice {
  invoice: string;
  lines: Line[];
  lastRow: number;
}

const INVOICE = /^([CA]?)(\d+)$/;
// "2009-12-01 07:45:00" (the CSV export) or "12/1/2009 7:45" (the Excel sheet's text form).
const ISO_LOCAL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/;
const US_LOCAL = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?$/;

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : value === undefined || value === null ? '' : String(value).trim();
}

export function parseInvoiceDate(raw: string, utcOffsetMinutes: number): number | undefined {
  let parts: number[] | undefined;
  const iso = ISO_LOCAL.exec(raw);
  if (iso) parts = [Number(iso[1]), Number(iso[2]), Number(iso[3]), Number(iso[4]), Number(iso[5]), Number(iso[6] ?? 0)];
  const us = parts ? undefined : US_LOCAL.exec(raw);
  if (us) parts = [Number(us[3]), Number(us[1]), Number(us[2]), Number(us[4]), Number(us[5]), Number(us[6] ?? 0)];
  if (!parts) return undefined;
  const [y, mo, d, h, mi, s] = parts as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return ms - utcOffsetMinutes * 60_000;
}

/** "13085" or "13085.0" (spreadsheet float) → "13085". */
function customerIdOf(raw: string): string | undefined {
  if (raw === '') return undefined;
  const float = /^(\d+)\.0+$/.exec(raw);
  return float ? float[1] : raw;
}

function parseLine(row: Record<string, unknown>, line: number, config: OnlineRetailConfig): { invoice: string; line: Line } | { issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const invoice = text(row.Invoice);
  const invoiceMatch = INVOICE.exec(invoice);
  if (!invoiceMatch) issues.push({ field: 'Invoice', reason: 'must be digits, optionally prefixed with C (cancellation)' });
  else if (invoiceMatch[1] === 'A') issues.push({ field: 'Invoice', reason: 'is an accounting adjustment (A…), not a shopper transaction' });
  const stockCode = text(row.StockCode);
  if (stockCode === '') issues.push({ field: 'StockCode', reason: 'must not be empty' });
  const quantity = Number(text(row.Quantity));
  const cancellation = invoiceMatch?.[1] === 'C';
  if (!Number.isInteger(quantity) || quantity === 0) issues.push({ field: 'Quantity', reason: 'must be a non-zero integer' });
  else if (!cancellation && quantity < 0) issues.push({ field: 'Quantity', reason: 'is negative on a sale invoice (a stock adjustment, not a shopper event)' });
  const priceText = text(row.Price);
  const price = Number(priceText);
  if (priceText === '' || !Number.isFinite(price) || price < 0) issues.push({ field: 'Price', reason: 'must be a number ≥ 0' });
  const dateText = text(row.InvoiceDate);
  const at = parseInvoiceDate(dateText, config.utcOffsetMinutes);
  if (at === undefined) issues.push({ field: 'InvoiceDate', reason: 'must be a date-time like 2009-12-01 07:45:00' });
  if (issues.length > 0) return { issues };
  const parsed: Line = { line, stockCode, quantity: Math.abs(quantity), price, at: at as number };
  const description = text(row.Description);
  if (description) parsed.description = description;
  const customerId = customerIdOf(text(row['Customer ID']));
  if (customerId) parsed.customerId = `${config.userIdPrefix}${customerId}`;
  const country = text(row.Country);
  if (country) parsed.country = country;
  return { invoice, line: parsed };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function toMessages(open: OpenInvoice, config: OnlineRetailConfig): MapperOutput {
  const { invoice, lines } = open;
  const first = lines[0] as Line;
  const customers = new Set(lines.map((l) => l.customerId ?? ''));
  if (customers.size > 1) {
    return {
      messages: [],
      errors: lines.map((l) => ({ line: l.line, issues: [{ field: 'Customer ID', reason: `differs between the rows of invoice ${invoice}` }] })),
    };
  }
  const refund = invoice.startsWith('C');
  const products = lines.filter((l) => !config.nonProductCodes.has(l.stockCode));
  const parts: Line[][] = [];
  for (let i = 0; i < Math.max(1, products.length); i += config.maxProductsPerMessage) parts.push(products.slice(i, i + config.maxProductsPerMessage));
  const fees = lines.filter((l) => config.nonProductCodes.has(l.stockCode));
  const at = Math.min(...lines.map((l) => l.at));
  const messages: MappedMessage[] = parts.map((part, index) => {
    const withFees = index === 0 ? [...part, ...fees] : part;
    const total = round2(withFees.reduce((sum, l) => sum + l.quantity * l.price, 0));
    const properties: Record<string, unknown> = {
      order_id: invoice,
      total,
      revenue: total,
      currency: config.currency,
      products: part.map((l) => ({ product_id: l.stockCode, ...(l.description ? { name: l.description } : {}), quantity: l.quantity, price: l.price })),
    };
    if (parts.length > 1) Object.assign(properties, { part: index + 1, parts: parts.length });
    const message: Record<string, unknown> = {
      type: 'track',
      event: refund ? 'Order Refunded' : 'Order Completed',
      messageId: `${config.source}-${invoice}-L${first.line}${parts.length > 1 ? `-p${index + 1}` : ''}`,
      timestamp: new Date(at).toISOString(),
      properties,
      context: { channel: config.channel, ...(first.country ? { location: { country: first.country } } : {}) },
    };
    if (first.customerId) message.userId = first.customerId;
    else message.anonymousId = `guest-${config.source}-${invoice}`;
    return { message, lines: withFees.map((l) => l.line) };
  });
  return { messages, errors: [] };
}

/** Streams rows; an invoice is emitted once `windowRows` rows passed without another of its lines. */
export function createOnlineRetailMapper(config: OnlineRetailConfig): RowMapper {
  const open = new Map<string, OpenInvoice>();
  let rows = 0;
  let lastInvoice = '';
  const flush = (all: boolean): MapperOutput => {
    const out: MapperOutput = { messages: [], errors: [] };
    for (const [invoice, group] of open) {
      if (!all && rows - group.lastRow <= config.windowRows) continue;
      open.delete(invoice);
      const mapped = toMessages(group, config);
      out.messages.push(...mapped.messages);
      out.errors.push(...mapped.errors);
    }
    return out;
  };
  return {
    push(row, line) {
      rows += 1;
      const parsed = parseLine(row, line, config);
      if ('issues' in parsed) {
        const errors: RowError[] = [{ line, issues: parsed.issues }];
        return { messages: [], errors };
      }
      const group = open.get(parsed.invoice);
      if (group) {
        group.lines.push(parsed.line);
        group.lastRow = rows;
      } else open.set(parsed.invoice, { invoice: parsed.invoice, lines: [parsed.line], lastRow: rows });
      if (parsed.invoice === lastInvoice) return { messages: [], errors: [] };
      lastInvoice = parsed.invoice;
      return flush(false);
    },
    end: () => flush(true),
  };
}

export function onlineRetailMapping(overrides: Partial<OnlineRetailConfig> = {}): SourceMapping {
  const config = onlineRetailConfig(overrides);
  return {
    source: config.source,
    description: `Online Retail II invoice lines (${config.channel}) → Order Completed / Order Refunded`,
    requiredColumns: ONLINE_RETAIL_COLUMNS,
    createMapper: () => createOnlineRetailMapper(config),
    // For the splitter of large files: the invoice a row is grouped under (none for a row the mapper rejects).
    split: {
      key: (row) => {
        const parsed = parseLine(row, 0, config);
        return 'issues' in parsed ? undefined : parsed.invoice;
      },
      columns: ONLINE_RETAIL_COLUMNS,
      windowRows: config.windowRows,
    },
  };
}
