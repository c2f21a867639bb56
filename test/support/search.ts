// POST /api/search as the admin calls it.
import { adminFetch } from "./admin";

export type SearchHitBody = {
  documentId: string;
  chunkId: string;
  score: number;
  source: string;
  entityType: string;
  title: string;
  text: string;
  url?: string;
  room?: string;
  occurredAt: string | null;
};

export const searchRequest = (body: unknown): Promise<Response> => adminFetch("/api/search", { json: body });

export async function search(body: { query: string; k?: number; filter?: Record<string, unknown> }): Promise<SearchHitBody[]> {
  const response = await searchRequest({ k: 50, ...body });
  if (response.status !== 200) throw new Error(`search answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { hits: SearchHitBody[] }).hits;
}
