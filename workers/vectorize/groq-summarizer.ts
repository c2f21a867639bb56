// Short summaries of long documents (call transcripts, long guest conversations) from Groq,
// through groq-sdk. A summary is embedded with the document's chunks, so a question about the
// gist finds a long call even when no single chunk says it. groq-sdk's own retries are off: a
// 429 becomes ProviderRateLimited with Groq's retry-after, and the queue waits that long.
import Groq from "groq-sdk";
import { parseRetryAfter, ProviderRateLimited } from "./provider-errors";

export interface Summarizer {
  /** Names the model: a summary is reused only for the same text and the same model. */
  readonly model: string;
  /** Documents at least this long (characters) get a summary. */
  readonly minChars: number;
  summarize(title: string, text: string): Promise<string>;
}

export class GroqApiError extends Error {
  constructor(readonly status: number | undefined) {
    super(`groq answered ${status ?? "no response"}`);
    this.name = "GroqApiError";
  }
}

const INSTRUCTIONS =
  "You summarize business records of a short-let rental company (phone calls, guest conversations) for search. " +
  "Write 2 to 4 plain sentences: who, which property, what was asked or reported, and what was agreed. " +
  "Use only facts in the text, keep names, places, dates and amounts, and do not add advice.";

/** Groq's context is large but not endless, and the gist of a record is in its first pages. */
const MAX_INPUT_CHARS = 24_000;

export type GroqSettings = { apiKey: string; model: string; baseUrl: string; minChars: number };

export class GroqSummarizer implements Summarizer {
  readonly model: string;
  readonly minChars: number;
  private readonly client: Groq;

  constructor(private readonly settings: GroqSettings) {
    this.model = `groq:${settings.model}`;
    this.minChars = settings.minChars;
    this.client = new Groq({ apiKey: settings.apiKey, baseURL: settings.baseUrl, maxRetries: 0, timeout: 20_000 });
  }

  async summarize(title: string, text: string): Promise<string> {
    try {
      const completion = await this.client.chat.completions.create({
        model: this.settings.model,
        temperature: 0,
        max_completion_tokens: 220,
        messages: [
          { role: "system", content: INSTRUCTIONS },
          { role: "user", content: `${title}\n\n${text.slice(0, MAX_INPUT_CHARS)}` },
        ],
      });
      const summary = completion.choices[0]?.message.content?.trim();
      if (!summary) throw new GroqApiError(200);
      return summary;
    } catch (error) {
      if (error instanceof Groq.RateLimitError) throw new ProviderRateLimited("groq", parseRetryAfter(error.headers.get("retry-after")));
      if (error instanceof Groq.APIError) throw new GroqApiError(error.status);
      throw error;
    }
  }
}
