// The intake pipeline shared by every webhook source and by replay:
//   1. store the raw event once (its id is the idempotency key),
//   2. upsert the normalized entities (guarded against moving backwards),
//   3. upsert their documents and send changed ones to the vectorize queue,
//   4. mark the event processed.
// A failure anywhere surfaces as 503. The raw event then stays "received", and the sender's
// retry (or a replay) runs steps 2-4 again; each step is idempotent, so nothing half-written
// blocks it.
import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { webhookEvents, type EventSource, type EventStatus } from "../db/schema";
import { upsertEntityStatement, storedEntities } from "../entities/upsert";
import {
  documentsOfChanges,
  draftDocuments,
  documentsToEnqueue,
  enqueueDocuments,
  markEnqueuedStatements,
  upsertDocumentStatements,
} from "../documents/sync-documents";
import { unavailable } from "../http/errors";
import type { Normalization } from "./normalization";

export type IncomingEvent = {
  id: string;
  source: EventSource;
  type: string;
  rawBody: string;
  receivedAt: number;
};

export type IngestResult = { duplicate: boolean; status: EventStatus; documentsEnqueued: number };

type Deps = { db: Database; queue: Queue };

async function storage<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export async function ingestEvent(deps: Deps, event: IncomingEvent, normalization: Normalization): Promise<IngestResult> {
  // Events with nothing to normalize are final as soon as they are stored.
  const finalStatus: EventStatus | null =
    normalization.status === "processed" ? (normalization.changes.length === 0 ? "processed" : null) : normalization.status;

  const inserted = await storage("storing the raw event", () =>
    deps.db
      .insert(webhookEvents)
      .values({
        ...event,
        payload: event.rawBody,
        status: finalStatus ?? "received",
        error: normalization.status === "failed" ? normalization.error : null,
        processedAt: finalStatus ? event.receivedAt : null,
      })
      .onConflictDoNothing({ target: webhookEvents.id })
      .returning({ id: webhookEvents.id }),
  );

  if (inserted.length === 0) {
    const existing = await storage("reading the stored event", () =>
      deps.db.select({ status: webhookEvents.status }).from(webhookEvents).where(eq(webhookEvents.id, event.id)).get(),
    );
    // A stored event still "received" is one whose earlier attempt failed half-way: finish it.
    if (existing && existing.status !== "received") return { duplicate: true, status: existing.status, documentsEnqueued: 0 };
  }
  if (inserted.length > 0 && finalStatus) return { duplicate: false, status: finalStatus, documentsEnqueued: 0 };

  const enqueued = await applyChanges(deps, event.id, normalization, { forceEnqueue: false });
  return { duplicate: false, status: normalization.status, documentsEnqueued: enqueued };
}

/** Steps 2-4 for an event already stored. Returns how many documents were enqueued. */
export async function applyChanges(
  deps: Deps,
  eventId: string,
  normalization: Normalization,
  options: { forceEnqueue: boolean },
): Promise<number> {
  const now = Date.now();
  if (normalization.status !== "processed" || normalization.changes.length === 0) {
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
    return 0;
  }

  const { changes } = normalization;
  const entityResults = await storage("upserting entities", () => {
    const [first, ...rest] = changes.map((change) => upsertEntityStatement(deps.db, change, now));
    return deps.db.batch([first!, ...rest]);
  });
  const entities = storedEntities(changes, entityResults);

  const documentRows = await storage("upserting documents", async () => {
    const [first, ...rest] = upsertDocumentStatements(deps.db, await draftDocuments(entities), now);
    return first ? (await deps.db.batch([first, ...rest])).flat() : [];
  });
  const pending = options.forceEnqueue
    ? await storage("reading documents to replay", () => documentsOfChanges(deps.db, changes))
    : documentsToEnqueue(documentRows);

  await storage("sending to the vectorize queue", () => enqueueDocuments(deps.queue, pending));
  await storage("marking the event processed", () =>
    deps.db.batch([
      deps.db
        .update(webhookEvents)
        .set({ status: "processed", error: null, processedAt: now })
        .where(eq(webhookEvents.id, eventId)),
      ...markEnqueuedStatements(deps.db, pending),
    ]),
  );
  return pending.length;
}

