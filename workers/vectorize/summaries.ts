// Summaries for the long units of a batch: read from the cache in one query, the missing ones
// asked of the summarizer (a few at a time) and stored in one statement. A unit's summary is
// keyed by the summarizer's model and the unit's text, so an unchanged unit is never summarized
// twice, and a changed one is summarized again.
import { sql } from "drizzle-orm";
import { sha256Hex } from "../auth/constant-time";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { documentSummaries } from "../db/schema";
import { withStorage } from "../db/with-storage";
import type { Summarizer } from "./groq-summarizer";
import type { IndexUnit } from "./index-units";

/** Summaries asked of the summarizer at once: a batch's long calls would otherwise burst its rate limit. */
const CONCURRENCY = 4;

export type SummaryStats = { summarized: number; summaryCacheHits: number };

/** Unit id -> summary, for the units long enough to get one. */
export async function summariesFor(
  db: Database,
  summarizer: Summarizer,
  units: readonly IndexUnit[],
  now: number,
): Promise<{ summaries: Map<string, string>; stats: SummaryStats }> {
  const long = units.filter((unit) => unit.header.length + unit.body.length >= summarizer.minChars && unit.body.trim().length > 0);
  const stats: SummaryStats = { summarized: 0, summaryCacheHits: 0 };
  if (long.length === 0) return { summaries: new Map(), stats };
  const keyed = await Promise.all(long.map(async (unit) => ({ unit, key: await sha256Hex(`${summarizer.model}\n${unit.header}\n${unit.body}`) })));
  const cached = await withStorage("reading summaries", () =>
    db.select({ key: documentSummaries.key, summary: documentSummaries.summary }).from(documentSummaries).where(inIdList(documentSummaries.key, keyed.map((entry) => entry.key))),
  );
  const byKey = new Map(cached.map((row) => [row.key, row.summary]));
  stats.summaryCacheHits = keyed.filter((entry) => byKey.has(entry.key)).length;

  const missing = keyed.filter((entry) => !byKey.has(entry.key));
  const made: { key: string; summary: string }[] = [];
  for (let start = 0; start < missing.length; start += CONCURRENCY) {
    const slice = missing.slice(start, start + CONCURRENCY);
    const summaries = await Promise.all(slice.map((entry) => summarizer.summarize(entry.unit.title, entry.unit.body)));
    slice.forEach((entry, index) => made.push({ key: entry.key, summary: summaries[index]! }));
  }
  if (made.length > 0) {
    const rows = JSON.stringify(made.map((entry) => ({ ...entry, model: summarizer.model, createdAt: now })));
    await withStorage("storing summaries", () =>
      db.$client.batch([
        prepare(
          db,
          sql`INSERT INTO ${documentSummaries} ("key", "model", "summary", "created_at")
            SELECT json_extract(value, '$.key'), json_extract(value, '$.model'), json_extract(value, '$.summary'), json_extract(value, '$.createdAt')
            FROM json_each(${rows}) WHERE true ON CONFLICT ("key") DO NOTHING`,
        ),
      ]),
    );
    for (const entry of made) byKey.set(entry.key, entry.summary);
  }
  stats.summarized = made.length;
  return { summaries: new Map(keyed.map((entry) => [entry.unit.id, byKey.get(entry.key)!])), stats };
}
