// The embedder and vector store this installation uses. With nothing configured (a newcomer's
// `npm run dev`, a small install) they are the embedded defaults: the offline embedder and the
// D1 store. Production providers plug in here behind the same interfaces.
import type { Database } from "../db/client";
import { D1VectorStore } from "./d1-vector-store";
import type { Embedder } from "./embedder";
import { OfflineEmbedder } from "./offline-embedder";
import type { VectorStore } from "./vector-store";

export type VectorizeProviders = { embedder: Embedder; store: VectorStore };

const offlineEmbedder = new OfflineEmbedder();

export function vectorizeProviders(db: Database): VectorizeProviders {
  return { embedder: offlineEmbedder, store: new D1VectorStore(db) };
}
