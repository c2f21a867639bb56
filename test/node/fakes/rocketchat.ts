// A fake Rocket.Chat REST API following its documented contract: X-User-Id + X-Auth-Token on
// every call (401 `{"status":"error","message":...}` otherwise), `{"success":false,"error",
// "errorType"}` for a bad request, the rate limiter's 429 with X-RateLimit-* headers, and
// `rooms.info` answering `{"room":{...},"success":true}`.
//
// Tests drive it through /__fake/*: POST /__fake/rooms {id, name?, t, failures?: [{status,
// retryAfter?}]} registers a room (failures are answered first, one per call), GET
// /__fake/requests?roomId=<id> lists the calls that named a room.
import { startFake, type FakeRequest, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_ROCKETCHAT_USER_ID = "fakeBotUserId0001";
export const FAKE_ROCKETCHAT_AUTH_TOKEN = "fake-rocketchat-auth-token";

type Room = { _id: string; name?: string; t: string };
type Failure = { status: number; retryAfter?: number };

export async function startFakeRocketChat(port = 0): Promise<RunningFake> {
  const rooms = new Map<string, Room>();
  const failures = new Map<string, Failure[]>();
  const calls: { method: string; path: string; roomId: string | null; at: number }[] = [];

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
    const roomId = request.url.searchParams.get("roomId");
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
    return { status: 404, body: { success: false, error: "Not found" } };
  }

  return startFake((request) => {
    if (request.url.pathname === "/__fake/rooms" && request.method === "POST") {
      const body = request.body as { id: string; name?: string; t: string; failures?: Failure[] };
      rooms.set(body.id, { _id: body.id, t: body.t, ...(body.name ? { name: body.name } : {}) });
      failures.set(body.id, [...(body.failures ?? [])]);
      return { status: 204 };
    }
    if (request.url.pathname === "/__fake/requests") {
      const roomId = request.url.searchParams.get("roomId");
      return { status: 200, body: calls.filter((call) => roomId === null || call.roomId === roomId) };
    }
    return api(request);
  }, port);
}
