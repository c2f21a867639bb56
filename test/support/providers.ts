// Real providers (the offline embedder, the D1 store) whose calls are counted, or made to fail:
// shared by the vectorize suites.
import { env } from "cloudflare:workers";
import { openDatabase } from "../../workers/db/client";
import { D1VectorStore } from "../../workers/vectorize/d1-vector-store";
import type { Embedder } from "../../workers/vectorize/embedder";
import { OfflineEmbedder } from "../../workers/vectorize/offline-embedder";
import { EmbeddingsApiError } from "../../workers/vectorize/openai-embedder";
import type { VectorizeProviders } from "../../workers/vectorize/providers";
import type { VectorStore } from "../../workers/vectorize/vector-store";

export const offline = new OfflineEmbedder();

export type ProviderFaults = {
  /** Texts containing it make the embedder fail the whole call, as an API answers a request with one bad input (a 400 for all of it). */
  poison?: string;
  embed?: (texts: readonly string[]) => Error | null;
  store?: () => Error | null;
};

export function countingProviders(faults: ProviderFaults = {}) {
  const calls = { embed: 0, store: 0, embeddedTexts: 0 };
  const store = new D1VectorStore(openDatabase(env.DB));
  const embedder: Embedder = {
    model: offline.model,
    dimensions: offline.dimensions,
    maxBatch: offline.maxBatch,
    async embed(texts) {
      calls.embed += 1;
      calls.embeddedTexts += texts.length;
      const poison = faults.poison;
      if (poison && texts.some((text) => text.includes(poison))) throw new EmbeddingsApiError(400, "invalid_input");
      const failure = faults.embed?.(texts);
      if (failure) throw failure;
      return offline.embed(texts);
    },
  };
  const countingStore: VectorStore = {
    async replaceDocuments(model, documents) {
      calls.store += 1;
      const failure = faults.store?.();
      if (failure) throw failure;
      return store.replaceDocuments(model, documents);
    },
    query: (query) => store.query(query),
  };
  const providers: VectorizeProviders = { embedder, store: countingStore };
  return { providers, calls };
}
