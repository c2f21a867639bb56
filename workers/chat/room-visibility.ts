// Which Rocket.Chat rooms anyone may read. Search restricted to some rooms also sees public
// channels, so a room counts as public only when Rocket.Chat's rooms.info said it is a
// channel; a private group, a DM, a room it could not be asked about (no credentials, an
// error) is private. Answers are cached in D1 and, per isolate, in memory.
import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { chatRooms, type RoomVisibility } from "../db/schema";
import { logWarn } from "../log";
import { RocketChatApiError, type RocketChatApi } from "./rocketchat-api";

/** How long an answer holds: a room rarely changes type; an unknown one is asked again sooner. */
const KNOWN_FOR_MS = 60 * 60 * 1000;
const UNKNOWN_FOR_MS = 10 * 60 * 1000;

const checkedUntil = new Map<string, number>();

/** Rocket.Chat room types: c channel (public), p private group, d direct message, l livechat. */
export const visibilityOfRoomType = (type: string): RoomVisibility => (type === "c" ? "public" : "private");

/** Asks Rocket.Chat about `roomId` unless a recent answer is cached; never throws. */
export async function refreshRoomVisibility(db: Database, api: RocketChatApi | null, roomId: string, now = Date.now()): Promise<void> {
  if ((checkedUntil.get(roomId) ?? 0) > now) return;
  try {
    const [cached] = await db.select().from(chatRooms).where(eq(chatRooms.id, roomId));
    if (cached && cached.checkedAt + (cached.roomType ? KNOWN_FOR_MS : UNKNOWN_FOR_MS) > now) {
      checkedUntil.set(roomId, cached.checkedAt + (cached.roomType ? KNOWN_FOR_MS : UNKNOWN_FOR_MS));
      return;
    }
    let room: { name: string | null; type: string | null } = { name: cached?.name ?? null, type: null };
    if (api) {
      try {
        room = await api.roomInfo(roomId);
      } catch (error) {
        const reason = error instanceof RocketChatApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.name : "unknown";
        logWarn("room visibility unknown, treated as private", { roomId, reason });
      }
    }
    const row = { id: roomId, name: room.name, roomType: room.type, visibility: room.type ? visibilityOfRoomType(room.type) : "private", checkedAt: now } as const;
    await db.insert(chatRooms).values(row).onConflictDoUpdate({ target: chatRooms.id, set: row });
    checkedUntil.set(roomId, now + (room.type ? KNOWN_FOR_MS : UNKNOWN_FOR_MS));
  } catch (error) {
    // The room stays unknown, hence private, and is asked about with its next message.
    logWarn("recording room visibility failed", { roomId, reason: error instanceof Error ? error.name : "unknown" });
  }
}

/** Rooms Rocket.Chat called public channels. */
export async function publicRoomIds(db: Database): Promise<string[]> {
  const rows = await db.select({ id: chatRooms.id }).from(chatRooms).where(eq(chatRooms.visibility, "public"));
  return rows.map((row) => row.id);
}
