// Which Rocket.Chat rooms anyone may read. Search restricted to some rooms also sees public
// channels, so a room counts as public only when Rocket.Chat's rooms.info said it is a
// channel; a private group, a DM, a room it could not be asked about (no credentials, an
// error) is private. Answers are cached in D1 (`chat_rooms`).
//
// Two readers keep the cache:
// - the ingest refreshes a room when it posts (refreshRoomVisibility), at most once per
//   DEFAULT_ROOM_VISIBILITY_TTL_SECONDS per isolate: it keeps the cache warm;
// - answering decides (visibleHits): before retrieved records reach a prompt, a reply or a
//   search result, the room of every record outside the reader's own rooms must be public by
//   an answer younger than ROOM_VISIBILITY_TTL_SECONDS, else rooms.info is asked again; a room
//   it cannot learn about counts as private for that answer. So a channel made private stops
//   being quoted elsewhere within the lifetime, even if nobody writes in it again.
// The reader's own rooms are never checked: a record of the room a question was asked in is
// visible to that room (the asker reads it there), whatever the room's type.
import { eq, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import { defineCapability } from "../config/capability";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { chatRooms, type RoomVisibility } from "../db/schema";
import { logWarn } from "../log";
import { optionalRocketChatVariables, type RocketChatApi, RocketChatApiError, rocketChatApiFrom } from "./rocketchat-api";

/** How long an answer of rooms.info holds unless ROOM_VISIBILITY_TTL_SECONDS says otherwise. */
export const DEFAULT_ROOM_VISIBILITY_TTL_SECONDS = 600;

/** ROOM_VISIBILITY_TTL_SECONDS: 0 asks rooms.info on every answer; at most a day. */
export const roomVisibilityTtlSeconds = z.coerce.number().int().min(0).max(86_400).optional();

/**
 * The check for readers other than the bot (POST /api/search with `filter.rooms`): the
 * lifetime and the REST credentials. Every variable is optional; a malformed one answers 503
 * naming it. Without the credentials only cached answers younger than the lifetime count.
 */
export const roomVisibilityConfig = defineCapability({
  name: "room visibility",
  variables: {
    ROOM_VISIBILITY_TTL_SECONDS: roomVisibilityTtlSeconds,
    ...optionalRocketChatVariables,
  },
  build: (values): VisibilityCheck => ({ api: rocketChatApiFrom(values), ttlMs: (values.ROOM_VISIBILITY_TTL_SECONDS ?? DEFAULT_ROOM_VISIBILITY_TTL_SECONDS) * 1000 }),
});

/** Answering waits this long for rooms.info; a room not learned in time counts as private. */
const ROOM_INFO_TIMEOUT_MS = 2000;
/** After a failed rooms.info, this isolate does not ask about that room again for a while (private meanwhile). */
const FAILED_ASK_BACKOFF_MS = 60_000;

const ingestCheckedUntil = new Map<string, number>();
const askFailedUntil = new Map<string, number>();

/** Rocket.Chat room types: c channel (public), p private group, d direct message, l livechat. */
export const visibilityOfRoomType = (type: string): RoomVisibility => (type === "c" ? "public" : "private");

/** A room as the cache knows it; `type` null when Rocket.Chat could not be asked. */
export type RoomFacts = { id: string; name: string | null; type: string | null; visibility: RoomVisibility; checkedAt: number };

export type VisibilityCheck = {
  /** rooms.info; null without the REST credentials (then only fresh cached answers count). */
  api: RocketChatApi | null;
  /** How long a cached answer holds (ROOM_VISIBILITY_TTL_SECONDS). */
  ttlMs: number;
  /** The clock; tests move it past the lifetime. */
  now?: () => number;
};

/** One statement caching the answers for `rooms` (the history sync's listings use it too): the rows as one JSON parameter. */
export function upsertRoomFacts(rooms: readonly RoomFacts[]): SQL {
  const rows = rooms.map((room) => ({ id: room.id, name: room.name, roomType: room.type, visibility: room.visibility, checkedAt: room.checkedAt }));
  return sql`INSERT INTO ${chatRooms} ("id", "name", "room_type", "visibility", "checked_at")
    SELECT value ->> '$.id', value ->> '$.name', value ->> '$.roomType', value ->> '$.visibility', value ->> '$.checkedAt'
    FROM json_each(${JSON.stringify(rows)}) WHERE true
    ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "room_type" = excluded."room_type", "visibility" = excluded."visibility", "checked_at" = excluded."checked_at"`;
}

const reasonOf = (error: unknown) => (error instanceof RocketChatApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.name : "unknown");

/** Asks Rocket.Chat about `roomId` unless a recent answer is cached; never throws. The ingest's refresh. */
export async function refreshRoomVisibility(db: Database, api: RocketChatApi | null, roomId: string, now = Date.now()): Promise<void> {
  if ((ingestCheckedUntil.get(roomId) ?? 0) > now) return;
  const lifetime = DEFAULT_ROOM_VISIBILITY_TTL_SECONDS * 1000;
  try {
    const [cached] = await db.select().from(chatRooms).where(eq(chatRooms.id, roomId));
    if (cached && cached.checkedAt + lifetime > now) {
      ingestCheckedUntil.set(roomId, cached.checkedAt + lifetime);
      return;
    }
    let room: { name: string | null; type: string | null } = { name: cached?.name ?? null, type: null };
    if (api) {
      try {
        room = await api.roomInfo(roomId);
      } catch (error) {
        logWarn("room visibility unknown, treated as private", { roomId, reason: reasonOf(error) });
      }
    }
    const row = { id: roomId, name: room.name, roomType: room.type, visibility: room.type ? visibilityOfRoomType(room.type) : "private", checkedAt: now } as const;
    await db.insert(chatRooms).values(row).onConflictDoUpdate({ target: chatRooms.id, set: row });
    ingestCheckedUntil.set(roomId, now + lifetime);
  } catch (error) {
    // The room stays unknown, hence private, and is asked about with its next message.
    logWarn("recording room visibility failed", { roomId, reason: error instanceof Error ? error.name : "unknown" });
  }
}

/** Rooms Rocket.Chat called public channels, by any cached answer: search's first cut, which visibleHits then checks. */
export async function publicRoomIds(db: Database): Promise<string[]> {
  const rows = await db.select({ id: chatRooms.id }).from(chatRooms).where(eq(chatRooms.visibility, "public"));
  return rows.map((row) => row.id);
}

async function cachedRooms(db: Database, roomIds: readonly string[]): Promise<Map<string, RoomFacts>> {
  if (roomIds.length === 0) return new Map();
  const rows = await db.select().from(chatRooms).where(inIdList(chatRooms.id, roomIds));
  return new Map(rows.map((row) => [row.id, { id: row.id, name: row.name, type: row.roomType, visibility: row.visibility, checkedAt: row.checkedAt }]));
}

/**
 * `roomIds` as they are now, from facts already read from the cache (updated in place and
 * returned): a cached answer younger than the lifetime as it is; an older or missing one asked
 * again through rooms.info (in parallel) and recorded. A room that cannot be asked (no
 * credentials, an error, a timeout) is private for this answer; its cached row is left as it
 * was, so a passing fault does not hide a channel until it is next written in.
 */
async function checkRooms(db: Database, facts: Map<string, RoomFacts>, roomIds: readonly string[], check: VisibilityCheck): Promise<Map<string, RoomFacts>> {
  const now = (check.now ?? Date.now)();
  const stale = roomIds.filter((id) => {
    const cached = facts.get(id);
    return !cached || cached.checkedAt + check.ttlMs <= now;
  });
  if (stale.length === 0) return facts;
  const asked = await Promise.all(
    stale.map(async (id): Promise<RoomFacts | null> => {
      if (!check.api || (askFailedUntil.get(id) ?? 0) > now) return null;
      try {
        const room = await check.api.roomInfo(id, { timeoutMs: ROOM_INFO_TIMEOUT_MS });
        askFailedUntil.delete(id);
        return { id, name: room.name, type: room.type, visibility: visibilityOfRoomType(room.type), checkedAt: now };
      } catch (error) {
        askFailedUntil.set(id, now + FAILED_ASK_BACKOFF_MS);
        logWarn("room visibility unknown, treated as private", { roomId: id, reason: reasonOf(error) });
        return null;
      }
    }),
  );
  const learned = asked.filter((room): room is RoomFacts => room !== null);
  for (const id of stale) {
    const cached = facts.get(id);
    facts.set(id, learned.find((room) => room.id === id) ?? { id, name: cached?.name ?? null, type: cached?.type ?? null, visibility: "private", checkedAt: cached?.checkedAt ?? 0 });
  }
  if (learned.length > 0) {
    try {
      // One statement for every room learned.
      await db.run(upsertRoomFacts(learned));
    } catch (error) {
      // This answer still uses what it learned; the next one asks again.
      logWarn("recording room visibility failed", { rooms: learned.length, reason: error instanceof Error ? error.name : "unknown" });
    }
  }
  return facts;
}

/** Rocket.Chat's route for a room by its type (apps/meteor/lib/rooms/roomTypes/*.ts); null when we cannot tell. */
function roomRoute(room: Pick<RoomFacts, "id" | "name" | "type">): string | null {
  if (room.type === "c" && room.name) return `channel/${encodeURIComponent(room.name)}`;
  if (room.type === "p" && room.name) return `group/${encodeURIComponent(room.name)}`;
  if (room.type === "d") return `direct/${encodeURIComponent(room.id)}`;
  return null;
}

/**
 * A message permalink as Rocket.Chat builds it, `<site>/<route>?msg=<id>`, with the route of
 * the room's type: `channel/<name>` for channels, `group/<name>` for private groups,
 * `direct/<room id>` for direct messages. Checked against RocketChat/Rocket.Chat develop as
 * stored on 2026-12-06: apps/meteor/lib/rooms/roomTypes/public.ts (c: /channel/:name),
 * private.ts (p: /group/:name), direct.ts (d: /direct/:rid, its `link` gives the rid), and
 * lib/rooms/coordinator.ts (`getRouteData`: name for types without their own link). The
 * documents keep the link the ingest could build (channel/<name>, direct/<id> without a name);
 * this corrects it by the room's type when it is known, and leaves it otherwise.
 */
export function permalinkForRoom(url: string, room: Pick<RoomFacts, "id" | "name" | "type">): string {
  const route = roomRoute(room);
  const parsed = /^(.*)\/(?:channel|group|direct|live)\/[^/?#]+(?:\/[^?#]*)?\?msg=([^&#]+)$/.exec(url);
  if (!route || !parsed) return url;
  return `${parsed[1]}/${route}?msg=${parsed[2]}`;
}

/** A retrieved record as far as visibility cares: its chat room (null: a business record) and its link. */
export type RoomRecord = { room: string | null; url: string | null };

/**
 * The hits a reader may see, best first as given: business records, records of `ownRooms`, and
 * records of rooms public now (checkRooms: checked against the lifetime, rooms.info asked
 * again when older, private when unknown). Chat permalinks follow each room's type.
 */
export async function visibleHits<Hit extends RoomRecord>(db: Database, hits: readonly Hit[], ownRooms: readonly string[], check: VisibilityCheck): Promise<Hit[]> {
  const own = new Set(ownRooms);
  const otherRooms = [...new Set(hits.flatMap((hit) => (hit.room !== null && !own.has(hit.room) ? [hit.room] : [])))];
  const ownInHits = [...new Set(hits.flatMap((hit) => (hit.room !== null && own.has(hit.room) ? [hit.room] : [])))];
  // One read for every room of the hits; only the other rooms are checked against the lifetime.
  const rooms = await checkRooms(db, await cachedRooms(db, [...otherRooms, ...ownInHits]), otherRooms, check);
  const kept: Hit[] = [];
  for (const hit of hits) {
    if (hit.room === null) {
      kept.push(hit);
      continue;
    }
    const room = rooms.get(hit.room);
    if (!own.has(hit.room) && room?.visibility !== "public") continue;
    kept.push(room && hit.url ? { ...hit, url: permalinkForRoom(hit.url, room) } : hit);
  }
  return kept;
}
