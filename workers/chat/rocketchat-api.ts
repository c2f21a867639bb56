// Rocket.Chat's REST API, as far as we use it. Requests carry the bot's personal access token
// (X-User-Id, X-Auth-Token); responses are checked with zod, and failures become
// RocketChatApiError with the status and Rocket.Chat's error code, never the token.
import { z } from "zod";
import { secretString } from "../config/variables";
import { parseRetryAfter } from "../http/provider-errors";

export type RocketChatApiSettings = { url: string; userId: string; authToken: string };

/**
 * The REST credentials' variables, declared alike by every capability that calls Rocket.Chat
 * (each makes them optional or not: the bot, ingest and backups' alerts work without them).
 */
export const rocketChatVariables = {
  ROCKETCHAT_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  ROCKETCHAT_USER_ID: z.string().min(1),
  ROCKETCHAT_AUTH_TOKEN: secretString(8),
};

/** rocketChatVariables, each optional. */
export const optionalRocketChatVariables = {
  ROCKETCHAT_URL: rocketChatVariables.ROCKETCHAT_URL.optional(),
  ROCKETCHAT_USER_ID: rocketChatVariables.ROCKETCHAT_USER_ID.optional(),
  ROCKETCHAT_AUTH_TOKEN: rocketChatVariables.ROCKETCHAT_AUTH_TOKEN.optional(),
};

/** The API when all three variables are set; null otherwise (callers then assume the safe default). */
export function rocketChatApiFrom(values: {
  ROCKETCHAT_URL?: string | undefined;
  ROCKETCHAT_USER_ID?: string | undefined;
  ROCKETCHAT_AUTH_TOKEN?: string | undefined;
}): RocketChatApi | null {
  const { ROCKETCHAT_URL: url, ROCKETCHAT_USER_ID: userId, ROCKETCHAT_AUTH_TOKEN: authToken } = values;
  return url && userId && authToken ? new RocketChatApi({ url, userId, authToken }) : null;
}

export class RocketChatApiError extends Error {
  /** Whole seconds Rocket.Chat asked us to wait (429), rounded up: it becomes a queue's `delaySeconds`. */
  readonly retryAfterSeconds: number | null;

  constructor(
    readonly status: number,
    readonly code: string,
    retryAfterSeconds: number | null = null,
    /** A 429's X-RateLimit-Reset: when (epoch ms) the endpoint answers again; null when not sent. */
    readonly resetAt: number | null = null,
  ) {
    super(`rocket.chat answered ${status} ${code}`);
    this.name = "RocketChatApiError";
    this.retryAfterSeconds = retryAfterSeconds === null ? null : Math.ceil(retryAfterSeconds);
  }
}

const errorBodySchema = z.object({ error: z.string().optional(), errorType: z.string().optional(), message: z.string().optional() }).loose();

const roomInfoSchema = z.object({
  success: z.literal(true),
  room: z.object({ _id: z.string(), t: z.string(), name: z.string().optional(), fname: z.string().optional() }).loose(),
});

export type RoomInfo = { id: string; name: string | null; type: string };

const sentMessageSchema = z.object({ success: z.literal(true), message: z.object({ _id: z.string() }).loose() });
const getMessageSchema = z.object({ success: z.literal(true), message: z.object({ _id: z.string() }).loose().nullable() });

// ---- What the history sync reads (workers/chat-sync/). Checked against RocketChat/Rocket.Chat
// develop as stored on 2026-12-06: apps/meteor/app/api/server/v1/rooms.ts (`rooms.get`, which
// calls `rooms/get`: with a date, `update` are the user's rooms updated after it and `remove` the
// rooms deleted after it, `{_id, _deletedAt}` from the trash; without, every room of the user and
// `remove: []`), channels.ts (`channels.history`: thread replies only with
// `showThreadMessages=true`; `channels.list`: `{channels, count, offset, total}`, type c, sorted
// by name, all public channels with view-c-room, else the joined ones), groups.ts
// (`groups.history`: replies unless `showThreadMessages=false`) and im.ts (`im.history`: replies
// only with `showThreadMessages=true`), all three through
// app/lib/server/methods/getChannelHistory.ts (`{messages}`, newest first, `oldest`/`latest`
// inclusive with `inclusive=true`); chat.ts (`chat.syncMessages`, `chat.getDeletedMessages`) and
// server/publications/messages.ts (`getMessageHistory`); the query schemas in
// packages/rest-typings (additionalProperties false). Versions from RocketChat/Rocket.Chat-Open-API
// (rooms.yaml, messaging.yaml, as fetched on 2026-12-06): channels.history 0.47.0,
// groups.history and im.history 0.48.0 (`offset` 0.75.0), channels.list 0.48.0 (paged since
// 0.49.0), rooms.get 0.72.0, chat.getDeletedMessages 0.73.0; chat.syncMessages is listed as
// "1.0.0 Added" with `lastUpdate`, and its cursor form (`type`, `next`, `count`) came with
// RocketChat/Rocket.Chat PR #33810 (merged November 2024, documented for 7.1 in
// Rocket.Chat-Open-API PR #106).

/** REST dates are JSON Dates (ISO 8601); EJSON's `{"$date": ms}` is read too. In epoch ms. */
const restDate = z.union([
  z.iso.datetime({ offset: true }).transform((value) => Date.parse(value)),
  z.object({ $date: z.number() }).transform((value) => value.$date),
]);

const restRoomSchema = z
  .object({ _id: z.string().min(1), t: z.string(), name: z.string().optional(), fname: z.string().optional(), ts: restDate.optional(), _updatedAt: restDate.optional() })
  .loose();

/** A room as listed by rooms.get or channels.list. */
export type ListedRoom = { id: string; type: string; name: string | null; createdAt: number | null; updatedAt: number | null };

const listedRoom = (room: z.infer<typeof restRoomSchema>): ListedRoom => ({
  id: room._id,
  type: room.t,
  name: room.name ?? room.fname ?? null,
  createdAt: room.ts ?? null,
  updatedAt: room._updatedAt ?? null,
});

/** A deleted message (or room) as the trash gives it: its id and, where sent, when it was deleted. */
export type DeletedMessage = { id: string; deletedAt: number | null };

const deletedSchema = z
  .object({ _id: z.string().min(1), _deletedAt: restDate.optional() })
  .loose()
  .transform((e): DeletedMessage => ({ id: e._id, deletedAt: e._deletedAt ?? null }));

const roomsGetSchema = z.object({
  success: z.literal(true),
  update: z.array(restRoomSchema),
  remove: z.array(deletedSchema),
});

const channelsListSchema = z.object({ success: z.literal(true), channels: z.array(restRoomSchema), total: z.number().int().nonnegative() });

const restMessageSchema = z
  .object({
    _id: z.string().min(1),
    rid: z.string().min(1),
    msg: z.string().optional(),
    ts: restDate,
    _updatedAt: restDate.optional(),
    editedAt: restDate.optional(),
    u: z.object({ _id: z.string().min(1), username: z.string().optional() }).loose(),
    tmid: z.string().min(1).optional(),
    t: z.string().optional(),
    alias: z.string().optional(),
    // IMessage.bot: an object ({"i": "<integration id>"}) on bots' posts.
    bot: z.union([z.boolean(), z.object({}).loose()]).optional(),
    // Never read, but part of IMessage's shape: an entry with another kind of `_hidden` is unreadable.
    _hidden: z.boolean().optional(),
  })
  .loose();

/** A message as a history or sync endpoint returns it, the fields the ingest reads. */
export type HistoryMessage = {
  id: string;
  roomId: string;
  text: string;
  sentAt: number;
  updatedAt: number | null;
  editedAt: number | null;
  userId: string;
  userName: string | null;
  alias: string | null;
  threadId: string | null;
  /** Rocket.Chat's system message type (`rm`: a deletion that left a placeholder); null for a user's message. */
  type: string | null;
  bot: boolean;
};

/** Messages of one answer; `unreadable` counts entries not in IMessage's shape (skipped, never guessed). */
export type MessagePage = { messages: HistoryMessage[]; unreadable: number };

function messagePage(entries: readonly unknown[]): MessagePage {
  const messages: HistoryMessage[] = [];
  let unreadable = 0;
  for (const entry of entries) {
    const parsed = restMessageSchema.safeParse(entry);
    if (!parsed.success) {
      unreadable += 1;
      continue;
    }
    const m = parsed.data;
    messages.push({
      id: m._id,
      roomId: m.rid,
      text: m.msg ?? "",
      sentAt: m.ts,
      updatedAt: m._updatedAt ?? null,
      editedAt: m.editedAt ?? null,
      userId: m.u._id,
      userName: m.u.username ?? null,
      alias: m.alias || null,
      threadId: m.tmid ?? null,
      type: m.t || null,
      bot: m.bot !== undefined && m.bot !== false,
    });
  }
  return { messages, unreadable };
}

const historySchema = z.object({ success: z.literal(true), messages: z.array(z.unknown()) });

const syncMessagesSchema = z.object({
  success: z.literal(true),
  result: z
    .object({
      updated: z.array(z.unknown()).default([]),
      deleted: z.array(deletedSchema).default([]),
      cursor: z.object({ next: z.string().nullable(), previous: z.string().nullable() }).optional(),
    })
    .loose(),
});

const deletedMessagesSchema = z.object({ success: z.literal(true), messages: z.array(deletedSchema), total: z.number().int().nonnegative() });

/** The history endpoint of each room type the sync reads: c channel, p private group, d direct message. */
export const HISTORY_ENDPOINTS = { c: "channels.history", p: "groups.history", d: "im.history" } as const;
export type HistoryRoomType = keyof typeof HISTORY_ENDPOINTS;

const isoOf = (ms: number) => new Date(ms).toISOString();

/** A message the bot posts, under an `_id` chosen by us so that a retry can look it up first. */
export type OutgoingMessage = { _id: string; rid: string; tmid?: string; msg: string };

/** Rocket.Chat's rate limiter says how long to wait in the error text or the reset header. */
function retryAfterOf(response: Response): number | null {
  const header = parseRetryAfter(response.headers.get("retry-after"));
  if (header !== null) return header;
  const reset = resetAtOf(response);
  return reset !== null ? Math.max(1, Math.ceil((reset - Date.now()) / 1000)) : null;
}

/**
 * X-RateLimit-Reset: epoch milliseconds (`new Date().getTime() + timeToReset`, set on every
 * rate-limited route's answer by `enforceRateLimit`; checked against RocketChat/Rocket.Chat
 * `apps/meteor/app/api/server/ApiClass.ts`, develop as stored on 2026-12-06).
 */
function resetAtOf(response: Response): number | null {
  const reset = Number(response.headers.get("x-ratelimit-reset"));
  return Number.isFinite(reset) && reset > 0 ? reset : null;
}

export class RocketChatApi {
  constructor(private readonly settings: RocketChatApiSettings) {}

  private async request<S extends z.ZodType>(path: string, schema: S, init: RequestInit = {}): Promise<z.infer<S>> {
    const url = `${this.settings.url.replace(/\/+$/, "")}/api/v1/${path}`;
    const response = await fetch(url, {
      ...init,
      headers: { "X-User-Id": this.settings.userId, "X-Auth-Token": this.settings.authToken, "Content-Type": "application/json", ...init.headers },
      signal: init.signal ?? AbortSignal.timeout(5000),
    });
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const error = errorBodySchema.safeParse(body);
      const code = error.success ? error.data.errorType ?? error.data.error?.match(/\[([\w-]+)\]$/)?.[1] ?? "error" : "error";
      throw new RocketChatApiError(response.status, code, response.status === 429 ? retryAfterOf(response) : null, response.status === 429 ? resetAtOf(response) : null);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new RocketChatApiError(response.status, "unexpected-response");
    return parsed.data;
  }

  /**
   * Posts `message` (chat.sendMessage). Rocket.Chat has no "already exists" answer: for an `_id`
   * it already has, the server's sendMessage returns without inserting, and the endpoint then
   * answers 400 `{"success":false,"error":"Cannot read properties of undefined (reading
   * 'starred')"}` (no errorType) where it normalizes the result, 200 `{"success":true}` without
   * a message on older servers, and a Mongo duplicate-key 400 when two inserts race. Whether a
   * failed post is in the room is for `messageExists` to say. Checked against RocketChat/Rocket.Chat
   * `apps/meteor/app/lib/server/functions/sendMessage.ts` (`messageAlreadyExists` → return, since
   * PR #14945, July 2019), `app/api/server/v1/chat.ts` (`normalizeMessagesForUser([sent])`) and
   * `app/api/server/ApiClass.ts` (any other error → `failure(e.message, e.error)`, 400), develop
   * as stored on 2026-12-06.
   */
  async sendMessage(message: OutgoingMessage): Promise<void> {
    await this.request("chat.sendMessage", sentMessageSchema, { method: "POST", body: JSON.stringify({ message }) });
  }

  /** Whether a message with this id exists (chat.getMessage): a retried delivery checks before posting. */
  async messageExists(messageId: string): Promise<boolean> {
    try {
      const found = await this.request(`chat.getMessage?msgId=${encodeURIComponent(messageId)}`, getMessageSchema);
      return found.message !== null;
    } catch (error) {
      // An unknown id answers 400 `{"success":false}` (`API.v1.failure()` when getSingleMessage
      // finds nothing), a message in a room we cannot read 400 `error-not-allowed`: either way
      // not ours to find. Checked against chat.ts `chat.getMessage` and
      // `app/lib/server/methods/getSingleMessage.ts`, develop as stored on 2026-12-06.
      if (error instanceof RocketChatApiError && error.status === 400) return false;
      throw error;
    }
  }

  /** `timeoutMs`: how long to wait (default 5 s); answering waits less and treats the room as private. */
  async roomInfo(roomId: string, options: { timeoutMs?: number } = {}): Promise<RoomInfo> {
    const signal = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    const { room } = await this.request(`rooms.info?roomId=${encodeURIComponent(roomId)}`, roomInfoSchema, signal ? { signal } : {});
    return { id: room._id, name: room.name ?? room.fname ?? null, type: room.t };
  }

  /**
   * rooms.get: the rooms the user belongs to, and (with `updatedSince`, epoch ms) only those
   * updated since, with the rooms deleted since in `remove`.
   */
  async roomsGet(updatedSince?: number): Promise<{ update: ListedRoom[]; remove: DeletedMessage[] }> {
    const query = updatedSince === undefined ? "" : `?${new URLSearchParams({ updatedSince: isoOf(updatedSince) })}`;
    const body = await this.request(`rooms.get${query}`, roomsGetSchema);
    return { update: body.update.map(listedRoom), remove: body.remove };
  }

  /** channels.list: one page of the public channels (by name), and how many there are. */
  async channelsList(offset: number, count: number): Promise<{ channels: ListedRoom[]; total: number }> {
    const body = await this.request(`channels.list?${new URLSearchParams({ offset: String(offset), count: String(count) })}`, channelsListSchema);
    return { channels: body.channels.map(listedRoom), total: body.total };
  }

  /**
   * One page of a room's history by its type, newest first: messages sent between `oldest` and
   * `latest` (epoch ms, both included), thread replies too.
   */
  async history(roomType: HistoryRoomType, query: { roomId: string; oldest: number; latest: number; count: number; offset?: number }): Promise<MessagePage> {
    const params = new URLSearchParams({
      roomId: query.roomId,
      oldest: isoOf(query.oldest),
      latest: isoOf(query.latest),
      inclusive: "true",
      showThreadMessages: "true",
      count: String(query.count),
    });
    if (query.offset) params.set("offset", String(query.offset));
    const body = await this.request(`${HISTORY_ENDPOINTS[roomType]}?${params}`, historySchema);
    return messagePage(body.messages);
  }

  /**
   * chat.syncMessages, cursor form: the room's messages updated (or deleted) after `next` (epoch
   * ms), oldest change first, at most `count`. `cursorForm` is false when the answer carries no
   * cursor: a server that does not know the form answered something else.
   */
  async syncMessagesAfter(roomId: string, type: "UPDATED" | "DELETED", next: number, count: number): Promise<{ updated: MessagePage; deleted: DeletedMessage[]; cursorForm: boolean }> {
    const params = new URLSearchParams({ roomId, type, next: String(next), count: String(count) });
    const { result } = await this.request(`chat.syncMessages?${params}`, syncMessagesSchema);
    return { updated: messagePage(result.updated), deleted: result.deleted, cursorForm: result.cursor !== undefined };
  }

  /** chat.syncMessages, `lastUpdate` form: every message of the room updated or deleted after it (epoch ms). */
  async syncMessagesSince(roomId: string, lastUpdate: number): Promise<{ updated: MessagePage; deleted: DeletedMessage[] }> {
    const { result } = await this.request(`chat.syncMessages?${new URLSearchParams({ roomId, lastUpdate: isoOf(lastUpdate) })}`, syncMessagesSchema);
    return { updated: messagePage(result.updated), deleted: result.deleted };
  }

  /** chat.getDeletedMessages: one page of the ids of the room's messages deleted after `since` (epoch ms). */
  async deletedMessages(roomId: string, since: number, offset: number, count: number): Promise<{ ids: string[]; total: number }> {
    const params = new URLSearchParams({ roomId, since: isoOf(since), offset: String(offset), count: String(count) });
    const body = await this.request(`chat.getDeletedMessages?${params}`, deletedMessagesSchema);
    return { ids: body.messages.map((entry) => entry.id), total: body.total };
  }
}
