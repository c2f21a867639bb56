// What a failure looks like in a log line: never the driver's message, which quotes SQL and its
// bound parameters.
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../workers/db/client";
import { failureReason } from "../workers/log";

describe("failureReason", () => {
  it("gives a storage failure's code, not the statement or its parameters", async () => {
    const marker = `guest-phone-${crypto.randomUUID()}`;
    const raw = await env.DB.prepare("INSERT INTO no_such_table (x) VALUES (?)").bind(marker).run().catch((error: unknown) => error);
    const wrapped = await openDatabase(env.DB).run(sql`INSERT INTO no_such_table (x) VALUES (${marker})`).catch((error: unknown) => error);
    for (const error of [raw, wrapped]) {
      expect(error).toBeInstanceOf(Error);
      const reason = failureReason(error);
      expect(reason).toMatch(/^storage failed: (D1|SQLITE)_[A-Z_]+$|^storage failed: \w+$/);
      expect(reason).not.toContain(marker);
      expect(reason).not.toContain("no_such_table");
    }
  });

  it("keeps the first line of other errors", () => {
    expect(failureReason(new TypeError("groq answered 503\nmore"))).toBe("TypeError: groq answered 503");
  });
});
