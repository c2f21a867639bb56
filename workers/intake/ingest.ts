// The intake pipeline shared by every webhook source and by replay:
//   1. in one D1 batch (a transaction): store the raw event once (its id is the idempotency
//      key) and upsert the normalized entities (guarded against moving backwards),
//   2. upsert their documents and send changed ones to the vectorize queue,
//   3. mark the event processed.
// A failure anywhere surfaces as 503. After step 1 the raw event stays "received", and the
// sender's retry (or a replay) runs the steps again; each is idempotent, so nothing
// half-written blocks it.
import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { withStorage as storage } from "../db/with-storage";
import { webhookEvents, type EventSource, type EventStatus } from "../db/schema";
import type { EntityChange } from "../entities/registry";
import { storedEntities, upsertEntityStatement } from "../entities/upsert";
import {
  documentsOfChanges,
  documentsToEnqueue,
  draftDocuments,
  enqueueDocuments,
  markEnqueuedStatements,
  upsertDocumentStatements,
} from "../documents/sync-documents";
import type { Normalization } from "./normalization";

export type IncomingEvent = {
  id: string;
  source: EventSource;
  type: string;
  /** The body as stored: the raw text (Guesty) or the body without its token (Aircall). */
  payload: string;
  receivedAt: number;
};

export type IngestResult = { duplicate: boolean; status: EventStatus; documentsEnqueued: number };

type Deps = { db: Database; queue: Queue };

export async function ingestEvent(deps: Deps, event: IncomingEvent, normalization: Normalization): Promise<IngestResult> {
  const now = Date.now();
  const changes = normalization.status === "processed" ? normalization.changes : [];
  // Events with nothing to normalize are final as soon as they are stored.
  const finalStatus: EventStatus | null = changes.length > 0 ? null : normalization.status;

  const insertEvent = deps.db
    .insert(webhookEvents)
    .values({
      ...event,
      payload: event.payload,
      status: finalStatus ?? "received",
      error: normalization.status === "failed" ? normalization.error : null,
      processedAt: finalStatus ? event.receivedAt : null,
    })
    .onConflictDoNothing({ target: webhookEvents.id })
    .returning({ id: webhookEvents.id });
  const readStatus = deps.db.select({ status: webhookEvents.status }).from(webhookEvents).where(eq(webhookEvents.id, event.id));

  // Entity upserts ride in the same transaction as the raw event, which saves a round trip;
  // for a redelivery of a finished event their guard makes them change nothing.
  const [inserted, stored, ...entityResults] = await storage("storing the event", () =>
    deps.db.batch([
      insertEvent,
      readStatus,
      ...changes.map((change) => upsertEntityStatement(deps.db, change, now, event.id)),
    ]),
  );
  const storedStatus = stored[0]?.status;
  const isNew = inserted.length > 0;
  // A stored event still "received" is one whose earlier attempt failed half-way: finish it.
  if (!isNew && storedStatus && storedStatus !== "received") {
    return { duplicate: true, status: storedStatus, documentsEnqueued: 0 };
  }
  if (finalStatus) {
    if (!isNew) await markFinal(deps, event.id, normalization, now);
    return { duplicate: false, status: finalStatus, documentsEnqueued: 0 };
  }

  const enqueued = await finishProcessing(deps, event.id, changes, entityResults, { forceEnqueue: false, now });
  return { duplicate: false, status: "processed", documentsEnqueued: enqueued };
}

/** Replay: normalize a stored event again and re-send every document it touches. */
export async function replayEvent(deps: Deps, eventId: string, normalization: Normalization): Promise<number> {
  const now = Date.now();
  if (normalization.status !== "processed" || normalization.changes.length === 0) {
    await markFinal(deps, eventId, normalization, now);
    return 0;
  }
  const { changes } = normalization;
  const entityResults = await storage("upserting entities", () => {
    const [first, ...rest] = changes.map((change) => upsertEntityStatement(deps.db, change, now));
    return deps.db.batch([first!, ...rest]);
  });
  return finishProcessing(deps, eventId, changes, entityResults, { forceEnqueue: true, now });
}

async function markFinal(deps: Deps, eventId: string, normalization: Normalization, now: number): Promise<void> {
  await storage("updating the event status", () =>
    deps.db
      .update(webhookEvents)
      .set({
        status: normalization.status,
        error: normalization.status === "failed" ? normalization.error : null,
        processedAt: now,
      })
      .where(eq(webhookEvents.id, eventId)),
  );
}

/** Steps 2-3 once the entities are written. Returns how many documents were enqueued. */
async function finishProcessing(
  deps: Deps,
  eventId: string,
  changes: readonly EntityChange[],
  entityResults: readonly unknown[][],
  options: { forceEnqueue: boolean; now: number },
): Promise<number> {
  const entities = storedEntities(changes, entityResults);
  const documentRows = await storage("upserting documents", async () => {
    const [first, ...rest] = upsertDocumentStatements(deps.db, await draftDocuments(entities), options.now);
    return first ? (await deps.db.batch([first, ...rest])).flat() : [];
  });
  // A replay re-sends the documents of every entity the event touches, changed or not.
  const pending = options.forceEnqueue
    ? await storage("reading documents to replay", () => documentsOfChanges(deps.db, changes))
    : documentsToEnqueue(documentRows);

  await storage("sending to the vectorize queue", () => enqueueDocuments(deps.queue, pending));
  await storage("marking the event processed", () =>
    deps.db.batch([
      deps.db
        .update(webhookEvents)
        .set({ status: "processed", error: null, processedAt: options.now })
        .where(eq(webhookEvents.id, eventId)),
      ...markEnqueuedStatements(deps.db, pending),
    ]),
  );
  return pending.length;
}
