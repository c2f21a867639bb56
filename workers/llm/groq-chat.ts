// Chat completions from Groq through groq-sdk, for summaries and the bot. groq-sdk's own retries
// are off: the caller decides (a queue delay, a retry within the bot's budget). Failures become
// ProviderRateLimited (429, with Groq's retry-after), GroqModelUnavailable (the model is retired
// or unknown: a configuration error), or GroqApiError (status and Groq's error code, a timeout,
// or a reply without a finished answer), never Groq's message text.
//
// Reasoning models (gpt-oss) get `reasoning_effort: "low"` and `include_reasoning: false`
// (workers/llm/groq-models.ts). Their reasoning tokens come out of `max_completion_tokens`: a
// reply cut by that budget (`finish_reason: "length"`) is reported as "incomplete", never
// returned as if it were the answer, even when some text came before the cut.
import Groq from "groq-sdk";
import { z } from "zod";
import { parseRetryAfter, ProviderRateLimited } from "../http/provider-errors";
import { isModelUnavailableCode, reasoningParameters, type ModelUnavailableCode, type ReasoningEffort } from "./groq-models";

export type GroqSettings = { apiKey: string; model: string; baseUrl: string };
export type ChatTurn = { role: "system" | "user" | "assistant"; content: string };
export type Completion = {
  text: string;
  model: string;
  promptTokens: number | null;
  completionTokens: number | null;
  /** Part of completionTokens the model spent reasoning (Groq's `completion_tokens_details`). */
  reasoningTokens: number | null;
};

export class GroqApiError extends Error {
  constructor(
    /** HTTP status, or null for a timeout or a connection failure. */
    readonly status: number | null,
    /** "incomplete": the completion budget ran out before the answer was finished. */
    readonly kind: "status" | "timeout" | "connection" | "empty" | "incomplete",
    /** Groq's error code (`rate_limit_exceeded`, `model_decommissioned`, ...) when it sent one. */
    readonly code: string | null = null,
  ) {
    super(`groq ${kind === "status" ? `answered ${status}${code ? ` (${code})` : ""}` : kind}`);
    this.name = "GroqApiError";
  }
}

/** Groq does not serve this model (retired, or unknown to this account): fix the variable naming it. */
export class GroqModelUnavailable extends GroqApiError {
  constructor(
    status: number,
    override readonly code: ModelUnavailableCode,
    readonly model: string,
  ) {
    super(status, "status", code);
    this.name = "GroqModelUnavailable";
  }
}

/** Groq's error body, `{"error":{"message","type","code"}}`; only the code is kept (a short enum, never free text). */
const groqErrorBody = z.object({ error: z.object({ code: z.string().regex(/^[a-z0-9_]{1,64}$/).nullish().catch(null) }) });

function errorCode(body: unknown): string | null {
  const parsed = groqErrorBody.safeParse(body);
  return parsed.success ? (parsed.data.error.code ?? null) : null;
}

export class GroqChat {
  private readonly client: Groq;

  constructor(readonly settings: GroqSettings) {
    this.client = new Groq({ apiKey: settings.apiKey, baseURL: settings.baseUrl, maxRetries: 0 });
  }

  async complete(
    messages: readonly ChatTurn[],
    options: { timeoutMs: number; maxTokens: number; /** Defaults to "low" for reasoning models. */ reasoningEffort?: ReasoningEffort },
  ): Promise<Completion> {
    try {
      const completion = await this.client.chat.completions.create(
        {
          model: this.settings.model,
          temperature: 0,
          max_completion_tokens: options.maxTokens,
          messages: [...messages],
          ...reasoningParameters(this.settings.model, options.reasoningEffort),
        },
        { timeout: Math.max(1, Math.floor(options.timeoutMs)) },
      );
      const choice = completion.choices[0];
      if (choice?.finish_reason === "length") throw new GroqApiError(200, "incomplete");
      const text = choice?.message.content?.trim();
      if (!text) throw new GroqApiError(200, "empty");
      return {
        text,
        model: completion.model,
        promptTokens: completion.usage?.prompt_tokens ?? null,
        completionTokens: completion.usage?.completion_tokens ?? null,
        reasoningTokens: completion.usage?.completion_tokens_details?.reasoning_tokens ?? null,
      };
    } catch (error) {
      if (error instanceof Groq.RateLimitError) throw new ProviderRateLimited("groq", parseRetryAfter(error.headers.get("retry-after")));
      if (error instanceof Groq.APIConnectionTimeoutError) throw new GroqApiError(null, "timeout");
      if (error instanceof Groq.APIConnectionError) throw new GroqApiError(null, "connection");
      if (error instanceof Groq.APIError) {
        const code = errorCode(error.error);
        if (error.status !== undefined && isModelUnavailableCode(code)) throw new GroqModelUnavailable(error.status, code, this.settings.model);
        throw new GroqApiError(error.status ?? null, "status", code);
      }
      throw error;
    }
  }
}
