// A fake Rocket.Chat REST API following its documented contract: X-User-Id + X-Auth-Token on
// every call (401 `{"status":"error","message":...}` otherwise), `{"success":false,"error",
// "errorType"}` for a bad request, the rate limiter's 429 with X-RateLimit-* headers, and
// `rooms.info` answering `{"room":{...},"success":true}`.
//
// `chat.sendMessage` takes `{"message":{"_id","rid","tmid"?,"msg"}}` and answers
// `{"message":{...},"success":true}`. A message with an `_id` already used is not stored again
// and answers what Rocket.Chat answers: its sendMessage returns nothing for an existing `_id`, and
// the endpoint's `normalizeMessagesForUser([undefined])` throws a TypeError that the API turns
// into 400 `{"success":false,"error":"Cannot read properties of undefined (reading 'starred')"}`,
// with no errorType (there is no "already exists" code). `chat.getMessage?msgId=` answers the
// message, or 400 `{"success":false}` for an unknown id (`API.v1.failure()`). Checked against
// RocketChat/Rocket.Chat develop as stored on 2026-12-06: apps/meteor/app/lib/server/functions/
// sendMessage.ts, app/api/server/v1/chat.ts, app/api/server/ApiClass.ts,
// app/lib/server/methods/getSingleMessage.ts.
//
// A stored message carries `mentions` as the server computes them before saving: every match
// of MentionsParser.userMentionRegex, `(^|\s|>)@(<pattern>(@(<pattern>))?(:([0-9a-zA-Z-_.]+))?)`
// on the raw `msg`, with the default UTF8_User_Names_Validation `[0-9a-zA-Z-_.]+`; `all` and
// `here` become `{_id, username}` group mentions, any other name a user mention. (The server
// keeps only names of existing users and teams; the fake keeps every name, so a test that
// expects none is stricter than the server.) Checked against RocketChat/Rocket.Chat develop as
// stored on 2026-12-06: apps/meteor/app/mentions/lib/MentionsParser.ts, server/Mentions.ts
// (getUsersByMentions) and server/server.ts (the `beforeSaveMessage` callback).
//
// What the history sync reads, checked against RocketChat/Rocket.Chat develop as stored on
// 2026-12-06 (versions from RocketChat/Rocket.Chat-Open-API, fetched the same day):
// - `rooms.get` (0.72.0; app/api/server/v1/rooms.ts, `rooms/get`): `{update, remove}`. Without
//   `updatedSince` every room the user is subscribed to and `remove: []`; with it (ISO; else 400
//   error-updatedSince-param-invalid) those whose `_updatedAt` is later, and `{_id, _deletedAt}`
//   of every room deleted since.
// - `channels.list` (0.48.0, paged 0.49.0; channels.ts): type c rooms, all of them with the
//   view-c-room permission, else only joined ones; sorted by name; `{channels, count, offset,
//   total}`. `count` defaults to API_Default_Count (50) and is capped at API_Upper_Count_Limit (100).
// - `channels.history` (0.47.0), `groups.history`, `im.history` (0.48.0; `offset` 0.75.0):
//   lib/server/methods/getChannelHistory.ts: `{messages}` newest first (ts desc), `_hidden`
//   left out, `oldest`/`latest` exclusive unless `inclusive`, `latest` defaults to now. Thread
//   replies (with `tmid`, not `tshow`) only with `showThreadMessages=true` for channels and
//   direct messages, unless `showThreadMessages=false` for groups. A room of another type, or a
//   group or direct message the user is not in: 400 error-room-not-found; a channel it may not
//   read: 403. channels.history's query schema (rest-typings) allows no other parameter (400
//   invalid-params).
// - `chat.syncMessages` (chat.ts, server/publications/messages.ts): `lastUpdate` answers every
//   message (not `_hidden`) with `_updatedAt` after it (ts desc) and `{_id, _deletedAt}` of the
//   room's deleted messages; `type` UPDATED or DELETED with `next` (ms) and `count` (default 20)
//   answers up to `count` of them after the cursor, oldest change first, with `cursor: {next,
//   previous}` (mountNextCursor / mountPreviousCursor); `type` without `next`/`previous` falls to
//   the history and answers empty lists without a cursor. A room the user cannot read: 400
//   error-not-allowed. With `syncMessagesCursor: false` the fake is a server from before the
//   cursor form (PR #33810, November 2024): `lastUpdate` is required (400
//   error-lastUpdate-param-not-provided) and no cursor is answered.
// - `chat.getDeletedMessages` (0.73.0): ids of the room's messages deleted after `since`
//   (required, an ISO date), `{messages: [{_id}], count, offset, total}`, no access check.
// - Deleting a message (lib/server/functions/deleteMessage.ts): a thread root with replies, or
//   every message with Message_ShowDeletedStatus (`showDeletedStatus`), stays as a `t: "rm"`
//   placeholder with an empty `msg` and a new `editedAt`; any other goes to the trash with
//   `_deletedAt`. A reply updates its root (`tcount`, `tlm`, `_updatedAt`); every write updates
//   `_updatedAt`, a room's too when a message is added or removed.
// - Rate limits (ApiClass.ts `enforceRateLimit`): 429 `{"success":false,"error":"Error, too many
//   requests. Please slow down. You must wait N seconds before trying this endpoint again.
//   [error-too-many-requests]"}` with X-RateLimit-Limit, X-RateLimit-Remaining and
//   X-RateLimit-Reset (epoch ms).
//
// Tests drive it through /__fake/*: POST /__fake/rooms {id, name?, t, failures?: [{status,
// retryAfter?}]} registers a room, or changes it (a channel made private is the same room posted
// again with t "p"); failures are answered first, one per call, for rooms.info and
// chat.sendMessage to it. GET /__fake/requests?roomId=<id> lists the calls that named a room,
// GET /__fake/messages?rid=<id> the messages posted to it.
//
// Workspaces: POST /__fake/workspaces {viewPublicChannels?, missing?: [endpoint], syncMessagesCursor?,
// showDeletedStatus?} answers `{id, url}`: a server of its own at `url` (…/ws/<id>), with the same
// API and these controls under `url`/__fake/: POST rooms {id, name?, t, member?, ts?} (the bot
// belongs to a room only with `member: true`, in every workspace), POST rooms/delete {id}, POST
// history {rid, messages: [{_id?, msg, ts, u?, tmid?, t?, alias?, bot?}]} (past messages, as if
// sent then), POST send {rid, msg, tmid?, u?} (a message now), POST edit {id, msg}, POST delete
// {id}, POST rate-limit {endpoint, after, times?, resetInMs?} (after `after` more calls, `times`
// 429s), POST options {missing?, syncMessagesCursor?, ...} (an upgrade), GET requests. `missing` endpoints answer 404. The root server is a workspace whose bot
// belongs to no room and lacks view-c-room: nothing it was not told of is listed.
import { startFake, type FakeRequest, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_ROCKETCHAT_USER_ID = "fakeBotUserId0001";
export const FAKE_ROCKETCHAT_AUTH_TOKEN = "fake-rocketchat-auth-token";

type Mention = { _id: string; username: string; type?: "user" };

/** The default UTF8_User_Names_Validation setting. */
const USERNAME_PATTERN = "[0-9a-zA-Z-_.]+";
const USER_MENTION = new RegExp(`(^|\\s|>)@(${USERNAME_PATTERN}(@(${USERNAME_PATTERN}))?(:([0-9a-zA-Z-_.]+))?)`, "gm");

/** The mentions Rocket.Chat's server would find in `msg` (every name kept, see above). */
export function serverMentions(msg: string): Mention[] {
  return (msg.match(USER_MENTION) ?? []).map((match) => {
    const name = match.includes(":") ? match.trim() : match.trim().substring(1);
    return name === "all" || name === "here" ? { _id: name, username: name } : { _id: `user:${name}`, username: name, type: "user" as const };
  });
}
type Failure = { status: number; retryAfter?: number };

type Room = { _id: string; t: string; name?: string; ts: Date; _updatedAt: Date; member: boolean; msgs: number };
type User = { _id: string; username: string };
type Message = {
  _id: string;
  rid: string;
  msg: string;
  ts: Date;
  _updatedAt: Date;
  u: User;
  mentions: Mention[];
  tmid?: string;
  tshow?: boolean;
  t?: string;
  alias?: string;
  bot?: Record<string, unknown>;
  editedAt?: Date;
  editedBy?: User;
  _hidden?: boolean;
  tcount?: number;
  tlm?: Date;
};
type Trashed = { _id: string; rid: string; _deletedAt: Date };
type RateLimit = { after: number; times: number; resetInMs: number };

type WorkspaceOptions = { viewPublicChannels: boolean; missing: Set<string>; syncMessagesCursor: boolean; showDeletedStatus: boolean };

type Workspace = {
  id: string;
  options: WorkspaceOptions;
  rooms: Map<string, Room>;
  roomTrash: Map<string, { _id: string; _deletedAt: Date }>;
  failures: Map<string, Failure[]>;
  messages: Map<string, Message>;
  trash: Map<string, Trashed>;
  rateLimits: Map<string, RateLimit>;
};

const BOT: User = { _id: FAKE_ROCKETCHAT_USER_ID, username: "edge-ops-bot" };
const DEFAULT_USER: User = { _id: "rYhzFRd2QZjNwAAXX", username: "rodriq" };
/** API_Default_Count and API_Upper_Count_Limit. */
const DEFAULT_COUNT = 50;
const UPPER_COUNT = 100;

const newWorkspace = (id: string, options: Partial<WorkspaceOptions> = {}): Workspace => ({
  id,
  options: { viewPublicChannels: true, missing: new Set(), syncMessagesCursor: true, showDeletedStatus: false, ...options },
  rooms: new Map(),
  roomTrash: new Map(),
  failures: new Map(),
  messages: new Map(),
  trash: new Map(),
  rateLimits: new Map(),
});

const bad = (error: string, errorType?: string): FakeResponse => ({
  status: 400,
  body: errorType ? { success: false, error: `${error} [${errorType}]`, errorType } : { success: false, error },
});
const invalidParams = (message: string) => bad(message, "invalid-params");

function tooManyRequests(resetInMs: number): FakeResponse {
  const seconds = Math.ceil(resetInMs / 1000);
  return {
    status: 429,
    headers: { "x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Date.now() + resetInMs) },
    body: { success: false, error: `Error, too many requests. Please slow down. You must wait ${seconds} seconds before trying this endpoint again. [error-too-many-requests]` },
  };
}

const failureResponse = (failure: Failure): FakeResponse =>
  failure.status === 429 ? tooManyRequests((failure.retryAfter ?? 60) * 1000) : { status: failure.status, body: { success: false, error: "Internal server error" } };

/** getPaginationItems: offset and count, count defaulting to API_Default_Count and capped at API_Upper_Count_Limit. */
function pagination(query: URLSearchParams): { offset: number; count: number } {
  const offset = Number.parseInt(query.get("offset") ?? "0", 10) || 0;
  const asked = query.get("count");
  const count = asked === null ? DEFAULT_COUNT : Number.parseInt(asked, 10);
  return { offset: Math.max(0, offset), count: Number.isNaN(count) || count < 1 ? DEFAULT_COUNT : Math.min(count, UPPER_COUNT) };
}

/** What ajv answers for query parameters a schema with additionalProperties false does not list. */
function extraParams(query: URLSearchParams, allowed: readonly string[]): FakeResponse | null {
  for (const key of query.keys()) if (!allowed.includes(key)) return invalidParams("must NOT have additional properties");
  return null;
}

const roomJson = (room: Room) => ({
  _id: room._id,
  t: room.t,
  ...(room.name ? { name: room.name, fname: room.name } : {}),
  ts: room.ts,
  _updatedAt: room._updatedAt,
  msgs: room.msgs,
  usersCount: room.member ? 2 : 1,
  default: false,
  ro: false,
});

const messageJson = (message: Message) => message;

export async function startFakeRocketChat(port = 0): Promise<RunningFake> {
  const root = newWorkspace("", { viewPublicChannels: false });
  const workspaces = new Map<string, Workspace>([["", root]]);
  const calls: { workspace: string; method: string; path: string; roomId: string | null; query: string; at: number }[] = [];
  let nextId = 0;
  const freshId = () => `fake${(nextId++).toString().padStart(13, "0")}`;

  /** Whether the user may read the room: a member, or any channel with view-c-room. */
  const canRead = (ws: Workspace, room: Room) => room.member || ((room.t === "c" || room.t === "l") && ws.options.viewPublicChannels);

  function touchRoom(ws: Workspace, rid: string, at: Date, delta: number): void {
    const room = ws.rooms.get(rid);
    if (!room) return;
    room.msgs += delta;
    if (at > room._updatedAt) room._updatedAt = at;
  }

  function addMessage(ws: Workspace, input: { _id?: string; rid: string; msg: string; ts: Date; u?: User; tmid?: string; t?: string; alias?: string; bot?: Record<string, unknown> }, updatedAt: Date): Message {
    const message: Message = {
      _id: input._id ?? freshId(),
      rid: input.rid,
      msg: input.msg,
      ts: input.ts,
      _updatedAt: updatedAt,
      u: input.u ?? DEFAULT_USER,
      mentions: serverMentions(input.msg),
      ...(input.tmid ? { tmid: input.tmid } : {}),
      ...(input.t ? { t: input.t } : {}),
      ...(input.alias ? { alias: input.alias } : {}),
      ...(input.bot ? { bot: input.bot } : {}),
    };
    ws.messages.set(message._id, message);
    touchRoom(ws, message.rid, updatedAt, 1);
    if (message.tmid) {
      // Messages.updateRepliesByThreadId: the root's reply count and last reply.
      const root = ws.messages.get(message.tmid);
      if (root) {
        root.tcount = (root.tcount ?? 0) + 1;
        root.tlm = message.ts;
        if (updatedAt > root._updatedAt) root._updatedAt = updatedAt;
      }
    }
    return message;
  }

  function deleteMessage(ws: Workspace, message: Message, at: Date): void {
    if ((message.tcount ?? 0) > 0 || ws.options.showDeletedStatus) {
      // setAsDeletedByIdAndUser.
      message.msg = "";
      message.t = "rm";
      message.mentions = [];
      message.editedAt = at;
      message.editedBy = DEFAULT_USER;
      delete message.tshow;
      message._updatedAt = at;
    } else {
      ws.messages.delete(message._id);
      ws.trash.set(message._id, { _id: message._id, rid: message.rid, _deletedAt: at });
    }
    if (message.tmid) {
      const root = ws.messages.get(message.tmid);
      if (root) {
        root.tcount = Math.max(0, (root.tcount ?? 1) - 1);
        root._updatedAt = at;
      }
    }
    touchRoom(ws, message.rid, at, -1);
  }

  /** getChannelHistory for `endpoint`, after the room lookup of that endpoint. */
  function history(ws: Workspace, endpoint: "channels.history" | "groups.history" | "im.history", query: URLSearchParams): FakeResponse {
    if (endpoint !== "groups.history") {
      const extra = extraParams(query, ["roomId", "latest", "oldest", "inclusive", "unreads", "showThreadMessages", "count", "offset", "sort"]);
      if (extra) return extra;
    }
    const roomId = query.get("roomId");
    if (!roomId) return invalidParams("must have required property 'roomId'");
    const room = ws.rooms.get(roomId);
    const kinds = { "channels.history": ["c", "l"], "groups.history": ["p"], "im.history": ["d"] }[endpoint];
    const noun = { "channels.history": "channel", "groups.history": "group", "im.history": "direct message" }[endpoint];
    if (!room || !kinds.includes(room.t) || (endpoint !== "channels.history" && !room.member)) {
      return bad(`The required "roomId" or "roomName" param provided does not match any ${noun}`, "error-room-not-found");
    }
    if (!canRead(ws, room)) return { status: 403, body: { success: false, error: "unauthorized" } };
    const latest = query.get("latest") ? new Date(query.get("latest")!) : new Date();
    const oldest = query.get("oldest") ? new Date(query.get("oldest")!) : null;
    const inclusive = endpoint === "groups.history" ? Boolean(query.get("inclusive")) : query.get("inclusive") === "true";
    const threads = endpoint === "groups.history" ? query.get("showThreadMessages") !== "false" : query.get("showThreadMessages") === "true";
    const { offset, count } = pagination(query);
    const messages = [...ws.messages.values()]
      .filter((message) => message.rid === roomId && !message._hidden)
      .filter((message) => (inclusive ? message.ts <= latest : message.ts < latest))
      .filter((message) => oldest === null || (inclusive ? message.ts >= oldest : message.ts > oldest))
      .filter((message) => threads || !message.tmid || message.tshow)
      .sort((a, b) => b.ts.getTime() - a.ts.getTime())
      .slice(offset, offset + count);
    return { status: 200, body: { messages: messages.map(messageJson), success: true } };
  }

  /** mountNextCursor / mountPreviousCursor of server/publications/messages.ts. */
  function cursorOf(items: { at: Date }[], count: number, next: string | null, previous: string | null) {
    const stamp = (item: { at: Date } | undefined) => (item ? String(item.at.getTime()) : null);
    if (items.length === 0) return { next: null, previous: null };
    const nextCursor = previous
      ? stamp(items[0])
      : items.length <= count && next
        ? null
        : items.length > count && next
          ? stamp(items[items.length - 2])
          : stamp(items[items.length - 1]);
    const previousCursor =
      next ? stamp(items[0]) : items.length <= count && previous ? null : items.length > count && previous ? stamp(items[items.length - 2]) : stamp(items[0]);
    return { next: nextCursor, previous: previousCursor };
  }

  function syncMessages(ws: Workspace, query: URLSearchParams): FakeResponse {
    const roomId = query.get("roomId");
    const lastUpdate = query.get("lastUpdate");
    if (!ws.options.syncMessagesCursor) {
      // The endpoint before the cursor form: lastUpdate is required.
      if (!roomId) return bad('The required "roomId" query param is missing.', "error-roomId-param-not-provided");
      if (!lastUpdate) return bad('The required "lastUpdate" query param is missing.', "error-lastUpdate-param-not-provided");
      if (Number.isNaN(Date.parse(lastUpdate))) return bad('The "lastUpdate" query parameter must be a valid date.', "error-roomId-param-invalid");
    } else {
      const extra = extraParams(query, ["roomId", "lastUpdate", "count", "next", "previous", "type"]);
      if (extra) return extra;
      const type = query.get("type");
      if (type !== null && type !== "UPDATED" && type !== "DELETED") return invalidParams("must be equal to one of the allowed values");
      if (!roomId) return bad('The required "roomId" query param is missing', "error-param-required");
      if (!lastUpdate && !type) return bad('The "type" or "lastUpdate" parameters must be provided', "error-param-required");
      if (lastUpdate && Number.isNaN(Date.parse(lastUpdate))) return bad('The "lastUpdate" query parameter must be a valid date', "error-lastUpdate-param-invalid");
    }
    const room = ws.rooms.get(roomId);
    if (!room || !canRead(ws, room)) return bad("Not allowed", "error-not-allowed");
    const updatedAfter = (after: Date) =>
      [...ws.messages.values()].filter((message) => message.rid === roomId && !message._hidden && message._updatedAt > after);
    const deletedAfter = (after: Date) => [...ws.trash.values()].filter((entry) => entry.rid === roomId && entry._deletedAt > after);
    if (lastUpdate) {
      const since = new Date(lastUpdate);
      const updated = updatedAfter(since).sort((a, b) => b.ts.getTime() - a.ts.getTime());
      const deleted = deletedAfter(since).map((entry) => ({ _id: entry._id, _deletedAt: entry._deletedAt }));
      return { status: 200, body: { result: { updated: updated.map(messageJson), deleted }, success: true } };
    }
    const type = query.get("type") as "UPDATED" | "DELETED";
    const next = query.get("next");
    const previous = query.get("previous");
    if (next && previous) return bad('You cannot provide both "next" and "previous" parameters', "error-cursor-conflict");
    if (!next && !previous) return { status: 200, body: { result: { updated: [], deleted: [] }, success: true } };
    const count = Number.parseInt(query.get("count") ?? "20", 10) || 20;
    const pivot = new Date(Number.parseInt((next ?? previous)!, 10));
    if (Number.isNaN(pivot.getTime())) return bad("Invalid Date");
    const items =
      type === "UPDATED"
        ? updatedAfter(new Date(-8.64e15))
            .filter((message) => (next ? message._updatedAt > pivot : message._updatedAt < pivot))
            .map((message) => ({ at: message._updatedAt, body: messageJson(message) as unknown }))
        : [...ws.trash.values()]
            .filter((entry) => entry.rid === roomId && (next ? entry._deletedAt > pivot : entry._deletedAt < pivot))
            .map((entry) => ({ at: entry._deletedAt, body: { _id: entry._id, _deletedAt: entry._deletedAt } as unknown }));
    items.sort((a, b) => (next ? a.at.getTime() - b.at.getTime() : b.at.getTime() - a.at.getTime()));
    const limited = items.slice(0, count + 1);
    const cursor = cursorOf(limited, count, next, previous);
    const page = limited.slice(0, count).map((item) => item.body);
    return { status: 200, body: { result: { updated: type === "UPDATED" ? page : [], deleted: type === "DELETED" ? page : [], cursor }, success: true } };
  }

  function api(ws: Workspace, request: FakeRequest, path: string): FakeResponse {
    const query = request.url.searchParams;
    const posted = path === "/api/v1/chat.sendMessage" ? (request.body as { message?: { rid?: string } } | undefined)?.message : undefined;
    const roomId = query.get("roomId") ?? posted?.rid ?? null;
    calls.push({ workspace: ws.id, method: request.method, path, roomId, query: request.url.search, at: Date.now() });
    if (request.headers["x-user-id"] !== FAKE_ROCKETCHAT_USER_ID || request.headers["x-auth-token"] !== FAKE_ROCKETCHAT_AUTH_TOKEN) {
      return { status: 401, body: { status: "error", message: "You must be logged in to do this." } };
    }
    const endpoint = path.replace(/^\/api\/v1\//, "");
    if (ws.options.missing.has(endpoint)) return { status: 404, body: { success: false, error: "Not found" } };
    const limit = ws.rateLimits.get(endpoint);
    if (limit) {
      if (limit.after > 0) limit.after -= 1;
      else if (limit.times > 0) {
        limit.times -= 1;
        return tooManyRequests(limit.resetInMs);
      } else ws.rateLimits.delete(endpoint);
    }
    if (path === "/api/v1/rooms.info" && request.method === "GET") {
      if (!roomId) return { status: 400, body: { success: false, error: "The 'roomId' or 'roomName' param is required" } };
      const failure = ws.failures.get(roomId)?.shift();
      if (failure) return failureResponse(failure);
      const room = ws.rooms.get(roomId);
      if (!room) return bad('The required "roomId" or "roomName" param provided does not match any channel', "error-room-not-found");
      return { status: 200, body: { room: { ...roomJson(room), usersCount: 1 }, success: true } };
    }
    if (path === "/api/v1/chat.sendMessage" && request.method === "POST") {
      const message = (request.body as { message?: { _id?: unknown; rid?: unknown; tmid?: unknown; msg?: unknown } } | undefined)?.message;
      if (!message || typeof message.rid !== "string" || typeof message.msg !== "string") {
        return { status: 400, body: { success: false, error: "The 'message' param is required [error-invalid-params]", errorType: "error-invalid-params" } };
      }
      const failure = ws.failures.get(message.rid)?.shift();
      if (failure) return failureResponse(failure);
      if (!ws.rooms.has(message.rid)) return { status: 400, body: { success: false, error: "error-invalid-room", errorType: "error-invalid-room" } };
      const id = typeof message._id === "string" ? message._id : freshId();
      // executeSendMessage checks the size before sendMessage looks the `_id` up.
      if (message.msg.length > 5000) return { status: 400, body: { success: false, error: "error-message-size-exceeded", errorType: "error-message-size-exceeded" } };
      if (ws.messages.has(id)) return { status: 400, body: { success: false, error: "Cannot read properties of undefined (reading 'starred')" } };
      const now = new Date();
      const stored = addMessage(ws, { _id: id, rid: message.rid, msg: message.msg, ts: now, u: BOT, ...(typeof message.tmid === "string" ? { tmid: message.tmid } : {}) }, now);
      return { status: 200, body: { message: stored, success: true } };
    }
    if (path === "/api/v1/chat.getMessage" && request.method === "GET") {
      const message = ws.messages.get(query.get("msgId") ?? "");
      return message ? { status: 200, body: { message, success: true } } : { status: 400, body: { success: false } };
    }
    if (path === "/api/v1/rooms.get" && request.method === "GET") {
      const updatedSince = query.get("updatedSince");
      if (updatedSince !== null && Number.isNaN(Date.parse(updatedSince))) {
        return bad('The "updatedSince" query parameter must be a valid date.', "error-updatedSince-param-invalid");
      }
      const mine = [...ws.rooms.values()].filter((room) => room.member);
      if (updatedSince === null) return { status: 200, body: { update: mine.map(roomJson), remove: [], success: true } };
      const since = new Date(updatedSince);
      return {
        status: 200,
        body: {
          update: mine.filter((room) => room._updatedAt > since).map(roomJson),
          remove: [...ws.roomTrash.values()].filter((room) => room._deletedAt > since),
          success: true,
        },
      };
    }
    if (path === "/api/v1/channels.list" && request.method === "GET") {
      const { offset, count } = pagination(query);
      const channels = [...ws.rooms.values()]
        .filter((room) => room.t === "c" && (ws.options.viewPublicChannels || room.member))
        .sort((a, b) => (a.name ?? "").localeCompare(b.name ?? "") || a._id.localeCompare(b._id));
      const page = channels.slice(offset, offset + count);
      return { status: 200, body: { channels: page.map(roomJson), count: page.length, offset, total: channels.length, success: true } };
    }
    if ((path === "/api/v1/channels.history" || path === "/api/v1/groups.history" || path === "/api/v1/im.history") && request.method === "GET") {
      return history(ws, endpoint as "channels.history" | "groups.history" | "im.history", query);
    }
    if (path === "/api/v1/chat.syncMessages" && request.method === "GET") return syncMessages(ws, query);
    if (path === "/api/v1/chat.getDeletedMessages" && request.method === "GET") {
      const extra = extraParams(query, ["roomId", "since", "count", "offset", "sort"]);
      if (extra) return extra;
      if (!query.get("roomId")) return invalidParams("must have required property 'roomId'");
      const since = query.get("since");
      if (!since) return invalidParams("must have required property 'since'");
      if (Number.isNaN(Date.parse(since))) return invalidParams('must match format "iso-date-time"');
      const { offset, count } = pagination(query);
      const deleted = [...ws.trash.values()].filter((entry) => entry.rid === query.get("roomId") && entry._deletedAt > new Date(since));
      const page = deleted.slice(offset, offset + count).map((entry) => ({ _id: entry._id }));
      return { status: 200, body: { messages: page, count: page.length, offset, total: deleted.length, success: true } };
    }
    return { status: 404, body: { success: false, error: "Not found" } };
  }

  function control(ws: Workspace, request: FakeRequest, path: string, base: string): FakeResponse {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (path === "/__fake/workspaces" && request.method === "POST" && ws === root) {
      const id = crypto.randomUUID().slice(0, 8);
      const options = body as { viewPublicChannels?: boolean; missing?: string[]; syncMessagesCursor?: boolean; showDeletedStatus?: boolean };
      workspaces.set(
        id,
        newWorkspace(id, {
          ...(options.viewPublicChannels !== undefined ? { viewPublicChannels: options.viewPublicChannels } : {}),
          ...(options.syncMessagesCursor !== undefined ? { syncMessagesCursor: options.syncMessagesCursor } : {}),
          ...(options.showDeletedStatus !== undefined ? { showDeletedStatus: options.showDeletedStatus } : {}),
          missing: new Set(options.missing ?? []),
        }),
      );
      return { status: 200, body: { id, url: `${base}/ws/${id}` } };
    }
    if (path === "/__fake/rooms" && request.method === "POST") {
      const input = body as { id: string; name?: string; t: string; failures?: Failure[]; member?: boolean; ts?: string };
      const now = new Date();
      const known = ws.rooms.get(input.id);
      const member = input.member ?? known?.member ?? false;
      const changed = !known || known.t !== input.t || known.name !== input.name || known.member !== member;
      const room: Room = {
        _id: input.id,
        t: input.t,
        ...(input.name ? { name: input.name } : {}),
        ts: known?.ts ?? (input.ts ? new Date(input.ts) : now),
        _updatedAt: changed ? now : known._updatedAt,
        member,
        msgs: known?.msgs ?? 0,
      };
      ws.rooms.set(input.id, room);
      ws.failures.set(input.id, [...(input.failures ?? [])]);
      return { status: 204 };
    }
    if (path === "/__fake/rooms/delete" && request.method === "POST") {
      const id = String(body.id);
      ws.rooms.delete(id);
      for (const message of [...ws.messages.values()]) if (message.rid === id) ws.messages.delete(message._id);
      ws.roomTrash.set(id, { _id: id, _deletedAt: new Date() });
      return { status: 204 };
    }
    if (path === "/__fake/history" && request.method === "POST") {
      const input = body as { rid: string; messages: { _id?: string; msg: string; ts: string; u?: User; tmid?: string; t?: string; alias?: string; bot?: Record<string, unknown> }[] };
      // Sent in the past and untouched since: updated when they were sent.
      const ids = input.messages.map((message) => {
        const ts = new Date(message.ts);
        return addMessage(ws, { ...message, rid: input.rid, ts }, ts)._id;
      });
      return { status: 200, body: { ids } };
    }
    if (path === "/__fake/send" && request.method === "POST") {
      const input = body as { rid: string; msg: string; tmid?: string; u?: User };
      const now = new Date();
      return { status: 200, body: addMessage(ws, { ...input, ts: now }, now) };
    }
    if (path === "/__fake/edit" && request.method === "POST") {
      const message = ws.messages.get(String(body.id));
      if (!message) return { status: 404, body: { error: "no such message" } };
      const now = new Date();
      message.msg = String(body.msg);
      message.mentions = serverMentions(message.msg);
      message.editedAt = now;
      message.editedBy = message.u;
      message._updatedAt = now;
      return { status: 200, body: message };
    }
    if (path === "/__fake/delete" && request.method === "POST") {
      const message = ws.messages.get(String(body.id));
      if (!message) return { status: 404, body: { error: "no such message" } };
      deleteMessage(ws, message, new Date());
      return { status: 204 };
    }
    if (path === "/__fake/options" && request.method === "POST") {
      // The server upgraded or reconfigured: endpoints added, settings changed.
      const input = body as { missing?: string[]; syncMessagesCursor?: boolean; viewPublicChannels?: boolean; showDeletedStatus?: boolean };
      if (input.missing) ws.options.missing = new Set(input.missing);
      if (input.syncMessagesCursor !== undefined) ws.options.syncMessagesCursor = input.syncMessagesCursor;
      if (input.viewPublicChannels !== undefined) ws.options.viewPublicChannels = input.viewPublicChannels;
      if (input.showDeletedStatus !== undefined) ws.options.showDeletedStatus = input.showDeletedStatus;
      return { status: 204 };
    }
    if (path === "/__fake/rate-limit" && request.method === "POST") {
      const input = body as { endpoint: string; after?: number; times?: number; resetInMs?: number };
      ws.rateLimits.set(input.endpoint, { after: input.after ?? 0, times: input.times ?? 1, resetInMs: input.resetInMs ?? 60_000 });
      return { status: 204 };
    }
    if (path === "/__fake/messages") {
      const rid = request.url.searchParams.get("rid");
      return { status: 200, body: [...ws.messages.values()].filter((message) => message.rid === rid) };
    }
    if (path === "/__fake/requests") {
      const roomId = request.url.searchParams.get("roomId");
      return { status: 200, body: calls.filter((call) => call.workspace === ws.id && (roomId === null || call.roomId === roomId)) };
    }
    return { status: 404, body: { error: "no such control" } };
  }

  return startFake((request) => {
    const scoped = /^\/ws\/([^/]+)(\/.*)$/.exec(request.url.pathname);
    const ws = scoped ? workspaces.get(scoped[1]!) : root;
    if (!ws) return { status: 404, body: { success: false, error: "Not found" } };
    const path = scoped ? scoped[2]! : request.url.pathname;
    const base = `http://${request.headers.host ?? "127.0.0.1"}`;
    return path.startsWith("/__fake/") ? control(ws, request, path, base) : api(ws, request, path);
  }, port);
}
