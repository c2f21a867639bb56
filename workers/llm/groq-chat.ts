// Chat completions from Groq through groq-sdk, for summaries and the bot. groq-sdk's own retries
// are off: the caller decides (a queue delay, a retry within the bot's budget). Failures become
// ProviderRateLimited (429, with Groq's retry-after) or GroqApiError (status, or a timeout),
// never Groq's message text.
import Groq from "groq-sdk";
import { parseRetryAfter, ProviderRateLimited } from "../vectorize/provider-errors";

export type GroqSettings = { apiKey: string; model: string; baseUrl: string };
export type ChatTurn = { role: "system" | "user" | "assistant"; content: string };
export type Completion = { text: string; model: string; promptTokens: number | null; completionTokens: number | null };

export class GroqApiError extends Error {
  constructor(
    /** HTTP status, or null for a timeout or a connection failure. */
    readonly status: number | null,
    readonly kind: "status" | "timeout" | "connection" | "empty",
  ) {
    super(`groq ${kind === "status" ? `answered ${status}` : kind}`);
    this.name = "GroqApiError";
  }
}

export class GroqChat {
  private readonly client: Groq;

  constructor(readonly settings: GroqSettings) {
    this.client = new Groq({ apiKey: settings.apiKey, baseURL: settings.baseUrl, maxRetries: 0 });
  }

  async complete(messages: readonly ChatTurn[], options: { timeoutMs: number; maxTokens: number }): Promise<Completion> {
    try {
      const completion = await this.client.chat.completions.create(
        { model: this.settings.model, temperature: 0, max_completion_tokens: options.maxTokens, messages: [...messages] },
        { timeout: Math.max(1, Math.floor(options.timeoutMs)) },
      );
      const text = completion.choices[0]?.message.content?.trim();
      if (!text) throw new GroqApiError(200, "empty");
      return { text, model: completion.model, promptTokens: completion.usage?.prompt_tokens ?? null, completionTokens: completion.usage?.completion_tokens ?? null };
    } catch (error) {
      if (error instanceof Groq.RateLimitError) throw new ProviderRateLimited("groq", parseRetryAfter(error.headers.get("retry-after")));
      if (error instanceof Groq.APIConnectionTimeoutError) throw new GroqApiError(null, "timeout");
      if (error instanceof Groq.APIConnectionError) throw new GroqApiError(null, "connection");
      if (error instanceof Groq.APIError) throw new GroqApiError(error.status ?? null, "status");
      throw error;
    }
  }
}
