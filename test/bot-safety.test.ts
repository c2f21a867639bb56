// The bot's safety against the fake Rocket.Chat and the fake Groq: another room's records are
// quoted only while that room is public now (a channel made private stops being quoted once the
// cached answer's lifetime passes, and at once when rooms.info cannot tell), for the bot and for
// POST /api/search with a rooms filter; posted text notifies nobody and links only to our hosts;
// questions beyond the per-user and per-room limits get a polite answer with no search and no
// model call; permalinks follow the room's type.
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { consumeBotBatch } from "../queues/bot-consumer";
import { inertText, linkPolicy } from "../workers/bot/inert-text";
import { permalinkForRoom, visibleHits } from "../workers/chat/room-visibility";
import { rocketChatApiFrom } from "../workers/chat/rocketchat-api";
import { openDatabase } from "../workers/db/client";
import type { SearchHit } from "../workers/vectorize/vector-store";
import { adminFetch } from "./support/admin";
import { ageRoomCache, ask, cacheRoom, groqCalls, groqOn, indexDocuments, pendingQuestion, postedTo, queryRow } from "./support/bot";
import { recordingQueue } from "./support/faults";
import { runBatch } from "./support/queue";
import { fakeRoom, fakeRoomCalls, rocketChatId } from "./support/rocketchat";

afterEach(() => vi.restoreAllMocks());

const askingRoom = rocketChatId("sask");
const flippedRoom = rocketChatId("sflp");
const failingRoom = rocketChatId("sfai");
const groupRoom = rocketChatId("sgrp");
const directRoom = rocketChatId("sdm");
const channelRoom = rocketChatId("schn");
const site = "https://chat.example.com";

/** Rocket.Chat's own host in the suites: the fake's. */
const ownHost = new URL(env.ROCKETCHAT_URL).host;
const ownLink = `${env.ROCKETCHAT_URL}/channel/ops?msg=zzOwn1`;

beforeAll(async () => {
  await fakeRoom({ id: askingRoom, name: "front-desk", t: "p" });
  await fakeRoom({ id: flippedRoom, name: "pool-team", t: "c" });
  await fakeRoom({ id: failingRoom, name: "garden-team", t: "c" });
  await cacheRoom({ id: flippedRoom, name: "pool-team", t: "c" });
  await cacheRoom({ id: failingRoom, name: "garden-team", t: "c" });
  await cacheRoom({ id: askingRoom, name: "front-desk", t: "p" });
  await cacheRoom({ id: groupRoom, name: "owners-zz", t: "p" });
  await cacheRoom({ id: directRoom, name: "ana", t: "d" });
  await cacheRoom({ id: channelRoom, name: "ops-zz", t: "c" });
  await indexDocuments([
    { id: "chat_message:safety-flip", room: flippedRoom, title: "Rocket.Chat #pool-team", text: "[2026-06-05 10:00 UTC] rui: the zzpoolgate gate code at the Cascais villa is 8231", url: `${site}/channel/pool-team?msg=safetyFlip000001` },
    { id: "chat_message:safety-fail", room: failingRoom, title: "Rocket.Chat #garden-team", text: "[2026-06-05 10:00 UTC] rui: the zzgardenshed shed key is under the blue pot", url: `${site}/channel/garden-team?msg=safetyFail000001` },
    {
      id: "chat_message:safety-inert",
      room: askingRoom,
      title: "Rocket.Chat @all urgent",
      // Under the 200 characters the fake Groq quotes of a record.
      text: `[2026-06-05 10:00 UTC] g: @all @here @channel @ana zzinertmarker: [portal](https://evil.example.com/x), evil-bank.com, https://docs.example.org/g, ${ownLink}`,
      url: `${site}/channel/front-desk?msg=safetyInert00001`,
    },
    { id: "chat_message:safety-group", room: groupRoom, title: "Rocket.Chat owners-zz", text: "[2026-06-05 10:00 UTC] paula: zzgrouplink the owners meet on Friday", url: `${site}/channel/owners-zz?msg=safetyGroup00001` },
    { id: "chat_message:safety-direct", room: directRoom, title: "Rocket.Chat direct", text: "[2026-06-05 10:00 UTC] ana: zzdirectlink call me back about the Sintra keys", url: `${site}/direct/${directRoom}?msg=safetyDirect0001` },
    { id: "chat_message:safety-channel", room: channelRoom, title: "Rocket.Chat #ops-zz", text: "[2026-06-05 10:00 UTC] rui: zzchannellink the lift at Porto is fixed", url: `${site}/channel/ops-zz?msg=safetyChan000001` },
  ]);
});

const roomsInfoCalls = async (roomId: string) => (await fakeRoomCalls(roomId)).filter((call) => call.path === "/api/v1/rooms.info").length;

describe("another room's records, checked when answering", () => {
  it("a channel made private stops being quoted elsewhere once the cached answer's lifetime passes", async () => {
    const before = await ask("!ask what is the zzpoolgate gate code?", { roomId: askingRoom, overrides: groqOn });
    expect(before.body.text).toContain("8231");

    await fakeRoom({ id: flippedRoom, name: "pool-team", t: "p" });
    // Within the lifetime the cached answer holds, and rooms.info is not asked.
    const within = await ask("!ask what is the zzpoolgate gate code, again?", { roomId: askingRoom, overrides: groqOn });
    expect(within.body.text).toContain("8231");
    expect(await roomsInfoCalls(flippedRoom)).toBe(0);

    // ROOM_VISIBILITY_TTL_SECONDS=60 and an answer 61 s old: asked again, now private.
    await ageRoomCache(flippedRoom, 61_000);
    const after = await ask("!ask what is the zzpoolgate gate code now?", { roomId: askingRoom, overrides: { ...groqOn, ROOM_VISIBILITY_TTL_SECONDS: "60" } });
    expect(after.body.text).not.toContain("8231");
    const [prompt] = await groqCalls("zzpoolgate gate code now");
    expect(prompt?.user ?? "").not.toContain("8231");
    expect(await roomsInfoCalls(flippedRoom)).toBe(1);
    expect(await env.DB.prepare("SELECT visibility, room_type FROM chat_rooms WHERE id = ?").bind(flippedRoom).first()).toEqual({ visibility: "private", room_type: "p" });

    // The room's own members still get its records.
    expect((await ask("!ask what is the zzpoolgate gate code here?", { roomId: flippedRoom, overrides: groqOn })).body.text).toContain("8231");
  });

  it("a room whose visibility cannot be learned counts as private at once: rooms.info failing, or no REST credentials", async () => {
    expect((await ask("!ask where is the zzgardenshed shed key?", { roomId: askingRoom })).body.text).toContain("blue pot");
    await ageRoomCache(failingRoom, 601_000);

    const unasked = await ask("!ask where is the zzgardenshed shed key, please?", { roomId: askingRoom, overrides: { ROCKETCHAT_AUTH_TOKEN: undefined } });
    expect(unasked.body.text).not.toContain("blue pot");
    expect(await roomsInfoCalls(failingRoom)).toBe(0);

    await fakeRoom({ id: failingRoom, name: "garden-team", t: "c", failures: [{ status: 500 }] });
    const failed = await ask("!ask where is the zzgardenshed shed key today?", { roomId: askingRoom });
    expect(failed.body.text).not.toContain("blue pot");
    expect(await roomsInfoCalls(failingRoom)).toBe(1);
    // A passing fault does not overwrite what the cache knew: the next answer asks again.
    expect(await env.DB.prepare("SELECT visibility FROM chat_rooms WHERE id = ?").bind(failingRoom).first()).toEqual({ visibility: "public" });
  });

  it("the check takes an injected clock: a fresh answer holds, the same answer past the lifetime is asked again", async () => {
    const room = rocketChatId("sclk");
    await fakeRoom({ id: room, name: "clock-team", t: "c" });
    await cacheRoom({ id: room, name: "clock-team", t: "c" });
    const hit: SearchHit = { documentId: "chat_message:clock", chunkIndex: 0, text: "x", source: "rocketchat", entityType: "chat_message", room, title: "t", url: null, occurredAt: null, chunkId: crypto.randomUUID(), score: 1 };
    const business: SearchHit = { ...hit, documentId: "call:clock", room: null, chunkId: crypto.randomUUID() };
    const db = openDatabase(env.DB);
    const api = rocketChatApiFrom(env);
    await fakeRoom({ id: room, name: "clock-team", t: "p" });
    const now = Date.now();
    expect(await visibleHits(db, [hit, business], [askingRoom], { api, ttlMs: 600_000, now: () => now + 599_000 })).toEqual([hit, business]);
    expect(await visibleHits(db, [hit, business], [askingRoom], { api, ttlMs: 600_000, now: () => now + 601_000 })).toEqual([business]);
    // The reader's own room is never checked.
    expect(await visibleHits(db, [hit], [room], { api: null, ttlMs: 0 })).toHaveLength(1);
  });

  it("POST /api/search with filter.rooms applies the same rule; unfiltered, the admin sees every room", async () => {
    const room = rocketChatId("ssrc");
    await fakeRoom({ id: room, name: "search-team", t: "c" });
    await cacheRoom({ id: room, name: "search-team", t: "c" });
    await indexDocuments([{ id: "chat_message:safety-search", room, title: "Rocket.Chat #search-team", text: "[2026-06-05 10:00 UTC] rui: zzsearchrule the sauna heater is broken", url: `${site}/channel/search-team?msg=safetySearch0001` }]);
    const search = async (filter?: { rooms: string[] }) =>
      ((await (await adminFetch("/api/search", { json: { query: "zzsearchrule sauna heater", k: 5, ...(filter ? { filter } : {}) } })).json()) as { hits: { documentId: string; url?: string }[] }).hits.map((hit) => hit.documentId);

    expect(await search({ rooms: [askingRoom] })).toContain("chat_message:safety-search");
    await fakeRoom({ id: room, name: "search-team", t: "p" });
    await ageRoomCache(room, 601_000);
    expect(await search({ rooms: [askingRoom] })).not.toContain("chat_message:safety-search");
    expect(await search({ rooms: [room] })).toContain("chat_message:safety-search");
    expect(await search()).toContain("chat_message:safety-search");
  });
});

describe("the bot speaks only for itself", () => {
  /**
   * Hosts Rocket.Chat would link in `msg`: scheme URLs and bare host names (packages/message-parser
   * AutolinkedURL), outside our links' labels (plain text to the parser).
   */
  const linkHosts = (msg: string) => {
    const outsideLabels = msg.replace(/\[[^\]\n]*\]\(/g, "(");
    return [
      ...[...outsideLabels.matchAll(/[A-Za-z0-9+.-]+:\/\/([^\s/?#)\]]+)/g)].map((match) => match[1]!.replace(/^.*@/, "").replace(/:\d+$/, "")),
      ...[...outsideLabels.replace(/[A-Za-z0-9+.-]+:\/\/\S*/g, " ").matchAll(/(?<![\p{L}\p{N}_@-])(?:[\p{L}\p{N}_-]+\.)+\p{L}{2,}(?![\p{L}\p{N}_-])/gu)].map((match) => match[0]),
    ];
  };

  for (const mode of ["extractive", "groq"] as const) {
    it(`posts a record's @all and foreign links inert (${mode}), with our own links and the sources' links intact`, async () => {
      const { queryId, messageId } = await pendingQuestion(askingRoom, `zzinertmarker where is the portal evil bank (${mode})?`);
      const consumerEnv = { ...env, ...(mode === "groq" ? groqOn : {}), BOT_LINK_HOSTS: "docs.example.org" } as Env;
      expect(await runBatch("edge-ops-bot-dev", [{ queryId }], (batch) => consumeBotBatch(batch, consumerEnv))).toEqual({ acked: [{ queryId }], retried: [] });

      const [posted] = (await postedTo(askingRoom)).filter((message) => message.tmid === messageId);
      const msg = posted!.msg;
      expect(msg).toContain("zzinertmarker");
      // What Rocket.Chat's server would have found to notify: nobody.
      expect(posted!.mentions).toEqual([]);
      expect(msg).toContain("@\u200Dall @\u200Dhere @\u200Dchannel @\u200Dana");
      // Foreign links as text; ours, the allowed host's and the sources' as links.
      expect(msg).toContain("portal (https[:]//evil[.]example[.]com/x)");
      expect(msg).toContain("evil-bank[.]com");
      expect(msg).not.toMatch(/\]\(https?:\/\/evil/);
      expect(linkHosts(msg).filter((host) => ![ownHost.replace(/:\d+$/, ""), "docs.example.org", "chat.example.com"].includes(host))).toEqual([]);
      expect(msg).toContain(ownLink);
      expect(msg).toContain("https://docs.example.org/g");
      expect(msg).toMatch(/\*Sources\*\n\[1\] \[Rocket\.Chat @\u200Dall urgent\]\(https:\/\/chat\.example\.com\/group\/front-desk\?msg=safetyInert00001\)/);
      expect((await queryRow(messageId))?.answer).toBe(msg);
    });
  }

  it("makes text inert the way Rocket.Chat parses it: no server mention, no autolink, addresses kept", () => {
    const policy = linkPolicy("https://chat.example.com", ["docs.example.org"]);
    // MentionsParser.userMentionRegex with the default username pattern.
    const serverMention = /(^|\s|>)@([0-9a-zA-Z-_.]+(@([0-9a-zA-Z-_.]+))?(:([0-9a-zA-Z-_.]+))?)/gm;
    const text = inertText(">@all\n@here: ring @ana.silva or mail ana.silva@example.com; [x](javascript:alert(1)) <https://evil.io|click> ![p](https://t.example.net/p.gif) 192.168.1.10", policy);
    expect(text.match(serverMention)).toBeNull();
    expect(text).toContain("ana.silva@example.com");
    expect(text).toContain("click (https[:]//evil[.]io)");
    expect(text).toContain("p (https[:]//t[.]example[.]net/p[.]gif)");
    expect(text).toContain("192[.]168[.]1[.]10");
    expect(text).not.toMatch(/\]\(|<https/);
    // Allowed hosts stay links, and inert text stays as it is when made inert again.
    expect(inertText("[docs](https://docs.example.org/a) https://chat.example.com/group/x?msg=1", policy)).toBe("[docs](https://docs.example.org/a) https://chat.example.com/group/x?msg=1");
    expect(inertText(text, policy)).toBe(text);
  });
});

describe("limits", () => {
  it("the 11th question of a user in a minute gets the polite answer, with no search and no model call; feedback is not limited", async () => {
    const room = rocketChatId("slim");
    const user = rocketChatId("u");
    const embeddings = { EMBEDDINGS_URL: env.FAKE_EMBEDDINGS_URL, EMBEDDINGS_API_KEY: env.FAKE_EMBEDDINGS_API_KEY, EMBEDDINGS_MODEL: "zz-bot-limits" } as Partial<Env>;
    await indexDocuments([{ id: "call:safety-limit", room: null, kind: "call", source: "aircall", title: "Call about the zzlimitboiler", text: "Caller: the zzlimitboiler boiler at Porto shows error E119" }], embeddings);
    const embedCalls = async () => ((await (await fetch(`${env.FAKE_EMBEDDINGS_URL.replace(/\/v1$/, "")}/__fake/requests?model=zz-bot-limits`)).json()) as unknown[]).length;
    // One minute for every question, whenever the suite runs.
    vi.spyOn(Date, "now").mockReturnValue(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
    const overrides = { ...groqOn, ...embeddings };

    const answered: string[] = [];
    for (let n = 1; n <= 10; n += 1) answered.push((await ask(`!ask zzlimit${n} which error does the zzlimitboiler boiler show?`, { roomId: room, userId: user, overrides })).messageId);
    const searchesBefore = await embedCalls();
    const eleventh = await ask("!ask zzlimit11 which error does the zzlimitboiler boiler show?", { roomId: room, userId: user, overrides });
    expect(eleventh.body).toEqual({ text: "You have asked me more than 10 questions in the last minute, the most I answer for one person. Please ask again in a minute.", tmid: eleventh.messageId });
    expect(await groqCalls("zzlimit11 ")).toEqual([]);
    expect(await groqCalls("zzlimit10 ")).toHaveLength(1);
    expect(await embedCalls()).toBe(searchesBefore);
    expect(await queryRow(eleventh.messageId)).toBeNull();
    expect(await queryRow(answered[9]!)).toMatchObject({ status: "answered" });

    const feedback = await ask("!good", { roomId: room, userId: user, tmid: answered[0]!, overrides });
    expect(feedback.body.text).toBe("Thanks, noted.");
    // Another user in the same room is not limited by this one.
    expect((await ask("!ask zzlimit12 which error does the zzlimitboiler boiler show?", { roomId: room, userId: rocketChatId("u"), overrides })).body.text).toContain("E119");
  });

  it("a room's questions beyond BOT_ROOM_RATE_LIMIT get the room's polite answer, whoever asks", async () => {
    const room = rocketChatId("slrm");
    vi.spyOn(Date, "now").mockReturnValue(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
    const overrides = { BOT_ROOM_RATE_LIMIT: "3" } as Partial<Env>;
    for (let n = 1; n <= 3; n += 1) expect((await ask(`!ask zzroomlimit${n} which error does the Porto boiler show?`, { roomId: room, userId: rocketChatId("u"), overrides })).body.text).not.toContain("last minute");
    const fourth = await ask("!ask zzroomlimit4 which error does the Porto boiler show?", { roomId: room, userId: rocketChatId("u"), overrides });
    expect(fourth.body.text).toBe("This room has asked me more than 3 questions in the last minute, the most I answer for one room. Please ask again in a minute.");
  });
});

describe("permalinks by room type", () => {
  it("channel/<name>, group/<name>, direct/<room id>, as Rocket.Chat routes them", () => {
    const stored = `${site}/channel/owners?msg=abc`;
    expect(permalinkForRoom(stored, { id: "r1", name: "owners", type: "p" })).toBe(`${site}/group/owners?msg=abc`);
    expect(permalinkForRoom(stored, { id: "r1", name: "owners", type: "c" })).toBe(`${site}/channel/owners?msg=abc`);
    expect(permalinkForRoom(`${site}/direct/r2?msg=abc`, { id: "r2", name: null, type: "d" })).toBe(`${site}/direct/r2?msg=abc`);
    expect(permalinkForRoom(`${site}/chat/channel/a%20b?msg=x`, { id: "r3", name: "a b", type: "p" })).toBe(`${site}/chat/group/a%20b?msg=x`);
    // Unknown type: the stored link as it is.
    expect(permalinkForRoom(stored, { id: "r1", name: "owners", type: null })).toBe(stored);
  });

  it("the bot's sources and search results link private groups under /group/, DMs under /direct/ and channels under /channel/", async () => {
    const source = async (roomId: string, question: string) => (await ask(`!ask ${question}`, { roomId })).body.text ?? "";
    expect(await source(groupRoom, "zzgrouplink when do the owners meet?")).toContain(`(${site}/group/owners-zz?msg=safetyGroup00001)`);
    expect(await source(directRoom, "zzdirectlink what about the Sintra keys?")).toContain(`(${site}/direct/${directRoom}?msg=safetyDirect0001)`);
    expect(await source(askingRoom, "zzchannellink is the lift at Porto fixed?")).toContain(`(${site}/channel/ops-zz?msg=safetyChan000001)`);

    const response = await adminFetch("/api/search", { json: { query: "zzgrouplink owners meet", k: 3 } });
    const { hits } = (await response.json()) as { hits: { documentId: string; url?: string }[] };
    expect(hits.find((hit) => hit.documentId === "chat_message:safety-group")?.url).toBe(`${site}/group/owners-zz?msg=safetyGroup00001`);
  });
});

describe("the bot queue path", () => {
  it("a redelivered question already queued is acknowledged, not queued again", async () => {
    const queue = recordingQueue();
    const first = await ask("!ask zzqueuedonce zzchannellink is the lift at Porto fixed?", { roomId: askingRoom, overrides: { ...groqOn, BOT_ANSWER_BUDGET_MS: "1", BOT_QUEUE: queue.queue } });
    const again = await ask("!ask zzqueuedonce zzchannellink is the lift at Porto fixed?", { roomId: askingRoom, messageId: first.messageId, overrides: { ...groqOn, BOT_QUEUE: queue.queue } });
    expect(again.body.text).toBe(first.body.text);
    expect(queue.sent).toHaveLength(1);
    expect((await queryRow(first.messageId))?.queued_at).not.toBeNull();
  });
});
