import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../workers/db/client";
import { chunkId, uuidV5 } from "../workers/vectorize/chunk-id";
import { D1VectorStore, keywordQuery } from "../workers/vectorize/d1-vector-store";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import { QdrantVectorStore } from "../workers/vectorize/qdrant-vector-store";
import type { ChunkPayload, IndexedChunk, VectorStore } from "../workers/vectorize/vector-store";
import { row } from "./support/d1";
import { countingD1 } from "./support/faults";

const embedder = new OfflineEmbedder();

type Draft = Partial<ChunkPayload> & { documentId: string; text: string };

async function chunks(drafts: Draft[]): Promise<IndexedChunk[]> {
  const vectors = await embedder.embed(drafts.map((draft) => draft.text));
  return Promise.all(
    drafts.map(async (draft, index) => ({
      source: "aircall",
      entityType: "call",
      room: null,
      title: draft.documentId,
      url: null,
      occurredAt: 1_763_000_000_000,
      chunkIndex: 0,
      ...draft,
      id: await chunkId(draft.documentId, draft.chunkIndex ?? 0),
      vector: vectors[index]!,
    })),
  );
}

type StoreKind = "D1" | "Qdrant";

/** A store of `kind`: D1 shares the file's database, Qdrant gets a collection per test. */
function storeOf(kind: StoreKind, prefix: string, url = env.FAKE_QDRANT_URL): VectorStore {
  return kind === "D1"
    ? new D1VectorStore(openDatabase(env.DB))
    : new QdrantVectorStore({ url, apiKey: env.FAKE_QDRANT_API_KEY, collection: `vs-${prefix}-${crypto.randomUUID().slice(0, 8)}` });
}

/** A store whose documents all carry `prefix`, so tests do not see each other's. */
async function seeded(kind: StoreKind, prefix: string, drafts: Draft[], url?: string) {
  const store = storeOf(kind, prefix, url);
  const all = await chunks(drafts.map((draft) => ({ ...draft, documentId: `${prefix}:${draft.documentId}` })));
  const byDocument = new Map<string, IndexedChunk[]>();
  for (const chunk of all) byDocument.set(chunk.documentId, [...(byDocument.get(chunk.documentId) ?? []), chunk]);
  await store.replaceDocuments(embedder.model, [...byDocument].map(([documentId, list]) => ({ documentId, chunks: list })));
  // k well above this file's corpus: other tests' documents share the index and must not crowd ours out.
  const hits = async (text: string, filter = {}, k = 100) => {
    const [vector] = await embedder.embed([text]);
    const found = await store.query({ model: embedder.model, vector: vector!, text, k, filter });
    return found.filter((hit) => hit.documentId.startsWith(`${prefix}:`));
  };
  const search = async (text: string, filter = {}, k = 100) => (await hits(text, filter, k)).map((hit) => hit.documentId.slice(prefix.length + 1));
  return { store, search, hits };
}

describe("chunk ids", () => {
  it("are UUIDv5: the RFC 9562 example, and stable per document and index", async () => {
    expect(await uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")).toBe("2ed6657d-e927-568b-95e1-2665a8aea6a2");
    expect(await chunkId("call:1", 0)).toBe(await chunkId("call:1", 0));
    expect(await chunkId("call:1", 0)).not.toBe(await chunkId("call:1", 1));
    expect(await chunkId("call:1", 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe.each(["D1", "Qdrant"] as const)("the %s vector store", (kind) => {
  const corpus: Draft[] = [
    { documentId: "boiler", text: "Caller: the boiler in flat 2 is broken, there is no hot water since this morning" },
    { documentId: "checkin", text: "Guest asks whether an early check-in at the Lisbon flat is possible on Saturday", source: "guesty", entityType: "message" },
    { documentId: "invoice", text: "Invoice HM4XZ2 for the November stay was paid by card", source: "guesty", entityType: "reservation" },
    { documentId: "chat", text: "Maria: the plumber comes tomorrow for the boiler", source: "rocketchat", entityType: "thread", room: "room-private" },
  ];

  it("finds the document that answers the question first", async () => {
    const { search } = await seeded(kind, "t1", corpus);
    expect((await search("who called about the broken boiler?"))[0]).toBe("boiler");
    expect((await search("early check-in in Lisbon"))[0]).toBe("checkin");
  });

  it("finds a rare exact term through the keyword half", async () => {
    const { search } = await seeded(kind, "t2", corpus);
    expect((await search("HM4XZ2"))[0]).toBe("invoice");
  });

  it("filters by source, entity type, time and rooms", async () => {
    const { search } = await seeded(kind, "t3", corpus);
    expect(await search("boiler", { source: "rocketchat" })).toEqual(["chat"]);
    expect(await search("boiler", { entityType: "call" })).toEqual(["boiler"]);
    expect(await search("boiler", { since: 1_763_000_000_001 })).toEqual([]);
    expect(await search("boiler", { until: 1_763_000_000_001 })).toEqual(expect.arrayContaining(["boiler", "chat"]));
    // With rooms: business records and those rooms only, never another room's chat.
    expect(await search("boiler", { rooms: ["room-general"] })).not.toContain("chat");
    expect(await search("boiler", { rooms: ["room-general"] })).toContain("boiler");
    expect(await search("boiler", { rooms: ["room-private"] })).toContain("chat");
  });

  it("never compares vectors of another model", async () => {
    const { store } = await seeded(kind, "t4", corpus);
    const [vector] = await embedder.embed(["boiler"]);
    expect(await store.query({ model: "some-other-model", vector: vector!, text: "boiler", k: 5 })).toEqual([]);
  });

  it("replaces a document's chunks: fewer chunks remove the rest, none removes the document", async () => {
    const { store, search, hits } = await seeded(kind, "t5", [
      { documentId: "long", chunkIndex: 0, text: "Part one about the boiler" },
      { documentId: "long", chunkIndex: 1, text: "Part two about the roof terrace" },
    ]);
    expect((await hits("roof terrace boiler")).map((hit) => hit.chunkIndex).sort()).toEqual([0, 1]);
    await store.replaceDocuments(embedder.model, [{ documentId: "t5:long", chunks: await chunks([{ documentId: "t5:long", text: "Only the boiler now" }]) }]);
    expect((await hits("roof terrace boiler")).map((hit) => hit.text)).toEqual(["Only the boiler now"]);
    await store.replaceDocuments(embedder.model, [{ documentId: "t5:long", chunks: [] }]);
    expect(await search("boiler")).toEqual([]);
  });
});

describe("the D1 vector store", () => {
  it("quotes every word of the keyword query, so none is an FTS5 operator", () => {
    expect(keywordQuery('say "hi" OR NOT')).toBe('"say" OR "hi" OR "or" OR "not"');
  });

  it("writes a whole batch of documents in one D1 batch", async () => {
    const { db: counting, counts } = countingD1();
    const store = new D1VectorStore(openDatabase(counting));
    const drafts = Array.from({ length: 100 }, (_, index) => ({ documentId: `t6:doc-${index}`, text: `Document number ${index} about stays` }));
    const all = await chunks(drafts);
    await store.replaceDocuments(embedder.model, all.map((chunk) => ({ documentId: chunk.documentId, chunks: [chunk] })));
    expect(counts.batches).toBe(1);
    expect(await row("SELECT count(*) AS n FROM search_chunks WHERE document_id LIKE 't6:%'")).toEqual({ n: 100 });
  });
});
