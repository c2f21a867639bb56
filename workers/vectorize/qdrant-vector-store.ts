// The production vector store: Qdrant. One collection per embedder model
// (`<QDRANT_COLLECTION>__<model>`), so vectors of two models never share a space and a model
// change fills a new collection through the catch-up path. A collection is created on first use
// with a named dense vector (cosine), a sparse `bm25` vector that Qdrant fills from the text
// itself (server-side BM25 inference, where the server has it) and payload indexes on what
// searches filter by. A batch costs two calls (upsert, then delete what the documents no longer
// have), both with `wait=true`, so an acknowledged batch is searchable.
//
// A server that answers "InferenceService is not initialized" although its version says BM25
// (a 1.15.3+ started with an empty `inference.address`, a version string we misread) is used
// dense-only from then on: upserts leave the `bm25` vector out (a point may lack a named vector)
// and searches use the dense vector alone, even in collections that have the `bm25` vector.
// One alert says so. That knowledge lives in this isolate only: another isolate (and this one
// after a restart) tries BM25 once more and falls back the same way, with its own alert line.
// Points written meanwhile have no BM25 vector until they are re-vectorized.
import { z } from "zod";
import { logError } from "../log";
import { fnv1a } from "./offline-embedder";
import { isInferenceUnavailable, QdrantApi, type QdrantCollection, type QdrantFilter, type ScoredPoint } from "./qdrant-api";
import { containsWord, fuseAboveFloor, hitFloor, RARE_TERM_MAX_CHUNKS, type RelevanceFloor } from "./relevance-floor";
import type { DocumentChunks, IndexedChunk, SearchFilter, SearchHit, SearchQuery, VectorStore } from "./vector-store";

const DENSE = "dense";
const BM25 = "bm25";
const BM25_MODEL = "qdrant/bm25";
/**
 * Server-side BM25 inference (`{"text","model":"qdrant/bm25"}` in place of a sparse vector)
 * without configuring an inference service. The local BM25 model ships in 1.15.2, but 1.15.2
 * starts its inference service only when `inference.address` is set, so there every request
 * carrying the object answers 500. "Always load InferenceService" (qdrant/qdrant#7050, commit
 * 6ae07f0, 2025-08-13) is first in v1.15.3 (tagged 2025-08-14), not in v1.15.2 (2025-08-11):
 * checked in qdrant/qdrant's git history and src/main.rs at both tags, 2026-12-06.
 */
export const SERVER_BM25_SINCE = [1, 15, 3] as const;
/** How many candidates each half contributes to the fusion, per result asked for. */
const CANDIDATES_PER_RESULT = 4;
/** Points per upsert request: a queue batch of 100 documents fits in one. */
const POINTS_PER_REQUEST = 1000;

const PAYLOAD_INDEXES = [
  ["document_id", "keyword"],
  ["source", "keyword"],
  ["entity_type", "keyword"],
  ["room", "keyword"],
  ["occurred_at", "integer"],
] as const;

export function supportsServerBm25(version: string | null): boolean {
  const parts = (version ?? "").split(/[.-]/).map(Number);
  for (let i = 0; i < SERVER_BM25_SINCE.length; i += 1) {
    const part = parts[i] ?? 0;
    if (Number.isNaN(part)) return false;
    if (part !== SERVER_BM25_SINCE[i]) return part > SERVER_BM25_SINCE[i]!;
  }
  return true;
}

/** `<prefix>__<model>`, in the characters a collection name may use. */
export function collectionName(prefix: string, model: string): string {
  const slug = model.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
  const name = `${prefix}__${slug}`;
  return name.length <= 120 ? name : `${name.slice(0, 110)}-${fnv1a(model).toString(16)}`;
}

const payloadSchema = z.object({
  document_id: z.string(),
  chunk_index: z.number().int(),
  text: z.string(),
  source: z.string(),
  entity_type: z.string(),
  room: z.string().nullable(),
  title: z.string(),
  url: z.string().nullable(),
  occurred_at: z.number().nullable(),
});

function qdrantFilter(filter: SearchFilter = {}): QdrantFilter | undefined {
  const must: unknown[] = [];
  if (filter.source) must.push({ key: "source", match: { value: filter.source } });
  if (filter.entityType) must.push({ key: "entity_type", match: { value: filter.entityType } });
  if (filter.rooms) {
    // Business records (room null) and the rooms listed, never another room's chat.
    const should: unknown[] = [{ is_null: { key: "room" } }];
    if (filter.rooms.length > 0) should.push({ key: "room", match: { any: [...filter.rooms] } });
    must.push({ should });
  }
  if (filter.since !== undefined || filter.until !== undefined) {
    must.push({ key: "occurred_at", range: { ...(filter.since !== undefined ? { gte: filter.since } : {}), ...(filter.until !== undefined ? { lt: filter.until } : {}) } });
  }
  return must.length > 0 ? { must } : undefined;
}

/** What this isolate knows of each collection: created, and whether it has the BM25 vector. */
const collections = new Map<string, Promise<{ hybrid: boolean } | null>>();
/** Per server URL, in this isolate: whether its version has server-side BM25. */
const versionHasBm25 = new Map<string, Promise<boolean>>();
/** Servers (URLs) that answered "InferenceService is not initialized": dense-only in this isolate. */
const withoutInference = new Set<string>();

export class QdrantVectorStore implements VectorStore {
  private readonly api: QdrantApi;

  constructor(
    private readonly settings: { url: string; apiKey: string | null; collection: string },
    api?: QdrantApi,
  ) {
    this.api = api ?? new QdrantApi(settings);
  }

  private key(name: string) {
    return `${this.settings.url}#${name}`;
  }

  /** Whether the server's version has server-side BM25; asked once per isolate. */
  private versionHasBm25(): Promise<boolean> {
    const known = versionHasBm25.get(this.settings.url);
    if (known) return known;
    const asked = this.api.version().then(supportsServerBm25);
    versionHasBm25.set(this.settings.url, asked);
    asked.catch(() => versionHasBm25.delete(this.settings.url));
    return asked;
  }

  /** Whether to send BM25 inference objects for a collection that has (`hybrid`) the vector. */
  private async useBm25(hybrid: boolean): Promise<boolean> {
    return hybrid && !withoutInference.has(this.settings.url) && (await this.versionHasBm25());
  }

  /** Dense-only for this server from now on, in this isolate; the first time, one alert. */
  private fallBackToDense(): void {
    if (withoutInference.has(this.settings.url)) return;
    withoutInference.add(this.settings.url);
    logError("qdrant cannot run server-side BM25 (InferenceService is not initialized): indexing and searching dense-only in this isolate", {
      variable: "QDRANT_URL",
      fix: "Qdrant 1.15.3 or later with inference.address unset, or a non-empty inference.address",
      alert: true,
    });
  }

  private static describe(info: QdrantCollection): { hybrid: boolean } {
    return { hybrid: Object.hasOwn(info.config.params.sparse_vectors ?? {}, BM25) };
  }

  /** The collection as it is, or null when it does not exist (not cached: it may appear). */
  private async existing(name: string): Promise<{ hybrid: boolean } | null> {
    const cached = collections.get(this.key(name));
    if (cached) {
      const known = await cached.catch(() => null);
      if (known) return known;
    }
    const info = await this.api.getCollection(name);
    if (!info) return null;
    const described = QdrantVectorStore.describe(info);
    collections.set(this.key(name), Promise.resolve(described));
    return described;
  }

  /** Creates the collection and its payload indexes unless it exists; once per isolate. */
  private ensure(name: string, dimensions: number): Promise<{ hybrid: boolean }> {
    const key = this.key(name);
    const cached = collections.get(key);
    if (cached) {
      return cached.then((known) => known ?? this.create(name, dimensions));
    }
    const created = this.create(name, dimensions);
    collections.set(key, created);
    created.catch(() => collections.delete(key));
    return created;
  }

  private async create(name: string, dimensions: number): Promise<{ hybrid: boolean }> {
    const info = await this.api.getCollection(name);
    if (info) return QdrantVectorStore.describe(info);
    // By version only (not by a fallback of this isolate), so a server fixed later gets BM25.
    const hybrid = await this.versionHasBm25();
    await this.api.createCollection(name, {
      vectors: { [DENSE]: { size: dimensions, distance: "Cosine" } },
      ...(hybrid ? { sparse_vectors: { [BM25]: { modifier: "idf" } } } : {}),
    });
    for (const [field, schema] of PAYLOAD_INDEXES) await this.api.createPayloadIndex(name, field, schema);
    // Another isolate may have created it first, with its own idea of BM25: read what is there.
    const made = await this.api.getCollection(name);
    return made ? QdrantVectorStore.describe(made) : { hybrid };
  }

  async replaceDocuments(model: string, documents: readonly DocumentChunks[]): Promise<void> {
    if (documents.length === 0) return;
    const name = collectionName(this.settings.collection, model);
    const chunks = documents.flatMap((document) => document.chunks);
    if (chunks.length > 0) {
      const { hybrid } = await this.ensure(name, chunks[0]!.vector.length);
      for (let start = 0; start < chunks.length; start += POINTS_PER_REQUEST) {
        const slice = chunks.slice(start, start + POINTS_PER_REQUEST);
        const withBm25 = await this.useBm25(hybrid);
        try {
          await this.api.upsert(name, QdrantVectorStore.points(slice, withBm25));
        } catch (error) {
          // Qdrant runs inference before it applies anything: nothing of this slice was written.
          if (!withBm25 || !isInferenceUnavailable(error)) throw error;
          this.fallBackToDense();
          await this.api.upsert(name, QdrantVectorStore.points(slice, false));
        }
      }
    }
    // What the documents no longer have: every other point of theirs (all of an emptied one's).
    await this.api.deleteByFilter(name, {
      must: [{ key: "document_id", match: { any: documents.map((document) => document.documentId) } }],
      ...(chunks.length > 0 ? { must_not: [{ has_id: chunks.map((chunk) => chunk.id) }] } : {}),
    });
  }

  /** The points of `chunks`; the BM25 inference object only when the server runs it. */
  private static points(chunks: readonly IndexedChunk[], withBm25: boolean) {
    return chunks.map((chunk) => ({
      id: chunk.id,
      vector: { [DENSE]: Array.from(chunk.vector), ...(withBm25 ? { [BM25]: { text: chunk.text, model: BM25_MODEL } } : {}) },
      payload: {
        document_id: chunk.documentId,
        chunk_index: chunk.chunkIndex,
        text: chunk.text,
        source: chunk.source,
        entity_type: chunk.entityType,
        room: chunk.room,
        title: chunk.title,
        url: chunk.url,
        occurred_at: chunk.occurredAt,
      },
    }));
  }

  async query(query: SearchQuery): Promise<SearchHit[]> {
    const name = collectionName(this.settings.collection, query.model);
    const collection = await this.existing(name);
    if (!collection) return [];
    if (query.floor) return this.queryAboveFloor(name, collection.hybrid, query, query.floor);
    const filter = qdrantFilter(query.filter);
    const limit = Math.max(1, query.k);
    const dense = { query: Array.from(query.vector), using: DENSE, limit: limit * CANDIDATES_PER_RESULT, ...(filter ? { filter } : {}) };
    const denseOnly = () => this.api.query(name, { ...dense, limit, with_payload: true });
    let points: ScoredPoint[];
    if (query.text.trim().length > 0 && (await this.useBm25(collection.hybrid))) {
      try {
        points = await this.api.query(name, {
          prefetch: [dense, { query: { text: query.text, model: BM25_MODEL }, using: BM25, limit: limit * CANDIDATES_PER_RESULT, ...(filter ? { filter } : {}) }],
          query: { fusion: "rrf" },
          limit,
          with_payload: true,
        });
      } catch (error) {
        if (!isInferenceUnavailable(error)) throw error;
        this.fallBackToDense();
        points = await denseOnly();
      }
    } else {
      points = await denseOnly();
    }
    return points.flatMap((point) => {
      const hit = QdrantVectorStore.hitOf(point);
      return hit ? [{ ...hit, score: point.score }] : [];
    });
  }

  /**
   * The floored search (workers/vectorize/relevance-floor.ts), in one Query API batch call: the
   * dense half above the hit floor (`score_threshold`: Qdrant scores Cosine as the cosine; its
   * first point is the best chunk the search may see, which the floor itself is compared with),
   * the BM25 half as ranked and again re-scored by the dense vector (the cosine of each keyword match),
   * and for each candidate exact term its chunks (at most one more than a rare term may have)
   * with their cosine. Fused here by reciprocal rank like the D1 store's, not by Qdrant's RRF
   * (k = 2): a score means the same in both stores. Without BM25 a term's chunks are found by
   * a payload `match: {text}`, which without a full-text index is a case-sensitive substring test
   * (`stored.contains(text)`, lib/segment/src/payload_storage/condition_checker.rs, qdrant/qdrant
   * v1.19.0, 2026-12-06): it is asked in the term's usual spellings and each chunk's words are
   * checked here.
   */
  private async queryAboveFloor(name: string, hybrid: boolean, query: SearchQuery, floor: RelevanceFloor): Promise<SearchHit[]> {
    const filter = qdrantFilter(query.filter);
    const withFilter = filter ? { filter } : {};
    const candidates = Math.max(1, query.k) * CANDIDATES_PER_RESULT;
    const vector = Array.from(query.vector);
    const exactLimit = RARE_TERM_MAX_CHUNKS + 1;
    const bm25 = (text: string, limit: number) => ({ query: { text, model: BM25_MODEL }, using: BM25, limit, ...withFilter });
    const rescored = (prefetch: Record<string, unknown>, limit: number) => ({ prefetch, query: vector, using: DENSE, limit, ...withFilter });
    const searches = (withBm25: boolean): Record<string, unknown>[] => [
      { query: vector, using: DENSE, limit: candidates, score_threshold: hitFloor(floor), with_payload: true, ...withFilter },
      ...(withBm25 ? [{ ...bm25(query.text, candidates), with_payload: true }, rescored(bm25(query.text, candidates), candidates)] : []),
      ...floor.exactTerms.map(({ term, typed }) =>
        withBm25
          ? { ...rescored(bm25(term, exactLimit), exactLimit), with_payload: true }
          : {
              query: vector,
              using: DENSE,
              limit: exactLimit,
              with_payload: true,
              filter: { must: [...(filter?.must ?? []), { should: spellings(typed).map((text) => ({ key: "text", match: { text } })) }] },
            },
      ),
    ];
    let withBm25 = query.text.trim().length > 0 && (await this.useBm25(hybrid));
    let lists: ScoredPoint[][];
    try {
      lists = await this.api.queryBatch(name, searches(withBm25));
    } catch (error) {
      if (!withBm25 || !isInferenceUnavailable(error)) throw error;
      this.fallBackToDense();
      withBm25 = false;
      lists = await this.api.queryBatch(name, searches(false));
    }

    const [densePoints = [], ...rest] = lists;
    const keywordPoints = withBm25 ? (rest[0] ?? []) : [];
    const keywordCosines = withBm25 ? (rest[1] ?? []) : [];
    const exactLists = rest.slice(withBm25 ? 2 : 0);
    const hits = new Map<string, Omit<SearchHit, "score">>();
    const relevance = new Map<string, number>();
    const keep = (point: ScoredPoint, cosine: boolean) => {
      const id = String(point.id);
      if (cosine) relevance.set(id, point.score);
      const hit = QdrantVectorStore.hitOf(point);
      if (hit && !hits.has(id)) hits.set(id, hit);
      return hit;
    };
    for (const point of densePoints) keep(point, true);
    for (const point of keywordCosines) keep(point, true);
    for (const point of keywordPoints) keep(point, false);
    const exact = new Set<string>();
    floor.exactTerms.forEach(({ term }, index) => {
      const points = exactLists[index] ?? [];
      if (points.length > RARE_TERM_MAX_CHUNKS) return;
      for (const point of points) {
        const hit = keep(point, true);
        if (hit && containsWord(hit.text, term)) exact.add(String(point.id));
      }
    });
    const fused = fuseAboveFloor({
      minScore: floor.minScore,
      dense: densePoints.map((point) => String(point.id)),
      keyword: keywordPoints.map((point) => String(point.id)),
      relevance,
      exact,
      candidates,
      k: query.k,
    });
    return fused.flatMap(([id, score]) => {
      const hit = hits.get(id);
      return hit ? [{ ...hit, score, relevance: relevance.get(id) ?? null }] : [];
    });
  }

  /** A search hit of a point with our payload; null for a point without it. */
  private static hitOf(point: ScoredPoint): Omit<SearchHit, "score"> | null {
    const payload = payloadSchema.safeParse(point.payload);
    if (!payload.success) return null;
    const p = payload.data;
    return {
      chunkId: String(point.id),
      documentId: p.document_id,
      chunkIndex: p.chunk_index,
      text: p.text,
      source: p.source,
      entityType: p.entity_type,
      room: p.room,
      title: p.title,
      url: p.url,
      occurredAt: p.occurred_at,
    };
  }
}

/** A term as typed, in lower case, upper case and capitalized: what a substring test needs to find it. */
function spellings(typed: string): string[] {
  const lower = typed.toLowerCase();
  return [...new Set([typed, lower, typed.toUpperCase(), lower.charAt(0).toUpperCase() + lower.slice(1)])];
}
