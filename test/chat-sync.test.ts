// The Rocket.Chat history sync (workers/chat-sync/) against a workspace of its own on the fake:
// history backfilled in bounded runs becomes searchable; edits and deletions made afterwards
// reach search after one run; a 429 stops a run that the next one resumes, nothing lost or
// stored twice; a room turned private stops being quoted elsewhere; a message the webhook
// brought is not stored again by the sync.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { row } from "./support/d1";
import {
  eventsPerMessage,
  fakeWorkspace,
  marker,
  pastMessages,
  settledMessages,
  sync,
  syncEnv,
  syncUntilDone,
} from "./support/chat-sync";
import { faultyD1 } from "./support/faults";
import { chatMessage, postRocketChat, rocketChatId } from "./support/rocketchat";
import { search } from "./support/search";

afterEach(() => vi.restoreAllMocks());

const roomHits = async (query: string, room: string, filterRooms?: string[]) =>
  (await search({ query, k: 50, ...(filterRooms ? { filter: { rooms: filterRooms } } : {}) })).filter((hit) => hit.room === room);

describe("backfill", () => {
  it("makes 300 historical messages in three rooms searchable, a bounded slice per run, thread replies included", async () => {
    const workspace = await fakeWorkspace();
    const rooms = [
      { id: rocketChatId("sa"), name: "front-desk", t: "c" as const, member: true },
      { id: rocketChatId("sb"), name: "owners", t: "p" as const, member: true },
      // A public channel the bot does not belong to: read through channels.list.
      { id: rocketChatId("sc"), name: "maintenance", t: "c" as const, member: false },
    ];
    const seeded: { room: string; id: string; word: string }[] = [];
    for (const [index, room] of rooms.entries()) {
      await workspace.room({ ...room, ts: new Date(Date.now() - 30 * 86_400_000).toISOString() });
      const messages = pastMessages(100, `h${index}`);
      const ids = await workspace.history(room.id, messages);
      messages.forEach((message, position) => seeded.push({ room: room.id, id: ids[position]!, word: message.word }));
    }
    // Replies in the first room's thread: channels.history leaves them out unless asked.
    const root = seeded[10]!;
    const replies = pastMessages(3, "reply", Date.now() - 3_600_000).map((message) => ({ ...message, tmid: root.id }));
    const replyIds = await workspace.history(rooms[0]!.id, replies);

    // The default budget (20 subrequests) cannot hold it all: runs stop in between and resume.
    const environment = syncEnv(workspace, { ROCKETCHAT_SYNC_SUBREQUESTS: undefined });
    const reports = await syncUntilDone(environment);
    expect(reports.length).toBeGreaterThan(1);
    expect(reports.slice(0, -1).every((report) => report.outcome === "more")).toBe(true);
    expect(reports.every((report) => report.subrequests <= 20)).toBe(true);
    expect(reports.at(-1)).toMatchObject({ outcome: "done", rooms: { selected: 3, backfilling: 0 } });

    const ids = [...seeded.map((message) => message.id), ...replyIds];
    await settledMessages(ids);
    expect([...(await eventsPerMessage(ids)).values()].filter((n) => n === 1)).toHaveLength(303);
    for (const room of rooms) {
      const sample = seeded.filter((message) => message.room === room.id).filter((_, index) => index % 33 === 0);
      for (const message of sample) expect(await roomHits(message.word, room.id), message.word).not.toHaveLength(0);
    }
    // A reply is indexed with its thread, under the room it was posted in.
    const reply = await row("SELECT thread_id, room_id FROM rocketchat_messages WHERE id = ?", replyIds[0]);
    expect(reply).toEqual({ thread_id: root.id, room_id: rooms[0]!.id });
    expect(await roomHits(replies[2]!.word, rooms[0]!.id)).not.toHaveLength(0);
  }, 120_000);
});

describe("changes after the backfill", () => {
  it("shows an edit and a deletion in search after one run", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("se");
    await workspace.room({ id: room, name: "housekeeping", t: "c", member: true });
    const messages = pastMessages(5, "old");
    const ids = await workspace.history(room, messages);
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    await settledMessages(ids);
    expect(await roomHits(messages[1]!.word, room)).not.toHaveLength(0);
    expect(await roomHits(messages[3]!.word, room)).not.toHaveLength(0);

    const edited = marker("edited");
    await workspace.edit(ids[1]!, `note 1 now says ${edited}`);
    await workspace.delete(ids[3]!);
    const report = await sync(environment);
    expect(report).toMatchObject({ outcome: "done", changeMode: "cursor" });
    await settledMessages([ids[1]!, ids[3]!]);

    expect(await roomHits(edited, room)).not.toHaveLength(0);
    expect((await roomHits(messages[1]!.word, room)).filter((hit) => hit.text.includes(messages[1]!.word))).toHaveLength(0);
    expect(await roomHits(messages[3]!.word, room)).toHaveLength(0);
    expect(await row("SELECT deleted, text, edited FROM rocketchat_messages WHERE id = ?", ids[3])).toEqual({ deleted: 1, text: null, edited: 0 });
    expect(await row("SELECT text, edited FROM rocketchat_messages WHERE id = ?", ids[1])).toEqual({ text: `note 1 now says ${edited}`, edited: 1 });
    // The neighbours in its window stay searchable.
    expect(await roomHits(messages[2]!.word, room)).not.toHaveLength(0);
  }, 60_000);

  it("reads a thread root's placeholder deletion (a root with replies stays as t: rm) as a deletion", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("st");
    await workspace.room({ id: room, name: "ops", t: "c", member: true });
    const [rootMessage] = pastMessages(1, "root");
    const [rootId] = await workspace.history(room, [rootMessage!]);
    await workspace.history(room, pastMessages(1, "answer").map((message) => ({ ...message, tmid: rootId! })));
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    await workspace.delete(rootId!);
    await sync(environment);
    await settledMessages([rootId!]);
    expect(await row("SELECT deleted FROM rocketchat_messages WHERE id = ?", rootId)).toEqual({ deleted: 1 });
    expect(await roomHits(rootMessage!.word, room)).toHaveLength(0);
  }, 60_000);
});

describe("rate limits", () => {
  it("stops a run on a 429 with a distant reset and resumes after it, nothing lost or stored twice", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("sr");
    await workspace.room({ id: room, name: "reservations", t: "c", member: true, ts: new Date(Date.now() - 10 * 86_400_000).toISOString() });
    const messages = pastMessages(250, "rl");
    const ids = await workspace.history(room, messages);
    // The fifth history request of the run (after a page was stored) answers 429, with a reset a minute away.
    await workspace.rateLimit({ endpoint: "channels.history", after: 4, times: 1, resetInMs: 60_000 });
    const environment = syncEnv(workspace);
    const sleep = vi.fn(async () => undefined);

    const stopped = await sync(environment, { sleep });
    expect(stopped.outcome).toBe("rate-limited");
    expect(Date.parse(stopped.rateLimitedUntil!)).toBeGreaterThan(Date.now() + 30_000);
    expect(sleep).not.toHaveBeenCalled();
    const storedBefore = stopped.eventsStored;
    // Stopped mid-backfill: some pages stored, the rest left to the runs after the reset.
    expect(storedBefore).toBeGreaterThan(0);
    expect(storedBefore).toBeLessThan(250);

    // Before the reset a run asks nothing.
    const calls = (await workspace.requests()).length;
    expect((await sync(environment, { sleep })).outcome).toBe("rate-limited");
    expect(await workspace.requests()).toHaveLength(calls);

    // After it, the next runs resume from the cursors.
    const later = () => Date.now() + 61_000;
    const reports = await syncUntilDone(environment, { sleep, now: later });
    expect(reports.at(-1)!.outcome).toBe("done");
    expect(storedBefore + reports.reduce((sum, report) => sum + report.eventsStored, 0)).toBe(250);
    const counts = await eventsPerMessage(ids);
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
    // The intake queue's consumer turns the events into messages after the runs: wait for it.
    await settledMessages(ids);
    expect(await row(`SELECT count(*) AS n FROM rocketchat_messages WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(ids))).toEqual({ n: 250 });
  }, 90_000);

  it("waits for a reset that is near, within the run", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("sw");
    await workspace.room({ id: room, name: "spa", t: "c", member: true });
    const ids = await workspace.history(room, pastMessages(3, "wait"));
    await workspace.rateLimit({ endpoint: "rooms.get", after: 0, times: 1, resetInMs: 2_000 });
    const waited: number[] = [];
    const report = await sync(syncEnv(workspace), { sleep: async (ms) => void waited.push(ms) });
    expect(report.outcome).toBe("done");
    expect(waited).toHaveLength(1);
    expect(waited[0]).toBeGreaterThan(1_000);
    expect(waited[0]).toBeLessThanOrEqual(2_000);
    expect([...(await eventsPerMessage(ids)).values()]).toEqual([1, 1, 1]);
  });
});

describe("storage failures", () => {
  it("leaves a room's cursors where they were when its page cannot be stored: the next run reads the change again", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("sf");
    await workspace.room({ id: room, name: "laundry", t: "c", member: true });
    const ids = await workspace.history(room, pastMessages(3, "sf"));
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    const cursors = () => row("SELECT updated_cursor, deleted_cursor, last_error FROM chat_sync_rooms WHERE server = ? AND room_id = ?", workspace.url, room);
    const before = await cursors();

    const edited = marker("stored");
    await workspace.edit(ids[0]!, `note 0 now says ${edited}`);
    await workspace.delete(ids[1]!);
    // D1 refuses the batch that stores the page (and would move the cursors); the room keeps the reason, not the SQL.
    const failing = { ...environment, DB: faultyD1((sql) => sql.includes('INSERT INTO "webhook_events"')) } as Env;
    const failed = await sync(failing);
    expect(failed).toMatchObject({ outcome: "partial", rooms: { failed: 1 } });
    expect(await cursors()).toEqual({ ...before, last_error: "storing synced chat messages failed: D1_ERROR" });
    expect(await eventsPerMessage(ids.slice(0, 2))).toEqual(new Map([[ids[0]!, 1], [ids[1]!, 1]]));

    expect(await sync(environment)).toMatchObject({ outcome: "done", rooms: { failed: 0 } });
    await settledMessages(ids.slice(0, 2));
    expect(await eventsPerMessage(ids.slice(0, 2))).toEqual(new Map([[ids[0]!, 2], [ids[1]!, 2]]));
    expect(await row("SELECT text, deleted FROM rocketchat_messages WHERE id = ?", ids[0])).toEqual({ text: `note 0 now says ${edited}`, deleted: 0 });
    expect(await row("SELECT deleted FROM rocketchat_messages WHERE id = ?", ids[1])).toEqual({ deleted: 1 });
    expect((await cursors())!.last_error).toBeNull();
  }, 60_000);
});

describe("room visibility", () => {
  it("stops quoting a room in other rooms from the run after it turned private", async () => {
    const workspace = await fakeWorkspace();
    const lobby = rocketChatId("sl");
    const secret = rocketChatId("ss");
    const directory = rocketChatId("sd");
    await workspace.room({ id: lobby, name: "lobby", t: "c", member: true });
    await workspace.room({ id: secret, name: "renovation", t: "c", member: true });
    // A public channel the bot is not in: known only from channels.list.
    await workspace.room({ id: directory, name: "suppliers", t: "c", member: false });
    const [secretMessage] = pastMessages(1, "vis");
    const [directoryMessage] = pastMessages(1, "dir");
    const ids = [...(await workspace.history(secret, [secretMessage!])), ...(await workspace.history(directory, [directoryMessage!]))];
    await workspace.history(lobby, pastMessages(1, "lob"));
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    await settledMessages(ids);
    expect(await roomHits(secretMessage!.word, secret, [lobby])).not.toHaveLength(0);
    expect(await roomHits(directoryMessage!.word, directory, [lobby])).not.toHaveLength(0);

    await workspace.room({ id: secret, name: "renovation", t: "p", member: true });
    await workspace.room({ id: directory, name: "suppliers", t: "p", member: false });
    await sync(environment);
    expect(await row("SELECT visibility, room_type FROM chat_rooms WHERE id = ?", secret)).toEqual({ visibility: "private", room_type: "p" });
    expect(await row("SELECT visibility FROM chat_rooms WHERE id = ?", directory)).toEqual({ visibility: "private" });
    expect(await roomHits(secretMessage!.word, secret, [lobby])).toHaveLength(0);
    expect(await roomHits(directoryMessage!.word, directory, [lobby])).toHaveLength(0);
    // Still found in the room itself.
    expect(await roomHits(secretMessage!.word, secret, [secret])).not.toHaveLength(0);
    // The channel it cannot read any more is retired: not asked about again; the group still is.
    expect(await row("SELECT state FROM chat_sync_rooms WHERE room_id = ?", directory)).toEqual({ state: "gone" });
    const askedAbout = async (roomId: string) => (await workspace.requests()).filter((call) => call.roomId === roomId).length;
    const [directoryCalls, secretCalls] = [await askedAbout(directory), await askedAbout(secret)];
    await sync(environment);
    expect(await askedAbout(directory)).toBe(directoryCalls);
    expect(await askedAbout(secret)).toBeGreaterThan(secretCalls);
  }, 60_000);
});

describe("deleted rooms", () => {
  it("retires a room rooms.get reports removed: private from then on, and not read again", async () => {
    const workspace = await fakeWorkspace();
    const doomed = rocketChatId("sg");
    await workspace.room({ id: doomed, name: "old-project", t: "c", member: true });
    const [message] = pastMessages(1, "gone");
    const ids = await workspace.history(doomed, [message!]);
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    await settledMessages(ids);
    expect(await row("SELECT visibility FROM chat_rooms WHERE id = ?", doomed)).toEqual({ visibility: "public" });

    await workspace.deleteRoom(doomed);
    await sync(environment);
    expect(await row("SELECT visibility, room_type FROM chat_rooms WHERE id = ?", doomed)).toEqual({ visibility: "private", room_type: null });
    expect(await row("SELECT state FROM chat_sync_rooms WHERE room_id = ?", doomed)).toEqual({ state: "gone" });
    expect(await roomHits(message!.word, doomed, [rocketChatId("elsewhere")])).toHaveLength(0);
    const calls = (await workspace.requests()).filter((call) => call.roomId === doomed).length;
    await sync(environment);
    expect((await workspace.requests()).filter((call) => call.roomId === doomed)).toHaveLength(calls);
  }, 60_000);
});

describe("the webhook and the sync", () => {
  it("store a message that arrived both ways once, and an edit too", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("sx");
    await workspace.room({ id: room, name: "ops", t: "c", member: true });
    const messageId = rocketChatId("m");
    const sent = new Date(Date.now() - 3_600_000).toISOString();
    const text = `check-in moved ${marker("both")}`;
    // The outgoing integration delivered it...
    const delivered = await postRocketChat(chatMessage({ channel_id: room, message_id: messageId, text, timestamp: sent }));
    expect(delivered.status).toBe(200);
    // ...and Rocket.Chat's history has it too.
    await workspace.history(room, [{ _id: messageId, msg: text, ts: sent }]);
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    expect(await eventsPerMessage([messageId])).toEqual(new Map([[messageId, 1]]));
    const version = await row("SELECT version FROM rocketchat_messages WHERE id = ?", messageId);

    // An edit delivered by the webhook, then read by the sync: still one event for it.
    const editedText = `${text} to five`;
    await workspace.edit(messageId, editedText);
    await postRocketChat(chatMessage({ channel_id: room, message_id: messageId, text: editedText, timestamp: sent, isEdited: true }));
    await sync(environment);
    expect(await eventsPerMessage([messageId])).toEqual(new Map([[messageId, 2]]));
    expect(await row("SELECT text, version FROM rocketchat_messages WHERE id = ?", messageId)).toEqual({ text: editedText, version: (version!.version as number) + 1 });
    expect(await row("SELECT count(*) AS n FROM documents WHERE id = ?", `chat_message:${messageId}`)).toEqual({ n: 1 });
  }, 60_000);

  it("skips what the webhook skips: the bot's own posts, bots, system messages", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("sk");
    await workspace.room({ id: room, name: "ops", t: "c", member: true });
    const ts = new Date(Date.now() - 7_200_000).toISOString();
    const ids = await workspace.history(room, [
      { msg: "an answer by the bot", ts, u: { _id: env.ROCKETCHAT_USER_ID, username: "edge-ops-bot" } },
      { msg: "an integration's post", ts, bot: { i: "integration-1" } },
      { msg: "", ts, t: "uj" },
      { msg: `a person ${marker("kept")}`, ts },
    ]);
    await syncUntilDone(syncEnv(workspace));
    expect(await eventsPerMessage(ids)).toEqual(new Map([[ids[3]!, 1]]));
  });
});
