// Summaries for the long units of a batch: read from the cache in one query, the missing ones
// asked of the summarizer (a few at a time) and stored in one statement. A unit's summary is
// keyed by the summarizer's model and the unit's text, so an unchanged unit is never summarized
// twice, and a changed one is summarized again.
//
// A model Groq no longer serves (model_not_found / model_decommissioned) is a configuration
// error, not a reason to fail the batch: the units are indexed without summaries and kept in
// `summary_backlog`, the outage is recorded (one alert naming GROQ_MODEL, workers/llm/
// model-outages.ts), and later batches do not ask the model until PROBE_INTERVAL_MS has passed.
// The catch-up sweep sends the backlog again once the model answers (workers/vectorize/catch-up.ts).
// A reply the model did not finish (its completion budget ran out) leaves that one unit
// without a summary. Any other failure (429, 5xx, timeout) fails the batch, which is retried.
import { sql, type SQL } from "drizzle-orm";
import { sha256Hex } from "../auth/constant-time";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { documentSummaries, summaryBacklog } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { GroqApiError, GroqModelUnavailable } from "../llm/groq-chat";
import { clearModelOutage, modelOutage, reportModelUnavailable, skipModel } from "../llm/model-outages";
import { logWarn } from "../log";
import type { Summarizer } from "./groq-summarizer";
import type { IndexUnit } from "./index-units";

/** Summaries asked of the summarizer at once: a batch's long calls would otherwise burst its rate limit. */
const CONCURRENCY = 4;

export type SummaryStats = {
  summarized: number;
  summaryCacheHits: number;
  /** Long units indexed without a summary: the model was unavailable, or did not finish. */
  summariesMissing: number;
};

type Keyed = { unit: IndexUnit; key: string };

/** Unit id -> summary, for the units long enough to get one; `lacking`: those the model could not serve. */
export async function summariesFor(
  db: Database,
  summarizer: Summarizer,
  units: readonly IndexUnit[],
  now: number,
): Promise<{ summaries: Map<string, string>; stats: SummaryStats; lacking: IndexUnit[] }> {
  const long = units.filter((unit) => unit.header.length + unit.body.length >= summarizer.minChars && unit.body.trim().length > 0);
  const stats: SummaryStats = { summarized: 0, summaryCacheHits: 0, summariesMissing: 0 };
  if (long.length === 0) return { summaries: new Map(), stats, lacking: [] };
  const keyed: Keyed[] = await Promise.all(long.map(async (unit) => ({ unit, key: await sha256Hex(`${summarizer.model}\n${unit.header}\n${unit.body}`) })));
  const cached = await withStorage("reading summaries", () =>
    db.select({ key: documentSummaries.key, summary: documentSummaries.summary }).from(documentSummaries).where(inIdList(documentSummaries.key, keyed.map((entry) => entry.key))),
  );
  const byKey = new Map(cached.map((row) => [row.key, row.summary]));
  stats.summaryCacheHits = keyed.filter((entry) => byKey.has(entry.key)).length;

  const missing = keyed.filter((entry) => !byKey.has(entry.key));
  const role = summarizer.modelRole;
  const outage = missing.length > 0 && role ? await modelOutage(db, role) : null;
  const made: { key: string; summary: string }[] = [];
  const lacking: Keyed[] = [];
  const unfinished: Keyed[] = [];
  let unavailable: GroqModelUnavailable | null = null;
  let answered = false;
  // Known not to answer, and asked recently: not asked again for this batch.
  const skip = skipModel(outage, now);
  if (skip) lacking.push(...missing);
  for (let start = 0; !skip && unavailable === null && start < missing.length; start += CONCURRENCY) {
    const slice = missing.slice(start, start + CONCURRENCY);
    const settled = await Promise.allSettled(slice.map((entry) => summarizer.summarize(entry.unit.title, entry.unit.body)));
    let failure: unknown = null;
    for (const [index, entry] of slice.entries()) {
      const result = settled[index]!;
      if (result.status === "fulfilled") {
        made.push({ key: entry.key, summary: result.value });
        answered = true;
      } else if (result.reason instanceof GroqModelUnavailable) {
        unavailable = result.reason;
        lacking.push(entry);
      } else if (result.reason instanceof GroqApiError && (result.reason.kind === "incomplete" || result.reason.kind === "empty")) {
        unfinished.push(entry);
        answered = true;
      } else {
        failure ??= result.reason;
      }
    }
    if (failure !== null) {
      if (unavailable !== null && role) await reportModelUnavailable(db, role, unavailable.code, now);
      throw failure;
    }
    // The model is gone: the rest of the batch is not asked either.
    if (unavailable !== null) lacking.push(...missing.slice(start + CONCURRENCY));
  }
  if (role && unavailable !== null) await reportModelUnavailable(db, role, unavailable.code, now);
  else if (role && outage !== null && answered) await clearModelOutage(db, role);
  if (unfinished.length > 0) {
    logWarn("summaries not finished", { model: summarizer.model, units: unfinished.length, reason: "the reply ended before the summary (completion budget)" });
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
  stats.summariesMissing = lacking.length + unfinished.length;
  return {
    summaries: new Map(keyed.flatMap((entry) => (byKey.has(entry.key) ? [[entry.unit.id, byKey.get(entry.key)!] as const] : []))),
    stats,
    lacking: lacking.map((entry) => entry.unit),
  };
}

/**
 * The backlog after indexing `indexed` (one batch's units) with `summarizer`: the units in
 * `lacking` wait for a summary, every other unit of the batch no longer does (it has one, or
 * is too short for one). Statements for the batch that records what is indexed.
 */
export function summaryBacklogStatements(summarizer: Summarizer, indexed: readonly IndexUnit[], lacking: readonly IndexUnit[], now: number): SQL[] {
  const waiting = new Set(lacking.map((unit) => unit.id));
  const done = indexed.filter((unit) => !waiting.has(unit.id)).map((unit) => unit.id);
  const statements: SQL[] = [];
  if (done.length > 0) statements.push(sql`DELETE FROM ${summaryBacklog} WHERE ${inIdList(summaryBacklog.unitId, done)}`);
  if (lacking.length > 0) {
    const rows = JSON.stringify(lacking.map((unit) => [unit.id, unit.members[0]!.id]));
    statements.push(
      sql`INSERT INTO ${summaryBacklog} ("unit_id", "document_id", "model", "since")
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ${summarizer.model}, ${now} FROM json_each(${rows}) WHERE true
        ON CONFLICT ("unit_id") DO UPDATE SET "document_id" = excluded."document_id", "model" = excluded."model"`,
    );
  }
  return statements;
}
