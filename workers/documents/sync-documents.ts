// Keeps documents in step with entities and hands changed ones to the vectorize queue.
// enqueued_hash records what the queue last accepted, so a failed send is retried by the
// next delivery or replay of the same event instead of being forgotten.
import { and, eq, sql } from "drizzle-orm";
import type { VectorizeMessage } from "../../queues/vectorize-message";
import { sha256Hex } from "../auth/constant-time";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { documents } from "../db/schema";
import type { EntityChange, StoredEntity } from "../entities/registry";
import { documentFor, documentId, type DocumentDraft } from "./build-text";

export type DocumentToEnqueue = { id: string; contentHash: string };

type HashedDraft = DocumentDraft & { contentHash: string };

/** The documents of `entities` with their content hashes (kinds without documents drop out). */
export async function draftDocuments(entities: readonly StoredEntity[]): Promise<HashedDraft[]> {
  const drafts = entities.map(documentFor).filter((draft) => draft !== null);
  return Promise.all(drafts.map(async (draft) => ({ ...draft, contentHash: await sha256Hex(draft.text) })));
}

/** Statements that upsert `drafts`; each returns its row when it was written. */
export function upsertDocumentStatements(db: Database, drafts: readonly HashedDraft[], now: number) {
  // Drizzle builders are thenables: build them synchronously so none runs before the batch.
  return drafts.map((draft) =>
    db
      .insert(documents)
      .values({ ...draft, updatedAt: now })
      .onConflictDoUpdate({
        target: documents.id,
        set: {
          text: sql`excluded."text"`,
          contentHash: sql`excluded."content_hash"`,
          entityVersion: sql`excluded."entity_version"`,
          updatedAt: sql`excluded."updated_at"`,
        },
        // A slower writer holding an older entity version must not replace newer text.
        setWhere: sql`excluded."entity_version" >= ${documents.entityVersion}`,
      })
      .returning({ id: documents.id, contentHash: documents.contentHash, enqueuedHash: documents.enqueuedHash }),
  );
}

/**
 * Written documents whose current text the queue has not accepted yet. A document written
 * twice in one batch (two events for one entity) is sent once, with its last text.
 */
export function documentsToEnqueue(
  rows: readonly { id: string; contentHash: string; enqueuedHash: string | null }[],
): DocumentToEnqueue[] {
  const latest = new Map<string, { contentHash: string; enqueuedHash: string | null }>();
  for (const row of rows) latest.set(row.id, row);
  return [...latest]
    .filter(([, row]) => row.enqueuedHash !== row.contentHash)
    .map(([id, row]) => ({ id, contentHash: row.contentHash }));
}

/** The current documents of the entities an event touches, whether or not this event changed them (replay). */
export async function documentsOfChanges(db: Database, changes: readonly EntityChange[]): Promise<DocumentToEnqueue[]> {
  const ids = [...new Set(changes.map((change) => documentId(change.kind, change.fields.id)))];
  if (ids.length === 0) return [];
  return db.select({ id: documents.id, contentHash: documents.contentHash }).from(documents).where(inIdList(documents.id, ids));
}

const QUEUE_BATCH_LIMIT = 100;

export async function enqueueDocuments(queue: Queue, pending: readonly DocumentToEnqueue[]): Promise<void> {
  for (let start = 0; start < pending.length; start += QUEUE_BATCH_LIMIT) {
    const messages = pending
      .slice(start, start + QUEUE_BATCH_LIMIT)
      .map((doc): MessageSendRequest<VectorizeMessage> => ({ body: { documentId: doc.id }, contentType: "json" }));
    await queue.sendBatch(messages);
  }
}

export function markEnqueuedStatements(db: Database, sent: readonly DocumentToEnqueue[]) {
  return sent.map((doc) =>
    db
      .update(documents)
      .set({ enqueuedHash: doc.contentHash })
      .where(and(eq(documents.id, doc.id), eq(documents.contentHash, doc.contentHash))),
  );
}

