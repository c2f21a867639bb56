// A fake OpenAI-compatible embeddings API (`POST <base>/embeddings`, base ending in /v1), as
// OpenAI documents it: Bearer auth (401 `invalid_api_key` otherwise), `input` a string or an
// array of at most 2048 strings, optional `dimensions`, and `{"object":"list","data":[{"object":
// "embedding","index","embedding"}],"model","usage"}`; errors as `{"error":{"message","type",
// "param","code"}}`, a 429 with `retry-after` and `x-ratelimit-*` headers. Vectors come from the
// offline embedder, so search quality through the fake is real.
//
// Token caps, as OpenAI's spec states them (openai/openai-openapi openapi.yaml,
// CreateEmbeddingRequest.input, at f85dbe2 of 2026-08-21, checked 2026-12-06): each input at most
// 8192 tokens, at most 300,000 tokens summed over a request. The answers are those OpenAI gives,
// as quoted in public reports (checked 2026-12-06): over the sum, 400 `{"error": {"message":
// "Requested 416735 tokens, max 300000 tokens per request", "type": "max_tokens_per_request",
// "param": null, "code": "max_tokens_per_request"}}` (assafelovic/gpt-researcher#1524,
// OpenDataBox/CrackSQL#27); over the per-input cap, 400 `{"error": {"message": "Invalid 'input':
// maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": null,
// "code": null}}` (neo4j-labs/agent-memory#104). The fake has no vocabulary, so it counts tokens
// the way a byte-level BPE roughly does (`countTokens`), never more than the UTF-8 bytes.
//
// Control: POST /__fake/faults {model?, status, retryAfter?, count}; GET /__fake/requests?model=
// lists {model, inputs, dimensions} per call.
import { OfflineEmbedder } from "../../../workers/vectorize/offline-embedder.ts";
import { startFake, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_EMBEDDINGS_API_KEY = "fake-embeddings-api-key";
const MAX_INPUTS = 2048;
const MAX_INPUT_TOKENS = 8192;
const MAX_REQUEST_TOKENS = 300_000;

/**
 * About what cl100k_base / o200k_base count: a word (ASCII letters, with the space before it, as
 * their pre-tokenizer splits) one token per 4 letters begun, a number one per 3 digits begun, a
 * run of whitespace one, and any other character one. English comes out at 3 to 4 bytes a token
 * (the real tokenizers: about 4); no text gets more tokens than UTF-8 bytes.
 */
export function countTokens(text: string): number {
  let tokens = 0;
  for (const [piece] of text.matchAll(/ ?[A-Za-z]+|[0-9]{1,3}|\s+|[^A-Za-z0-9\s]/gu)) {
    tokens += /[A-Za-z]/.test(piece) ? Math.ceil(piece.trimStart().length / 4) : 1;
  }
  return tokens;
}

type Fault = { model?: string; status: number; retryAfter?: number; count: number };

const openAiError = (status: number, message: string, type: string, code: string | null, headers: Record<string, string> = {}): FakeResponse => ({
  status,
  headers,
  body: { error: { message, type, param: null, code } },
});

export async function startFakeEmbeddings(port = 0): Promise<RunningFake> {
  const embedder = new OfflineEmbedder();
  const faults: Fault[] = [];
  const calls: { model: string; inputs: number; dimensions: number | null }[] = [];

  return startFake(async (request) => {
    if (request.url.pathname === "/__fake/faults" && request.method === "POST") {
      faults.push({ ...(request.body as Fault) });
      return { status: 204 };
    }
    if (request.url.pathname === "/__fake/requests") {
      const model = request.url.searchParams.get("model");
      return { status: 200, body: calls.filter((call) => model === null || call.model === model) };
    }
    if (request.url.pathname !== "/v1/embeddings" || request.method !== "POST") {
      return openAiError(404, `Invalid URL (${request.method} ${request.url.pathname})`, "invalid_request_error", null);
    }
    if (request.headers.authorization !== `Bearer ${FAKE_EMBEDDINGS_API_KEY}`) {
      return openAiError(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");
    }
    const body = request.body as { model?: unknown; input?: unknown; dimensions?: unknown };
    if (typeof body?.model !== "string") return openAiError(400, "you must provide a model parameter", "invalid_request_error", null);
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((input) => typeof input === "string" && input.length > 0)) {
      return openAiError(400, "'input' must be a non-empty string or array of non-empty strings", "invalid_request_error", null);
    }
    if (inputs.length > MAX_INPUTS) return openAiError(400, `'input' : maximum ${MAX_INPUTS} items`, "invalid_request_error", null);
    const counts = (inputs as string[]).map(countTokens);
    if (counts.some((count) => count > MAX_INPUT_TOKENS)) {
      return openAiError(400, `Invalid 'input': maximum context length is ${MAX_INPUT_TOKENS} tokens.`, "invalid_request_error", null);
    }
    const tokens = counts.reduce((sum, count) => sum + count, 0);
    if (tokens > MAX_REQUEST_TOKENS) {
      return openAiError(400, `Requested ${tokens} tokens, max ${MAX_REQUEST_TOKENS} tokens per request`, "max_tokens_per_request", "max_tokens_per_request");
    }
    const dimensions = typeof body.dimensions === "number" ? body.dimensions : null;
    if (dimensions !== null && (dimensions < 1 || dimensions > embedder.dimensions)) {
      return openAiError(400, `dimensions must be between 1 and ${embedder.dimensions}`, "invalid_request_error", null);
    }
    calls.push({ model: body.model, inputs: inputs.length, dimensions });

    const fault = faults.find((candidate) => candidate.count > 0 && (candidate.model === undefined || candidate.model === body.model));
    if (fault) {
      fault.count -= 1;
      if (fault.status === 429) {
        return openAiError(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", {
          "retry-after": String(fault.retryAfter ?? 1),
          "x-ratelimit-limit-requests": "3000",
          "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": `${fault.retryAfter ?? 1}s`,
        });
      }
      return openAiError(fault.status, "The server had an error while processing your request.", "server_error", null);
    }

    // The offline embedder takes `maxBatch` texts a call; a request may carry up to 2048.
    const vectors: Float32Array[] = [];
    for (let start = 0; start < inputs.length; start += embedder.maxBatch) {
      vectors.push(...(await embedder.embed((inputs as string[]).slice(start, start + embedder.maxBatch))));
    }
    const shaped = vectors.map((vector) => {
      if (dimensions === null) return Array.from(vector);
      // Shortened like OpenAI's `dimensions`: the first values, normalized again.
      const head = Array.from(vector.slice(0, dimensions));
      const norm = Math.hypot(...head) || 1;
      return head.map((value) => value / norm);
    });
    return {
      status: 200,
      body: {
        object: "list",
        data: shaped.map((embedding, index) => ({ object: "embedding", index, embedding })),
        model: body.model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      },
    };
  }, port);
}
