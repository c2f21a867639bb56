// Where chunk vectors live and how they are searched. The embedded store (D1, this folder) is
// the default; Qdrant implements the same interface for production. Every call covers a whole
// batch, so a queue batch of 100 documents costs one `replaceDocuments` call.
import type { RelevanceFloor } from "./relevance-floor";

/** What a search returns of a chunk besides its vector. */
export type ChunkPayload = {
  documentId: string;
  chunkIndex: number;
  /** The chunk as indexed, header line included. */
  text: string;
  source: string;
  entityType: string;
  /** Chat room of a chat chunk; null for business records. */
  room: string | null;
  title: string;
  url: string | null;
  /** When what the chunk tells happened (ms since the epoch). */
  occurredAt: number | null;
};

export type IndexedChunk = ChunkPayload & { id: string; vector: Float32Array };

/** A document's complete set of chunks; an empty set removes the document from the index. */
export type DocumentChunks = { documentId: string; chunks: readonly IndexedChunk[] };

export type SearchFilter = {
  source?: string;
  entityType?: string;
  /** When set: business records (no room) and chunks of these rooms only. */
  rooms?: readonly string[];
  /** occurredAt >= since (ms). */
  since?: number;
  /** occurredAt < until (ms). */
  until?: number;
};

export type SearchQuery = {
  model: string;
  vector: Float32Array;
  /** The question as typed, for the keyword half of hybrid search. */
  text: string;
  k: number;
  filter?: SearchFilter;
  /** What a chunk needs to be returned at all (workers/vectorize/relevance-floor.ts); none: k hits. */
  floor?: RelevanceFloor;
};

export type SearchHit = ChunkPayload & {
  chunkId: string;
  /** The fused (reciprocal rank) score: orders hits, says nothing of relevance on its own. */
  score: number;
  /** The dense cosine of the chunk and the query, what the floor compares; null where the store did not learn it. */
  relevance?: number | null;
};

export interface VectorStore {
  /** Writes every chunk given and removes every other chunk of those documents, in one call. */
  replaceDocuments(model: string, documents: readonly DocumentChunks[]): Promise<void>;
  /** Dense and keyword results fused by reciprocal rank, best first, at most `k`; with a floor, only chunks that pass it. */
  query(query: SearchQuery): Promise<SearchHit[]>;
}

/** Reciprocal rank fusion: each list adds 1 / (RRF_K + rank) to an id's score. */
export const RRF_K = 60;

export function fuseByReciprocalRank(rankings: readonly (readonly string[])[]): Map<string, number> {
  const scores = new Map<string, number>();
  for (const ranking of rankings) {
    ranking.forEach((id, index) => scores.set(id, (scores.get(id) ?? 0) + 1 / (RRF_K + index + 1)));
  }
  return scores;
}
