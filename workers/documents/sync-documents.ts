// Keeps documents in step with entities and hands changed ones to the vectorize queue.
// enqueued_hash records what the queue last accepted, so a failed send is retried by the
// next delivery or replay of the same event instead of being forgotten.
import { sql, type SQL } from "drizzle-orm";
import type { VectorizeMessage } from "../../queues/vectorize-message";
import { sha256Hex } from "../auth/constant-time";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { documents } from "../db/schema";
import type { EntityChange, StoredEntity } from "../entities/registry";
import { documentFor, documentId, hashedContent, type DocumentDraft } from "./build-text";

export type DocumentToEnqueue = { id: string; contentHash: string };

type HashedDraft = DocumentDraft & { contentHash: string };

/** The documents of `entities` with their content hashes (kinds without documents drop out). */
export async function draftDocuments(entities: readonly StoredEntity[]): Promise<HashedDraft[]> {
  const drafts = entities.map(documentFor).filter((draft) => draft !== null);
  return Promise.all(drafts.map(async (draft) => ({ ...draft, contentHash: await sha256Hex(hashedContent(draft)) })));
}

/** Rows of one document upsert statement stay under this size (D1 caps a value at 2 MB). */
const UPSERT_JSON_BYTES = 512 * 1024;

/**
 * The upserts of `drafts`: as few statements as their size allows (the rows travel as one JSON
 * parameter, read with json_each). Each statement returns the rows it wrote.
 */
export function upsertDocumentsStatements(drafts: readonly HashedDraft[], now: number): SQL[] {
  const chunks: HashedDraft[][] = [];
  let size = 0;
  for (const draft of drafts) {
    const draftSize = (draft.text.length + draft.header.length + draft.title.length + (draft.url?.length ?? 0)) * 3 + 300;
    if (chunks.length === 0 || size + draftSize > UPSERT_JSON_BYTES) {
      chunks.push([]);
      size = 0;
    }
    chunks.at(-1)!.push(draft);
    size += draftSize;
  }
  return chunks.map((chunk) => {
    const rows = JSON.stringify(
      chunk.map(({ id, kind, entityId, text, contentHash, entityVersion, source, title, header, room, url, occurredAt, groupId }) => ({
        id, kind, entityId, text, contentHash, entityVersion, source, title, header, room, url, occurredAt, groupId,
      })),
    );
    return sql`INSERT INTO "documents" ("id", "kind", "entity_id", "text", "content_hash", "entity_version", "updated_at",
        "source", "title", "header", "room", "url", "occurred_at", "group_id")
      SELECT json_extract(value, '$.id'), json_extract(value, '$.kind'), json_extract(value, '$.entityId'), json_extract(value, '$.text'),
        json_extract(value, '$.contentHash'), json_extract(value, '$.entityVersion'), ${now},
        json_extract(value, '$.source'), json_extract(value, '$.title'), json_extract(value, '$.header'), json_extract(value, '$.room'),
        json_extract(value, '$.url'), json_extract(value, '$.occurredAt'), json_extract(value, '$.groupId')
      FROM json_each(${rows}) WHERE true
      ON CONFLICT ("id") DO UPDATE SET "text" = excluded."text", "content_hash" = excluded."content_hash",
        "entity_version" = excluded."entity_version", "updated_at" = excluded."updated_at",
        "source" = excluded."source", "title" = excluded."title", "header" = excluded."header", "room" = excluded."room",
        "url" = excluded."url", "occurred_at" = excluded."occurred_at", "group_id" = excluded."group_id"
      -- A slower writer holding an older entity version must not replace newer text.
      WHERE excluded."entity_version" >= "documents"."entity_version"
      RETURNING "id", "content_hash", "enqueued_hash"`;
  });
}

export type WrittenDocument = { id: string; contentHash: string; enqueuedHash: string | null };

/** The rows the document upserts returned. */
export function writtenDocuments(results: readonly D1Result[]): WrittenDocument[] {
  return results.flatMap((result) =>
    (result.results as { id: string; content_hash: string; enqueued_hash: string | null }[]).map((row) => ({
      id: row.id,
      contentHash: row.content_hash,
      enqueuedHash: row.enqueued_hash,
    })),
  );
}

/**
 * Written documents whose current text the queue has not accepted yet. A document written
 * twice in one batch (two events for one entity) is sent once, with its last text.
 */
export function documentsToEnqueue(rows: readonly WrittenDocument[]): DocumentToEnqueue[] {
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

/** Messages per sendBatch call (the Queues limit). */
const QUEUE_BATCH_LIMIT = 100;

/** Sends a `{documentId}` message per document to the vectorize queue, a hundred per call. */
export async function enqueueDocuments(queue: Queue, pending: readonly { id: string }[], options: { force?: boolean } = {}): Promise<void> {
  for (let start = 0; start < pending.length; start += QUEUE_BATCH_LIMIT) {
    const messages = pending
      .slice(start, start + QUEUE_BATCH_LIMIT)
      .map((doc): MessageSendRequest<VectorizeMessage> => ({
        body: options.force ? { documentId: doc.id, force: true } : { documentId: doc.id },
        contentType: "json",
      }));
    await queue.sendBatch(messages);
  }
}

/** Records what the queue accepted: each document's hash, unless its text changed meanwhile. */
export function markEnqueuedStatement(sent: readonly DocumentToEnqueue[], now: number): SQL | null {
  if (sent.length === 0) return null;
  const rows = JSON.stringify(sent.map(({ id, contentHash }) => [id, contentHash]));
  return sql`UPDATE "documents" SET "enqueued_hash" = "content_hash", "enqueued_at" = ${now}
    WHERE ("id", "content_hash") IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(${rows}))`;
}
