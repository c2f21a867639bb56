// Rocket.Chat outgoing-integration bodies ("Message Sent", as its trigger handler builds them)
// and control of the fake Rocket.Chat REST API the suites run against (vitest.config.ts).
import { env, exports } from "cloudflare:workers";
import { settled } from "./settle";

export type ChatMessageBody = Record<string, unknown> & { message_id: string; channel_id: string; text: string };

/**
 * A Rocket.Chat-style id (17 alphanumerics) starting with `prefix`, random: the fake Rocket.Chat
 * is shared by every test file, so ids must not repeat across files.
 */
export function rocketChatId(prefix: string): string {
  return `${prefix}${crypto.randomUUID().replaceAll("-", "")}`.slice(0, 17);
}

export function chatMessage(overrides: Partial<ChatMessageBody> & { channel_id: string; text: string }): ChatMessageBody {
  return {
    token: env.ROCKETCHAT_INGEST_TOKEN,
    bot: false,
    channel_name: "ops",
    message_id: rocketChatId("m"),
    timestamp: "2026-05-04T09:15:00.000Z",
    user_id: "rYhzFRd2QZjNwAAXX",
    user_name: "rodriq",
    siteUrl: "https://chat.example.com",
    ...overrides,
  };
}

export const postRocketChatRaw = (body: unknown, init: RequestInit = {}) =>
  exports.default.fetch("http://intake/webhooks/rocketchat", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });

/** Posts a delivery and, when it is stored, waits until its event is processed. */
export async function postRocketChat(body: unknown): Promise<Response> {
  const response = await postRocketChatRaw(body);
  return response.status === 200 && !(await response.clone().text()).includes('"skipped"') ? settled(response) : response;
}

/** Registers a room with the fake REST API; `failures` are answered first, one per call. */
export async function fakeRoom(room: { id: string; name?: string; t: "c" | "p" | "d"; failures?: { status: number; retryAfter?: number }[] }) {
  const response = await fetch(`${env.ROCKETCHAT_URL}/__fake/rooms`, { method: "POST", body: JSON.stringify(room) });
  if (response.status !== 204) throw new Error(`fake rocket.chat refused the room: ${response.status}`);
}

/** The calls the fake REST API received that named `roomId`. */
export async function fakeRoomCalls(roomId: string): Promise<{ method: string; path: string }[]> {
  return (await fetch(`${env.ROCKETCHAT_URL}/__fake/requests?roomId=${roomId}`)).json();
}
