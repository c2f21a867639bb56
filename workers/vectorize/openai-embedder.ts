// Embeddings from any OpenAI-compatible API: `POST <EMBEDDINGS_URL>/embeddings` with
// `{model, input: [...], encoding_format: "float", dimensions?}`, Bearer auth. A 429 becomes
// ProviderRateLimited with its Retry-After; any other failure an EmbeddingsApiError with the
// status and the API's error code (never its message, which may quote input).
//
// A request is capped by tokens as well as by count. OpenAI's spec (openai/openai-openapi
// openapi.yaml, CreateEmbeddingRequest.input, at f85dbe2 of 2026-08-21, checked 2026-12-06):
// at most 2048 inputs, each at most 8192 tokens ("for all embedding models", text-embedding-3
// included), and at most 300,000 tokens summed across the inputs of one request; over the sum
// OpenAI answers 400 `max_tokens_per_request`. So one `embed` call (up to `maxBatch` texts) is
// sent as as many requests as those caps need, counted with an upper bound of the tokens (the
// UTF-8 bytes, see `tokenUpperBound`), and a text over the per-input cap is cut to it.
import { z } from "zod";
import type { Embedder } from "./embedder";
import { parseRetryAfter, ProviderRateLimited } from "../http/provider-errors";

export class EmbeddingsApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(`embeddings API answered ${status} ${code}`);
    this.name = "EmbeddingsApiError";
  }
}

const responseSchema = z.object({
  data: z.array(z.object({ index: z.number().int().min(0), embedding: z.array(z.number()) })),
});
const errorSchema = z.object({ error: z.object({ code: z.string().nullish(), type: z.string().nullish() }).loose() }).loose();

export type OpenAiEmbedderSettings = {
  baseUrl: string;
  apiKey: string | null;
  model: string;
  dimensions: number | null;
  maxBatch: number;
  /** Tokens per request, summed over its inputs; default OpenAI's 300,000. */
  maxRequestTokens?: number;
  /** Tokens per input; default OpenAI's 8192. A longer text is cut to this many bytes. */
  maxInputTokens?: number;
};

/** OpenAI's caps per embeddings request (see the header). */
export const OPENAI_EMBEDDING_LIMITS = { maxInputs: 2048, maxInputTokens: 8192, maxRequestTokens: 300_000 } as const;

const utf8 = new TextEncoder();

/**
 * At least as many as the tokens of `text`, for any byte-level BPE tokenizer (OpenAI's
 * cl100k_base and o200k_base): each token stands for one byte or more, so a text has at most
 * as many tokens as UTF-8 bytes, whatever its language or script. English runs about four
 * bytes a token, so where the token cap binds this sends a request per about 75,000 real tokens
 * instead of one per 300,000: more requests, never a rejected one. (The chunker's chunks are
 * about 350 tokens, so a default batch of 256 is one or two requests.)
 */
export function tokenUpperBound(text: string): number {
  return utf8.encode(text).length;
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, at a character boundary. */
function cutToBytes(text: string, maxBytes: number): string {
  const bytes = utf8.encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

export class OpenAiCompatibleEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions: number | null;
  readonly maxBatch: number;

  constructor(private readonly settings: OpenAiEmbedderSettings) {
    // The host and model name the vector space; a shortened output is another space.
    this.model = `openai-compatible:${new URL(settings.baseUrl).host}/${settings.model}${settings.dimensions ? `@${settings.dimensions}` : ""}`;
    this.dimensions = settings.dimensions;
    this.maxBatch = settings.maxBatch;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    if (texts.length > this.maxBatch) throw new RangeError(`at most ${this.maxBatch} texts per call, got ${texts.length}`);
    const vectors: Float32Array[] = [];
    for (const request of this.requests(texts)) vectors.push(...(await this.request(request)));
    return vectors;
  }

  /** `texts` (each cut to the per-input cap) grouped into requests within the count and token caps. */
  private requests(texts: readonly string[]): string[][] {
    const maxInputs = Math.min(this.maxBatch, OPENAI_EMBEDDING_LIMITS.maxInputs);
    const maxInputTokens = this.settings.maxInputTokens ?? OPENAI_EMBEDDING_LIMITS.maxInputTokens;
    const maxRequestTokens = this.settings.maxRequestTokens ?? OPENAI_EMBEDDING_LIMITS.maxRequestTokens;
    const requests: string[][] = [];
    let current: string[] = [];
    let tokens = 0;
    for (const text of texts) {
      const input = cutToBytes(text, maxInputTokens);
      const bound = tokenUpperBound(input);
      if (current.length > 0 && (current.length >= maxInputs || tokens + bound > maxRequestTokens)) {
        requests.push(current);
        current = [];
        tokens = 0;
      }
      current.push(input);
      tokens += bound;
    }
    requests.push(current);
    return requests;
  }

  private async request(texts: readonly string[]): Promise<Float32Array[]> {
    const response = await fetch(`${this.settings.baseUrl.replace(/\/+$/, "")}/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.settings.apiKey ? { authorization: `Bearer ${this.settings.apiKey}` } : {}) },
      body: JSON.stringify({
        model: this.settings.model,
        input: texts,
        encoding_format: "float",
        ...(this.settings.dimensions ? { dimensions: this.settings.dimensions } : {}),
      }),
      signal: AbortSignal.timeout(30_000),
    });
    const body: unknown = await response.json().catch(() => null);
    if (response.status === 429) throw new ProviderRateLimited("embeddings API", parseRetryAfter(response.headers.get("retry-after")));
    if (!response.ok) {
      const error = errorSchema.safeParse(body);
      throw new EmbeddingsApiError(response.status, (error.success ? error.data.error.code ?? error.data.error.type : null) ?? "error");
    }
    const parsed = responseSchema.safeParse(body);
    if (!parsed.success || parsed.data.data.length !== texts.length) throw new EmbeddingsApiError(response.status, "unexpected-response");
    return [...parsed.data.data].sort((a, b) => a.index - b.index).map((item) => Float32Array.from(item.embedding));
  }
}
