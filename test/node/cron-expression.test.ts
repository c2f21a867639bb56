// The five-field cron expressions the dispatcher and BACKUP_SCHEDULE use (UTC, Vixie semantics).
import { describe, expect, it } from "vitest";
import { CronSyntaxError, parseCron, previousOccurrence } from "../../workers/scheduler/cron-expression.ts";

const at = (iso: string) => Date.parse(iso);
const previous = (expression: string, iso: string) => {
  const found = previousOccurrence(parseCron(expression), at(iso));
  return found === null ? null : new Date(found).toISOString();
};

describe("cron expressions", () => {
  it("finds the latest occurrence at or before a time", () => {
    expect(previous("17 3 * * *", "2026-12-06T03:17:00Z")).toBe("2026-12-06T03:17:00.000Z");
    expect(previous("17 3 * * *", "2026-12-06T03:16:59Z")).toBe("2026-12-05T03:17:00.000Z");
    expect(previous("17 3 * * *", "2026-12-06T12:00:00Z")).toBe("2026-12-06T03:17:00.000Z");
    expect(previous("*/5 * * * *", "2026-12-06T12:34:56Z")).toBe("2026-12-06T12:30:00.000Z");
    expect(previous("*/10 * * * *", "2026-12-06T12:09:00Z")).toBe("2026-12-06T12:00:00.000Z");
    expect(previous("5/15 * * * *", "2026-12-06T12:04:00Z")).toBe("2026-12-06T11:50:00.000Z");
  });

  it("reads days of the week (0 and 7 are Sunday), ranges, lists and steps", () => {
    // 2026-12-06 is a Sunday.
    expect(previous("47 4 * * 0", "2026-12-06T04:50:00Z")).toBe("2026-12-06T04:47:00.000Z");
    expect(previous("47 4 * * 7", "2026-12-06T04:46:00Z")).toBe("2026-11-29T04:47:00.000Z");
    expect(previous("0 9-17/4 * * 1-5", "2026-12-06T12:00:00Z")).toBe("2026-12-04T17:00:00.000Z");
    expect(previous("30 6,18 * * *", "2026-12-06T17:00:00Z")).toBe("2026-12-06T06:30:00.000Z");
  });

  it("matches either day field when both are restricted, as cron does", () => {
    // The 1st of the month or any Monday: Monday 2026-11-30 comes before 2026-12-01.
    expect(previous("0 0 1 * 1", "2026-11-30T12:00:00Z")).toBe("2026-11-30T00:00:00.000Z");
    expect(previous("0 0 1 * 1", "2026-12-01T12:00:00Z")).toBe("2026-12-01T00:00:00.000Z");
    expect(previous("0 0 1 * *", "2026-11-30T12:00:00Z")).toBe("2026-11-01T00:00:00.000Z");
  });

  it("reaches back to a 29 February and says null for a day that never comes", () => {
    expect(previous("0 12 29 2 *", "2026-12-06T00:00:00Z")).toBe("2024-02-29T12:00:00.000Z");
    expect(previous("0 0 30 2 *", "2026-12-06T00:00:00Z")).toBeNull();
  });

  it("refuses what is not a five-field expression in range", () => {
    for (const bad of ["", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "17 3 * * * *"]) {
      expect(() => parseCron(bad), bad).toThrow(CronSyntaxError);
    }
  });
});
