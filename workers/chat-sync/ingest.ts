// What the history sync read becomes: the same stored events the webhook stores, under the same
// message ids, handed to the same intake queue (workers/intake/process-events.ts does the rest).
//
// - A message is a "message" event, or "message.edited" with `editedAt`: the edit ordering of
//   workers/intake/rocketchat/normalize.ts orders it by its edit time. Its id is the hash of its
//   body, which holds only what the ingest reads (never `_updatedAt`): reading the same version
//   again (a thread root whose reply count changed) is a duplicate.
// - A message the webhook (or an earlier sync) already stored with the same text and thread is
//   not stored again: the one statement that inserts checks the message's latest event.
// - A deletion (from the trash, or a message Rocket.Chat left as a `t: "rm"` placeholder) is the
//   webhook's deletion event, under its key: one per message, whoever brings it first.
// - What the webhook skips (bots, the bot itself, system messages, end-to-end encrypted text)
//   is skipped here too.
//
// The events of a page and the room's cursors are written in one D1 batch, so a cursor only
// moves once what it covers is stored; the queue is told afterwards (if that send fails, the
// events stay "received" and the intake sweep finishes them).
import { sql, type SQL } from "drizzle-orm";
import type { HistoryMessage } from "../chat/rocketchat-api";
import type { Database } from "../db/client";
import { prepare } from "../db/prepare";
import { withStorage } from "../db/with-storage";
import type { EventStatus } from "../db/schema";
import { normalizeEvent } from "../intake/normalize-event";
import { chatMessagePayloadSchema, ROCKETCHAT_EVENT_TYPES, skipReason } from "../intake/rocketchat/payloads";
import { deletionKey, latestEventOf, messageKey } from "../intake/rocketchat/store-edit";
import { sendForProcessing } from "../intake/request-processing";
import { storedState, type StoredState } from "../intake/store-event";

/** The room a message belongs to, as the sync listed it. */
export type SyncedRoom = { id: string; name: string | null; type: string };

type EventRow = StoredState & {
  id: string;
  type: string;
  payload: string;
  messageId: string;
  text: string | null;
  tmid: string | null;
};

const iso = (ms: number) => new Date(ms).toISOString();

/** Rocket.Chat's placeholder for a deleted message it keeps (Message_ShowDeletedStatus, or a thread root with replies). */
const DELETED_PLACEHOLDER = "rm";

async function deletionRow(messageId: string, roomId: string, receivedAt: number): Promise<EventRow> {
  const body = { message_id: messageId, deleted: true, channel_id: roomId, sync: true };
  const type = ROCKETCHAT_EVENT_TYPES.deleted;
  const state = storedState(normalizeEvent("rocketchat", type, body, receivedAt), receivedAt);
  return { id: await deletionKey(messageId), ...state, type, payload: JSON.stringify(body), messageId, text: null, tmid: null };
}

/** The event a message read from Rocket.Chat becomes; null when the webhook would skip it too. */
async function messageRow(message: HistoryMessage, room: SyncedRoom, siteUrl: string, botUserId: string, receivedAt: number): Promise<EventRow | null> {
  if (message.type === DELETED_PLACEHOLDER) return deletionRow(message.id, message.roomId, receivedAt);
  // Fields in a fixed order, and only what the ingest reads: the same version hashes the same.
  const body = {
    bot: message.bot,
    channel_id: message.roomId,
    channel_name: room.type === "d" ? null : room.name,
    message_id: message.id,
    timestamp: iso(message.sentAt),
    user_id: message.userId,
    user_name: message.userName,
    text: message.text,
    siteUrl,
    ...(message.alias ? { alias: message.alias } : {}),
    ...(message.editedAt !== null ? { isEdited: true, editedAt: iso(message.editedAt) } : {}),
    ...(message.threadId ? { tmid: message.threadId } : {}),
    ...(message.type ? { t: message.type } : {}),
    sync: true,
  };
  const parsed = chatMessagePayloadSchema.safeParse(body);
  if (parsed.success && skipReason(parsed.data, botUserId)) return null;
  const type = message.editedAt !== null ? ROCKETCHAT_EVENT_TYPES.edited : ROCKETCHAT_EVENT_TYPES.message;
  const payload = JSON.stringify(body);
  // A body out of the documented shape (an id too long, say) is stored as failed, like the webhook's.
  return {
    id: await messageKey(payload),
    type,
    ...storedState(normalizeEvent("rocketchat", type, body, receivedAt), receivedAt),
    payload,
    messageId: message.id,
    text: message.text,
    tmid: message.threadId,
  };
}

/** Rows of one insert statement stay under this size (D1 caps a bound value at 2 MB). */
const INSERT_JSON_BYTES = 512 * 1024;

/**
 * The inserts of `rows`: a message is stored unless its latest stored event already says the same
 * (same text and thread) or deleted it; a deletion unless its key is stored. Returns the ids stored.
 */
function insertStatements(rows: readonly EventRow[], receivedAt: number): SQL[] {
  const chunks: EventRow[][] = [];
  let size = 0;
  for (const row of rows) {
    const rowSize = (row.payload.length + (row.text?.length ?? 0)) * 2 + 400;
    if (chunks.length === 0 || size + rowSize > INSERT_JSON_BYTES) {
      chunks.push([]);
      size = 0;
    }
    chunks.at(-1)!.push(row);
    size += rowSize;
  }
  const deleted = ROCKETCHAT_EVENT_TYPES.deleted;
  return chunks.map(
    (chunk) => sql`INSERT INTO "webhook_events" ("id", "source", "type", "received_at", "status", "payload", "error", "processed_at")
      SELECT e.value ->> '$.id', 'rocketchat', e.value ->> '$.type', ${receivedAt}, e.value ->> '$.status', e.value ->> '$.payload', e.value ->> '$.error', e.value ->> '$.processedAt'
      FROM json_each(${JSON.stringify(chunk)}) AS e
      WHERE e.value ->> '$.type' = ${deleted} OR NOT EXISTS (
        SELECT 1 FROM "webhook_events" AS latest
        WHERE latest.rowid = (${latestEventOf(sql`e.value ->> '$.messageId'`, sql`"rowid"`)})
        AND (latest."type" = ${deleted} OR (latest."payload" ->> '$.text' IS e.value ->> '$.text' AND latest."payload" ->> '$.tmid' IS e.value ->> '$.tmid')))
      ON CONFLICT ("id") DO NOTHING
      RETURNING "id", "status"`,
  );
}

export type ReadChanges = {
  room: SyncedRoom;
  messages: readonly HistoryMessage[];
  /** Ids of messages deleted (from the trash or chat.getDeletedMessages). */
  deletedIds: readonly string[];
};

export type StoredChanges = { read: number; stored: number; queued: number };

/**
 * Stores the events of `changes` and runs `cursorUpdate` (the room's new cursors) in the same D1
 * batch, then hands the stored events to the intake queue. Tells `count` of the D1 batch and of
 * each queue send (a hundred events each): the caller checked its budget before reading the page.
 */
export async function storeChanges(
  deps: { db: Database; intakeQueue: Queue; siteUrl: string; botUserId: string; now: number; count: (subrequests: number) => void },
  changes: ReadChanges,
  cursorUpdate: SQL,
): Promise<StoredChanges> {
  const built = await Promise.all([
    ...changes.messages.map((message) => messageRow(message, changes.room, deps.siteUrl, deps.botUserId, deps.now)),
    ...changes.deletedIds.map((id) => deletionRow(id, changes.room.id, deps.now)),
  ]);
  // One row per id: a page never holds a message twice, but a deletion may also come as a placeholder.
  const rows = [...new Map(built.filter((row): row is EventRow => row !== null).map((row) => [row.id, row])).values()];
  const statements = [...insertStatements(rows, deps.now), cursorUpdate].map((statement) => prepare(deps.db, statement));
  deps.count(1);
  const results = await withStorage("storing synced chat messages", () => deps.db.$client.batch(statements));
  const stored = results.slice(0, -1).flatMap((result) => result.results as { id: string; status: EventStatus }[]);
  const toProcess = stored.filter((event) => event.status === "received").map((event) => event.id);
  await sendForProcessing(deps.intakeQueue, toProcess, () => deps.count(1));
  return { read: changes.messages.length + changes.deletedIds.length, stored: stored.length, queued: toProcess.length };
}
