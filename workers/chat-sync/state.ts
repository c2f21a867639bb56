// The sync's state in D1: one row per server (its change mode, listing cursors, whether it is off
// or rate limited, the lease of the run under way) and one per room (its backfill window and
// change cursors). Writes of many rooms are one statement each, the rows as one JSON parameter.
import { asc, eq, lte, sql, type SQL } from "drizzle-orm";
import type { ListedRoom } from "../chat/rocketchat-api";
import { upsertRoomFacts, visibilityOfRoomType } from "../chat/room-visibility";
import type { Database } from "../db/client";
import { chatRooms, chatSyncRooms, chatSyncServers } from "../db/schema";
import { inIdList } from "../db/id-list";

export type ServerState = typeof chatSyncServers.$inferSelect;
export type RoomState = typeof chatSyncRooms.$inferSelect;

/** Changes are read from this long before a room's backfill began: Rocket.Chat's clock and ours may differ. */
export const OVERLAP_MS = 5 * 60_000;

/**
 * Claims the server for a run until `leaseUntil`, unless another run holds it; answers the
 * server's state, or null when another run is under way.
 */
export async function claimServer(db: Database, server: string, now: number, leaseUntil: number): Promise<ServerState | null> {
  const [row] = await db
    .insert(chatSyncServers)
    .values({ server, leaseUntil })
    .onConflictDoUpdate({ target: chatSyncServers.server, set: { leaseUntil }, setWhere: lte(chatSyncServers.leaseUntil, now) })
    .returning();
  return row ?? null;
}

export async function readServer(db: Database, server: string): Promise<ServerState | null> {
  const [row] = await db.select().from(chatSyncServers).where(eq(chatSyncServers.server, server));
  return row ?? null;
}

export function loadRooms(db: Database, server: string): Promise<RoomState[]> {
  return db.select().from(chatSyncRooms).where(eq(chatSyncRooms.server, server)).orderBy(asc(chatSyncRooms.createdAt), asc(chatSyncRooms.roomId));
}

/** A room as the listings saw it this run. */
export type SeenRoom = ListedRoom & { member: boolean; directory: boolean };

/**
 * Records the rooms listed at `now`: new rooms start their backfill (history from the epoch up to
 * now, the first window ending at the room's creation, changes read from OVERLAP_MS before now);
 * known rooms are active again with their new type and name.
 */
export function upsertListedRooms(server: string, rooms: readonly SeenRoom[], now: number): SQL {
  const rows = rooms.map((room) => ({
    id: room.id,
    type: room.type,
    name: room.name,
    updatedAt: room.updatedAt,
    createdAt: room.createdAt,
    // The first window is everything before the room's creation (imported history), usually nothing.
    window: Math.max(1, Math.min(room.createdAt ?? now + 1, now + 1)),
    memberSeenAt: room.member ? now : null,
    directorySeenAt: room.directory ? now : null,
  }));
  const cursor = now - OVERLAP_MS;
  return sql`INSERT INTO ${chatSyncRooms} ("server", "room_id", "room_type", "name", "state", "member_seen_at", "directory_seen_at", "room_updated_at", "room_created_at",
      "history_from", "history_until", "history_window_ms", "history_offset", "updated_cursor", "deleted_cursor", "messages_read", "created_at")
    SELECT ${server}, value ->> '$.id', value ->> '$.type', value ->> '$.name', 'active', value ->> '$.memberSeenAt', value ->> '$.directorySeenAt',
      value ->> '$.updatedAt', value ->> '$.createdAt', 0, ${now}, value ->> '$.window', 0, ${cursor}, ${cursor}, 0, ${now}
    FROM json_each(${JSON.stringify(rows)}) WHERE true
    ON CONFLICT ("server", "room_id") DO UPDATE SET "room_type" = excluded."room_type", "name" = excluded."name", "state" = 'active',
      "member_seen_at" = coalesce(excluded."member_seen_at", ${chatSyncRooms}."member_seen_at"),
      "directory_seen_at" = coalesce(excluded."directory_seen_at", ${chatSyncRooms}."directory_seen_at"),
      "room_updated_at" = coalesce(excluded."room_updated_at", ${chatSyncRooms}."room_updated_at"),
      "room_created_at" = coalesce(excluded."room_created_at", ${chatSyncRooms}."room_created_at")`;
}

/** The visibility cache (chat_rooms) from the listed rooms' types: a channel is public, anything else private. */
export function recordVisibility(rooms: readonly ListedRoom[], now: number): SQL {
  return upsertRoomFacts(rooms.map((room) => ({ id: room.id, name: room.name, type: room.type, visibility: visibilityOfRoomType(room.type), checkedAt: now })));
}

/**
 * Rooms the bot can no longer read (deleted, turned private without it, left): their messages
 * stay indexed but stop being quoted outside them (private, type unknown), and are not read.
 * Two statements, the cache first: both select the rooms by `which`.
 */
export function markGone(server: string, which: SQL, now: number): SQL[] {
  const rooms = sql`SELECT "room_id" FROM ${chatSyncRooms} WHERE "server" = ${server} AND "state" = 'active' AND (${which})`;
  return [
    sql`INSERT INTO ${chatRooms} ("id", "name", "room_type", "visibility", "checked_at")
      SELECT "room_id", "name", NULL, 'private', ${now} FROM ${chatSyncRooms} WHERE "server" = ${server} AND "room_id" IN (${rooms})
      ON CONFLICT ("id") DO UPDATE SET "room_type" = NULL, "visibility" = 'private', "checked_at" = excluded."checked_at"`,
    sql`UPDATE ${chatSyncRooms} SET "state" = 'gone' WHERE "server" = ${server} AND "room_id" IN (${rooms})`,
  ];
}

/** The room's windows and cursors as they are after a stored page, and the messages it read. */
export function roomProgress(server: string, room: RoomState, read: number, now: number): SQL {
  return sql`UPDATE ${chatSyncRooms} SET "history_from" = ${room.historyFrom}, "history_until" = ${room.historyUntil}, "history_window_ms" = ${room.historyWindowMs},
      "history_offset" = ${room.historyOffset}, "backfilled_at" = ${room.backfilledAt}, "updated_cursor" = ${room.updatedCursor}, "deleted_cursor" = ${room.deletedCursor},
      "messages_read" = "messages_read" + ${read}, "synced_at" = ${now}, "last_error" = NULL
    WHERE "server" = ${server} AND "room_id" = ${room.roomId}`;
}

/**
 * Rooms read this run with nothing to store (synced now), rooms that failed (their reason), and
 * history windows narrowed since their room's last stored page (a run that ends right after
 * narrowing does not ask the same wide window again).
 */
export function roomsTouched(server: string, synced: readonly string[], failed: ReadonlyMap<string, string>, windows: ReadonlyMap<string, number>, now: number): SQL[] {
  const statements: SQL[] = [];
  if (windows.size > 0) {
    const rows = JSON.stringify([...windows].map(([id, windowMs]) => ({ id, windowMs })));
    statements.push(sql`UPDATE ${chatSyncRooms} SET "history_window_ms" = (SELECT value ->> '$.windowMs' FROM json_each(${rows}) WHERE value ->> '$.id' = ${chatSyncRooms}."room_id")
      WHERE "server" = ${server} AND "room_id" IN (SELECT value ->> '$.id' FROM json_each(${rows}))`);
  }
  if (synced.length > 0) statements.push(sql`UPDATE ${chatSyncRooms} SET "synced_at" = ${now}, "last_error" = NULL WHERE "server" = ${server} AND ${inIdList(chatSyncRooms.roomId, synced)}`);
  if (failed.size > 0) {
    const rows = JSON.stringify([...failed].map(([id, reason]) => ({ id, reason })));
    statements.push(sql`UPDATE ${chatSyncRooms} SET "synced_at" = ${now},
        "last_error" = (SELECT value ->> '$.reason' FROM json_each(${rows}) WHERE value ->> '$.id' = ${chatSyncRooms}."room_id")
      WHERE "server" = ${server} AND "room_id" IN (SELECT value ->> '$.id' FROM json_each(${rows}))`);
  }
  return statements;
}
