// Short summaries of long documents (call transcripts, long guest conversations) from Groq,
// (workers/llm/groq-chat.ts). A summary is embedded with the document's chunks, so a question
// about the gist finds a long call even when no single chunk says it. A 429 becomes
// ProviderRateLimited with Groq's retry-after, and the queue waits that long; a model Groq no
// longer serves becomes GroqModelUnavailable, and the batch is indexed without summaries
// (workers/vectorize/summaries.ts).
import { GroqChat, type GroqSettings } from "../llm/groq-chat";
import { SUMMARY_MAX_COMPLETION_TOKENS } from "../llm/groq-models";
import type { ModelRole } from "../llm/model-outages";
import { summaryModelRole } from "./config";

export interface Summarizer {
  /** Names the model: a summary is reused only for the same text and the same model. */
  readonly model: string;
  /** Documents at least this long (characters) get a summary. */
  readonly minChars: number;
  summarize(title: string, text: string): Promise<string>;
  /** The provider's model and the variable naming it, when an outage of it is recorded (Groq). */
  readonly modelRole?: ModelRole;
}

const INSTRUCTIONS =
  "You summarize business records of a short-let rental company (phone calls, guest conversations) for search. " +
  "Write 2 to 4 plain sentences: who, which property, what was asked or reported, and what was agreed. " +
  "Use only facts in the text, keep names, places, dates and amounts, and do not add advice.";

/** Groq's context is large but not endless, and the gist of a record is in its first pages. */
const MAX_INPUT_CHARS = 24_000;

export class GroqSummarizer implements Summarizer {
  readonly model: string;
  readonly minChars: number;
  readonly modelRole: ModelRole;
  private readonly chat: GroqChat;

  constructor(settings: GroqSettings & { minChars: number }) {
    this.model = `groq:${settings.model}`;
    this.minChars = settings.minChars;
    this.modelRole = summaryModelRole(settings.model);
    this.chat = new GroqChat(settings);
  }

  async summarize(title: string, text: string): Promise<string> {
    const completion = await this.chat.complete(
      [
        { role: "system", content: INSTRUCTIONS },
        { role: "user", content: `${title}\n\n${text.slice(0, MAX_INPUT_CHARS)}` },
      ],
      // Room for gpt-oss's reasoning as well as the 2 to 4 sentences.
      { timeoutMs: 20_000, maxTokens: SUMMARY_MAX_COMPLETION_TOKENS },
    );
    return completion.text;
  }
}
