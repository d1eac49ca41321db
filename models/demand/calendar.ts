/**
 * Holiday calendars for the markets a shop sells in (the demand family's calendar features).
 *
 * - CN: Spring Festival (Chinese New Year's Day, from a table for 2009–2030; the peak is the weeks
 *   BEFORE it and trade is thin for about a week after), 618 (18 June), Double 11 (11 November) and
 *   Double 12 (12 December).
 * - UK: Black Friday (the Friday after the fourth Thursday of November), Christmas Day and Boxing Day.
 * - US: Black Friday, Cyber Monday, Christmas Day.
 *
 * Markets are a comma-separated list (`DEMAND_MARKETS` or the family's `markets` hyperparameter),
 * default `CN,UK,US`. Days are UTC `YYYY-MM-DD` strings.
 */

export const MARKETS = ['CN', 'UK', 'US'] as const;
export type Market = (typeof MARKETS)[number];
export const DEFAULT_MARKETS = 'CN,UK,US';

/** Chinese New Year's Day (first day of the first lunar month), 2009–2030. */
export const SPRING_FESTIVAL: Readonly<Record<number, string>> = {
  2009: '2009-01-26',
  2010: '2010-02-14',
  2011: '2011-02-03',
  2012: '2012-01-23',
  2013: '2013-02-10',
  2014: '2014-01-31',
  2015: '2015-02-19',
  2016: '2016-02-08',
  2017: '2017-01-28',
  2018: '2018-02-16',
  2019: '2019-02-05',
  2020: '2020-01-25',
  2021: '2021-02-12',
  2022: '2022-02-01',
  2023: '2023-01-22',
  2024: '2024-02-10',
  2025: '2025-01-29',
  2026: '2026-02-17',
  2027: '2027-02-06',
  2028: '2028-01-26',
  2029: '2029-02-13',
  2030: '2030-02-03',
};

export interface Holiday {
  day: string;
  name: string;
  market: Market;
}

const iso = (year: number, month: number, day: number) => new Date(Date.UTC(year, month - 1, day)).toISOString().slice(0, 10);

/** The fourth Thursday of November (US Thanksgiving); Black Friday is the day after. */
export function thanksgiving(year: number): string {
  const firstDow = new Date(Date.UTC(year, 10, 1)).getUTCDay(); // 0 Sunday … 4 Thursday
  const firstThursday = 1 + ((4 - firstDow + 7) % 7);
  return iso(year, 11, firstThursday + 21);
}

const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** Parses a market list ("CN, uk,US"); unknown markets are an error naming them. */
export function parseMarkets(value: string | undefined): Market[] {
  const list = (value ?? DEFAULT_MARKETS)
    .split(',')
    .map((m) => m.trim().toUpperCase())
    .filter(Boolean);
  const unknown = list.filter((m) => !(MARKETS as readonly string[]).includes(m));
  if (unknown.length) throw new Error(`unknown market(s) ${unknown.join(', ')}; known: ${MARKETS.join(', ')}`);
  return [...new Set(list)] as Market[];
}

/** The holidays of one year in the given markets, sorted by day. */
export function holidaysOf(year: number, markets: readonly Market[]): Holiday[] {
  const out: Holiday[] = [];
  for (const market of markets) {
    if (market === 'CN') {
      const sf = SPRING_FESTIVAL[year];
      if (sf) out.push({ day: sf, name: 'Spring Festival', market });
      out.push(
        { day: iso(year, 6, 18), name: '618', market },
        { day: iso(year, 11, 11), name: 'Double 11', market },
        { day: iso(year, 12, 12), name: 'Double 12', market },
      );
    } else {
      const bf = addDays(thanksgiving(year), 1);
      out.push({ day: bf, name: 'Black Friday', market }, { day: iso(year, 12, 25), name: 'Christmas Day', market });
      if (market === 'UK') out.push({ day: iso(year, 12, 26), name: 'Boxing Day', market });
      else out.push({ day: addDays(bf, 3), name: 'Cyber Monday', market });
    }
  }
  return out.sort((a, b) => a.day.localeCompare(b.day) || a.market.localeCompare(b.market));
}

/** Calendar features of one day, all in [0, 1]. */
export interface DayCalendar {
  /** A holiday of any listed market falls on the day. */
  holiday: number;
  /** A holiday falls in the next 7 days (the run-up: shopping peaks before Christmas and the Spring Festival). */
  preHoliday: number;
  /** The day is in the 7 days after a holiday (trade is thin after Christmas and the Spring Festival). */
  postHoliday: number;
}

/** Looks days up in the calendar of the listed markets (holiday lists cached per year). */
export class HolidayCalendar {
  private readonly byYear = new Map<number, Set<string>>();
  constructor(readonly markets: readonly Market[]) {}

  private daysOf(year: number): Set<string> {
    let set = this.byYear.get(year);
    if (!set) {
      set = new Set(holidaysOf(year, this.markets).map((h) => h.day));
      this.byYear.set(year, set);
    }
    return set;
  }

  isHoliday(day: string): boolean {
    return this.daysOf(Number(day.slice(0, 4))).has(day);
  }

  features(day: string): DayCalendar {
    let pre = 0;
    let post = 0;
    for (let k = 1; k <= 7; k++) {
      if (this.isHoliday(addDays(day, k))) pre = 1;
      if (this.isHoliday(addDays(day, -k))) post = 1;
    }
    return { holiday: this.isHoliday(day) ? 1 : 0, preHoliday: pre, postHoliday: post };
  }
}
