// What counts as a redelivery of a Rocket.Chat edit.
//
// Rocket.Chat's outgoing integration sends an edit as the whole message again with
// `isEdited: true`: no edit time (`timestamp` stays the message's own `ts`) and no delivery id
// (checked against RocketChat/Rocket.Chat `apps/meteor/app/integrations/server/lib/
// triggerHandler.ts`, `mapEventArgsToData` and `executeTriggerUrl`, and the earlier
// `triggerHandler.js`, as stored on 2026-12-06). So an edit back to an earlier text has exactly
// the body of that earlier edit, and keying on the body alone dropped it as a redelivery.
// The same source says when Rocket.Chat sends a body again: only after an answer that is not a
// 2xx with a body (and not a 500), a few times with growing delays, or when an administrator
// replays it from the integration's history (which reloads the message as it is then).
//
// So, for an edit without `editedAt`: a body identical to the latest event stored for that
// message is a redelivery (a duplicate); a body identical to an earlier event, with another
// event of the message after it, is an edit back and is stored as a new event (its id is the
// body's key and its receipt time), ordered by its receipt time like every such edit. An edit
// that carries `editedAt` (a change-stream listener) is keyed by its body, which includes the
// edit time, as before. One statement, so two concurrent deliveries of one edit store it once.
import { sql, type SQL } from "drizzle-orm";
import { sha256Hex } from "../../auth/constant-time";
import type { Database } from "../../db/client";
import { prepare } from "../../db/prepare";
import { withStorage } from "../../db/with-storage";
import type { Normalization } from "../normalization";
import { storedState, type IncomingEvent, type StoredEvent } from "../store-event";

/**
 * A deletion's event id: one per message, whether the webhook or the history sync brings it
 * first. Here, not in payloads.ts: that module is also loaded in Node (scripts/bench), where
 * the Workers-only constant-time.ts does not type-check.
 */
export async function deletionKey(messageId: string): Promise<string> {
  return `rocketchat_deleted_${await sha256Hex(messageId)}`;
}

/**
 * A stored Rocket.Chat message's event id: the hash of its body (a retry repeats the body), from
 * the webhook and the history sync alike.
 */
export async function messageKey(payload: string): Promise<string> {
  return `rocketchat_${await sha256Hex(payload)}`;
}

/**
 * `columns` of a Rocket.Chat message's latest event (webhook_events_rocketchat_message_idx, whose
 * conditions and order this must keep). `messageId`: a value, or an expression of an enclosing query.
 */
export const latestEventOf = (messageId: string | SQL, columns: SQL = sql`"id", "payload"`) =>
  sql`SELECT ${columns} FROM "webhook_events" WHERE "source" = 'rocketchat' AND "payload" ->> '$.message_id' = ${messageId}
    ORDER BY "received_at" DESC, "rowid" DESC LIMIT 1`;

/**
 * Stores the edit `event` of message `messageId` unless it repeats the message's latest event.
 * Answers the id the edit is stored under (the existing one for a duplicate).
 */
export async function storeChatEdit(db: Database, event: IncomingEvent, normalization: Normalization, messageId: string): Promise<StoredEvent & { id: string }> {
  const { status, error, processedAt } = storedState(normalization, event.receivedAt);
  const [inserted, latest] = await withStorage("storing the event", () =>
    db.$client.batch([
      prepare(
        db,
        sql`INSERT INTO "webhook_events" ("id", "source", "type", "received_at", "status", "payload", "error", "processed_at")
          SELECT CASE WHEN EXISTS (SELECT 1 FROM "webhook_events" WHERE "id" = ${event.id}) THEN ${`${event.id}_${event.receivedAt}`} ELSE ${event.id} END,
            ${event.source}, ${event.type}, ${event.receivedAt}, ${status}, ${event.payload},
            ${error}, ${processedAt}
          WHERE (SELECT "payload" FROM (${latestEventOf(messageId)})) IS NOT ${event.payload}
          ON CONFLICT ("id") DO NOTHING RETURNING "id"`,
      ),
      prepare(db, latestEventOf(messageId)),
    ]),
  );
  const storedId = (inserted?.results[0] as { id: string } | undefined)?.id;
  const existingId = (latest?.results[0] as { id: string } | undefined)?.id;
  return { duplicate: storedId === undefined, status, id: storedId ?? existingId ?? event.id };
}
