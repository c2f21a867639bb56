// Processing of stored events, off the response path: run by the intake queue's consumer, by
// the sweep that finishes events left "received", and (for one event) by the admin replay.
//
// For a whole batch of events it takes four round trips, however many events there are:
//   1. one D1 transaction: every entity upsert (guarded per field), and the final status of
//      events with nothing to normalize,
//   2. one D1 batch: the documents of the entities that changed,
//   3. one queue sendBatch per 100 documents whose text the vectorize queue has not accepted,
//   4. one D1 batch: the events marked processed, and what the queue accepted.
// Each step is idempotent, so a failed batch is simply tried again (the queue retries the
// message, the sweep retries the event); nothing half-written blocks it. Only events still
// "received" are loaded (outside a replay); if the queue and the sweep ever process one event
// at the same moment, the second application writes the same values again, nothing older.
import { eq, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { withStorage } from "../db/with-storage";
import { webhookEvents, type EventStatus } from "../db/schema";
import { documentId } from "../documents/build-text";
import {
  documentsOfChanges,
  documentsToEnqueue,
  draftDocuments,
  enqueueDocuments,
  markEnqueuedStatement,
  upsertDocumentsStatements,
  writtenDocuments,
} from "../documents/sync-documents";
import type { EntityChange } from "../entities/registry";
import { prepare } from "../db/prepare";
import { storedEntities, upsertEntitiesStatements } from "../entities/upsert";
import { AppError } from "../http/errors";
import { parseJsonObject } from "../http/read-json-body";
import { logError } from "../log";
import { normalizeEvent } from "./normalize-event";
import type { Normalization } from "./normalization";

export type ProcessDeps = { db: Database; vectorizeQueue: Queue };

export type ProcessedEvent = { id: string; status: EventStatus; documentsEnqueued: number };

type Loaded = { id: string; normalization: Normalization };

async function loadEvents(deps: ProcessDeps, ids: readonly string[], replay: boolean): Promise<Loaded[]> {
  const found = await withStorage("loading events", () =>
    deps.db
      .select({ id: webhookEvents.id, source: webhookEvents.source, type: webhookEvents.type, payload: webhookEvents.payload, receivedAt: webhookEvents.receivedAt, status: webhookEvents.status })
      .from(webhookEvents)
      // By id only: with `status = 'received'` in the query SQLite chose the status index and
      // read every unfinished event to find these (bench:cost), however few were asked for.
      .where(inIdList(webhookEvents.id, ids)),
  );
  // Outside a replay only unfinished events are processed: a late queue message for an event
  // the sweep already finished changes nothing.
  const rows = replay ? found : found.filter((row) => row.status === "received");
  return rows.map((row) => {
    // Intake stored only bodies that parsed as JSON objects; a row edited since is kept, as failed.
    try {
      return { id: row.id, normalization: normalizeEvent(row.source, row.type, parseJsonObject(row.payload), row.receivedAt) };
    } catch {
      return { id: row.id, normalization: { status: "failed", error: "stored payload is not a JSON object" } };
    }
  });
}

/**
 * Processes the stored events `ids` together. Unknown ids, and (outside a replay) events no
 * longer "received", are skipped. A replay re-sends every document its event touches, changed
 * or not. Throws an AppError (503) when D1 or the queue fails; nothing is then lost.
 */
export async function processEvents(
  deps: ProcessDeps,
  ids: readonly string[],
  options: { replay?: boolean; now?: number } = {},
): Promise<ProcessedEvent[]> {
  const replay = options.replay ?? false;
  const now = options.now ?? Date.now();
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const events = await loadEvents(deps, unique, replay);
  if (events.length === 0) return [];

  // Step 1. One statement per kind and column set, then the events final without entities.
  const changes: EntityChange[] = events.flatMap(({ normalization }) => (normalization.status === "processed" ? normalization.changes : []));
  const upserts = upsertEntitiesStatements(changes, now);
  const finals = events.flatMap(({ id, normalization }) =>
    normalization.status === "processed"
      ? []
      : [
          deps.db
            .update(webhookEvents)
            .set({ status: normalization.status, error: normalization.status === "failed" ? normalization.error : null, processedAt: now })
            .where(eq(webhookEvents.id, id))
            .getSQL(),
        ],
  );
  const statements = [...upserts.map((upsert) => upsert.statement), ...finals].map((statement) => prepare(deps.db, statement));
  const results = statements.length > 0 ? await withStorage("upserting entities", () => deps.db.$client.batch(statements)) : [];
  const entities = storedEntities(upserts, results);

  // Step 2.
  const drafts = await draftDocuments(entities);
  const documentRows = await withStorage("upserting documents", async () => {
    const statements = upsertDocumentsStatements(drafts, now).map((statement) => prepare(deps.db, statement));
    return statements.length > 0 ? writtenDocuments(await deps.db.$client.batch(statements)) : [];
  });

  // Step 3.
  const pending = replay
    ? await withStorage("reading documents to replay", () => documentsOfChanges(deps.db, changes))
    : documentsToEnqueue(documentRows);
  await withStorage("sending to the vectorize queue", () => enqueueDocuments(deps.vectorizeQueue, pending));

  // Step 4.
  const toProcess = events.filter((event) => event.normalization.status === "processed").map((event) => event.id);
  const marks: SQL[] = [];
  if (toProcess.length > 0) {
    marks.push(deps.db.update(webhookEvents).set({ status: "processed", error: null, processedAt: now }).where(inIdList(webhookEvents.id, toProcess)).getSQL());
  }
  const enqueuedMark = markEnqueuedStatement(pending, now);
  if (enqueuedMark) marks.push(enqueuedMark);
  if (marks.length > 0) await withStorage("marking events processed", () => deps.db.$client.batch(marks.map((mark) => prepare(deps.db, mark))));

  const enqueuedByEvent = countDocumentsByEvent(events, new Set(pending.map((document) => document.id)));
  return events.map(({ id, normalization }) => ({ id, status: normalization.status, documentsEnqueued: enqueuedByEvent.get(id) ?? 0 }));
}

/** How many of the documents sent belong to each event (for the replay's answer and logs). */
function countDocumentsByEvent(events: readonly Loaded[], sent: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { id, normalization } of events) {
    if (normalization.status !== "processed") continue;
    const documentIds = new Set(normalization.changes.map((change) => documentId(change.kind, change.fields.id)));
    counts.set(id, [...documentIds].filter((touched) => sent.has(touched)).length);
  }
  return counts;
}

/** AppErrors carry a reason safe to log (cause and code); anything else is named, never quoted. */
const reasonOf = (error: unknown) => (error instanceof AppError ? error.internalReason : error instanceof Error ? error.name : "unknown");

export type IsolatedOutcome = { processed: string[]; failed: { id: string; reason: string }[] };

/**
 * Processes `ids` as one batch; when the batch fails, each event alone, so one event that
 * cannot be processed does not hold back the others.
 */
export async function processIsolating(deps: ProcessDeps, ids: readonly string[], now?: number): Promise<IsolatedOutcome> {
  try {
    await processEvents(deps, ids, { now });
    return { processed: [...ids], failed: [] };
  } catch (error) {
    if (new Set(ids).size === 1) return { processed: [], failed: [{ id: ids[0]!, reason: reasonOf(error) }] };
    logError("batch processing failed, processing events one by one", { events: ids.length, reason: reasonOf(error), alert: false });
    const outcome: IsolatedOutcome = { processed: [], failed: [] };
    for (const id of new Set(ids)) {
      try {
        await processEvents(deps, [id], { now });
        outcome.processed.push(id);
      } catch (error) {
        outcome.failed.push({ id, reason: reasonOf(error) });
      }
    }
    return outcome;
  }
}
