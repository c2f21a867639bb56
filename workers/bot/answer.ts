// From a question to an answer: retrieval restricted to what the asking room may see, then
// Groq grounded in numbered context (or, without a Groq key, the best passages as they are).
// Groq's faults follow one policy, inside a deadline: a 429 waits its retry-after when that
// fits, else the answer is left for later; a 5xx or a timeout is retried once, then the answer
// is an honest error. Never silence. A model Groq no longer serves (model_not_found /
// model_decommissioned) is a configuration error: the answer is extractive and says the
// language model is unavailable, one alert names GROQ_ANSWER_MODEL, and later questions do not
// ask the model until PROBE_INTERVAL_MS has passed (workers/llm/model-outages.ts). A reply the
// model did not finish (its completion budget ran out) is never passed on as the answer: the
// answer is extractive and says so.
import type { Database } from "../db/client";
import { GroqApiError, GroqModelUnavailable, type GroqChat } from "../llm/groq-chat";
import { ANSWER_MAX_COMPLETION_TOKENS } from "../llm/groq-models";
import { clearModelOutage, modelOutage, reportModelUnavailable, skipModel } from "../llm/model-outages";
import { logWarn } from "../log";
import { searchIndex } from "../search/search";
import { withStorage } from "../db/with-storage";
import { ProviderRateLimited } from "../http/provider-errors";
import type { VectorizeProviders } from "../vectorize/providers";
import type { SearchHit } from "../vectorize/vector-store";
import { answerModelRole } from "./config";
import { DEFAULT_ROOM_VISIBILITY_TTL_SECONDS, visibleHits, type VisibilityCheck } from "../chat/room-visibility";
import { citedNumbers, promptMessages, REFUSAL, type ContextItem, type Turn } from "./prompt";

export type Source = { n: number; documentId: string; title: string; occurredAt: number | null; url: string | null };

/** Why an answer is extractive: no model configured, the model unavailable, or its reply unfinished. */
export type ExtractiveReason = "no-model" | "model-unavailable" | "model-incomplete";

export type Answer = {
  mode: "groq" | "extractive" | "refusal" | "error";
  /** Set on extractive answers. */
  extractiveReason?: ExtractiveReason;
  body: string;
  sources: Source[];
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  retrievalMs: number;
  modelMs: number;
};

/** Not answered within the deadline: try again (the async path) after `delaySeconds`. */
export type Later = { later: true; delaySeconds: number; reason: string };

/** The answer when retrieval finds nothing relevant: no record is worth a model call or a source. */
export const NOTHING_FOUND = "I found nothing about that in the records I can see.";

/** Records shown to the model, and passages in an extractive answer. */
const CONTEXT_RECORDS = 6;
const EXTRACTIVE_PASSAGES = 3;
/** Below this much time left, another model call cannot finish. */
const MIN_CALL_MS = 750;

const sourceOf = (n: number, hit: SearchHit): Source => ({ n, documentId: hit.documentId, title: hit.title, occurredAt: hit.occurredAt, url: hit.url });

/** The best chunk of each document, best documents first. */
function distinctDocuments(hits: readonly SearchHit[], limit: number): SearchHit[] {
  const seen = new Set<string>();
  const kept: SearchHit[] = [];
  for (const hit of hits) {
    if (seen.has(hit.documentId)) continue;
    seen.add(hit.documentId);
    kept.push(hit);
    if (kept.length === limit) break;
  }
  return kept;
}

export type AnswerInput = {
  db: Database;
  providers: VectorizeProviders;
  groq: GroqChat | null;
  roomId: string;
  question: string;
  /** Earlier turns of the thread, oldest first. */
  history: readonly Turn[];
  /** Epoch ms by which the answer must be ready. */
  deadline: number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * How the rooms of retrieved records are checked (rooms.info and the cache's lifetime).
   * Default: no REST API, so only cached answers younger than the default lifetime count.
   */
  visibility?: VisibilityCheck;
};

export async function answerQuestion(input: AnswerInput): Promise<Answer | Later> {
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const retrievalStarted = Date.now();
  // A short follow-up ("and the week after?") is searched together with the question before it.
  const previous = input.history.at(-1)?.question;
  const searchText = previous && input.question.split(/\s+/).length < 6 ? `${previous} ${input.question}` : input.question;
  const found = await searchIndex(input.db, input.providers, { query: searchText, k: 20, filter: { rooms: [input.roomId] } });
  // Before anything reaches the prompt or the reply: another room's record only while that room is public now.
  const visibility = input.visibility ?? { api: null, ttlMs: DEFAULT_ROOM_VISIBILITY_TTL_SECONDS * 1000 };
  const hits = await withStorage("checking room visibility", () => visibleHits(input.db, found, [input.roomId], visibility));
  const items: ContextItem[] = distinctDocuments(hits, CONTEXT_RECORDS).map((hit, index) => ({ n: index + 1, hit }));
  const retrievalMs = Date.now() - retrievalStarted;
  const base = { retrievalMs, promptTokens: null, completionTokens: null, modelMs: 0 };

  /** The best passages as they are, numbered, with their sources. */
  const extractive = (extractiveReason: ExtractiveReason, modelMs = 0): Answer => {
    const passages = items.slice(0, EXTRACTIVE_PASSAGES);
    if (passages.length === 0) return { ...base, modelMs, mode: "refusal", body: REFUSAL, sources: [], model: null };
    return {
      ...base,
      modelMs,
      mode: "extractive",
      extractiveReason,
      body: passages.map(({ n, hit }) => `**[${n}]** ${hit.text.split("\n").slice(1).join(" ").trim() || hit.text}`).join("\n\n"),
      sources: passages.map(({ n, hit }) => sourceOf(n, hit)),
      model: null,
    };
  };

  // Nothing relevant (workers/vectorize/relevance-floor.ts) that this room may see: say so, with no sources and no model call.
  if (items.length === 0) return { ...base, mode: "refusal", body: NOTHING_FOUND, sources: [], model: null };
  if (!input.groq) return extractive("no-model");

  const role = answerModelRole(input.groq.settings.model);
  const outage = await modelOutage(input.db, role);
  if (skipModel(outage, Date.now())) return extractive("model-unavailable");

  const messages = promptMessages(input.question, items, input.history);
  const modelStarted = Date.now();
  let retried = false;
  for (;;) {
    const remaining = input.deadline - Date.now();
    if (remaining < MIN_CALL_MS) return { later: true, delaySeconds: 0, reason: "deadline" };
    try {
      // The budget covers gpt-oss's reasoning as well as the answer (workers/llm/groq-models.ts).
      const completion = await input.groq.complete(messages, { timeoutMs: remaining, maxTokens: ANSWER_MAX_COMPLETION_TOKENS });
      if (outage) await clearModelOutage(input.db, role);
      const cited = citedNumbers(completion.text, items.length);
      const refused = cited.length === 0;
      return {
        ...base,
        mode: refused ? "refusal" : "groq",
        // An answer that cites nothing is not grounded: say so rather than pass it on.
        body: refused ? REFUSAL : completion.text,
        sources: cited.map((n) => sourceOf(n, items[n - 1]!.hit)),
        model: completion.model,
        promptTokens: completion.promptTokens,
        completionTokens: completion.completionTokens,
        modelMs: Date.now() - modelStarted,
      };
    } catch (error) {
      if (error instanceof GroqModelUnavailable) {
        await reportModelUnavailable(input.db, role, error.code, Date.now());
        return extractive("model-unavailable", Date.now() - modelStarted);
      }
      if (error instanceof GroqApiError && (error.kind === "incomplete" || error.kind === "empty")) {
        // Deterministic at temperature 0: asking again would spend the same budget the same way.
        if (outage) await clearModelOutage(input.db, role);
        logWarn("bot answer not finished", { model: role.model, kind: error.kind });
        return extractive("model-incomplete", Date.now() - modelStarted);
      }
      if (error instanceof ProviderRateLimited) {
        const waitMs = (error.retryAfterSeconds ?? 5) * 1000;
        if (Date.now() + waitMs + MIN_CALL_MS < input.deadline) {
          await sleep(waitMs);
          continue;
        }
        return { later: true, delaySeconds: error.retryAfterSeconds ?? 5, reason: "groq rate limited" };
      }
      if (error instanceof GroqApiError && error.kind === "timeout" && Date.now() >= input.deadline - 50) {
        return { later: true, delaySeconds: 0, reason: "deadline" };
      }
      if (error instanceof GroqApiError && !retried) {
        retried = true;
        continue;
      }
      if (error instanceof GroqApiError) {
        const what = error.kind === "status" ? `answered ${error.status}` : error.kind === "timeout" ? "did not answer in time" : "could not be reached";
        return {
          ...base,
          mode: "error",
          body: `Sorry, I could not get an answer: the language model ${what}, twice. Please ask again in a minute.`,
          sources: [],
          model: input.groq.settings.model,
          modelMs: Date.now() - modelStarted,
        };
      }
      throw error;
    }
  }
}
