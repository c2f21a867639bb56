// Hybrid search over the index, shared by POST /api/search and the Rocket.Chat bot. A search
// restricted to some rooms sees business records, public channels and those rooms, never
// another private room's messages.
import type { Database } from "../db/client";
import { withStorage } from "../db/with-storage";
import { publicRoomIds } from "../chat/room-visibility";
import type { VectorizeProviders } from "../vectorize/providers";
import type { SearchFilter, SearchHit } from "../vectorize/vector-store";

export type SearchRequest = { query: string; k: number; filter?: SearchFilter | undefined };

export async function searchIndex(db: Database, providers: VectorizeProviders, request: SearchRequest): Promise<SearchHit[]> {
  const filter = { ...request.filter };
  if (filter.rooms) {
    const visible = await withStorage("reading room visibility", () => publicRoomIds(db));
    filter.rooms = [...new Set([...filter.rooms, ...visible])];
  }
  const [vector] = await providers.embedder.embed([request.query]);
  return providers.store.query({ model: providers.embedder.model, vector: vector!, text: request.query, k: request.k, filter });
}
