// Embeddings from Workers AI through the AI binding (deployed environments only: locally the
// binding needs a Cloudflare login). The default model, @cf/baai/bge-m3, is multilingual,
// since guests write in many languages. Workers AI takes at most 100 texts per call for its
// embedding models; overlong texts are truncated by the model (truncate_inputs).
import { z } from "zod";
import type { Embedder } from "./embedder";
import { ProviderRateLimited } from "./provider-errors";

const outputSchema = z.object({ data: z.array(z.array(z.number())) }).loose();

/** Workers AI error codes that mean "not now": capacity (3040) and rate limits (3036 daily, 3050 per minute). */
const RETRY_LATER = /\b(3040|3036|3050)\b/;

export class WorkersAiEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions = null;
  readonly maxBatch = 100;

  constructor(
    private readonly ai: Ai,
    private readonly modelName: string,
  ) {
    this.model = `workers-ai:${modelName}`;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    if (texts.length > this.maxBatch) throw new RangeError(`at most ${this.maxBatch} texts per call, got ${texts.length}`);
    let output: unknown;
    try {
      output = await (this.ai.run as (model: string, inputs: unknown) => Promise<unknown>)(this.modelName, { text: [...texts], truncate_inputs: true });
    } catch (error) {
      if (error instanceof Error && RETRY_LATER.test(error.message)) throw new ProviderRateLimited("workers ai", null);
      throw error;
    }
    const parsed = outputSchema.safeParse(output);
    if (!parsed.success || parsed.data.data.length !== texts.length) throw new Error("workers ai answered an unexpected shape");
    return parsed.data.data.map((vector) => Float32Array.from(vector));
  }
}
