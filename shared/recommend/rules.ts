/**
 * Business rules, edited by merchandisers as one JSON object in S3 (`config/business-rules.json`):
 *
 *   {
 *     "maxPerCategory": 3,                                  // diversity cap per answer
 *     "promotions": { "slots": [3, 7],                     // 1-based positions pinned to a promoted item
 *                     "itemIds": ["SKU-1"],                // promoted items besides the catalogue's `promoted` flag
 *                     "useCatalogFlag": true, "label": "featured offer" },
 *     "categories": { "wine": { "boost": 1.5 },            // scores × 1.5 (÷ for negative scores)
 *                     "baby": { "bury": true } },          // only after every other eligible item
 *     "newItems": { "maxAgeDays": 14, "share": 0.1 }       // new-item exploration (overrides env defaults)
 *   }
 *
 * A promotion slot holds the eligible promoted item the model scores highest (eligible = passes the
 * request's filters, in stock, not bought, not already listed); when none is eligible the slot is an
 * ordinary one. A missing file means no rules; an invalid one is logged with every field and reason,
 * and the previous rules (or none) stay in force.
 */
import { z } from 'zod';
import { zodIssues } from '../http/validation';
import { logger, metrics } from '../observability/powertools';
import type { ObjectStore } from '../storage/object-store';

export const BUSINESS_RULES_KEY = 'config/business-rules.json';

export const businessRulesSchema = z.strictObject({
  maxPerCategory: z.number().int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').optional(),
  promotions: z
    .strictObject({
      slots: z
        .array(z.number().int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100'))
        .max(20, 'must list at most 20 slots')
        .default([]),
      itemIds: z.array(z.string().min(1).max(200)).max(5000, 'must list at most 5000 items').default([]),
      useCatalogFlag: z.boolean().default(true),
      label: z.string().min(1).max(80).default('featured offer'),
    })
    .optional(),
  categories: z
    .record(
      z.string().min(1),
      z.strictObject({
        boost: z.number().positive('must be greater than 0').max(100, 'must be at most 100').optional(),
        bury: z.boolean().optional(),
      }),
    )
    .default({}),
  newItems: z
    .strictObject({
      maxAgeDays: z.number().min(0, 'must be at least 0').max(365, 'must be at most 365').optional(),
      share: z.number().min(0, 'must be at least 0').max(0.5, 'must be at most 0.5').optional(),
    })
    .optional(),
});
export type BusinessRules = z.infer<typeof businessRulesSchema>;

export const NO_RULES: BusinessRules = { categories: {} };

export type RulesParse = { ok: true; rules: BusinessRules } | { ok: false; issues: { field: string; reason: string }[] };

export function parseBusinessRules(value: unknown): RulesParse {
  const result = businessRulesSchema.safeParse(value);
  return result.success ? { ok: true, rules: result.data } : { ok: false, issues: zodIssues(result.error) };
}

/** The rules file, re-read at most every `ttlMs`; a broken file never replaces working rules. */
export class RulesCache {
  private rules: BusinessRules = NO_RULES;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<BusinessRules> | undefined;
  private lastText: string | undefined;

  constructor(
    private readonly blobs: ObjectStore,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(): Promise<BusinessRules> {
    if (this.clock() - this.checkedAt < this.ttlMs) return this.rules;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<BusinessRules> {
    try {
      const bytes = await this.blobs.getBytes(BUSINESS_RULES_KEY);
      this.checkedAt = this.clock();
      if (!bytes) {
        this.rules = NO_RULES;
        this.lastText = undefined;
        return this.rules;
      }
      const text = Buffer.from(bytes).toString('utf8');
      if (text === this.lastText) return this.rules;
      let parsed: RulesParse;
      try {
        parsed = parseBusinessRules(JSON.parse(text));
      } catch (error) {
        parsed = { ok: false, issues: [{ field: '(file)', reason: `malformed JSON: ${(error as Error).message}` }] };
      }
      this.lastText = text;
      if (parsed.ok) {
        this.rules = parsed.rules;
        logger.info('business rules loaded', { key: BUSINESS_RULES_KEY });
      } else {
        metrics.addMetric('BusinessRulesInvalid', 'Count', 1);
        logger.error('business rules file is invalid; the previous rules stay in force', { key: BUSINESS_RULES_KEY, issues: parsed.issues });
      }
    } catch (error) {
      this.checkedAt = this.clock();
      logger.error('business rules could not be read; the previous rules stay in force', { key: BUSINESS_RULES_KEY, error: error as Error });
    }
    return this.rules;
  }
}
