// What the Qdrant suites share: chunks embedded by the offline embedder, a query through a
// store, and the requests the fake Qdrant recorded for one collection.
import type { QdrantVectorStore } from "../../workers/vectorize/qdrant-vector-store";
import { chunkId } from "../../workers/vectorize/chunk-id";
import { OfflineEmbedder } from "../../workers/vectorize/offline-embedder";
import type { IndexedChunk } from "../../workers/vectorize/vector-store";

export const embedder = new OfflineEmbedder();

export type FakeQdrantRequest = { method: string; path: string; query: Record<string, string>; body: unknown };

/** A collection prefix no other test uses. */
export const uniquePrefix = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;

export const fakeQdrantRequests = async (url: string, collection: string): Promise<FakeQdrantRequest[]> =>
  (await fetch(`${url}/__fake/requests?collection=${encodeURIComponent(collection)}`)).json();

/** A reservation chunk of `documentId` (chunk 0 unless `extra` says otherwise), embedded. */
export async function embeddedChunk(documentId: string, text: string, extra: Partial<IndexedChunk> = {}): Promise<IndexedChunk> {
  const [vector] = await embedder.embed([text]);
  return {
    id: await chunkId(documentId, extra.chunkIndex ?? 0),
    documentId,
    chunkIndex: 0,
    text,
    vector: vector!,
    source: "guesty",
    entityType: "reservation",
    room: null,
    title: documentId,
    url: null,
    occurredAt: 1_780_000_000_000,
    ...extra,
  };
}

export async function queryStore(target: QdrantVectorStore, text: string, k = 5) {
  const [vector] = await embedder.embed([text]);
  return target.query({ model: embedder.model, vector: vector!, text, k });
}
