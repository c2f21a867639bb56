// Which embedder, vector store and enrichment this installation uses. Every variable is
// optional: with none set the embedded defaults serve (the offline embedder, the D1 store, no
// summaries). A provider that is half configured (a URL without its model) is an error naming
// the missing variable, never a silent fallback that would mix vector spaces.
import { z } from "zod";
import { ConfigProblem, defineCapability } from "../config/capability";
import { secretString } from "../config/variables";
import { openDatabase } from "../db/client";
import { DEFAULT_GROQ_BASE_URL, groqVariables } from "../llm/groq-config";
import { outageProblems, type ModelRole } from "../llm/model-outages";

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const NOT_A_FLOOR = 'must be a number from -1 to 1, or "off"';
/**
 * The relevance floor of every search, whatever the model (workers/vectorize/relevance-floor.ts):
 * a cosine similarity from -1 to 1, or "off" for none (k hits, even for nonsense). Unset, a model
 * with a calibrated floor uses it and any other model has none.
 */
const searchMinScore = z.union(
  [
    z.literal("off"),
    z
      .string()
      .trim()
      .regex(/^-?(\d+(\.\d*)?|\.\d+)$/, { error: NOT_A_FLOOR })
      .transform(Number)
      .pipe(z.number().min(-1, { error: NOT_A_FLOOR }).max(1, { error: NOT_A_FLOOR })),
  ],
  { error: NOT_A_FLOOR },
);

export const DEFAULT_WORKERS_AI_EMBEDDING_MODEL = "@cf/baai/bge-m3";
export const DEFAULT_QDRANT_COLLECTION = "edge-ops";
/**
 * Summaries: Groq's small production model (llama-3.1-8b-instant, the former default, was
 * retired on 2026-08-16). It reasons before answering; see workers/llm/groq-models.ts.
 */
export const DEFAULT_GROQ_MODEL = "openai/gpt-oss-20b";
export { DEFAULT_GROQ_BASE_URL };
export const DEFAULT_SUMMARY_MIN_CHARS = 2500;

export const vectorizeConfig = defineCapability({
  name: "vectorization",
  variables: {
    EMBEDDINGS_URL: httpUrl.optional(),
    EMBEDDINGS_API_KEY: secretString(8).optional(),
    EMBEDDINGS_MODEL: z.string().min(1).max(200).optional(),
    EMBEDDINGS_DIMENSIONS: positiveInt(8192).optional(),
    EMBEDDINGS_MAX_BATCH: positiveInt(2048).optional(),
    WORKERS_AI_EMBEDDING_MODEL: z.string().startsWith("@cf/").optional(),
    QDRANT_URL: httpUrl.optional(),
    QDRANT_API_KEY: secretString(8).optional(),
    QDRANT_COLLECTION: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, { error: "letters, digits, - and _ only" }).optional(),
    GROQ_API_KEY: groqVariables.apiKey,
    GROQ_MODEL: groqVariables.model,
    GROQ_BASE_URL: groqVariables.baseUrl,
    SUMMARY_MIN_CHARS: positiveInt(1_000_000).optional(),
    SEARCH_MIN_SCORE: searchMinScore.optional(),
  },
  build: (values) => {
    if (values.EMBEDDINGS_URL && !values.EMBEDDINGS_MODEL) throw new ConfigProblem("EMBEDDINGS_MODEL is not set (EMBEDDINGS_URL is)");
    if (!values.EMBEDDINGS_URL && values.EMBEDDINGS_MODEL) throw new ConfigProblem("EMBEDDINGS_URL is not set (EMBEDDINGS_MODEL is)");
    return {
      embeddings: values.EMBEDDINGS_URL
        ? {
            baseUrl: values.EMBEDDINGS_URL,
            apiKey: values.EMBEDDINGS_API_KEY ?? null,
            model: values.EMBEDDINGS_MODEL!,
            dimensions: values.EMBEDDINGS_DIMENSIONS ?? null,
            maxBatch: values.EMBEDDINGS_MAX_BATCH ?? 256,
          }
        : null,
      workersAiModel: values.WORKERS_AI_EMBEDDING_MODEL ?? DEFAULT_WORKERS_AI_EMBEDDING_MODEL,
      qdrant: values.QDRANT_URL
        ? { url: values.QDRANT_URL, apiKey: values.QDRANT_API_KEY ?? null, collection: values.QDRANT_COLLECTION ?? DEFAULT_QDRANT_COLLECTION }
        : null,
      searchMinScore: values.SEARCH_MIN_SCORE ?? null,
      groq: values.GROQ_API_KEY
        ? {
            apiKey: values.GROQ_API_KEY,
            model: values.GROQ_MODEL ?? DEFAULT_GROQ_MODEL,
            baseUrl: values.GROQ_BASE_URL ?? DEFAULT_GROQ_BASE_URL,
            minChars: values.SUMMARY_MIN_CHARS ?? DEFAULT_SUMMARY_MIN_CHARS,
          }
        : null,
    };
  },
  // A summary model Groq no longer serves: documents are indexed without summaries meanwhile.
  degradation: async (config, env) => (config.groq ? outageProblems(openDatabase(env.DB), summaryModelRole(config.groq.model)) : []),
});

/** The summaries' model, as the outage records, the alert and /healthz name it. */
export const summaryModelRole = (model: string): ModelRole => ({
  variable: "GROQ_MODEL",
  model,
  capability: "vectorization",
  withoutIt: "documents are indexed without summaries (and summarized afterwards)",
});

export type VectorizeConfig = Awaited<ReturnType<typeof vectorizeConfig.load>>;
