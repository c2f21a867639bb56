// The Rocket.Chat history sync: a capability of its own. It needs the bot's REST credentials and
// is off without them (the bot and the ingest keep working); a server that lacks an endpoint it
// needs turns it off (workers/chat-sync/run.ts), which /healthz reports as degraded.
import { eq } from "drizzle-orm";
import { z } from "zod";
import { RocketChatApi, rocketChatVariables } from "../chat/rocketchat-api";
import { defineCapability } from "../config/capability";
import { commaList } from "../config/variables";
import { openDatabase } from "../db/client";
import { chatSyncServers } from "../db/schema";

/** Subrequests (Rocket.Chat requests, D1 queries, queue sends) one run may make, unless ROCKETCHAT_SYNC_SUBREQUESTS says otherwise. */
export const DEFAULT_SYNC_SUBREQUESTS = 20;

/** Which rooms' messages are read: every room the bot can see, these rooms (ids or names), or none. */
export type RoomSelection = { kind: "all" } | { kind: "list"; rooms: ReadonlySet<string> } | { kind: "off" };

export type ChatSyncConfig = {
  api: RocketChatApi;
  /** ROCKETCHAT_URL without credentials or a trailing slash: keys the sync's state, and links messages. */
  server: string;
  botUserId: string;
  rooms: RoomSelection;
  directMessages: boolean;
  subrequests: number;
};

const roomRef = z.string().regex(/^[^\s,]{1,100}$/, { error: "room ids or names, comma-separated" });
const flag = z.enum(["true", "false"], { error: 'must be "true" or "false"' });

/** The server's key (and the base of message links): the URL without credentials, query or trailing slashes. */
export function serverKey(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, "");
}

export const chatSyncConfig = defineCapability({
  name: "rocket.chat sync",
  variables: {
    ...rocketChatVariables,
    /** "off", or room ids and names (comma-separated); unset: every room the bot can see. */
    ROCKETCHAT_SYNC_ROOMS: z.union([z.literal("off"), commaList(roomRef)]).optional(),
    /** Direct messages are read only when "true". */
    ROCKETCHAT_SYNC_DIRECT_MESSAGES: flag.optional(),
    // At least what one page needs beside the run's own reads and writes.
    ROCKETCHAT_SYNC_SUBREQUESTS: z.coerce.number().int().min(10).max(5000).optional(),
  },
  build: (values): ChatSyncConfig => {
    // The schema requires all three variables, so the API always exists here.
    const api = new RocketChatApi({ url: values.ROCKETCHAT_URL, userId: values.ROCKETCHAT_USER_ID, authToken: values.ROCKETCHAT_AUTH_TOKEN });
    const selected = values.ROCKETCHAT_SYNC_ROOMS;
    return {
      api,
      server: serverKey(values.ROCKETCHAT_URL),
      botUserId: values.ROCKETCHAT_USER_ID,
      rooms: selected === undefined ? { kind: "all" } : selected === "off" ? { kind: "off" } : { kind: "list", rooms: new Set(selected) },
      directMessages: values.ROCKETCHAT_SYNC_DIRECT_MESSAGES === "true",
      subrequests: values.ROCKETCHAT_SYNC_SUBREQUESTS ?? DEFAULT_SYNC_SUBREQUESTS,
    };
  },
  // A server without an endpoint the sync needs: configured, but reading nothing until it has it.
  degradation: async (config, env) => {
    const [row] = await openDatabase(env.DB)
      .select({ endpoint: chatSyncServers.offEndpoint, since: chatSyncServers.offSince })
      .from(chatSyncServers)
      .where(eq(chatSyncServers.server, config.server));
    if (!row?.endpoint) return [];
    const since = row.since === null ? "" : ` since ${new Date(row.since).toISOString()}`;
    return [`ROCKETCHAT_URL: the server answers 404 for ${row.endpoint}${since}; the history sync is off until it answers (POST /api/chat/sync asks again)`];
  },
});

/** Whether the room's messages are read: by ROCKETCHAT_SYNC_ROOMS, direct messages only with ROCKETCHAT_SYNC_DIRECT_MESSAGES. */
export function isSelected(config: Pick<ChatSyncConfig, "rooms" | "directMessages">, room: { roomId: string; name: string | null; roomType: string }): boolean {
  if (room.roomType === "d" && !config.directMessages) return false;
  if (config.rooms.kind === "off") return false;
  if (config.rooms.kind === "all") return true;
  return config.rooms.rooms.has(room.roomId) || (room.name !== null && config.rooms.rooms.has(room.name));
}
