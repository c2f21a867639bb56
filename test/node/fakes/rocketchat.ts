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
// Tests drive it through /__fake/*: POST /__fake/rooms {id, name?, t, failures?: [{status,
// retryAfter?}]} registers a room, or changes it (a channel made private is the same room posted
// again with t "p"); failures are answered first, one per call, for rooms.info and
// chat.sendMessage to it. GET /__fake/requests?roomId=<id> lists the calls that named a room,
// GET /__fake/messages?rid=<id> the messages posted to it.
import { startFake, type FakeRequest, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_ROCKETCHAT_USER_ID = "fakeBotUserId0001";
export const FAKE_ROCKETCHAT_AUTH_TOKEN = "fake-rocketchat-auth-token";

type Room = { _id: string; name?: string; t: string };
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

export async function startFakeRocketChat(port = 0): Promise<RunningFake> {
  const rooms = new Map<string, Room>();
  const failures = new Map<string, Failure[]>();
  const calls: { method: string; path: string; roomId: string | null; at: number }[] = [];
  const messages = new Map<string, { _id: string; rid: string; tmid?: string; msg: string; ts: string; u: { _id: string; username: string }; mentions: Mention[] }>();

  const failureResponse = (failure: Failure): FakeResponse =>
    failure.status === 429
      ? {
          status: 429,
          headers: {
            "x-ratelimit-limit": "10",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": String(Date.now() + (failure.retryAfter ?? 60) * 1000),
          },
          body: {
            success: false,
            error: `Error, too many requests. Please slow down. You must wait ${failure.retryAfter ?? 60} seconds before trying this endpoint again. [error-too-many-requests]`,
          },
        }
      : { status: failure.status, body: { success: false, error: "Internal server error" } };

  function api(request: FakeRequest): FakeResponse {
    const posted = request.url.pathname === "/api/v1/chat.sendMessage" ? (request.body as { message?: { rid?: string } } | undefined)?.message : undefined;
    const roomId = request.url.searchParams.get("roomId") ?? posted?.rid ?? null;
    calls.push({ method: request.method, path: request.url.pathname, roomId, at: Date.now() });
    if (request.headers["x-user-id"] !== FAKE_ROCKETCHAT_USER_ID || request.headers["x-auth-token"] !== FAKE_ROCKETCHAT_AUTH_TOKEN) {
      return { status: 401, body: { status: "error", message: "You must be logged in to do this." } };
    }
    if (request.url.pathname === "/api/v1/rooms.info" && request.method === "GET") {
      if (!roomId) return { status: 400, body: { success: false, error: "The 'roomId' or 'roomName' param is required" } };
      const failure = failures.get(roomId)?.shift();
      if (failure) return failureResponse(failure);
      const room = rooms.get(roomId);
      if (!room) {
        return {
          status: 400,
          body: {
            success: false,
            error: 'The required "roomId" or "roomName" param provided does not match any channel [error-room-not-found]',
            errorType: "error-room-not-found",
          },
        };
      }
      return { status: 200, body: { room: { ...room, msgs: 0, usersCount: 1, ts: "2026-01-01T00:00:00.000Z" }, success: true } };
    }
    if (request.url.pathname === "/api/v1/chat.sendMessage" && request.method === "POST") {
      const message = (request.body as { message?: { _id?: unknown; rid?: unknown; tmid?: unknown; msg?: unknown } } | undefined)?.message;
      if (!message || typeof message.rid !== "string" || typeof message.msg !== "string") {
        return { status: 400, body: { success: false, error: "The 'message' param is required [error-invalid-params]", errorType: "error-invalid-params" } };
      }
      const failure = failures.get(message.rid)?.shift();
      if (failure) return failureResponse(failure);
      if (!rooms.has(message.rid)) return { status: 400, body: { success: false, error: "error-invalid-room", errorType: "error-invalid-room" } };
      const id = typeof message._id === "string" ? message._id : `fake${messages.size.toString().padStart(13, "0")}`;
      // executeSendMessage checks the size before sendMessage looks the `_id` up.
      if (message.msg.length > 5000) return { status: 400, body: { success: false, error: "error-message-size-exceeded", errorType: "error-message-size-exceeded" } };
      if (messages.has(id)) return { status: 400, body: { success: false, error: "Cannot read properties of undefined (reading 'starred')" } };
      const stored = {
        _id: id,
        rid: message.rid,
        ...(typeof message.tmid === "string" ? { tmid: message.tmid } : {}),
        msg: message.msg,
        ts: new Date().toISOString(),
        u: { _id: FAKE_ROCKETCHAT_USER_ID, username: "edge-ops-bot" },
        mentions: serverMentions(message.msg),
      };
      messages.set(id, stored);
      return { status: 200, body: { message: stored, success: true } };
    }
    if (request.url.pathname === "/api/v1/chat.getMessage" && request.method === "GET") {
      const message = messages.get(request.url.searchParams.get("msgId") ?? "");
      return message ? { status: 200, body: { message, success: true } } : { status: 400, body: { success: false } };
    }
    return { status: 404, body: { success: false, error: "Not found" } };
  }

  return startFake((request) => {
    if (request.url.pathname === "/__fake/rooms" && request.method === "POST") {
      const body = request.body as { id: string; name?: string; t: string; failures?: Failure[] };
      rooms.set(body.id, { _id: body.id, t: body.t, ...(body.name ? { name: body.name } : {}) });
      failures.set(body.id, [...(body.failures ?? [])]);
      return { status: 204 };
    }
    if (request.url.pathname === "/__fake/messages") {
      const rid = request.url.searchParams.get("rid");
      return { status: 200, body: [...messages.values()].filter((message) => message.rid === rid) };
    }
    if (request.url.pathname === "/__fake/requests") {
      const roomId = request.url.searchParams.get("roomId");
      return { status: 200, body: calls.filter((call) => roomId === null || call.roomId === roomId) };
    }
    return api(request);
  }, port);
}
