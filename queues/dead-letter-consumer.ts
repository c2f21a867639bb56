// Consumer of a dead-letter queue: records each message a queue gave up on in D1, where the
// admin API lists and replays them, and raises an alert. A message is acknowledged once
// recorded; a D1 failure retries it. A vectorize dead letter keeps the document's content hash
// (the catch-up sends the document again once it changes) and closes the older open dead
// letters of the same document as superseded: one open letter per document.
import { sql } from "drizzle-orm";
import { openDatabase } from "../workers/db/client";
import { prepare } from "../workers/db/prepare";
import { withStorage } from "../workers/db/with-storage";
import { raiseAlert } from "../workers/alerts/raise";
import { failureReason } from "../workers/log";

/** The queue a dead-letter queue serves: "edge-ops-vectorize-dlq-dev" -> "edge-ops-vectorize". */
export const deadLetterSourceQueue = (queue: string) => queue.replace(/-dlq(-(dev|staging|production))?$/, "");

const documentIdOf = (body: unknown) =>
  typeof body === "object" && body !== null && typeof (body as { documentId?: unknown }).documentId === "string"
    ? (body as { documentId: string }).documentId
    : null;

export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = openDatabase(env.DB);
  const queue = deadLetterSourceQueue(batch.queue);
  const now = Date.now();
  const rows = batch.messages.map((message) => ({
    id: message.id,
    queue,
    body: JSON.stringify(message.body ?? null),
    documentId: documentIdOf(message.body),
    attempts: message.attempts,
    deadAt: now,
  }));
  try {
    await withStorage("recording dead letters", () =>
      db.$client.batch([
        prepare(
          db,
          sql`INSERT INTO "dead_letters" ("id", "queue", "body", "document_id", "attempts", "dead_at", "replayed_at", "content_hash")
            SELECT json_extract(value, '$.id'), json_extract(value, '$.queue'), json_extract(value, '$.body'), json_extract(value, '$.documentId'),
              json_extract(value, '$.attempts'), json_extract(value, '$.deadAt'), NULL,
              (SELECT "content_hash" FROM "documents" WHERE "documents"."id" = json_extract(value, '$.documentId'))
            FROM json_each(${JSON.stringify(rows)}) WHERE true
            ON CONFLICT ("id") DO NOTHING`,
        ),
        prepare(
          db,
          sql`UPDATE "dead_letters" SET "superseded_at" = ${now}
            WHERE "replayed_at" IS NULL AND "superseded_at" IS NULL
              AND "document_id" IN (SELECT json_extract(value, '$.documentId') FROM json_each(${JSON.stringify(rows)}))
              AND "id" NOT IN (SELECT json_extract(value, '$.id') FROM json_each(${JSON.stringify(rows)}))`,
        ),
      ]),
    );
  } catch (error) {
    // failureReason: a storage error's code only (its message quotes the bound values).
    await raiseAlert(env, "recording dead letters failed", { queue, messages: rows.length, reason: failureReason(error) });
    for (const message of batch.messages) message.retry();
    return;
  }
  for (const row of rows) await raiseAlert(env, "message dead-lettered", { queue, messageId: row.id, documentId: row.documentId });
  for (const message of batch.messages) message.ack();
}
