// The production providers behind the vectorize interfaces, against contract-faithful fakes on
// 127.0.0.1 (vitest.config.ts): an OpenAI-compatible embeddings API, Workers AI (a stand-in for
// the binding, which needs a Cloudflare login), Groq summaries; and how configuration picks them.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consumeVectorizeBatch } from "../queues/vectorize-consumer";
import { openDatabase } from "../workers/db/client";
import { CapabilityNotConfigured } from "../workers/config/capability";
import { EmbeddingsApiError, OpenAiCompatibleEmbedder } from "../workers/vectorize/openai-embedder";
import { ProviderRateLimited } from "../workers/http/provider-errors";
import { describeProviders, vectorizeProviders } from "../workers/vectorize/providers";
import { WorkersAiEmbedder } from "../workers/vectorize/workers-ai-embedder";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import { row } from "./support/d1";
import { runBatch } from "./support/queue";

afterEach(() => vi.restoreAllMocks());

const embeddingsSettings = (model: string, overrides: Partial<ConstructorParameters<typeof OpenAiCompatibleEmbedder>[0]> = {}) => ({
  baseUrl: env.FAKE_EMBEDDINGS_URL,
  apiKey: env.FAKE_EMBEDDINGS_API_KEY,
  model,
  dimensions: null,
  maxBatch: 256,
  ...overrides,
});

async function fakeFault(base: string, fault: Record<string, unknown>) {
  const response = await fetch(`${base.replace(/\/v1$/, "")}/__fake/faults`, { method: "POST", body: JSON.stringify(fault) });
  expect(response.status).toBe(204);
}

async function fakeRequests<T>(base: string, query: string): Promise<T[]> {
  return (await fetch(`${base.replace(/\/v1$/, "")}/__fake/requests?${query}`)).json();
}

describe("OpenAI-compatible embeddings", () => {
  it("embeds a batch in one call, in order, naming the vector space by host and model", async () => {
    const embedder = new OpenAiCompatibleEmbedder(embeddingsSettings("text-embedding-3-small-order"));
    const [boiler, towels, boilerAgain] = await embedder.embed(["the boiler is broken", "towels are missing", "the boiler is broken"]);
    expect(Array.from(boiler!)).toEqual(Array.from(boilerAgain!));
    expect(Array.from(boiler!)).not.toEqual(Array.from(towels!));
    expect(embedder.model).toBe(`openai-compatible:${new URL(env.FAKE_EMBEDDINGS_URL).host}/text-embedding-3-small-order`);
    expect(await fakeRequests(env.FAKE_EMBEDDINGS_URL, "model=text-embedding-3-small-order")).toEqual([{ model: "text-embedding-3-small-order", inputs: 3, dimensions: null }]);
  });

  it("asks for shortened vectors when dimensions are configured, and that is another vector space", async () => {
    const embedder = new OpenAiCompatibleEmbedder(embeddingsSettings("text-embedding-3-large-dims", { dimensions: 256 }));
    const [vector] = await embedder.embed(["late check-out"]);
    expect(vector).toHaveLength(256);
    expect(embedder.model).toMatch(/text-embedding-3-large-dims@256$/);
  });

  it("turns a 429 into the delay the API asked for, and other failures into status and code", async () => {
    await fakeFault(env.FAKE_EMBEDDINGS_URL, { model: "limited-model", status: 429, retryAfter: 17, count: 1 });
    const limited = new OpenAiCompatibleEmbedder(embeddingsSettings("limited-model"));
    await expect(limited.embed(["x"])).rejects.toEqual(new ProviderRateLimited("embeddings API", 17));
    await fakeFault(env.FAKE_EMBEDDINGS_URL, { model: "broken-model", status: 500, count: 1 });
    await expect(new OpenAiCompatibleEmbedder(embeddingsSettings("broken-model")).embed(["x"])).rejects.toMatchObject({ status: 500, code: "server_error" });
    const wrongKey = new OpenAiCompatibleEmbedder(embeddingsSettings("any-model", { apiKey: "sk-wrong-key-000" }));
    const error = await wrongKey.embed(["x"]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingsApiError);
    expect(error).toMatchObject({ status: 401, code: "invalid_api_key" });
    // The key is not part of what gets logged.
    expect(String((error as Error).message)).not.toContain("sk-wrong-key-000");
    await expect(limited.embed(Array.from({ length: 257 }, () => "x"))).rejects.toBeInstanceOf(RangeError);
  });
});

describe("Workers AI embeddings", () => {
  /** Stands in for the AI binding: the documented input and output of @cf/baai/bge-m3. */
  function fakeAi(behaviour: (inputs: { text: string[]; truncate_inputs?: boolean }) => Promise<unknown>) {
    const calls: { model: string; inputs: { text: string[]; truncate_inputs?: boolean } }[] = [];
    const ai = {
      run: async (model: string, inputs: { text: string[]; truncate_inputs?: boolean }) => {
        calls.push({ model, inputs });
        return behaviour(inputs);
      },
    } as unknown as Ai;
    return { ai, calls };
  }
  const offline = new OfflineEmbedder();

  it("sends up to 100 texts per call with truncation on, and reads `data`", async () => {
    const { ai, calls } = fakeAi(async ({ text }) => ({ shape: [text.length, 512], data: (await offline.embed(text)).map((vector) => Array.from(vector)), pooling: "cls" }));
    const embedder = new WorkersAiEmbedder(ai, "@cf/baai/bge-m3");
    const vectors = await embedder.embed(["a guest from Lyon", "um hóspede de Lisboa"]);
    expect(vectors).toHaveLength(2);
    expect(calls).toEqual([{ model: "@cf/baai/bge-m3", inputs: { text: ["a guest from Lyon", "um hóspede de Lisboa"], truncate_inputs: true } }]);
    expect(embedder.model).toBe("workers-ai:@cf/baai/bge-m3");
    await expect(embedder.embed(Array.from({ length: 101 }, () => "x"))).rejects.toBeInstanceOf(RangeError);
  });

  it("retries later on capacity and rate-limit errors, and refuses an unexpected shape", async () => {
    const busy = new WorkersAiEmbedder(fakeAi(async () => Promise.reject(new Error("3040: Capacity temporarily exceeded, please try again."))).ai, "@cf/baai/bge-m3");
    await expect(busy.embed(["x"])).rejects.toBeInstanceOf(ProviderRateLimited);
    const odd = new WorkersAiEmbedder(fakeAi(async () => ({ response: [[0.1]] })).ai, "@cf/baai/bge-m3");
    await expect(odd.embed(["x"])).rejects.toThrow("unexpected shape");
  });
});

describe("choosing providers by configuration", () => {
  const db = () => openDatabase(env.DB);
  const aiStandIn = { run: async () => ({ data: [] }) } as unknown as Ai;

  it("serves the embedded defaults with nothing configured, Workers AI where the binding exists, an embeddings URL before both", async () => {
    expect(describeProviders(await vectorizeProviders(env, db()))).toEqual({ embedder: "offline-hashed-ngrams-v1-512", store: "d1", summarizer: null });
    expect(describeProviders(await vectorizeProviders({ ...env, AI: aiStandIn } as Env, db())).embedder).toBe("workers-ai:@cf/baai/bge-m3");
    expect(describeProviders(await vectorizeProviders({ ...env, AI: aiStandIn, WORKERS_AI_EMBEDDING_MODEL: "@cf/baai/bge-large-en-v1.5" } as Env, db())).embedder).toBe(
      "workers-ai:@cf/baai/bge-large-en-v1.5",
    );
    const configured = await vectorizeProviders(
      { ...env, AI: aiStandIn, EMBEDDINGS_URL: env.FAKE_EMBEDDINGS_URL, EMBEDDINGS_MODEL: "m1", QDRANT_URL: env.FAKE_QDRANT_URL, GROQ_API_KEY: env.FAKE_GROQ_API_KEY } as Env,
      db(),
    );
    expect(describeProviders(configured)).toEqual({ embedder: expect.stringMatching(/^openai-compatible:.*\/m1$/), store: "qdrant", summarizer: "groq:openai/gpt-oss-20b" });
  });

  it("refuses a half-configured provider with 503 naming the variable, never falling back to another vector space", async () => {
    const half = vectorizeProviders({ ...env, EMBEDDINGS_URL: env.FAKE_EMBEDDINGS_URL } as Env, db());
    await expect(half).rejects.toBeInstanceOf(CapabilityNotConfigured);
    await expect(half).rejects.toMatchObject({ status: 503, publicMessage: "vectorization is not configured: EMBEDDINGS_MODEL is not set (EMBEDDINGS_URL is)" });
    await expect(vectorizeProviders({ ...env, QDRANT_URL: "ftp://qdrant" } as Env, db())).rejects.toMatchObject({
      publicMessage: expect.stringContaining("QDRANT_URL: must be an http(s) URL"),
    });
  });
});

describe("Groq summaries", () => {
  const transcript = (topic: string) =>
    Array.from({ length: 40 }, (_, index) => `Line ${index}: the guest and the agent talk about ${topic}, the keys, the parking and the wifi password.`).join("\n");

  async function seedLong(id: string, text: string) {
    await env.DB.prepare(
      `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header)
       VALUES (?, 'call', ?, ?, ?, 1, ?, 'aircall', ?, ?)
       ON CONFLICT (id) DO UPDATE SET text = excluded.text, content_hash = excluded.content_hash`,
    )
      .bind(id, id, text, `hash:${text.length}:${text.slice(-20)}`, Date.now(), `Call ${id}`, `Aircall inbound call ${id}`)
      .run();
  }
  const groqEnv = { ...env, GROQ_API_KEY: env.FAKE_GROQ_API_KEY, GROQ_BASE_URL: env.FAKE_GROQ_URL, SUMMARY_MIN_CHARS: "2000" } as Env;
  const chunkTexts = async (id: string) =>
    (await env.DB.prepare("SELECT text FROM search_chunks WHERE document_id = ? ORDER BY chunk_index").bind(id).all<{ text: string }>()).results.map((chunk) => chunk.text);

  it("summarizes a long document once, as its first chunk, and never again while it is unchanged", async () => {
    await seedLong("call:sum-1", transcript("a flooded bathroom at Porto Riverside"));
    await seedLong("call:sum-short", "Line 0: a short call about Porto Riverside.");
    const outcome = await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:sum-1" }, { documentId: "call:sum-short" }], (batch) => consumeVectorizeBatch(batch, groqEnv));
    expect(outcome.acked).toHaveLength(2);
    const [first, ...rest] = await chunkTexts("call:sum-1");
    expect(first).toMatch(/^Aircall inbound call call:sum-1\nSummary: /);
    expect(rest.length).toBeGreaterThan(0);
    expect((await chunkTexts("call:sum-short")).join("\n")).not.toContain("Summary:");

    await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:sum-1", force: true }], (batch) => consumeVectorizeBatch(batch, groqEnv));
    expect(await fakeRequests(env.FAKE_GROQ_URL, `match=${encodeURIComponent("flooded bathroom")}`)).toHaveLength(1);
    expect(await row("SELECT model FROM document_summaries WHERE summary LIKE ?", "%flooded bathroom%")).toEqual({ model: "groq:openai/gpt-oss-20b" });
  });

  it("waits for Groq's retry-after on a 429 and writes nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await seedLong("call:sum-429", transcript("a lost passport in Cascais"));
    await fakeFault(env.FAKE_GROQ_URL, { status: 429, retryAfter: 23, count: 1, match: "lost passport" });
    const outcome = await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:sum-429" }], (batch) => consumeVectorizeBatch(batch, groqEnv));
    expect(outcome).toEqual({ acked: [], retried: [{ body: { documentId: "call:sum-429" }, delaySeconds: 23 }] });
    expect(await chunkTexts("call:sum-429")).toEqual([]);
    expect(await row("SELECT indexed_hash FROM documents WHERE id = 'call:sum-429'")).toEqual({ indexed_hash: null });
  });

  it("skips summaries without a key", async () => {
    await seedLong("call:sum-nokey", transcript("a noisy neighbour in Alfama"));
    await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:sum-nokey" }], (batch) => consumeVectorizeBatch(batch, env));
    expect((await chunkTexts("call:sum-nokey")).join("\n")).not.toContain("Summary:");
    expect(await fakeRequests(env.FAKE_GROQ_URL, `match=${encodeURIComponent("noisy neighbour")}`)).toEqual([]);
  });
});
