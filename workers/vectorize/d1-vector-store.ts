// The embedded vector store: chunks in D1 (`search_chunks`), exact cosine over the chunks that
// pass the filter, BM25 over the FTS5 mirror of their text, fused by reciprocal rank. Exact
// search reads every candidate vector, which serves local development and small installs;
// Qdrant takes over at scale behind the same interface.
import { and, eq, gte, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { searchChunks } from "../db/schema";
import { cosine } from "./embedder";
import { fuseByReciprocalRank, type DocumentChunks, type SearchFilter, type SearchHit, type SearchQuery, type VectorStore } from "./vector-store";
import { words } from "./words";

/** How many candidates each half contributes to the fusion, per result asked for. */
const CANDIDATES_PER_RESULT = 4;

/** D1 hands a BLOB back as an ArrayBuffer or as an array of byte values. */
export function vectorFromBlob(value: unknown): Float32Array {
  const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : Uint8Array.from(value as ArrayLike<number>);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** An FTS5 query that matches any of the question's words, each quoted so none is an operator. */
export function keywordQuery(text: string): string | null {
  const terms = [...new Set(words(text))].slice(0, 32);
  return terms.length === 0 ? null : terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(" OR ");
}

function filterConditions(model: string, filter: SearchFilter = {}): SQL {
  const conditions: (SQL | undefined)[] = [eq(searchChunks.model, model)];
  if (filter.source) conditions.push(eq(searchChunks.source, filter.source));
  if (filter.entityType) conditions.push(eq(searchChunks.entityType, filter.entityType));
  if (filter.rooms) conditions.push(or(isNull(searchChunks.room), inIdList(searchChunks.room, filter.rooms)));
  if (filter.since !== undefined) conditions.push(gte(searchChunks.occurredAt, filter.since));
  if (filter.until !== undefined) conditions.push(lt(searchChunks.occurredAt, filter.until));
  return and(...conditions)!;
}

export class D1VectorStore implements VectorStore {
  constructor(private readonly db: Database) {}

  async replaceDocuments(model: string, documents: readonly DocumentChunks[]): Promise<void> {
    if (documents.length === 0) return;
    const keep = documents.flatMap((document) => document.chunks.map((chunk) => chunk.id));
    const removeStale = sql`DELETE FROM ${searchChunks} WHERE ${inIdList(searchChunks.documentId, documents.map((document) => document.documentId))}
      AND ${searchChunks.id} NOT IN (SELECT value FROM json_each(${JSON.stringify(keep)}))`;
    // One statement per chunk: a vector is a BLOB parameter and cannot travel inside JSON.
    const writes = documents.flatMap((document) =>
      document.chunks.map((chunk) =>
        this.db
          .insert(searchChunks)
          .values({
            id: chunk.id,
            documentId: document.documentId,
            chunkIndex: chunk.chunkIndex,
            model,
            vector: chunk.vector.buffer.slice(chunk.vector.byteOffset, chunk.vector.byteOffset + chunk.vector.byteLength) as ArrayBuffer,
            text: chunk.text,
            source: chunk.source,
            entityType: chunk.entityType,
            room: chunk.room,
            title: chunk.title,
            url: chunk.url,
            occurredAt: chunk.occurredAt,
          })
          .onConflictDoUpdate({
            target: searchChunks.id,
            set: {
              chunkIndex: sql`excluded."chunk_index"`,
              model: sql`excluded."model"`,
              vector: sql`excluded."vector"`,
              text: sql`excluded."text"`,
              source: sql`excluded."source"`,
              entityType: sql`excluded."entity_type"`,
              room: sql`excluded."room"`,
              title: sql`excluded."title"`,
              url: sql`excluded."url"`,
              occurredAt: sql`excluded."occurred_at"`,
            },
          })
          .getSQL(),
      ),
    );
    await this.db.$client.batch([removeStale, ...writes].map((statement) => prepare(this.db, statement)));
  }

  async query(query: SearchQuery): Promise<SearchHit[]> {
    const candidates = Math.max(1, query.k) * CANDIDATES_PER_RESULT;
    const where = filterConditions(query.model, query.filter);
    const match = keywordQuery(query.text);
    const dense = sql`SELECT ${searchChunks.id} AS id, ${searchChunks.vector} AS vector FROM ${searchChunks} WHERE ${where}`;
    const keyword = sql`SELECT ${searchChunks.id} AS id FROM search_chunks_fts JOIN ${searchChunks} ON ${searchChunks}.rowid = search_chunks_fts.rowid
      WHERE search_chunks_fts MATCH ${match ?? '""'} AND ${where} ORDER BY bm25(search_chunks_fts) LIMIT ${candidates}`;
    const [denseRows, keywordRows] = await this.db.$client.batch<{ id: string; vector?: unknown }>(
      (match ? [dense, keyword] : [dense]).map((statement) => prepare(this.db, statement)),
    );

    const denseRanking = (denseRows?.results ?? [])
      .map((row) => ({ id: row.id, score: cosine(query.vector, vectorFromBlob(row.vector)) }))
      .filter((candidate) => candidate.score > 0)
      .sort((a, b) => b.score - a.score)
      .slice(0, candidates)
      .map((candidate) => candidate.id);
    const keywordRanking = (keywordRows?.results ?? []).map((row) => row.id);
    const fused = [...fuseByReciprocalRank([denseRanking, keywordRanking])].sort((a, b) => b[1] - a[1]).slice(0, query.k);
    if (fused.length === 0) return [];

    const rows = await this.db
      .select({
        chunkId: searchChunks.id,
        documentId: searchChunks.documentId,
        chunkIndex: searchChunks.chunkIndex,
        text: searchChunks.text,
        source: searchChunks.source,
        entityType: searchChunks.entityType,
        room: searchChunks.room,
        title: searchChunks.title,
        url: searchChunks.url,
        occurredAt: searchChunks.occurredAt,
      })
      .from(searchChunks)
      .where(inIdList(searchChunks.id, fused.map(([id]) => id)));
    const byId = new Map(rows.map((row) => [row.chunkId, row]));
    return fused.flatMap(([id, score]) => {
      const row = byId.get(id);
      return row ? [{ ...row, score }] : [];
    });
  }
}
