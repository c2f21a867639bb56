// What an embeddings provider refuses or never answers. OpenAI-compatible API (its fake follows
// OpenAI's caps, test/node/fakes/openai-embeddings.ts): a request takes at most 2048 inputs,
// 8192 tokens per input and 300,000 tokens in all, and the embedder splits and cuts so that no
// `embed` call within `maxBatch` becomes a request the API rejects. Workers AI: the binding has
// no deadline, so the embedder gives up after its timeout and says so without quoting input.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import { OpenAiCompatibleEmbedder, tokenUpperBound } from "../workers/vectorize/openai-embedder";
import { WorkersAiEmbedder, WorkersAiTimeoutError } from "../workers/vectorize/workers-ai-embedder";

const offline = new OfflineEmbedder();
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;

const embedderFor = (model: string, maxBatch = 256) =>
  new OpenAiCompatibleEmbedder({ baseUrl: env.FAKE_EMBEDDINGS_URL, apiKey: env.FAKE_EMBEDDINGS_API_KEY, model, dimensions: null, maxBatch });

/** What the fake accepted for `model`: one entry per request. */
const acceptedRequests = async (model: string): Promise<{ model: string; inputs: number }[]> =>
  (await fetch(`${env.FAKE_EMBEDDINGS_URL.replace(/\/v1$/, "")}/__fake/requests?model=${encodeURIComponent(model)}`)).json();

/** One request straight to the fake, as a client without the caps would send it. */
const postDirectly = async (model: string, input: string[]) => {
  const response = await fetch(`${env.FAKE_EMBEDDINGS_URL}/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env.FAKE_EMBEDDINGS_API_KEY}` },
    body: JSON.stringify({ model, input, encoding_format: "float" }),
  });
  return { status: response.status, body: (await response.json()) as unknown };
};

const WORDS = ["guest", "arrives", "late", "boiler", "checkout", "towels", "keys", "balcony", "invoice", "cleaning", "parking", "airport", "transfer", "breakfast", "heating", "window"];
/** English-like text of exactly `length` ASCII characters, different for each `seed`. */
const englishText = (seed: number, length: number) =>
  `Note ${seed}: ${Array.from({ length: length / 4 }, (_, i) => WORDS[(i * 7 + seed * 3) % WORDS.length]).join(" ")}`.slice(0, length);

const sameVector = async (actual: Float32Array | undefined, text: string) => {
  const [expected] = await offline.embed([text]);
  expect(Array.from(actual!)).toEqual(Array.from(expected!));
};

describe("OpenAI-compatible embeddings within the provider's caps", () => {
  it("sends a batch of more than 300,000 tokens as several requests under the cap, vectors in order", async () => {
    const texts = Array.from({ length: 200 }, (_, seed) => englishText(seed, 7_500));
    // As one request, OpenAI (and the fake) refuse it.
    const refused = unique("tokens-refused");
    expect(await postDirectly(refused, texts)).toEqual({
      status: 400,
      body: { error: { message: expect.stringMatching(/^Requested \d+ tokens, max 300000 tokens per request$/), type: "max_tokens_per_request", param: null, code: "max_tokens_per_request" } },
    });
    expect(await acceptedRequests(refused)).toEqual([]);

    const model = unique("tokens-split");
    const vectors = await embedderFor(model).embed(texts);
    expect(vectors).toHaveLength(200);
    const requests = await acceptedRequests(model);
    expect(requests.length).toBeGreaterThan(1);
    expect(requests.reduce((sum, request) => sum + request.inputs, 0)).toBe(200);
    // Counted by the UTF-8 bytes, an upper bound of the tokens: 40 texts of 7,500 bytes a request.
    for (const request of requests) expect(request.inputs * tokenUpperBound(texts[0]!)).toBeLessThanOrEqual(300_000);
    for (const index of [0, 41, 199]) await sameVector(vectors[index], texts[index]!);
  });

  it("cuts a text over the 8192-token input cap to 8192 bytes, at a character boundary", async () => {
    // 40,000 CJK characters and no space: the chunker's word count calls this short, the API does not.
    const characters = "民宿入住退房钥匙阳台发票清洁停车机场早餐暖气窗户";
    const text = Array.from({ length: 40_000 }, (_, i) => characters[(i * 5) % characters.length]).join("");
    const refused = unique("input-refused");
    expect(await postDirectly(refused, [text])).toEqual({
      status: 400,
      body: { error: { message: "Invalid 'input': maximum context length is 8192 tokens.", type: "invalid_request_error", param: null, code: null } },
    });

    const model = unique("input-cut");
    const [vector] = await embedderFor(model).embed([text]);
    // Three bytes a character: 2730 whole characters are 8190 bytes, the next would be 8193.
    await sameVector(vector, text.slice(0, 2730));
    expect(await acceptedRequests(model)).toEqual([{ model, inputs: 1, dimensions: null }]);
  });

  it("never puts more than 2048 inputs in a request, whatever maxBatch says", async () => {
    const model = unique("count-cap");
    const vectors = await embedderFor(model, 4096).embed(Array.from({ length: 2100 }, (_, i) => `room ${i}`));
    expect(vectors).toHaveLength(2100);
    expect((await acceptedRequests(model)).map((request) => request.inputs)).toEqual([2048, 52]);
  });
});

describe("Workers AI embeddings with a deadline", () => {
  it("gives up on a binding that never answers, says it timed out, quotes no input, and aborts the call", async () => {
    const signals: AbortSignal[] = [];
    const silent = {
      run: (_model: string, _inputs: unknown, options?: { signal?: AbortSignal }) => {
        if (options?.signal) signals.push(options.signal);
        return new Promise<never>(() => {});
      },
    } as unknown as Ai;
    const embedder = new WorkersAiEmbedder(silent, "@cf/baai/bge-m3", { timeoutMs: 5 });
    const error = await embedder.embed(["guest passport number P1234567"]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WorkersAiTimeoutError);
    expect(error).toMatchObject({ name: "WorkersAiTimeoutError", modelName: "@cf/baai/bge-m3", timeoutMs: 5 });
    expect((error as Error).message).toMatch(/timed out/);
    expect((error as Error).message).not.toContain("P1234567");
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
  });

  it("returns what the binding answers in time", async () => {
    const prompt = { run: async (_model: string, inputs: { text: string[] }) => ({ data: (await offline.embed(inputs.text)).map((vector) => Array.from(vector)) }) } as unknown as Ai;
    const vectors = await new WorkersAiEmbedder(prompt, "@cf/baai/bge-m3", { timeoutMs: 60_000 }).embed(["late check-out"]);
    await sameVector(vectors[0], "late check-out");
  });
});
