// Hybrid search over the index, shared by POST /api/search and the Rocket.Chat bot. A search
// restricted to some rooms sees business records, public channels and those rooms, never
// another private room's messages. A relevance floor decides what may be returned at all
// (workers/vectorize/relevance-floor.ts): a search may find fewer than k hits, or none.
import type { Database } from "../db/client";
import { withStorage } from "../db/with-storage";
import { publicRoomIds } from "../chat/room-visibility";
import type { VectorizeProviders } from "../vectorize/providers";
import { exactTermCandidates, minScoreFor, type FloorSource } from "../vectorize/relevance-floor";
import type { SearchFilter, SearchHit } from "../vectorize/vector-store";

export type SearchRequest = {
  query: string;
  k: number;
  filter?: SearchFilter | undefined;
  /** This search's own floor (an admin's `minScore`), before SEARCH_MIN_SCORE and the model's; "off": none. */
  minScore?: number | "off" | undefined;
};

export type AppliedFloor = { minScore: number; source: FloorSource | "request" };

/** The floor a search gets: its own, else SEARCH_MIN_SCORE, else the embedder model's calibrated one, else none. */
export function searchFloor(providers: VectorizeProviders, minScore?: number | "off"): AppliedFloor | null {
  if (minScore === "off") return null;
  if (minScore !== undefined) return { minScore, source: "request" };
  return minScoreFor(providers.embedder.model, providers.searchMinScore ?? null);
}

export async function searchIndex(db: Database, providers: VectorizeProviders, request: SearchRequest): Promise<SearchHit[]> {
  const filter = { ...request.filter };
  if (filter.rooms) {
    const visible = await withStorage("reading room visibility", () => publicRoomIds(db));
    filter.rooms = [...new Set([...filter.rooms, ...visible])];
  }
  const [vector] = await providers.embedder.embed([request.query]);
  const floor = searchFloor(providers, request.minScore);
  return providers.store.query({
    model: providers.embedder.model,
    vector: vector!,
    text: request.query,
    k: request.k,
    filter,
    ...(floor ? { floor: { minScore: floor.minScore, exactTerms: exactTermCandidates(request.query) } } : {}),
  });
}
