// Knowing when nothing fits (workers/vectorize/relevance-floor.ts): POST /api/search under the
// offline embedder's calibrated floor, in the D1 store and in the fake Qdrant (with server-side
// BM25, and an old server without it), over records shaped like the pipeline's chunks (header
// line, then text) taken from the labelled corpus; a rare exact term passing the floor; the
// floor per model and SEARCH_MIN_SCORE; and the bot saying it found nothing without a model call.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NOTHING_FOUND } from "../workers/bot/answer";
import { openDatabase } from "../workers/db/client";
import { chunkId } from "../workers/vectorize/chunk-id";
import { D1VectorStore } from "../workers/vectorize/d1-vector-store";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import { OpenAiCompatibleEmbedder } from "../workers/vectorize/openai-embedder";
import { QdrantVectorStore } from "../workers/vectorize/qdrant-vector-store";
import { CALIBRATED_FLOORS, exactTermCandidates, hitFloor, minScoreFor } from "../workers/vectorize/relevance-floor";
import type { VectorStore } from "../workers/vectorize/vector-store";
import { ask as askBot, groqOn } from "./support/bot";
import { row } from "./support/d1";
import { fetchWith } from "./support/faults";
import { fakeRoom, rocketChatId } from "./support/rocketchat";

const embedder = new OfflineEmbedder();
const OFFLINE_FLOOR = CALIBRATED_FLOORS[embedder.model]!;

type Hit = { documentId: string; relevance: number | null; score: number };
type SearchResult = { hits: Hit[]; floor: { minScore: number; source: string } | null };

/** Records as the pipeline indexes them (header line, then text), from scripts/bench/search-questions.ts. */
const records = [
  {
    id: "conversation:alfama-wifi",
    source: "guesty",
    entityType: "guest_conversation",
    title: "Conversation with Chloe Martin",
    text: "Guesty conversation with Chloe Martin · reservation 5f2a9c1e7b3d4a6f8e0c2b19\n[2026-06-14 18:20 UTC] Chloe Martin: Thanks, Bruno brought the spare key and we're in! One more thing: the wifi password in the welcome guide for the Alfama Loft doesn't work.",
  },
  {
    id: "conversation:baixa-wifi",
    source: "guesty",
    entityType: "guest_conversation",
    title: "Conversation with Ahmed Khan",
    text: "Guesty conversation with Ahmed Khan · reservation 8c1d2e3f4a5b6c7d8e9f0a1b\n[2026-06-20 15:02 UTC] Host: Welcome to Lisbon, Ahmed! The wifi network at the Baixa studio is called BaixaStudio_5G and the password is on the sticker under the router. Check-out is at 11am on the 23rd.",
  },
  {
    id: "reservation:cascais-thompson",
    source: "guesty",
    entityType: "reservation",
    title: "Reservation HMB7KQ2X9T Emma Thompson at Cascais Beach Apartment",
    text: "Guesty reservation HMB7KQ2X9T · guest Emma Thompson · Cascais Beach Apartment · 2026-07-11 to 2026-07-18\nStatus: confirmed\nGuest: Emma Thompson\nListing: Cascais Beach Apartment\nStay: 2026-07-11 to 2026-07-18 (7 nights)\nGuests: 4\nChannel: airbnb2",
  },
  {
    id: "reservation:cascais-okafor",
    source: "guesty",
    entityType: "reservation",
    title: "Reservation HA-K7Q2P9 Daniel Okafor at Cascais Beach Apartment",
    text: "Guesty reservation HA-K7Q2P9 · guest Daniel Okafor · Cascais Beach Apartment · 2026-07-04 to 2026-07-09\nStatus: canceled\nGuest: Daniel Okafor\nListing: Cascais Beach Apartment\nStay: 2026-07-04 to 2026-07-09 (5 nights)\nGuests: 2\nChannel: bookingCom",
  },
  {
    id: "chat:cascais-cleaning",
    source: "rocketchat",
    entityType: "chat_window",
    title: "Rocket.Chat #cleaning",
    text: "Rocket.Chat #cleaning\n[2026-07-18 13:10 UTC] carla: Cascais Beach Apartment: sand everywhere in the living room and a coffee stain on a sofa cushion. I need one extra hour, will finish at 4pm.",
  },
  {
    id: "call:cascais-deposit",
    source: "aircall",
    entityType: "call",
    title: "Call from Emma Thompson on 2026-07-20",
    text: "Aircall inbound call · with Emma Thompson · 2026-07-20 09:12 UTC\nEmma Thompson: Hi, it's Emma Thompson. We stayed at the Cascais Beach Apartment until Saturday. There's still a 300 euro security deposit hold on my credit card. When do I get the deposit back?\nRui Almeida: The deposit hold is released automatically seven days after check-out, so by the 25th of July.",
  },
] as const;

async function index(store: VectorStore, model: string, prefix: string) {
  const vectors = await embedder.embed(records.map((record) => record.text));
  await store.replaceDocuments(
    model,
    await Promise.all(
      records.map(async (record, i) => {
        const documentId = `${prefix}${record.id}`;
        const { id: _, ...payload } = record;
        return {
          documentId,
          chunks: [{ ...payload, id: await chunkId(documentId, 0), documentId, chunkIndex: 0, room: null, url: null, occurredAt: Date.parse("2026-07-01T00:00:00Z"), vector: vectors[i]! }],
        };
      }),
    ),
  );
}

async function searchWith(overrides: Partial<Env>, body: Record<string, unknown>): Promise<Response> {
  return fetchWith(overrides, "http://admin/api/search", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env.ADMIN_TOKEN}` },
    body: JSON.stringify({ k: 10, ...body }),
  });
}

async function search(overrides: Partial<Env>, query: string, extra: Record<string, unknown> = {}): Promise<SearchResult> {
  const response = await searchWith(overrides, { query, ...extra });
  if (response.status !== 200) throw new Error(`search answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** D1 holds only this file's chunks: the records once, for the D1 store's case and the bot. */
const D1_PREFIX = "d1:";
beforeAll(() => index(new D1VectorStore(openDatabase(env.DB)), embedder.model, D1_PREFIX));

const stores = {
  D1: { prefix: D1_PREFIX },
  Qdrant: { url: () => env.FAKE_QDRANT_URL },
  "Qdrant without server-side BM25": { url: () => env.FAKE_QDRANT_OLD_URL },
} as const;

describe.each(Object.keys(stores) as (keyof typeof stores)[])("the offline embedder's floor, %s store", (kind) => {
  let overrides: Partial<Env> = {};
  const spec = stores[kind];
  const prefix = "prefix" in spec ? spec.prefix : "qdrant:";
  const ids = (result: SearchResult) => result.hits.map((hit) => hit.documentId.slice(prefix.length));

  // Each Qdrant case gets its own collection.
  beforeAll(async () => {
    if ("prefix" in spec) return;
    const collection = `floor-${crypto.randomUUID().slice(0, 8)}`;
    overrides = { QDRANT_URL: spec.url(), QDRANT_API_KEY: env.FAKE_QDRANT_API_KEY, QDRANT_COLLECTION: collection } as Partial<Env>;
    await index(new QdrantVectorStore({ url: spec.url(), apiKey: env.FAKE_QDRANT_API_KEY, collection }), embedder.model, prefix);
  });

  it("finds nothing for nonsense, and still finds the record that answers a question", async () => {
    for (const nonsense of ["purple giraffes juggling quantum marmalade", "qwxz blorft znarg vleep"]) {
      expect(await search(overrides, nonsense)).toEqual({ hits: [], floor: { minScore: OFFLINE_FLOOR, source: "calibrated" } });
    }
    const answered = await search(overrides, "what is the wifi network called at the Baixa studio?");
    expect(ids(answered)[0]).toBe("conversation:baixa-wifi");
    expect(answered.hits[0]!.relevance).toBeGreaterThanOrEqual(OFFLINE_FLOOR);
    // Fewer than k: every hit clears the hit floor, the unrelated rest is gone.
    expect(answered.hits.length).toBeLessThan(records.length);
    for (const hit of answered.hits) expect(hit.relevance).toBeGreaterThanOrEqual(hitFloor({ minScore: OFFLINE_FLOOR }));
  });

  it("gives the wifi question about a villa we do not have no records, though two records share its words", async () => {
    const question = "what is the wifi password at the Cascais villa?";
    expect((await search(overrides, question)).hits).toEqual([]);
    // Without the floor the same search returns the look-alikes: what the floor keeps out.
    expect(ids(await search(overrides, question, { minScore: "off" }))).toEqual(expect.arrayContaining(["conversation:alfama-wifi", "conversation:baixa-wifi"]));
  });

  it("lets a rare exact term through whatever the cosine: a reservation code, a name", async () => {
    for (const [query, expected] of [
      ["HMB7KQ2X9T", "reservation:cascais-thompson"],
      ["which booking was HA-K7Q2P9?", "reservation:cascais-okafor"],
    ] as const) {
      const { hits } = await search(overrides, query);
      expect(hits.map((hit) => hit.documentId.slice(prefix.length))).toEqual([expected]);
      // Below the floor: it passed through the exact term, not through the cosine.
      expect(hits[0]!.relevance).toBeLessThan(OFFLINE_FLOOR);
    }
    expect(ids(await search(overrides, "anything about Okafor?"))).toEqual(["reservation:cascais-okafor"]);
    // A code nobody has passes nothing.
    expect((await search(overrides, "which booking was ZZ-9Q9Q9Q?")).hits).toEqual([]);
  });
});

describe("the floor belongs to a model", () => {
  it("gives a model nobody calibrated no floor unless SEARCH_MIN_SCORE sets one, and validates SEARCH_MIN_SCORE", async () => {
    // The embeddings fake embeds with the offline embedder, under a model id nobody calibrated.
    const model = `uncalibrated-${crypto.randomUUID().slice(0, 8)}`;
    const embeddings = { EMBEDDINGS_URL: env.FAKE_EMBEDDINGS_URL, EMBEDDINGS_API_KEY: env.FAKE_EMBEDDINGS_API_KEY, EMBEDDINGS_MODEL: model } as Partial<Env>;
    const modelId = new OpenAiCompatibleEmbedder({ baseUrl: env.FAKE_EMBEDDINGS_URL, apiKey: null, model, dimensions: null, maxBatch: 256 }).model;
    expect(minScoreFor(modelId, null)).toBeNull();
    await index(new D1VectorStore(openDatabase(env.DB)), modelId, "uncalibrated:");

    const nonsense = "purple giraffes juggling quantum marmalade";
    const unfloored = await search(embeddings, nonsense, { k: 3 });
    expect(unfloored.floor).toBeNull();
    expect(unfloored.hits).toHaveLength(3);

    const floored = await search({ ...embeddings, SEARCH_MIN_SCORE: String(OFFLINE_FLOOR) } as Partial<Env>, nonsense, { k: 3 });
    expect(floored).toEqual({ hits: [], floor: { minScore: OFFLINE_FLOOR, source: "SEARCH_MIN_SCORE" } });

    // "off" takes the calibrated floor away from a calibrated model.
    const off = await search({ SEARCH_MIN_SCORE: "off" } as Partial<Env>, nonsense, { k: 3 });
    expect(off.floor).toBeNull();
    expect(off.hits.length).toBeGreaterThan(0);

    for (const wrong of ["high", "1.5", "-2", "0.3x"]) {
      const response = await searchWith({ SEARCH_MIN_SCORE: wrong } as Partial<Env>, { query: nonsense });
      expect(response.status).toBe(503);
      // The message, not the whole body: the body's random requestId may hold "-2".
      const { error } = (await response.json()) as { error: string };
      expect(error).toContain("SEARCH_MIN_SCORE");
      expect(error).not.toContain(wrong);
    }
  });

  it("picks code-, number- and name-shaped query words as exact terms, never words of the trade", () => {
    const terms = (text: string) => exactTermCandidates(text).map((candidate) => candidate.term);
    expect(terms("what's the confirmation code HMB7KQ2X9T of Daniel Okafor's booking?")).toEqual(["hmb7kq2x9t", "daniel", "okafor"]);
    expect(terms("who called from +351 913482907 about reservation GY-20417 and error E119?")).toEqual(["913482907", "20417", "e119"]);
    expect(terms("what is the wifi password at the villa on the 4th at 11am?")).toEqual([]);
    // The first word of a sentence is capitalized for grammar, not as a name.
    expect(terms("Wifi password? Cascais villa")).toEqual([]);
    expect(terms("is Tomás arriving by train?")).toEqual(["tomas"]);
  });
});

describe("the bot when nothing fits", () => {
  it("says it found nothing, with no sources and no model call; a question with an answer still gets one", async () => {
    const room = rocketChatId("flr");
    await fakeRoom({ id: room, name: "floor-room", t: "p" });
    const groqCalls = async (match: string) => ((await (await fetch(`${env.FAKE_GROQ_URL}/__fake/requests?match=${encodeURIComponent(match)}`)).json()) as unknown[]).length;
    const ask = async (question: string) => {
      const reply = await askBot(`!ask ${question}`, { roomId: room, overrides: groqOn });
      expect(reply.status).toBe(200);
      return { messageId: reply.messageId, body: reply.body };
    };

    const nothing = await ask("what is the wifi password at the Cascais villa?");
    expect(nothing.body).toEqual({ text: NOTHING_FOUND, tmid: nothing.messageId });
    expect(await groqCalls("wifi password at the Cascais villa")).toBe(0);
    expect(await row("SELECT mode, sources, model FROM bot_queries WHERE message_id = ?", nothing.messageId)).toEqual({ mode: "refusal", sources: "[]", model: null });

    const answered = await ask("what is the wifi network zzfloorcontrol called at the Baixa studio?");
    expect(await groqCalls("zzfloorcontrol")).toBe(1);
    expect(answered.body.text).not.toBe(NOTHING_FOUND);
  });
});
