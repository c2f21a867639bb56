// The embedder, vector store and summarizer this installation uses, chosen by configuration
// (workers/vectorize/config.ts):
//   embedder: an OpenAI-compatible API when EMBEDDINGS_URL is set, else Workers AI when the AI
//             binding exists (deployed environments), else the offline embedder;
//   store:    Qdrant when QDRANT_URL is set, else the D1 store;
//   summaries: Groq when GROQ_API_KEY is set, else none.
// With nothing configured (a newcomer's `npm run dev`) the embedded defaults serve.
import type { Database } from "../db/client";
import { vectorizeConfig } from "./config";
import { D1VectorStore } from "./d1-vector-store";
import type { Embedder } from "./embedder";
import { GroqSummarizer, type Summarizer } from "./groq-summarizer";
import { OfflineEmbedder } from "./offline-embedder";
import { OpenAiCompatibleEmbedder } from "./openai-embedder";
import { QdrantVectorStore } from "./qdrant-vector-store";
import type { MinScoreSetting } from "./relevance-floor";
import type { VectorStore } from "./vector-store";
import { WorkersAiEmbedder } from "./workers-ai-embedder";

export type VectorizeProviders = {
  embedder: Embedder;
  store: VectorStore;
  summarizer?: Summarizer | null;
  /** SEARCH_MIN_SCORE: the relevance floor searches use instead of the model's calibrated one. */
  searchMinScore?: MinScoreSetting;
};

const offlineEmbedder = new OfflineEmbedder();

/** Throws CapabilityNotConfigured (503 naming the variable) when a provider is half configured. */
export async function vectorizeProviders(env: Env, db: Database): Promise<VectorizeProviders> {
  const config = await vectorizeConfig.load(env);
  // The AI binding is declared only where the Worker is deployed.
  const ai = (env as { AI?: Ai }).AI;
  const embedder: Embedder = config.embeddings
    ? new OpenAiCompatibleEmbedder(config.embeddings)
    : ai
      ? new WorkersAiEmbedder(ai, config.workersAiModel)
      : offlineEmbedder;
  return {
    embedder,
    store: config.qdrant ? new QdrantVectorStore(config.qdrant) : new D1VectorStore(db),
    summarizer: config.groq ? new GroqSummarizer(config.groq) : null,
    searchMinScore: config.searchMinScore,
  };
}

/** What /healthz and the index status report: provider kinds and the model, never a key. */
export function describeProviders(providers: VectorizeProviders): { embedder: string; store: "d1" | "qdrant"; summarizer: string | null } {
  return {
    embedder: providers.embedder.model,
    store: providers.store instanceof QdrantVectorStore ? "qdrant" : "d1",
    summarizer: providers.summarizer?.model ?? null,
  };
}
