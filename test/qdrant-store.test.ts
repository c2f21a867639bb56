// The Qdrant store against the fake Qdrant (test/node/fakes/qdrant.ts): how it creates its
// collection, that every write waits, hybrid queries where the server has BM25 and dense-only
// where it has not, faults, and the outbound calls per queue batch with the production
// providers in place of the embedded defaults.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeVectorizeBatch } from "../queues/vectorize-consumer";
import { ProviderRateLimited } from "../workers/http/provider-errors";
import { QdrantApiError } from "../workers/vectorize/qdrant-api";
import { collectionName, QdrantVectorStore, supportsServerBm25 } from "../workers/vectorize/qdrant-vector-store";
import { fetchWith } from "./support/faults";
import { embeddedChunk as chunk, embedder, fakeQdrantRequests as requestsOf, queryStore, uniquePrefix as unique } from "./support/qdrant";
import { runBatch } from "./support/queue";

afterEach(() => vi.restoreAllMocks());

const forget = (url: string, collection: string) => fetch(`${url}/__fake/requests?collection=${encodeURIComponent(collection)}`, { method: "DELETE" });

function store(prefix: string, url = env.FAKE_QDRANT_URL, apiKey: string = env.FAKE_QDRANT_API_KEY) {
  return new QdrantVectorStore({ url, apiKey, collection: prefix });
}

describe("the Qdrant store", () => {
  it("names one collection per model, in the characters Qdrant allows", () => {
    expect(collectionName("edge-ops", "openai-compatible:api.openai.com/text-embedding-3-small@512")).toBe(
      "edge-ops__openai-compatible-api-openai-com-text-embedding-3-small-512",
    );
    expect(collectionName("edge-ops", "x".repeat(300))).toHaveLength(110 + 1 + 8);
    // 1.15.2 has the BM25 model but starts its inference service only with inference.address set.
    expect(["1.15.3", "1.16.0", "2.0.0", "1.15.2", "1.15.1", "1.9.9", "", null].map(supportsServerBm25)).toEqual([true, true, true, false, false, false, false, false]);
  });

  it("creates its collection once (cosine dense vector, BM25 sparse vector, payload indexes), then costs two waiting calls per batch", async () => {
    const prefix = unique("create");
    const target = store(prefix);
    const name = collectionName(prefix, embedder.model);
    await target.replaceDocuments(embedder.model, [{ documentId: "reservation:a", chunks: [await chunk("reservation:a", "Maria Santos at Sintra Garden House")] }]);
    const first = await requestsOf(env.FAKE_QDRANT_URL, name);
    expect(first.map((request) => `${request.method} ${request.path}`)).toEqual([
      `GET /collections/${name}`,
      `PUT /collections/${name}`,
      ...["document_id", "source", "entity_type", "room", "occurred_at"].map(() => `PUT /collections/${name}/index`),
      `GET /collections/${name}`,
      `PUT /collections/${name}/points`,
      `POST /collections/${name}/points/delete`,
    ]);
    expect(first[1]?.body).toEqual({ vectors: { dense: { size: 512, distance: "Cosine" } }, sparse_vectors: { bm25: { modifier: "idf" } } });
    expect(first.slice(2, 7).map((request) => request.body)).toEqual([
      { field_name: "document_id", field_schema: "keyword" },
      { field_name: "source", field_schema: "keyword" },
      { field_name: "entity_type", field_schema: "keyword" },
      { field_name: "room", field_schema: "keyword" },
      { field_name: "occurred_at", field_schema: "integer" },
    ]);
    // Writes wait, so an acknowledged queue batch is searchable.
    for (const request of first.slice(-2)) expect(request.query.wait).toBe("true");
    const upsert = first.at(-2)?.body as { points: { vector: Record<string, unknown> }[] };
    expect(upsert.points[0]?.vector.bm25).toEqual({ text: "Maria Santos at Sintra Garden House", model: "qdrant/bm25" });

    await forget(env.FAKE_QDRANT_URL, name);
    await target.replaceDocuments(embedder.model, [{ documentId: "reservation:b", chunks: [await chunk("reservation:b", "Ahmed Khan at the Baixa studio")] }]);
    expect((await requestsOf(env.FAKE_QDRANT_URL, name)).map((request) => `${request.method} ${request.path}`)).toEqual([
      `PUT /collections/${name}/points`,
      `POST /collections/${name}/points/delete`,
    ]);
    expect((await queryStore(target, "Baixa studio Ahmed"))[0]?.documentId).toBe("reservation:b");
  });

  it("searches hybrid: dense and server-side BM25 prefetches fused by RRF, with the filter in both", async () => {
    const prefix = unique("hybrid");
    const target = store(prefix);
    const name = collectionName(prefix, embedder.model);
    await target.replaceDocuments(embedder.model, [
      { documentId: "call:1", chunks: [await chunk("call:1", "Boiler error code E119 at Porto Riverside", { source: "aircall", entityType: "call" })] },
      { documentId: "chat:1", chunks: [await chunk("chat:1", "Boiler error code E119 in the owners group", { source: "rocketchat", entityType: "chat_thread", room: "private-room" })] },
    ]);
    await forget(env.FAKE_QDRANT_URL, name);
    const [vector] = await embedder.embed(["E119"]);
    const hits = await target.query({ model: embedder.model, vector: vector!, text: "E119", k: 5, filter: { rooms: ["other-room"] } });
    expect(hits.map((hit) => hit.documentId)).toEqual(["call:1"]);
    expect(hits[0]).toMatchObject({ source: "aircall", entityType: "call", room: null, text: "Boiler error code E119 at Porto Riverside" });
    const [request] = (await requestsOf(env.FAKE_QDRANT_URL, name)).filter((entry) => entry.path.endsWith("/points/query"));
    const body = request?.body as { prefetch: { using: string; filter: unknown }[]; query: unknown };
    expect(body.query).toEqual({ fusion: "rrf" });
    expect(body.prefetch.map((prefetch) => prefetch.using)).toEqual(["dense", "bm25"]);
    for (const prefetch of body.prefetch) {
      expect(prefetch.filter).toEqual({ must: [{ should: [{ is_null: { key: "room" } }, { key: "room", match: { any: ["other-room"] } }] }] });
    }
  });

  it("falls back to dense-only on a server without server-side BM25", async () => {
    const prefix = unique("old");
    const target = store(prefix, env.FAKE_QDRANT_OLD_URL);
    const name = collectionName(prefix, embedder.model);
    await target.replaceDocuments(embedder.model, [{ documentId: "reservation:old", chunks: [await chunk("reservation:old", "Priya Nair inquiry for Sintra Garden House")] }]);
    expect((await queryStore(target, "Priya Nair Sintra"))[0]?.documentId).toBe("reservation:old");
    const requests = await requestsOf(env.FAKE_QDRANT_OLD_URL, name);
    expect(requests.find((request) => request.method === "PUT" && request.path === `/collections/${name}`)?.body).toEqual({ vectors: { dense: { size: 512, distance: "Cosine" } } });
    const search = requests.find((request) => request.path.endsWith("/points/query"))?.body as Record<string, unknown>;
    expect(search).toMatchObject({ using: "dense", with_payload: true });
    expect(search).not.toHaveProperty("prefetch");
  });

  it("answers no hits before anything is indexed, and turns 429 and 5xx into a retry delay and an error", async () => {
    const prefix = unique("faults");
    const target = store(prefix);
    const name = collectionName(prefix, embedder.model);
    expect(await queryStore(target, "anything")).toEqual([]);
    await fetch(`${env.FAKE_QDRANT_URL}/__fake/faults`, { method: "POST", body: JSON.stringify({ collection: name, status: 429, retryAfter: 42, count: 1 }) });
    const docs = [{ documentId: "reservation:f", chunks: [await chunk("reservation:f", "x")] }];
    await expect(target.replaceDocuments(embedder.model, docs)).rejects.toEqual(new ProviderRateLimited("qdrant", 42));
    await fetch(`${env.FAKE_QDRANT_URL}/__fake/faults`, { method: "POST", body: JSON.stringify({ collection: name, status: 503, count: 1 }) });
    await expect(target.replaceDocuments(embedder.model, docs)).rejects.toMatchObject({ name: "QdrantApiError", status: 503 });
    const wrongKey = store(unique("key"), env.FAKE_QDRANT_URL, "wrong-qdrant-key");
    await expect(wrongKey.replaceDocuments(embedder.model, docs)).rejects.toBeInstanceOf(QdrantApiError);
  });
});

describe("a queue batch with the production providers (fakes of an embeddings API and Qdrant)", () => {
  it("costs at most two embedding and two store calls per 100 documents, and is searchable once acknowledged", async () => {
    const prefix = unique("batch");
    const model = unique("emb-model");
    const providerEnv = {
      ...env,
      EMBEDDINGS_URL: env.FAKE_EMBEDDINGS_URL,
      EMBEDDINGS_API_KEY: env.FAKE_EMBEDDINGS_API_KEY,
      EMBEDDINGS_MODEL: model,
      QDRANT_URL: env.FAKE_QDRANT_URL,
      QDRANT_API_KEY: env.FAKE_QDRANT_API_KEY,
      QDRANT_COLLECTION: prefix,
    } as Env;
    const ids = Array.from({ length: 100 }, (_, index) => `task:${prefix}-${index}`);
    await env.DB.batch(
      ids.map((id, index) =>
        env.DB.prepare(
          `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header)
           VALUES (?, 'task', ?, ?, ?, 1, ?, 'guesty', ?, ?)`,
        ).bind(id, id, `Inspect the smoke alarm in flat ${index} (${index % 2 ? "Porto" : "Lisbon"})`, `h-${id}`, Date.now(), `Task ${index}`, `Guesty task ${index}`),
      ),
    );
    const embeddingCalls = async () => (await (await fetch(`${env.FAKE_EMBEDDINGS_URL.replace(/\/v1$/, "")}/__fake/requests?model=${model}`)).json()) as unknown[];
    const storeWrites = async (name: string) => (await requestsOf(env.FAKE_QDRANT_URL, name)).filter((request) => request.path.includes("/points"));

    const outcome = await runBatch("edge-ops-vectorize-dev", ids.map((documentId) => ({ documentId })), (batch) => consumeVectorizeBatch(batch, providerEnv));
    expect(outcome.acked).toHaveLength(100);
    const modelId = `openai-compatible:${new URL(env.FAKE_EMBEDDINGS_URL).host}/${model}`;
    const name = collectionName(prefix, modelId);
    expect(await embeddingCalls()).toHaveLength(1);
    expect(await storeWrites(name)).toHaveLength(2);

    const response = await fetchWith(providerEnv, "http://admin/api/search", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env.ADMIN_TOKEN}` },
      body: JSON.stringify({ query: "smoke alarm flat 42", k: 3 }),
    });
    expect(response.status).toBe(200);
    const { hits } = (await response.json()) as { hits: { documentId: string; text: string }[] };
    expect(hits[0]).toMatchObject({ documentId: `task:${prefix}-42`, text: "Guesty task 42\nInspect the smoke alarm in flat 42 (Lisbon)" });
    // Two embedding calls now: the batch's and the question's.
    expect(await embeddingCalls()).toHaveLength(2);
  });

  it("answers 503 naming the variable when a provider is half configured", async () => {
    const response = await fetchWith({ EMBEDDINGS_URL: env.FAKE_EMBEDDINGS_URL }, "http://admin/api/search", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env.ADMIN_TOKEN}` },
      body: JSON.stringify({ query: "anything" }),
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "vectorization is not configured: EMBEDDINGS_MODEL is not set (EMBEDDINGS_URL is)" });
  });
});
