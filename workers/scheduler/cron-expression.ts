// Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC
// as Cloudflare's cron triggers are. The Worker has one trigger; the jobs' own times are
// expressions like these, read by the dispatcher. Fields take `*`, numbers, ranges `a-b`, lists
// `a,b` and steps `*/n` or `a-b/n`; day-of-week 0-7 (0 and 7 are Sunday). As in Vixie cron and
// Cloudflare's triggers, when both day fields are restricted a day matching either one matches.

export type CronExpression = {
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  readonly dayOfMonthRestricted: boolean;
  readonly dayOfWeekRestricted: boolean;
};

export class CronSyntaxError extends Error {
  constructor(readonly expression: string, reason: string) {
    super(`not a cron expression (${reason})`);
    this.name = "CronSyntaxError";
  }
}

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

function parseField(text: string, field: (typeof FIELDS)[number], expression: string): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw new CronSyntaxError(expression, `${field.name} "${part}"`);
    const [, whole, first, last, stepText] = match;
    const from = whole === "*" ? field.min : Number(first);
    // `5/15` means from 5 to the end, as in Vixie cron.
    const to = whole === "*" ? field.max : last !== undefined ? Number(last) : stepText !== undefined ? field.max : from;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (from < field.min || to > field.max || from > to || step < 1) throw new CronSyntaxError(expression, `${field.name} "${part}" outside ${field.min}-${field.max}`);
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return values;
}

export function parseCron(expression: string): CronExpression {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new CronSyntaxError(expression, "five fields: minute hour day-of-month month day-of-week");
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = parts.map((part, index) => parseField(part, FIELDS[index]!, expression)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  if (daysOfWeek.delete(7)) daysOfWeek.add(0);
  return {
    source: expression.trim(),
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    dayOfMonthRestricted: parts[2] !== "*",
    dayOfWeekRestricted: parts[4] !== "*",
  };
}

function dayMatches(cron: CronExpression, day: Date): boolean {
  if (!cron.months.has(day.getUTCMonth() + 1)) return false;
  const byMonthDay = cron.daysOfMonth.has(day.getUTCDate());
  const byWeekDay = cron.daysOfWeek.has(day.getUTCDay());
  if (cron.dayOfMonthRestricted && cron.dayOfWeekRestricted) return byMonthDay || byWeekDay;
  return byMonthDay && byWeekDay;
}

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** Far enough back for any expression that fires at all (29 February comes within 8 years). */
const SEARCH_DAYS = 8 * 366 + 1;

/** The latest time (ms, on a minute) at or before `at` that the expression fires; null if none within eight years. */
export function previousOccurrence(cron: CronExpression, at: number): number | null {
  const lastMinute = Math.floor(at / MINUTE_MS) * MINUTE_MS;
  const startOfDay = Math.floor(lastMinute / DAY_MS) * DAY_MS;
  for (let dayIndex = 0; dayIndex < SEARCH_DAYS; dayIndex += 1) {
    const dayStart = startOfDay - dayIndex * DAY_MS;
    if (!dayMatches(cron, new Date(dayStart))) continue;
    const latest = dayIndex === 0 ? (lastMinute - dayStart) / MINUTE_MS : 24 * 60 - 1;
    for (let minuteOfDay = latest; minuteOfDay >= 0; minuteOfDay -= 1) {
      const hour = Math.floor(minuteOfDay / 60);
      if (!cron.hours.has(hour)) {
        minuteOfDay = hour * 60; // the loop's decrement moves to the previous hour's last minute
        continue;
      }
      if (cron.minutes.has(minuteOfDay % 60)) return dayStart + minuteOfDay * MINUTE_MS;
    }
  }
  return null;
}
