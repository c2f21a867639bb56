// Failures stay small: a poisoned message is retried on its own while the rest of its batch is
// indexed at the first delivery (a unit's failure retries its members' messages, a rate limit
// retries everything after Retry-After, a provider that fails everything costs a few calls); a
// Groq failure during summaries indexes the documents without the summary and the catch-up asks
// again; a dead-lettered document is indexed again when it changes, and when it is replayed.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeVectorizeBatch, vectorizeBatch } from "../queues/vectorize-consumer";
import worker from "../workers/index";
import { openDatabase } from "../workers/db/client";
import { ProviderRateLimited } from "../workers/http/provider-errors";
import { CATCH_UP_SCHEDULE, catchUpStaleDocuments } from "../workers/vectorize/catch-up";
import { DEFAULT_GROQ_MODEL } from "../workers/vectorize/config";
import { adminFetch } from "./support/admin";
import { row } from "./support/d1";
import { recordingQueue, tickTimeFor, tickWith } from "./support/faults";
import { EmbeddingsApiError } from "../workers/vectorize/openai-embedder";
import type { VectorizeProviders } from "../workers/vectorize/providers";
import { countingProviders, offline } from "./support/providers";
import { runBatch } from "./support/queue";
import { waitIndexed } from "./support/settle";

afterEach(() => vi.restoreAllMocks());

const db = () => openDatabase(env.DB);
const quiet = () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  vi.spyOn(console, "log").mockImplementation(() => undefined);
};

type Seed = { id: string; text: string; groupId?: string | null; updatedAt?: number; kind?: string; source?: string };

async function seed(seeds: readonly Seed[]) {
  await env.DB.batch(
    seeds.map((document) =>
      env.DB.prepare(
        `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header, group_id)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET text = excluded.text, content_hash = excluded.content_hash, updated_at = excluded.updated_at`,
      ).bind(
        document.id,
        document.kind ?? "task",
        document.id,
        document.text,
        `hash:${document.text}`,
        document.updatedAt ?? Date.now(),
        document.source ?? "guesty",
        `Task ${document.id}`,
        `Guesty task ${document.id}`,
        document.groupId ?? null,
      ),
    ),
  );
}

const isIndexed = async (id: string) => (await row("SELECT indexed_hash = content_hash AS indexed FROM documents WHERE id = ?", id))?.indexed === 1;
const chunkTexts = async (documentId: string) =>
  (await env.DB.prepare("SELECT text FROM search_chunks WHERE document_id = ? ORDER BY chunk_index").bind(documentId).all<{ text: string }>()).results.map((chunk) => chunk.text);

const consume = (ids: readonly string[], providers: VectorizeProviders, attempts = 1) =>
  runBatch("edge-ops-vectorize-dev", ids.map((documentId) => ({ documentId })), (batch) => vectorizeBatch(batch, db(), providers), attempts);

describe("a poisoned message", () => {
  it("in a batch of 100: the 99 others are indexed at the first try, and only it is retried", async () => {
    quiet();
    const marker = `zzpoison${crypto.randomUUID().slice(0, 8)}`;
    const ids = Array.from({ length: 100 }, (_, index) => `task:iso-${crypto.randomUUID().slice(0, 8)}-${index}`);
    const poisoned = ids[37]!;
    await seed(ids.map((id, index) => ({ id, text: id === poisoned ? `Broken record ${marker}` : `Check the boiler of flat ${index} before Friday` })));

    const { providers, calls } = countingProviders({ poison: marker });
    const outcome = await consume(ids, providers);
    expect(outcome.retried).toEqual([{ body: { documentId: poisoned }, delaySeconds: 10 }]);
    expect(outcome.acked).toHaveLength(99);
    expect(outcome.acked).not.toContainEqual({ documentId: poisoned });
    for (const id of ids) expect(await isIndexed(id)).toBe(id !== poisoned);
    expect(await chunkTexts(poisoned)).toEqual([]);
    expect(await chunkTexts(ids[36]!)).toEqual([`Guesty task ${ids[36]}\nCheck the boiler of flat 36 before Friday`]);
    // Halving isolates it: one failed call per level, about 2·log2(100) calls in all.
    expect(calls.embed).toBeLessThanOrEqual(15);
    expect(calls.store).toBeLessThanOrEqual(8);

    // Its next delivery, alone: one call, backoff grows.
    const again = countingProviders({ poison: marker });
    expect(await consume([poisoned], again.providers, 2)).toEqual({ acked: [], retried: [{ body: { documentId: poisoned }, delaySeconds: 20 }] });
    expect(again.calls.embed).toBe(1);
  });

  it("fails its whole unit: every message of that chat window is retried, the rest of the batch is indexed", async () => {
    quiet();
    const marker = `zzunit${crypto.randomUUID().slice(0, 8)}`;
    const run = crypto.randomUUID().slice(0, 8);
    const window = `chat-window:room-${run}:2026-06-02T06:00:00.000Z`;
    const members = [`chat_message:${run}-a`, `chat_message:${run}-b`];
    const others = Array.from({ length: 8 }, (_, index) => `task:${run}-${index}`);
    await seed([
      { id: members[0]!, text: `[2026-06-02 08:00 UTC] ana: ${marker} garbled`, groupId: window, kind: "chat_message", source: "rocketchat" },
      { id: members[1]!, text: "[2026-06-02 08:05 UTC] rui: the towels arrived", groupId: window, kind: "chat_message", source: "rocketchat" },
      ...others.map((id, index) => ({ id, text: `Replace the kettle in flat ${index}` })),
    ]);
    const { providers } = countingProviders({ poison: marker });
    const outcome = await consume([members[1]!, ...others, members[0]!], providers);
    expect(outcome.retried.map((retry) => retry.body.documentId).sort()).toEqual([...members].sort());
    expect(outcome.acked.map((body) => body.documentId).sort()).toEqual([...others].sort());
    for (const id of others) expect(await isIndexed(id)).toBe(true);
    expect(await chunkTexts(window)).toEqual([]);
  });

  it("a rate limit is nobody's fault: every message waits for Retry-After, nothing is split", async () => {
    quiet();
    const marker = `zzlimit${crypto.randomUUID().slice(0, 8)}`;
    const ids = Array.from({ length: 20 }, (_, index) => `task:limit-${crypto.randomUUID().slice(0, 8)}-${index}`);
    await seed(ids.map((id, index) => ({ id, text: index === 5 ? `Limited ${marker}` : `Water the plants of flat ${index}` })));
    const { providers, calls } = countingProviders({ embed: (texts) => (texts.some((text) => text.includes(marker)) ? new ProviderRateLimited("embeddings API", 42) : null) });
    const outcome = await consume(ids, providers);
    expect(outcome.acked).toEqual([]);
    expect(outcome.retried).toEqual(ids.map((documentId) => ({ body: { documentId }, delaySeconds: 42 })));
    expect(calls.embed).toBe(1);
  });

  it("a rate limit met while isolating still retries everything not indexed after Retry-After", async () => {
    quiet();
    const marker = `zzlater${crypto.randomUUID().slice(0, 8)}`;
    const ids = Array.from({ length: 8 }, (_, index) => `task:later-${crypto.randomUUID().slice(0, 8)}-${index}`);
    await seed(ids.map((id, index) => ({ id, text: `Fix the blinds of flat ${index} ${index === 6 ? marker : ""}` })));
    let call = 0;
    // The whole batch fails (a bad input), then the provider starts rate-limiting after the first half went through.
    const { providers } = countingProviders({
      embed: (texts) => {
        call += 1;
        if (call === 1) return new EmbeddingsApiError(400, "invalid_input");
        return call >= 3 && texts.some((text) => text.includes(marker)) ? new ProviderRateLimited("embeddings API", 7) : null;
      },
    });
    const outcome = await consume(ids, providers);
    expect(outcome.acked.map((body) => body.documentId)).toEqual(ids.slice(0, 4));
    expect(outcome.retried).toEqual(ids.slice(4).map((documentId) => ({ body: { documentId }, delaySeconds: 7 })));
  });

  it("a provider that fails everything costs a few calls, and every message is retried with backoff", async () => {
    quiet();
    const marker = `zzdown${crypto.randomUUID().slice(0, 8)}`;
    const ids = Array.from({ length: 100 }, (_, index) => `task:${marker}-${index}`);
    await seed(ids.map((id, index) => ({ id, text: `Renew the insurance of flat ${index}` })));
    const { providers, calls } = countingProviders({ store: () => new Error("store unavailable") });
    const outcome = await consume(ids, providers, 3);
    expect(outcome.acked).toEqual([]);
    expect(outcome.retried).toEqual(ids.map((documentId) => ({ body: { documentId }, delaySeconds: 40 })));
    // The batch, its halves and its quarters: then it is the provider's failure.
    expect(calls.store).toBe(7);
    for (const id of ids.slice(0, 3)) expect(await isIndexed(id)).toBe(false);
  });
});

describe("summaries when Groq fails", () => {
  const groqEnv = { ...env, GROQ_API_KEY: env.FAKE_GROQ_API_KEY, GROQ_BASE_URL: env.FAKE_GROQ_URL, SUMMARY_MIN_CHARS: "2000" } as Env;
  const transcript = (topic: string) =>
    Array.from({ length: 40 }, (_, index) => `Line ${index}: the guest and the agent talk about ${topic}, the keys, the parking and the wifi.`).join("\n");
  const seedCall = (id: string, topic: string) =>
    env.DB.prepare(
      `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header)
       VALUES (?, 'call', ?, ?, ?, 1, ?, 'aircall', ?, ?)`,
    )
      .bind(id, id, transcript(topic), `hash:${id}`, Date.now(), `Call ${id}`, `Aircall inbound call ${id}`)
      .run();
  const fault = (body: Record<string, unknown>) => fetch(`${env.FAKE_GROQ_URL}/__fake/faults`, { method: "POST", body: JSON.stringify(body) });
  const backlogOf = (id: string) => row("SELECT unit_id, model FROM summary_backlog WHERE unit_id = ?", id);

  it("a Groq 500 leaves the batch indexed, that summary missing and in the backlog; the catch-up asks again and it is summarized", async () => {
    quiet();
    const marker = `zzgq500${crypto.randomUUID().slice(0, 8)}`;
    const ids = ["a", "b", "c"].map((suffix) => `call:${marker}-${suffix}`);
    for (const [index, id] of ids.entries()) await seedCall(id, `${marker} topic ${index} a leaking tap`);
    await fault({ status: 500, count: 1, match: `${marker} topic 1` });

    const outcome = await runBatch("edge-ops-vectorize-dev", ids.map((documentId) => ({ documentId })), (batch) => consumeVectorizeBatch(batch, groqEnv));
    expect(outcome).toEqual({ acked: ids.map((documentId) => ({ documentId })), retried: [] });
    for (const id of ids) expect(await isIndexed(id)).toBe(true);
    expect((await chunkTexts(ids[0]!))[0]).toContain("Summary:");
    expect((await chunkTexts(ids[2]!))[0]).toContain("Summary:");
    expect((await chunkTexts(ids[1]!)).join("\n")).not.toContain("Summary:");
    expect(await backlogOf(ids[1]!)).toEqual({ unit_id: ids[1], model: `groq:${DEFAULT_GROQ_MODEL}` });
    expect(await backlogOf(ids[0]!)).toBeNull();
    // A 500 is not a model Groq stopped serving: no outage, no alert.
    expect(await row("SELECT code FROM groq_model_outages WHERE variable = 'GROQ_MODEL' AND model = ?", DEFAULT_GROQ_MODEL)).toBeNull();

    const resend = recordingQueue();
    expect((await catchUpStaleDocuments({ ...groqEnv, VECTORIZE_QUEUE: resend.queue }, Date.now())).summaryBacklog).toBeGreaterThanOrEqual(1);
    expect(resend.sent).toContainEqual({ documentId: ids[1], force: true });
    const again = await runBatch("edge-ops-vectorize-dev", [{ documentId: ids[1]!, force: true }], (batch) => consumeVectorizeBatch(batch, groqEnv));
    expect(again.retried).toEqual([]);
    expect((await chunkTexts(ids[1]!))[0]).toMatch(new RegExp(`^Aircall inbound call ${ids[1]}\\nSummary: .*leaking tap`));
    expect(await backlogOf(ids[1]!)).toBeNull();
  });

  it("a Groq 429 retries the batch after Groq's Retry-After, keeping the summaries already made", async () => {
    quiet();
    const marker = `zzgq429${crypto.randomUUID().slice(0, 8)}`;
    const ids = ["a", "b"].map((suffix) => `call:${marker}-${suffix}`);
    for (const [index, id] of ids.entries()) await seedCall(id, `${marker} topic ${index} a jammed door`);
    await fault({ status: 429, retryAfter: 30, count: 1, match: `${marker} topic 1` });
    const outcome = await runBatch("edge-ops-vectorize-dev", ids.map((documentId) => ({ documentId })), (batch) => consumeVectorizeBatch(batch, groqEnv));
    expect(outcome).toEqual({ acked: [], retried: ids.map((documentId) => ({ body: { documentId }, delaySeconds: 30 })) });
    for (const id of ids) expect(await isIndexed(id)).toBe(false);
    expect(await row("SELECT count(*) AS n FROM document_summaries WHERE summary LIKE ?", `%${marker} topic 0%`)).toEqual({ n: 1 });
  });
});

describe("dead letters", () => {
  const deadLetter = (documentId: string) =>
    runBatch("edge-ops-vectorize-dlq-dev", [{ documentId }], (batch, ctx) => worker.queue(batch, env, ctx), 6);
  const letterOf = (documentId: string) =>
    row("SELECT id, content_hash, replayed_at, superseded_at FROM dead_letters WHERE document_id = ? ORDER BY dead_at DESC, id DESC LIMIT 1", documentId);
  const listed = async () => ((await (await adminFetch("/api/dlq?limit=500")).json()) as { items: { id: string; documentId: string }[] }).items;

  it("a dead-lettered document is left alone while unchanged, sent again once it changes, and its dead letter is then superseded", async () => {
    quiet();
    const id = `task:dl-change-${crypto.randomUUID().slice(0, 8)}`;
    const old = Date.now() - 3_600_000;
    await seed([{ id, text: "Repaint the Cascais balcony railings", updatedAt: old }]);
    await deadLetter(id);
    const letter = await letterOf(id);
    expect(letter).toMatchObject({ content_hash: "hash:Repaint the Cascais balcony railings", replayed_at: null, superseded_at: null });

    await tickWith({}, tickTimeFor(CATCH_UP_SCHEDULE));
    expect(await row("SELECT enqueued_at FROM documents WHERE id = ?", id)).toEqual({ enqueued_at: null });

    await seed([{ id, text: "Repaint the Cascais balcony railings in green", updatedAt: old }]);
    await tickWith({}, tickTimeFor(CATCH_UP_SCHEDULE));
    await waitIndexed([id]);
    expect((await chunkTexts(id))[0]).toContain("in green");
    expect(await letterOf(id)).toMatchObject({ id: letter!.id, replayed_at: null, superseded_at: expect.any(Number) });
    expect((await listed()).map((item) => item.id)).not.toContain(letter!.id);
  });

  it("a replayed document is indexed again, its dead letter marked replayed", async () => {
    quiet();
    const id = `task:dl-replay-${crypto.randomUUID().slice(0, 8)}`;
    await seed([{ id, text: "Service the Sintra pool pump", updatedAt: Date.now() - 3_600_000 }]);
    await deadLetter(id);
    const letter = await letterOf(id);
    expect((await listed()).map((item) => item.id)).toContain(letter!.id);
    const replay = await adminFetch("/api/dlq/replay", { json: { ids: [letter!.id] } });
    expect(await replay.json()).toEqual({ replayed: 1, ids: [letter!.id] });
    await waitIndexed([id]);
    expect(await letterOf(id)).toMatchObject({ replayed_at: expect.any(Number), superseded_at: null });
    expect((await listed()).map((item) => item.id)).not.toContain(letter!.id);
  });

  it("a newer dead letter of the same document supersedes the older one: one open letter per document", async () => {
    quiet();
    const id = `task:dl-twice-${crypto.randomUUID().slice(0, 8)}`;
    await seed([{ id, text: "Fix the Lagos gate", updatedAt: Date.now() - 3_600_000 }]);
    await deadLetter(id);
    const first = await letterOf(id);
    await deadLetter(id);
    const second = await letterOf(id);
    expect(second!.id).not.toBe(first!.id);
    expect(await row("SELECT superseded_at IS NOT NULL AS superseded FROM dead_letters WHERE id = ?", first!.id)).toEqual({ superseded: 1 });
    expect((await listed()).filter((item) => item.documentId === id).map((item) => item.id)).toEqual([second!.id]);
  });
});
