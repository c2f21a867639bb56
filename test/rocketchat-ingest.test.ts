import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { row } from "./support/d1";
import { fetchWith } from "./support/faults";
import { chatMessage, fakeRoom, fakeRoomCalls, postRocketChat, postRocketChatRaw, rocketChatId } from "./support/rocketchat";

const storedRow = (messageId: string) => row("SELECT text, edited, deleted, room_id, thread_id, user_name FROM rocketchat_messages WHERE id = ?", messageId);
const eventCount = async (messageId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM webhook_events WHERE source = 'rocketchat' AND payload LIKE ?").bind(`%${messageId}%`).first<number>("n")) ?? 0;

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("Rocket.Chat ingest", () => {
  it("stores a message once and answers 200 JSON without a text field", async () => {
    const room = rocketChatId("r");
    const body = chatMessage({ channel_id: room, text: "the boiler at Porto Riverside is fixed" });
    const first = await postRocketChat(body);
    expect(first.status).toBe(200);
    const answer = (await first.json()) as Record<string, unknown>;
    // A `text` in the answer would be posted into the channel by Rocket.Chat.
    expect(answer).not.toHaveProperty("text");
    expect(answer).toMatchObject({ duplicate: false });
    const again = await postRocketChatRaw(body);
    expect(await again.json()).toMatchObject({ id: answer.id, duplicate: true });
    expect(await eventCount(body.message_id)).toBe(1);
    expect(await storedRow(body.message_id)).toEqual({ text: "the boiler at Porto Riverside is fixed", edited: 0, deleted: 0, room_id: room, thread_id: null, user_name: "rodriq" });
    // The integration's token is its only proof of origin: never stored.
    const stored = await row("SELECT payload FROM webhook_events WHERE id = ?", answer.id);
    expect(String(stored?.payload)).not.toContain(env.ROCKETCHAT_INGEST_TOKEN);
  });

  it("answers 401 to a wrong or missing token, 400 naming the field to a malformed message, 503 when not configured", async () => {
    const room = rocketChatId("r");
    for (const token of ["wrong-token-000", undefined]) {
      const response = await postRocketChatRaw({ ...chatMessage({ channel_id: room, text: "hi" }), token });
      expect(response.status).toBe(401);
    }
    const malformed = await postRocketChatRaw({ ...chatMessage({ channel_id: room, text: "hi" }), timestamp: "yesterday" });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: expect.stringContaining("timestamp") });
    const unconfigured = await fetchWith({ ROCKETCHAT_INGEST_TOKEN: undefined }, "http://intake/webhooks/rocketchat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatMessage({ channel_id: room, text: "hi" })),
    });
    expect(unconfigured.status).toBe(503);
    expect(await unconfigured.json()).toMatchObject({ error: expect.stringContaining("ROCKETCHAT_INGEST_TOKEN") });
  });

  it("skips bot posts, the bot's own REST posts, system messages and end-to-end ciphertext without storing them", async () => {
    const room = rocketChatId("r");
    const cases = [
      { body: chatMessage({ channel_id: room, text: "I am a bot", bot: true }), reason: "bot message" },
      { body: chatMessage({ channel_id: room, text: "answer posted over REST", user_id: env.ROCKETCHAT_USER_ID }), reason: "own message" },
      { body: chatMessage({ channel_id: room, text: "", t: "uj" }), reason: "system message" },
      { body: chatMessage({ channel_id: room, text: "ZXlKaGJHY2lPaUpJVXpJMU5pSjkuZXlKemRXSWlPaUl4TWpNME5UWTNPRGt3SW4w" }), reason: "end-to-end encrypted" },
      { body: chatMessage({ channel_id: room, text: '{"kid":"k1","iv":"aXY=","ciphertext":"Y2lwaGVy"}' }), reason: "end-to-end encrypted" },
    ];
    for (const { body, reason } of cases) {
      const response = await postRocketChatRaw(body);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ skipped: reason });
      expect(await eventCount(body.message_id)).toBe(0);
    }
  });

  it("applies an edit, and a deletion is final whatever arrives after it", async () => {
    const room = rocketChatId("r");
    const original = chatMessage({ channel_id: room, text: "check-in at 3pm" });
    await postRocketChat(original);
    await postRocketChat({ ...original, text: "check-in at 4pm", isEdited: true });
    expect(await storedRow(original.message_id)).toMatchObject({ text: "check-in at 4pm", edited: 1 });
    // A redelivery of the original (older) message does not undo the edit.
    await postRocketChat({ ...original, siteUrl: "https://chat.example.com/" });
    expect(await storedRow(original.message_id)).toMatchObject({ text: "check-in at 4pm" });

    const deletion = { token: env.ROCKETCHAT_INGEST_TOKEN, message_id: original.message_id, deleted: true };
    expect((await postRocketChat(deletion)).status).toBe(200);
    await postRocketChat({ ...original, text: "check-in at 5pm", isEdited: true });
    expect(await storedRow(original.message_id)).toMatchObject({ deleted: 1, text: null });
    expect(await row("SELECT text FROM documents WHERE id = ?", `chat_message:${original.message_id}`)).toEqual({ text: "" });
  });

  it("records a channel as public and a private group as private, from rooms.info", async () => {
    const channel = rocketChatId("c");
    const group = rocketChatId("p");
    await fakeRoom({ id: channel, name: "ops", t: "c" });
    await fakeRoom({ id: group, name: "owners", t: "p" });
    await postRocketChat(chatMessage({ channel_id: channel, text: "public words" }));
    await postRocketChat(chatMessage({ channel_id: group, channel_name: "owners", text: "private words" }));
    const visibility = (id: string) => waitFor(() => row("SELECT visibility, room_type FROM chat_rooms WHERE id = ?", id), (value) => value !== null);
    expect(await visibility(channel)).toEqual({ visibility: "public", room_type: "c" });
    expect(await visibility(group)).toEqual({ visibility: "private", room_type: "p" });
    // Cached: a second message does not ask again.
    await postRocketChat(chatMessage({ channel_id: channel, text: "more public words" }));
    expect((await fakeRoomCalls(channel)).filter((call) => call.path === "/api/v1/rooms.info")).toHaveLength(1);
  });

  it("treats a room as private when Rocket.Chat cannot be asked (error, rate limit, no credentials)", async () => {
    const failing = rocketChatId("f");
    await fakeRoom({ id: failing, name: "ops", t: "c", failures: [{ status: 500 }] });
    await postRocketChat(chatMessage({ channel_id: failing, text: "words" }));
    expect(await waitFor(() => row("SELECT visibility, room_type FROM chat_rooms WHERE id = ?", failing), (value) => value !== null)).toEqual({
      visibility: "private",
      room_type: null,
    });

    const limited = rocketChatId("l");
    await fakeRoom({ id: limited, name: "ops", t: "c", failures: [{ status: 429, retryAfter: 30 }] });
    await postRocketChat(chatMessage({ channel_id: limited, text: "words" }));
    expect(await waitFor(() => row("SELECT visibility FROM chat_rooms WHERE id = ?", limited), (value) => value !== null)).toEqual({ visibility: "private" });

    const unasked = rocketChatId("u");
    await fakeRoom({ id: unasked, name: "ops", t: "c" });
    const response = await fetchWith({ ROCKETCHAT_AUTH_TOKEN: undefined }, "http://intake/webhooks/rocketchat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatMessage({ channel_id: unasked, text: "words" })),
    });
    expect(response.status).toBe(200);
    expect(await row("SELECT visibility, room_type FROM chat_rooms WHERE id = ?", unasked)).toEqual({ visibility: "private", room_type: null });
    expect(await fakeRoomCalls(unasked)).toEqual([]);
  });
});
