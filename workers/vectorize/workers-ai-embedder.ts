// Embeddings from Workers AI through the AI binding (deployed environments only: locally the
// binding needs a Cloudflare login). The default model, @cf/baai/bge-m3, is multilingual,
// since guests write in many languages. Workers AI takes at most 100 texts per call for its
// embedding models; overlong texts are truncated by the model (truncate_inputs).
//
// The binding's `run` has no deadline of its own: a call races a timer (default 30 s, like our
// HTTP clients' fetches) and loses with WorkersAiTimeoutError, which the queue retries like any
// failure. The timer also aborts the call through `signal` (AiOptions in workers-types).
import { z } from "zod";
import type { Embedder } from "./embedder";
import { ProviderRateLimited } from "../http/provider-errors";

const outputSchema = z.object({ data: z.array(z.array(z.number())) }).loose();

/** Workers AI error codes that mean "not now": capacity (3040) and rate limits (3036 daily, 3050 per minute). */
const RETRY_LATER = /\b(3040|3036|3050)\b/;
const DEFAULT_TIMEOUT_MS = 30_000;

/** The AI binding did not answer in time. Names the model and the wait, never the input. */
export class WorkersAiTimeoutError extends Error {
  constructor(
    readonly modelName: string,
    readonly timeoutMs: number,
  ) {
    super(`workers ai timed out: ${modelName} did not answer within ${timeoutMs} ms`);
    this.name = "WorkersAiTimeoutError";
  }
}

export class WorkersAiEmbedder implements Embedder {
  readonly model: string;
  readonly dimensions = null;
  readonly maxBatch = 100;

  constructor(
    private readonly ai: Ai,
    private readonly modelName: string,
    private readonly options: { timeoutMs?: number } = {},
  ) {
    this.model = `workers-ai:${modelName}`;
  }

  /** `run` with a deadline: the timer rejects and aborts, whichever `run` does with the signal. */
  private async run(inputs: unknown): Promise<unknown> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const abort = new AbortController();
    const deadline = new Promise<never>((_, reject) => {
      abort.signal.addEventListener("abort", () => reject(abort.signal.reason));
    });
    const timer = setTimeout(() => abort.abort(new WorkersAiTimeoutError(this.modelName, timeoutMs)), timeoutMs);
    try {
      const run = this.ai.run as (model: string, inputs: unknown, options: { signal: AbortSignal }) => Promise<unknown>;
      return await Promise.race([run.call(this.ai, this.modelName, inputs, { signal: abort.signal }), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    if (texts.length > this.maxBatch) throw new RangeError(`at most ${this.maxBatch} texts per call, got ${texts.length}`);
    let output: unknown;
    try {
      output = await this.run({ text: [...texts], truncate_inputs: true });
    } catch (error) {
      if (error instanceof Error && !(error instanceof WorkersAiTimeoutError) && RETRY_LATER.test(error.message)) throw new ProviderRateLimited("workers ai", null);
      throw error;
    }
    const parsed = outputSchema.safeParse(output);
    if (!parsed.success || parsed.data.data.length !== texts.length) throw new Error("workers ai answered an unexpected shape");
    return parsed.data.data.map((vector) => Float32Array.from(vector));
  }
}
