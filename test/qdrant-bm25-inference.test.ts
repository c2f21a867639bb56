// Server-side BM25 and the Qdrant versions that run it, against the Qdrant fake playing them
// (vitest.config.ts): 1.15.2 starts its inference service only with `inference.address` set, so
// the store gives it dense-only collections and never sends it an inference object; a 1.15.3
// whose service did not start (its address set but empty) answers 500 "InferenceService is not
// initialized", and the store falls back to dense-only with one alert while the batch still
// indexes; a server from 1.15.3 on with its service running gets BM25.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeVectorizeBatch } from "../queues/vectorize-consumer";
import { collectionName, QdrantVectorStore } from "../workers/vectorize/qdrant-vector-store";
import { embeddedChunk as chunk, embedder, fakeQdrantRequests as requestsOf, queryStore, uniquePrefix as unique, type FakeQdrantRequest } from "./support/qdrant";
import { runBatch } from "./support/queue";

afterEach(() => vi.restoreAllMocks());

const carriesInference = (request: FakeQdrantRequest) => JSON.stringify(request.body ?? null).includes('"model":"qdrant/bm25"');
const fallbackAlerts = (spy: { mock: { calls: unknown[][] } }) =>
  spy.mock.calls.map(([line]) => String(line)).filter((line) => line.includes("qdrant cannot run server-side BM25"));

const store = (url: string, prefix: string) => new QdrantVectorStore({ url, apiKey: env.FAKE_QDRANT_API_KEY, collection: prefix });

describe("server-side BM25 by Qdrant version", () => {
  it("gives a 1.15.2 server dense-only collections and never an inference object", async () => {
    const prefix = unique("v1152");
    const target = store(env.FAKE_QDRANT_1152_URL, prefix);
    const name = collectionName(prefix, embedder.model);
    const errors = vi.spyOn(console, "error");
    await target.replaceDocuments(embedder.model, [{ documentId: "reservation:a", chunks: [await chunk("reservation:a", "Lena Vogt books the Alfama loft")] }]);
    expect((await queryStore(target, "Lena Vogt Alfama"))[0]?.documentId).toBe("reservation:a");

    const requests = await requestsOf(env.FAKE_QDRANT_1152_URL, name);
    expect(requests.find((request) => request.method === "PUT" && request.path === `/collections/${name}`)?.body).toEqual({
      vectors: { dense: { size: 512, distance: "Cosine" } },
    });
    expect(requests.filter(carriesInference)).toEqual([]);
    expect(requests.find((request) => request.path.endsWith("/points/query"))?.body).not.toHaveProperty("prefetch");
    expect(fallbackAlerts(errors)).toEqual([]);
  });

  it("uses only the dense vector of a collection on 1.15.2 that already has the bm25 vector (made by an older release)", async () => {
    const prefix = unique("v1152-old");
    const name = collectionName(prefix, embedder.model);
    const created = await fetch(`${env.FAKE_QDRANT_1152_URL}/collections/${name}`, {
      method: "PUT",
      headers: { "content-type": "application/json", "api-key": env.FAKE_QDRANT_API_KEY },
      body: JSON.stringify({ vectors: { dense: { size: 512, distance: "Cosine" } }, sparse_vectors: { bm25: { modifier: "idf" } } }),
    });
    expect(created.status).toBe(200);
    const target = store(env.FAKE_QDRANT_1152_URL, prefix);
    await target.replaceDocuments(embedder.model, [{ documentId: "reservation:b", chunks: [await chunk("reservation:b", "Tomás Ruiz asks for a cot in Belém")] }]);
    expect((await queryStore(target, "cot Belém"))[0]?.documentId).toBe("reservation:b");
    const requests = await requestsOf(env.FAKE_QDRANT_1152_URL, name);
    expect(requests.filter(carriesInference)).toEqual([]);
    expect(requests.filter((request) => request.path.endsWith("/points")).map((request) => request.body)).toEqual([
      { points: [expect.objectContaining({ vector: { dense: expect.any(Array) } })] },
    ]);
  });

  it("uses BM25 from 1.15.3 on (the fake's default is 1.15.4): inference objects in the upsert and a BM25 prefetch", async () => {
    const prefix = unique("v1154");
    const target = store(env.FAKE_QDRANT_URL, prefix);
    const name = collectionName(prefix, embedder.model);
    await target.replaceDocuments(embedder.model, [{ documentId: "reservation:c", chunks: [await chunk("reservation:c", "Invoice QX81 for the Graça flat")] }]);
    expect((await queryStore(target, "QX81"))[0]?.documentId).toBe("reservation:c");
    const requests = await requestsOf(env.FAKE_QDRANT_URL, name);
    expect(requests.find((request) => request.method === "PUT" && request.path === `/collections/${name}`)?.body).toMatchObject({ sparse_vectors: { bm25: { modifier: "idf" } } });
    expect(requests.filter(carriesInference).map((request) => `${request.method} ${request.path}`)).toEqual([`PUT /collections/${name}/points`, `POST /collections/${name}/points/query`]);
  });
});

describe("a server that claims 1.15.3 but has no inference service", () => {
  it("falls back to dense-only with one alert: the batches index, nothing is retried, searches answer", async () => {
    const prefix = unique("noinf");
    const url = env.FAKE_QDRANT_NO_INFERENCE_URL;
    const providerEnv = { ...env, QDRANT_URL: url, QDRANT_API_KEY: env.FAKE_QDRANT_API_KEY, QDRANT_COLLECTION: prefix } as Env;
    const name = collectionName(prefix, embedder.model);
    const ids = [0, 1, 2].map((index) => `task:${prefix}-${index}`);
    await env.DB.batch(
      ids.map((id, index) =>
        env.DB.prepare(
          `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header)
           VALUES (?, 'task', ?, ?, ?, 1, ?, 'guesty', ?, ?)`,
        ).bind(id, id, `Replace the kettle in studio ${index} (${prefix})`, `h-${id}`, Date.now(), `Task ${index}`, `Guesty task ${index}`),
      ),
    );
    const errors = vi.spyOn(console, "error");

    const first = await runBatch("edge-ops-vectorize-dev", ids.slice(0, 2).map((documentId) => ({ documentId })), (batch) => consumeVectorizeBatch(batch, providerEnv));
    expect(first).toEqual({ acked: ids.slice(0, 2).map((documentId) => ({ documentId })), retried: [] });
    const second = await runBatch("edge-ops-vectorize-dev", [{ documentId: ids[2]! }], (batch) => consumeVectorizeBatch(batch, providerEnv));
    expect(second).toEqual({ acked: [{ documentId: ids[2]! }], retried: [] });

    // The version said BM25, so the collection has the vector; the first upsert carried the
    // inference object (answered 500), its retry and every later write did not.
    const writes = (await requestsOf(url, name)).filter((request) => request.path.endsWith("/points"));
    expect(writes.map(carriesInference)).toEqual([true, false, false]);
    const target = store(url, prefix);
    const [vector] = await embedder.embed(["kettle studio 2"]);
    const hits = await target.query({ model: embedder.model, vector: vector!, text: "kettle studio 2", k: 3 });
    expect(hits[0]?.documentId).toBe(ids[2]);
    const queries = (await requestsOf(url, name)).filter((request) => request.path.endsWith("/points/query"));
    expect(queries.map(carriesInference)).toEqual([false]);

    const alerts = fallbackAlerts(errors);
    expect(alerts).toHaveLength(1);
    expect(JSON.parse(alerts[0]!)).toMatchObject({ level: "error", variable: "QDRANT_URL", alert: true });
  });
});
