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
// without a summary. A rate limit (429) fails the batch, which the queue retries after Groq's
// Retry-After. Any other failure (a 5xx, a timeout, a lost connection) leaves the unit without
// its summary too, in the backlog, which the catch-up sends again (forced) on a later tick: the
// documents are searchable at once, and a Groq outage dead-letters nothing. After a round of
// requests in which none answered, the rest of the batch is not asked (they join the backlog).
import { sql, type SQL } from "drizzle-orm";
import { sha256Hex } from "../auth/constant-time";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { documentSummaries, summaryBacklog } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { GroqApiError, GroqModelUnavailable } from "../llm/groq-chat";
import { clearModelOutage, modelOutage, reportModelUnavailable, skipModel } from "../llm/model-outages";
import { ProviderRateLimited } from "../http/provider-errors";
import { failureReason, logError, logWarn } from "../log";
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

/** A provider's "too many requests", anywhere along the cause chain: the queue waits, nothing is anyone's fault. */
export function isRateLimited(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    if (current instanceof ProviderRateLimited) return true;
  }
  return false;
}

/**
 * Unit id -> summary, for the units long enough to get one; `lacking`: those the model could not
 * serve (unavailable, or failing). Throws only when Groq rate-limits (after storing what it made).
 */
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
  const failed: Keyed[] = [];
  let unavailable: GroqModelUnavailable | null = null;
  let rateLimited: unknown = null;
  let failure: unknown = null;
  let answered = false;
  // Known not to answer, and asked recently: not asked again for this batch.
  const skip = skipModel(outage, now);
  if (skip) lacking.push(...missing);
  let stoppedAt: number | null = null;
  for (let start = 0; !skip && start < missing.length; start += CONCURRENCY) {
    const slice = missing.slice(start, start + CONCURRENCY);
    const settled = await Promise.allSettled(slice.map((entry) => summarizer.summarize(entry.unit.title, entry.unit.body)));
    let answeredInSlice = false;
    for (const [index, entry] of slice.entries()) {
      const result = settled[index]!;
      if (result.status === "fulfilled") {
        made.push({ key: entry.key, summary: result.value });
        answered = answeredInSlice = true;
      } else if (result.reason instanceof GroqModelUnavailable) {
        unavailable = result.reason;
        lacking.push(entry);
      } else if (result.reason instanceof GroqApiError && (result.reason.kind === "incomplete" || result.reason.kind === "empty")) {
        unfinished.push(entry);
        answered = answeredInSlice = true;
      } else if (isRateLimited(result.reason)) {
        rateLimited ??= result.reason;
      } else {
        failure ??= result.reason;
        failed.push(entry);
      }
    }
    // Rate-limited: the batch waits. The model is gone, or nothing answered: the rest is not asked.
    if (rateLimited !== null || unavailable !== null || (failure !== null && !answeredInSlice)) {
      stoppedAt = start + CONCURRENCY;
      break;
    }
  }
  if (role && unavailable !== null) await reportModelUnavailable(db, role, unavailable.code, now);
  else if (role && outage !== null && answered) await clearModelOutage(db, role);
  if (rateLimited === null && stoppedAt !== null) {
    // Not asked: they wait in the backlog with the ones that failed (or whose model is gone).
    (unavailable !== null ? lacking : failed).push(...missing.slice(stoppedAt));
  }
  if (unfinished.length > 0) {
    logWarn("summaries not finished", { model: summarizer.model, units: unfinished.length, reason: "the reply ended before the summary (completion budget)" });
  }
  if (failed.length > 0 && rateLimited === null) {
    logError("summaries failed", { model: summarizer.model, units: failed.length, reason: failureReason(failure), effect: "indexed without them; the catch-up asks again", alert: false });
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
  // What was made is kept: the retry after Groq's Retry-After asks only for the rest.
  if (rateLimited !== null) throw rateLimited;
  stats.summarized = made.length;
  stats.summariesMissing = lacking.length + unfinished.length + failed.length;
  return {
    summaries: new Map(keyed.flatMap((entry) => (byKey.has(entry.key) ? [[entry.unit.id, byKey.get(entry.key)!] as const] : []))),
    stats,
    lacking: [...lacking, ...failed].map((entry) => entry.unit),
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
