// Embeddings from any OpenAI-compatible API: `POST <EMBEDDINGS_URL>/embeddings` with
// `{model, input: [...], encoding_format: "float", dimensions?}`, Bearer auth. A 429 becomes
// ProviderRateLimited with its Retry-After; any other failure an EmbeddingsApiError with the
// status and the API's error code (never its message, which may quote input).
import { z } from "zod";
import type { Embedder } from "./embedder";
import { parseRetryAfter, ProviderRateLimited } from "./provider-errors";

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

export type OpenAiEmbedderSettings = { baseUrl: string; apiKey: string | null; model: string; dimensions: number | null; maxBatch: number };

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
