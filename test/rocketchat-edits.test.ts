// Rocket.Chat edits are ordered by their edit time, not by their text: an edit back to an
// earlier text is applied (the outgoing integration sends it with exactly the earlier edit's
// body), while a true redelivery stays a duplicate; an edit carrying `editedAt` is ordered by
// it. A message whose time changes moves to its new window and leaves the old one, whose
// document is rebuilt without it (or removed when it was alone there).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { row } from "./support/d1";
import { chatMessage, fakeRoom, postRocketChat, postRocketChatRaw, rocketChatId } from "./support/rocketchat";
import { waitIndexed } from "./support/settle";

const storedText = async (messageId: string) => (await row("SELECT text FROM rocketchat_messages WHERE id = ?", messageId))?.text;
const answerOf = async (response: Response) => (await response.json()) as { id: string; duplicate: boolean };
const chunkText = async (documentId: string) =>
  (await env.DB.prepare("SELECT text FROM search_chunks WHERE document_id = ? ORDER BY chunk_index").bind(documentId).all<{ text: string }>()).results
    .map((chunk) => chunk.text)
    .join("\n");

describe("Rocket.Chat edits", () => {
  it("applies an edit back to an earlier edit's exact text, and a redelivery of it stays a duplicate", async () => {
    const room = rocketChatId("e");
    const original = chatMessage({ channel_id: room, text: "check-in at 3pm" });
    const edit = (text: string) => ({ ...original, text, isEdited: true });
    await postRocketChat(original);
    const toFour = await answerOf(await postRocketChat(edit("check-in at 4pm")));
    await postRocketChat(edit("check-in at 5pm"));
    expect(await storedText(original.message_id)).toBe("check-in at 5pm");

    // The same body as the first edit: not a redelivery of it, since another edit came after.
    const back = await postRocketChat(edit("check-in at 4pm"));
    const backAnswer = await answerOf(back.clone());
    expect(backAnswer.duplicate).toBe(false);
    expect(backAnswer.id).not.toBe(toFour.id);
    expect(await storedText(original.message_id)).toBe("check-in at 4pm");

    // Rocket.Chat retrying that delivery: the message's latest event, so a duplicate.
    const redelivered = await answerOf(await postRocketChatRaw(edit("check-in at 4pm")));
    expect(redelivered).toEqual({ id: backAnswer.id, duplicate: true });
    const events = await row("SELECT count(*) AS n FROM webhook_events WHERE source = 'rocketchat' AND payload ->> '$.message_id' = ?", original.message_id);
    expect(events).toEqual({ n: 4 });

    // The document follows, and the index with it.
    const documentId = `chat_message:${original.message_id}`;
    await waitIndexed([documentId]);
    expect(await row("SELECT text FROM documents WHERE id = ?", documentId)).toEqual({ text: "[2026-05-04 09:15 UTC] rodriq (edited): check-in at 4pm" });
    const window = (await row("SELECT group_id FROM documents WHERE id = ?", documentId))!.group_id as string;
    expect(await chunkText(window)).toContain("check-in at 4pm");
    expect(await chunkText(window)).not.toContain("5pm");
  });

  it("orders edits that carry editedAt by it: a late older edit changes nothing, a later edit back applies", async () => {
    const room = rocketChatId("e");
    const original = chatMessage({ channel_id: room, text: "wifi code 1111" });
    const edit = (text: string, editedAt: string) => ({ ...original, text, isEdited: true, editedAt });
    await postRocketChat(original);
    await postRocketChat(edit("wifi code 3333", "2026-05-04T10:00:00.000Z"));
    await postRocketChat(edit("wifi code 2222", "2026-05-04T09:30:00.000Z"));
    expect(await storedText(original.message_id)).toBe("wifi code 3333");
    await postRocketChat(edit("wifi code 2222", "2026-05-04T10:30:00.000Z"));
    expect(await storedText(original.message_id)).toBe("wifi code 2222");
    // The same edit again (same editedAt): a duplicate.
    expect(await answerOf(await postRocketChatRaw(edit("wifi code 2222", "2026-05-04T10:30:00.000Z")))).toMatchObject({ duplicate: true });
  });

  it("moves a message whose time changed to its new window and rebuilds the old one without it", async () => {
    const room = rocketChatId("w");
    await fakeRoom({ id: room, name: "frontdesk", t: "c" });
    const moving = chatMessage({ channel_id: room, channel_name: "frontdesk", text: "Keys for Alfama left at the desk", timestamp: "2026-06-02T08:00:00.000Z" });
    const staying = chatMessage({ channel_id: room, channel_name: "frontdesk", text: "Towels restocked on floor two", timestamp: "2026-06-02T08:10:00.000Z" });
    const alone = chatMessage({ channel_id: room, channel_name: "frontdesk", text: "Night porter called in sick", timestamp: "2026-06-03T01:00:00.000Z" });
    for (const body of [moving, staying, alone]) await postRocketChat(body);
    const ids = [moving, staying, alone].map((body) => `chat_message:${body.message_id}`);
    await waitIndexed(ids);
    const windowAt = (start: string) => `chat-window:${room}:${start}`;
    expect(await chunkText(windowAt("2026-06-02T06:00:00.000Z"))).toContain("Keys for Alfama");

    await postRocketChat({ ...moving, timestamp: "2026-06-02T13:00:00.000Z", isEdited: true });
    await postRocketChat({ ...alone, timestamp: "2026-06-03T07:00:00.000Z", isEdited: true });
    await waitIndexed(ids);

    const oldWindow = await chunkText(windowAt("2026-06-02T06:00:00.000Z"));
    expect(oldWindow).toContain("Towels restocked");
    expect(oldWindow).not.toContain("Keys for Alfama");
    expect(await chunkText(windowAt("2026-06-02T12:00:00.000Z"))).toContain("[2026-06-02 13:00 UTC] rodriq (edited): Keys for Alfama left at the desk");
    expect(await row("SELECT group_id, indexed_unit_id FROM documents WHERE id = ?", ids[0])).toEqual({
      group_id: windowAt("2026-06-02T12:00:00.000Z"),
      indexed_unit_id: windowAt("2026-06-02T12:00:00.000Z"),
    });
    // A window its only message left is gone from the index.
    expect(await chunkText(windowAt("2026-06-03T00:00:00.000Z"))).toBe("");
    expect(await chunkText(windowAt("2026-06-03T06:00:00.000Z"))).toContain("Night porter called in sick");
  });
});
