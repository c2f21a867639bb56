// Keeps the index from staying stale: every few minutes, documents whose indexed hash or model
// is not their current one (a lost queue message, a queue that ran without a consumer, a new
// embedder model) are sent to the vectorize queue again. The queue path alone makes a new
// document searchable; this only finishes what it did not. The admin API's revectorize uses
// the same selection on demand. Units indexed without their summary because the summarizer's
// model was unavailable or failing (the summary backlog) are sent again, rebuilt, once the
// model answers.
//
// A dead-lettered document is left to the operator's replay only while it is what failed: once
// its content changed since it was dead-lettered, the sweep sends it like any stale document,
// and its dead letter is closed (superseded) when the index holds it.
import { eq, sql, type SQL } from "drizzle-orm";
import { openDatabase, type Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { withStorage } from "../db/with-storage";
import { documents, summaryBacklog } from "../db/schema";
import { enqueueDocuments } from "../documents/sync-documents";
import { modelOutage, skipModel } from "../llm/model-outages";
import { logInfo } from "../log";
import { vectorizeProviders, type VectorizeProviders } from "./providers";

/** Every other tick of the cron dispatcher. */
export const CATCH_UP_SCHEDULE = "*/10 * * * *";
/** Younger documents are still in the queue's hands. */
export const CATCH_UP_MIN_AGE_MS = 2 * 60_000;
/** A document sent this recently is still being retried by the queue (its retries span about 10 minutes). */
export const RESEND_AFTER_MS = 15 * 60_000;
export const CATCH_UP_BATCH = 500;

/** A document whose index is not its current text in `model`'s space. */
const staleIn = (model: string) =>
  sql`(${documents.indexedHash} IS NULL OR ${documents.indexedHash} <> ${documents.contentHash} OR ${documents.indexedModel} IS NOT ${model})`;

/** Its indexed text is not its current text: exactly the rows of the partial index documents_stale_idx. */
const hashStale = sql`(${documents.indexedHash} IS NULL OR ${documents.indexedHash} <> ${documents.contentHash})`;
/** Indexed in another model's space, or with no model recorded: ranges of documents_indexed_model_idx. */
const otherModel = (model: string) => sql`(${documents.indexedModel} < ${model} OR ${documents.indexedModel} > ${model} OR ${documents.indexedModel} IS NULL)`;

/**
 * Not a document an open dead letter holds as it failed: an operator replays those, the sweep
 * does not loop on them. A dead letter recorded before content hashes were (null) holds the
 * document until it is written again.
 */
const notDeadLettered = sql`NOT EXISTS (SELECT 1 FROM "dead_letters" WHERE "dead_letters"."document_id" = ${documents.id}
  AND "dead_letters"."replayed_at" IS NULL AND "dead_letters"."superseded_at" IS NULL
  AND ("dead_letters"."content_hash" = ${documents.contentHash} OR ("dead_letters"."content_hash" IS NULL AND ${documents.updatedAt} <= "dead_letters"."dead_at")))`;

/** Sends `ids` to the vectorize queue, then records when (one D1 statement). */
export async function sendForVectorizing(db: Database, queue: Queue, ids: readonly string[], options: { force?: boolean; now: number }): Promise<void> {
  if (ids.length === 0) return;
  await withStorage("sending to the vectorize queue", () => enqueueDocuments(queue, ids.map((id) => ({ id })), { force: options.force }));
  await withStorage("recording the send", () =>
    db.$client.batch([prepare(db, sql`UPDATE ${documents} SET "enqueued_at" = ${options.now} WHERE ${inIdList(documents.id, ids)}`)]),
  );
}

/**
 * Sends (forced: the units are indexed, only their summary is missing) the documents of units in
 * the summary backlog, once the summarizer's model answers. While it is known not to, nothing;
 * every PROBE_INTERVAL_MS one unit, whose batch asks the model again.
 */
async function resendSummaryBacklog(env: Env, db: Database, providers: VectorizeProviders, now: number): Promise<number> {
  const summarizer = providers.summarizer;
  if (!summarizer) return 0;
  const outage = summarizer.modelRole ? await modelOutage(db, summarizer.modelRole) : null;
  if (skipModel(outage, now)) return 0;
  const rows = await withStorage("picking units without their summary", () =>
    db
      .select({ id: summaryBacklog.documentId })
      .from(summaryBacklog)
      .innerJoin(documents, eq(documents.id, summaryBacklog.documentId))
      .where(sql`(${documents.enqueuedAt} IS NULL OR ${documents.enqueuedAt} < ${now - RESEND_AFTER_MS}) AND ${notDeadLettered}`)
      .orderBy(summaryBacklog.since)
      .limit(outage ? 1 : CATCH_UP_BATCH),
  );
  if (rows.length === 0) return 0;
  await sendForVectorizing(db, env.VECTORIZE_QUEUE, rows.map((row) => row.id), { force: true, now });
  logInfo("summary backlog resent", { enqueued: rows.length, model: summarizer.model, probe: outage !== null });
  return rows.length;
}

export async function catchUpStaleDocuments(env: Env, now = Date.now()): Promise<{ enqueued: number; summaryBacklog: number }> {
  const db = openDatabase(env.DB);
  const providers = await vectorizeProviders(env, db);
  const { embedder } = providers;
  const due = sql`${documents.updatedAt} < ${now - CATCH_UP_MIN_AGE_MS}
    AND (${documents.enqueuedAt} IS NULL OR ${documents.enqueuedAt} < ${now - RESEND_AFTER_MS}) AND ${notDeadLettered}`;
  const pick = (stale: SQL) =>
    db.select({ id: documents.id, updatedAt: documents.updatedAt }).from(documents).where(sql`${stale} AND ${due}`).orderBy(documents.updatedAt).limit(CATCH_UP_BATCH);
  // Two selections, each answered from its index: as one `OR` (staleIn), SQLite read every
  // document on every run (bench:cost); these read the stale ones.
  const picked = await withStorage("picking stale documents", async () => [...(await pick(hashStale)), ...(await pick(otherModel(embedder.model)))]);
  const rows = [...new Map(picked.map((row) => [row.id, row])).values()].sort((a, b) => a.updatedAt - b.updatedAt).slice(0, CATCH_UP_BATCH);
  if (rows.length > 0) {
    await sendForVectorizing(db, env.VECTORIZE_QUEUE, rows.map((row) => row.id), { now });
    logInfo("vectorize catch-up", { enqueued: rows.length, model: embedder.model });
  }
  return { enqueued: rows.length, summaryBacklog: await resendSummaryBacklog(env, db, providers, now) };
}

export type RevectorizeRequest = {
  /** Also documents that look indexed as they are. */
  force: boolean;
  filter: { source?: string | undefined; kind?: string | undefined; ids?: readonly string[] | undefined };
  limit: number;
  /** Continue after this document id (the previous answer's `next`). */
  after?: string | undefined;
};

/** Sends the documents the request selects, in id order, at most `limit` of them. */
export async function revectorize(env: Env, request: RevectorizeRequest, now = Date.now()): Promise<{ enqueued: number; next: string | null }> {
  const db = openDatabase(env.DB);
  const { embedder } = await vectorizeProviders(env, db);
  const conditions: SQL[] = [];
  if (!request.force) conditions.push(staleIn(embedder.model));
  if (request.filter.source) conditions.push(sql`${documents.source} = ${request.filter.source}`);
  if (request.filter.kind) conditions.push(sql`${documents.kind} = ${request.filter.kind}`);
  if (request.filter.ids) conditions.push(inIdList(documents.id, request.filter.ids));
  if (request.after) conditions.push(sql`${documents.id} > ${request.after}`);
  const where = conditions.length > 0 ? sql.join(conditions, sql` AND `) : sql`true`;
  const rows = await withStorage("selecting documents", () =>
    db.select({ id: documents.id }).from(documents).where(where).orderBy(documents.id).limit(request.limit + 1),
  );
  const page = rows.slice(0, request.limit).map((row) => row.id);
  await sendForVectorizing(db, env.VECTORIZE_QUEUE, page, { force: request.force, now });
  return { enqueued: page.length, next: rows.length > request.limit ? page.at(-1) ?? null : null };
}
