// The vectorize pipeline end to end on the embedded defaults: webhook -> intake queue ->
// documents -> vectorize queue -> chunks in the D1 store -> POST /api/search; and the
// consumer's batching, retries, dead letters, catch-up and revectorize.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { vectorizeBatch } from "../queues/vectorize-consumer";
import worker from "../workers/index";
import { openDatabase } from "../workers/db/client";
import { CATCH_UP_SCHEDULE } from "../workers/vectorize/catch-up";
import { ProviderRateLimited } from "../workers/http/provider-errors";
import { adminFetch } from "./support/admin";
import { accepted, aircallEvent, ended } from "./support/aircall";
import { row } from "./support/d1";
import { tickTimeFor, tickWith } from "./support/faults";
import type { VectorizeProviders } from "../workers/vectorize/providers";
import { countingProviders, offline } from "./support/providers";
import { runBatch } from "./support/queue";
import { postGuesty } from "./support/guesty";
import { chatMessage, fakeRoom, postRocketChat, rocketChatId } from "./support/rocketchat";
import { search, searchRequest } from "./support/search";
import { waitIndexed } from "./support/settle";

afterEach(() => vi.restoreAllMocks());

const db = () => openDatabase(env.DB);

type DocumentSeed = { id: string; text: string; updatedAt?: number; header?: string; groupId?: string | null };

/** Documents written straight to D1, as intake would leave them (not yet indexed). */
async function seedDocuments(seeds: readonly DocumentSeed[]) {
  await env.DB.batch(
    seeds.map((seed) =>
      env.DB.prepare(
        `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header, group_id)
         VALUES (?, 'task', ?, ?, ?, 1, ?, 'guesty', ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET text = excluded.text, content_hash = excluded.content_hash, updated_at = excluded.updated_at`,
      ).bind(seed.id, seed.id, seed.text, `hash:${seed.text}`, seed.updatedAt ?? Date.now(), `Task ${seed.id}`, seed.header ?? `Guesty task ${seed.id}`, seed.groupId ?? null),
    ),
  );
}

const chunkRows = async (documentId: string) =>
  (await env.DB.prepare("SELECT id, chunk_index, text, model FROM search_chunks WHERE document_id = ? ORDER BY chunk_index").bind(documentId).all<{
    id: string;
    chunk_index: number;
    text: string;
    model: string;
  }>()).results;

const consume = (ids: readonly string[], providers: VectorizeProviders, attempts = 1, force = false) =>
  runBatch("edge-ops-vectorize-dev", ids.map((documentId) => (force ? { documentId, force } : { documentId })), (batch) => vectorizeBatch(batch, db(), providers), attempts);

describe("webhook to search, through the queues alone", () => {
  it("makes a call searchable, every chunk opening with who, where and when", async () => {
    const id = 880_001;
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(id, { tags: [{ id: 1, name: "Boiler" }], comments: [{ id: 9, content: "radiator in the Alfama loft leaks", posted_by: null, posted_at: 1_763_000_100 }] })));
    await waitIndexed([`call:${id}`]);
    const hits = await search({ query: "radiator leaks in the Alfama loft", filter: { source: "aircall" } });
    const hit = hits.find((candidate) => candidate.documentId === `call:${id}`);
    expect(hit).toMatchObject({
      source: "aircall",
      entityType: "call",
      title: "Call from +44 20 7946 0018 on 2025-11-13",
      occurredAt: "2025-11-13T02:13:20.000Z",
      chunkId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(hit?.text.split("\n")[0]).toBe("Aircall inbound call 880001 · with +44 20 7946 0018 · agent Ana Agent · line Front desk · 2025-11-13 02:13 UTC");
    expect(hit?.text).toContain("radiator in the Alfama loft leaks");
    expect(await row("SELECT indexed_model FROM documents WHERE id = ?", `call:${id}`)).toEqual({ indexed_model: offline.model });
  });

  it("removes every vector of a deleted contact", async () => {
    const contact = { id: 880_100, first_name: "Ines", last_name: "Duarte", company_name: "Sintra Gardens", information: "owner of the Sintra house", emails: [], phone_numbers: [] };
    await accepted(aircallEvent("contact.created", 1_763_000_000, contact));
    await waitIndexed(["contact:880100"]);
    expect(await chunkRows("contact:880100")).toHaveLength(1);
    await accepted(aircallEvent("contact.deleted", 1_763_000_500, contact));
    await waitIndexed(["contact:880100"]);
    expect(await chunkRows("contact:880100")).toEqual([]);
  });

  it("indexes a chat thread as one unit opening with its root, follows edits and deletions, and links back", async () => {
    const room = rocketChatId("t");
    await fakeRoom({ id: room, name: "maintenance", t: "c" });
    const root = chatMessage({ channel_id: room, channel_name: "maintenance", text: "Boiler pressure low at Porto Riverside Flat again", timestamp: "2026-06-02T08:00:00.000Z" });
    const reply = chatMessage({ channel_id: room, channel_name: "maintenance", tmid: root.message_id, text: "Plumber Rui booked for Thursday morning", timestamp: "2026-06-02T08:05:00.000Z" });
    const other = chatMessage({ channel_id: room, channel_name: "maintenance", text: "Lift inspection at Baixa passed", timestamp: "2026-06-02T08:10:00.000Z" });
    for (const body of [root, reply, other]) await postRocketChat(body);
    const ids = [root, reply, other].map((body) => `chat_message:${body.message_id}`);
    await waitIndexed(ids);

    const thread = (await search({ query: "plumber booked boiler Porto", filter: { source: "rocketchat" } })).find((hit) => hit.documentId === `chat-thread:${root.message_id}`);
    expect(thread).toMatchObject({ entityType: "chat_thread", room, url: `https://chat.example.com/channel/maintenance?msg=${root.message_id}` });
    expect(thread?.text.split("\n")).toEqual([
      "Rocket.Chat #maintenance · thread · 2026-06-02 08:00 UTC to 2026-06-02 08:05 UTC",
      "[2026-06-02 08:00 UTC] rodriq: Boiler pressure low at Porto Riverside Flat again",
      "[2026-06-02 08:05 UTC] rodriq: Plumber Rui booked for Thursday morning",
    ]);
    const window = (await search({ query: "lift inspection Baixa", filter: { source: "rocketchat" } })).find((hit) => hit.entityType === "chat_window" && hit.room === room);
    expect(window?.documentId).toBe(`chat-window:${room}:2026-06-02T06:00:00.000Z`);
    expect(window?.text).toContain("Lift inspection at Baixa passed");

    await postRocketChat({ ...reply, text: "Plumber Rui moved to Friday afternoon", isEdited: true });
    await waitIndexed([ids[1]!]);
    const edited = await chunkRows(`chat-thread:${root.message_id}`);
    expect(edited.map((chunk) => chunk.text).join("\n")).toContain("rodriq (edited): Plumber Rui moved to Friday afternoon");
    expect(edited.map((chunk) => chunk.text).join("\n")).not.toContain("Thursday");

    await postRocketChat({ token: env.ROCKETCHAT_INGEST_TOKEN, message_id: reply.message_id, deleted: true });
    await waitIndexed([ids[1]!]);
    expect((await chunkRows(`chat-thread:${root.message_id}`)).map((chunk) => chunk.text).join("\n")).not.toContain("Plumber");
  });

  it("indexes a guest conversation by week: host and guest lines in order, under the guest's header", async () => {
    const conversation = { _id: "conv-vec-1", guestId: "guest-vec-1", meta: { guestName: "Maria Santos" } };
    const message = (id: string, event: string, body: string, createdAt: string) => ({
      event,
      reservationId: "res-vec-1",
      conversation,
      message: { _id: id, body, module: { type: "airbnb2" }, createdAt },
    });
    await postGuesty({ id: "msg_vec_conv_1", body: message("post-vec-1", "reservation.messageReceived", "Can we park a car at Sintra Garden House?", "2026-06-03T09:00:00.000Z") });
    await postGuesty({ id: "msg_vec_conv_2", body: message("post-vec-2", "reservation.messageSent", "Yes, two spaces behind the gate.", "2026-06-03T09:20:00.000Z") });
    await postGuesty({ id: "msg_vec_conv_3", body: message("post-vec-3", "reservation.messageReceived", "We loved the stay, thank you!", "2026-06-12T18:00:00.000Z") });
    await waitIndexed(["message:post-vec-1", "message:post-vec-2", "message:post-vec-3"]);

    const firstWeek = await chunkRows("guest-conversation:conv-vec-1:2026-05-28T00:00:00.000Z");
    expect(firstWeek.map((chunk) => chunk.text)).toEqual([
      [
        "Guesty conversation with Maria Santos · reservation res-vec-1 · via airbnb2 · 2026-06-03 09:00 UTC to 2026-06-03 09:20 UTC",
        "[2026-06-03 09:00 UTC] Maria Santos: Can we park a car at Sintra Garden House?",
        "[2026-06-03 09:20 UTC] Host: Yes, two spaces behind the gate.",
      ].join("\n"),
    ]);
    expect((await chunkRows("guest-conversation:conv-vec-1:2026-06-11T00:00:00.000Z")).map((chunk) => chunk.text.split("\n")[1])).toEqual([
      "[2026-06-12 18:00 UTC] Maria Santos: We loved the stay, thank you!",
    ]);
    const [hit] = await search({ query: "where to park at Sintra Garden House", k: 1, filter: { entityType: "guest_conversation" } });
    expect(hit).toMatchObject({ documentId: "guest-conversation:conv-vec-1:2026-05-28T00:00:00.000Z", source: "guesty", title: "Conversation with Maria Santos · 2026-06-03" });
  });

  it("restricted to rooms, sees business records, public channels and the rooms listed, never another private room", async () => {
    const channel = rocketChatId("c");
    const privateGroup = rocketChatId("p");
    const otherGroup = rocketChatId("o");
    await fakeRoom({ id: channel, name: "ops", t: "c" });
    await fakeRoom({ id: privateGroup, name: "owners", t: "p" });
    await fakeRoom({ id: otherGroup, name: "payroll", t: "p" });
    const word = `zanzibar${Date.now()}`;
    const posts = [
      chatMessage({ channel_id: channel, text: `${word} towels delivered` }),
      chatMessage({ channel_id: privateGroup, channel_name: "owners", text: `${word} owner statement` }),
      chatMessage({ channel_id: otherGroup, channel_name: "payroll", text: `${word} salaries` }),
    ];
    for (const body of posts) await postRocketChat(body);
    const callId = 880_200;
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(callId, { tags: [{ id: 1, name: word }] })));
    await waitIndexed([...posts.map((body) => `chat_message:${body.message_id}`), `call:${callId}`]);

    const roomsOf = async (filter?: Record<string, unknown>) => {
      const hits = await search({ query: word, ...(filter ? { filter } : {}) });
      return [...new Set(hits.filter((hit) => hit.text.includes(word)).map((hit) => hit.room ?? "business"))].sort();
    };
    expect(await roomsOf()).toEqual(["business", channel, otherGroup, privateGroup].sort());
    expect(await roomsOf({ rooms: [privateGroup] })).toEqual(["business", channel, privateGroup].sort());
    expect(await roomsOf({ rooms: [] })).toEqual(["business", channel].sort());
  });

  it("validates the search request", async () => {
    for (const body of [{ query: "" }, { query: "x", k: 51 }, { query: "x", filter: { since: "yesterday" } }, { query: "x", filter: { colour: "red" } }]) {
      const response = await searchRequest(body);
      expect(response.status).toBe(400);
    }
    const anonymous = await worker.fetch(new Request("http://admin/api/search", { method: "POST", body: "{}" }), env, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);
    expect(anonymous.status).toBe(401);
  });
});

describe("the vectorize consumer", () => {
  it("indexes a batch of 100 documents with one embedder call and one store call; a redelivery changes nothing", async () => {
    const ids = Array.from({ length: 100 }, (_, index) => `task:batch-${index}`);
    await seedDocuments(ids.map((id, index) => ({ id, text: `Deep clean of flat ${index} before the guests arrive; towels and linen ${index}` })));
    const first = countingProviders();
    const outcome = await consume(ids, first.providers);
    expect(outcome.acked).toHaveLength(100);
    expect(first.calls).toEqual({ embed: 1, store: 1, embeddedTexts: 100 });
    const chunkIds = (await chunkRows("task:batch-7")).map((chunk) => chunk.id);
    expect(chunkIds).toHaveLength(1);
    expect((await chunkRows("task:batch-7"))[0]?.text).toBe("Guesty task task:batch-7\nDeep clean of flat 7 before the guests arrive; towels and linen 7");

    const again = countingProviders();
    expect((await consume(ids, again.providers)).acked).toHaveLength(100);
    expect(again.calls).toEqual({ embed: 0, store: 0, embeddedTexts: 0 });

    const forced = countingProviders();
    expect((await consume(ids, forced.providers, 1, true)).acked).toHaveLength(100);
    expect(forced.calls).toEqual({ embed: 1, store: 1, embeddedTexts: 100 });
    // Deterministic ids: writing again replaced the chunks instead of adding some.
    expect((await chunkRows("task:batch-7")).map((chunk) => chunk.id)).toEqual(chunkIds);
  });

  it("drops the chunks a document no longer has", async () => {
    const long = Array.from({ length: 60 }, (_, index) => `Line ${index}: the guest asked about parking, keys, wifi and the late checkout policy.`).join("\n");
    await seedDocuments([{ id: "task:shrinks", text: long }]);
    await consume(["task:shrinks"], countingProviders().providers);
    expect((await chunkRows("task:shrinks")).length).toBeGreaterThan(2);
    await seedDocuments([{ id: "task:shrinks", text: "Only parking now." }]);
    await consume(["task:shrinks"], countingProviders().providers);
    expect((await chunkRows("task:shrinks")).map((chunk) => chunk.chunk_index)).toEqual([0]);
  });

  it("retries a rate-limited batch after Retry-After, other failures with backoff, and never records unwritten vectors", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await seedDocuments([{ id: "task:retry-1", text: "Fix the shower head" }, { id: "task:retry-2", text: "Replace the kettle" }]);
    const ids = ["task:retry-1", "task:retry-2"];

    const limited = await consume(ids, countingProviders({ embed: () => new ProviderRateLimited("embedder", 42) }).providers);
    expect(limited).toEqual({ acked: [], retried: ids.map((documentId) => ({ body: { documentId }, delaySeconds: 42 })) });

    const storeDown = await consume(ids, countingProviders({ store: () => new Error("store unavailable") }).providers, 3);
    expect(storeDown).toEqual({ acked: [], retried: ids.map((documentId) => ({ body: { documentId }, delaySeconds: 40 })) });
    for (const id of ids) {
      expect(await row("SELECT indexed_hash FROM documents WHERE id = ?", id)).toEqual({ indexed_hash: null });
      expect(await chunkRows(id)).toEqual([]);
    }
  });

  it("acknowledges a malformed message and a missing document without retrying", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const { providers, calls } = countingProviders();
    const outcome = await runBatch("edge-ops-vectorize-dev", [{ nope: 1 }, { documentId: "task:never-existed" }], (batch) => vectorizeBatch(batch, db(), providers));
    expect(outcome).toEqual({ acked: [{ nope: 1 }, { documentId: "task:never-existed" }], retried: [] });
    expect(calls.embed).toBe(0);
  });
});

describe("dead letters, catch-up and revectorize", () => {
  it("records a dead letter, lists it, leaves it to the operator, and replays it into the index", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await seedDocuments([{ id: "task:dead-1", text: "Repaint the Cascais balcony railings", updatedAt: Date.now() - 3_600_000 }]);
    const dead = await runBatch("edge-ops-vectorize-dlq-dev", [{ documentId: "task:dead-1" }], (batch, ctx) => worker.queue(batch, env, ctx), 6);
    expect(dead.acked).toEqual([{ documentId: "task:dead-1" }]);
    const listed = (await (await adminFetch("/api/dlq?limit=500")).json()) as { items: { id: string; documentId: string; queue: string }[] };
    const letter = listed.items.find((item) => item.documentId === "task:dead-1");
    expect(letter).toMatchObject({ queue: "edge-ops-vectorize", body: { documentId: "task:dead-1" }, attempts: 6 });

    // The catch-up sweep does not loop on a dead-lettered document.
    await tickWith({}, tickTimeFor(CATCH_UP_SCHEDULE));
    expect(await row("SELECT enqueued_at FROM documents WHERE id = 'task:dead-1'")).toEqual({ enqueued_at: null });

    const replay = await adminFetch("/api/dlq/replay", { json: { ids: [letter!.id] } });
    expect(replay.status).toBe(202);
    expect(await replay.json()).toEqual({ replayed: 1, ids: [letter!.id] });
    await waitIndexed(["task:dead-1"]);
    expect(await row("SELECT replayed_at IS NOT NULL AS replayed FROM dead_letters WHERE id = ?", letter!.id)).toEqual({ replayed: 1 });
    expect((await (await adminFetch("/api/dlq?limit=500")).json()) as unknown).not.toMatchObject({ items: expect.arrayContaining([expect.objectContaining({ id: letter!.id })]) });
  });

  it("catches up documents whose queue message was lost or whose model changed, but not ones the queue still holds", async () => {
    const old = Date.now() - 3_600_000;
    await seedDocuments([
      { id: "task:lost-message", text: "Check the smoke alarm battery", updatedAt: old },
      { id: "task:too-recent", text: "Water the Sintra garden", updatedAt: Date.now() },
      { id: "task:old-model", text: "Renew the pool cleaning contract", updatedAt: old },
    ]);
    await consume(["task:old-model"], countingProviders().providers);
    await env.DB.prepare("UPDATE documents SET indexed_model = 'retired-model-v0' WHERE id = 'task:old-model'").run();

    await tickWith({}, tickTimeFor(CATCH_UP_SCHEDULE));
    await waitIndexed(["task:lost-message"]);
    await vi.waitFor(async () => expect(await row("SELECT indexed_model FROM documents WHERE id = 'task:old-model'")).toEqual({ indexed_model: offline.model }));
    expect(await row("SELECT enqueued_at, indexed_hash FROM documents WHERE id = 'task:too-recent'")).toEqual({ enqueued_at: null, indexed_hash: null });
  });

  it("revectorizes on demand: stale ones by default, every match with force, page by page", async () => {
    await seedDocuments([{ id: "task:rv-a", text: "Order new pillows" }, { id: "task:rv-b", text: "Order new duvets" }]);
    await consume(["task:rv-a", "task:rv-b"], countingProviders().providers);
    const indexedAt = async () => (await row("SELECT indexed_at FROM documents WHERE id = 'task:rv-b'"))?.indexed_at;
    const before = await indexedAt();

    const stale = await adminFetch("/api/documents/revectorize", { json: { filter: { ids: ["task:rv-a", "task:rv-b"] } } });
    expect(await stale.json()).toEqual({ enqueued: 0, next: null });

    const firstPage = await adminFetch("/api/documents/revectorize", { json: { force: true, limit: 1, filter: { ids: ["task:rv-a", "task:rv-b"] } } });
    expect(firstPage.status).toBe(202);
    expect(await firstPage.json()).toEqual({ enqueued: 1, next: "task:rv-a" });
    const secondPage = await adminFetch("/api/documents/revectorize", { json: { force: true, limit: 1, after: "task:rv-a", filter: { ids: ["task:rv-a", "task:rv-b"] } } });
    expect(await secondPage.json()).toEqual({ enqueued: 1, next: null });
    await vi.waitFor(async () => expect(await indexedAt()).toBeGreaterThan(Number(before)), { timeout: 5000 });

    expect((await adminFetch("/api/documents/revectorize", { json: { limit: 0 } })).status).toBe(400);
  });

  it("reports the index status, counting a document the index does not hold as stale", async () => {
    const status = async () => (await (await adminFetch("/api/documents/index-status")).json()) as { model: string; documents: number; indexed: number; stale: number };
    const before = await status();
    expect(before.model).toBe(offline.model);
    await seedDocuments([{ id: "task:status-1", text: "Count me as stale", updatedAt: Date.now() }]);
    const after = await status();
    expect(after.documents - before.documents).toBe(1);
    // Other tests' queue work may finish meanwhile: only this document's effect is certain.
    expect(after.stale).toBeGreaterThanOrEqual(1);
    expect(after.indexed + after.stale).toBe(after.documents);
    await consume(["task:status-1"], countingProviders().providers);
    expect((await status()).indexed).toBeGreaterThanOrEqual(after.indexed + 1);
  });
});
