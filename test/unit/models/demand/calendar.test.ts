import { describe, expect, it } from 'vitest';
import { HolidayCalendar, holidaysOf, parseMarkets, SPRING_FESTIVAL, thanksgiving } from '../../../../models/demand/calendar';

describe('holiday calendar', () => {
  it('has a Spring Festival date for every year 2009–2030, all in late January or February', () => {
    for (let year = 2009; year <= 2030; year++) {
      const day = SPRING_FESTIVAL[year] as string;
      expect(day.startsWith(`${year}-0`)).toBe(true);
      expect(day >= `${year}-01-21` && day <= `${year}-02-20`).toBe(true);
    }
    expect(SPRING_FESTIVAL[2024]).toBe('2024-02-10');
    expect(SPRING_FESTIVAL[2026]).toBe('2026-02-17');
  });

  it('puts Black Friday the day after the fourth Thursday of November', () => {
    expect(thanksgiving(2010)).toBe('2010-11-25');
    expect(thanksgiving(2024)).toBe('2024-11-28');
    expect(holidaysOf(2026, ['US']).map((h) => `${h.day} ${h.name}`)).toEqual([
      '2026-11-27 Black Friday',
      '2026-11-30 Cyber Monday',
      '2026-12-25 Christmas Day',
    ]);
  });

  it('lists the markets asked for: China with 618 and Double 11/12, the UK with Boxing Day', () => {
    expect(holidaysOf(2025, ['CN']).map((h) => h.name)).toEqual(['Spring Festival', '618', 'Double 11', 'Double 12']);
    expect(holidaysOf(2025, ['UK']).map((h) => h.day)).toEqual(['2025-11-28', '2025-12-25', '2025-12-26']);
  });

  it('gives day features: on, in the 7 days before and after a holiday', () => {
    const uk = new HolidayCalendar(['UK']);
    expect(uk.features('2025-12-25')).toEqual({ holiday: 1, preHoliday: 1, postHoliday: 0 }); // Boxing Day follows
    expect(uk.features('2025-12-20')).toEqual({ holiday: 0, preHoliday: 1, postHoliday: 0 });
    expect(uk.features('2026-01-01')).toEqual({ holiday: 0, preHoliday: 0, postHoliday: 1 });
    expect(uk.features('2025-11-11').holiday).toBe(0);
    expect(new HolidayCalendar(['CN']).features('2025-11-11').holiday).toBe(1);
  });

  it('parses a market list and names unknown markets', () => {
    expect(parseMarkets(' cn, UK ,cn')).toEqual(['CN', 'UK']);
    expect(parseMarkets(undefined)).toEqual(['CN', 'UK', 'US']);
    expect(() => parseMarkets('UK,FR')).toThrow(/unknown market\(s\) FR/);
  });
});
