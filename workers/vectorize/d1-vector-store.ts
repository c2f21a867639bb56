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
import { fuseAboveFloor, hitFloor, RARE_TERM_MAX_CHUNKS } from "./relevance-floor";
import { fuseByReciprocalRank, type DocumentChunks, type IndexedChunk, type SearchFilter, type SearchHit, type SearchQuery, type VectorStore } from "./vector-store";
import { words } from "./words";

/** How many candidates each half contributes to the fusion, per result asked for. */
const CANDIDATES_PER_RESULT = 4;

/**
 * A vector read as `hex(vector)`: D1 hands a BLOB over as an array of byte values, one JSON
 * number per byte, which made reading 1000 vectors of 2 KiB the bulk of a search.
 */
export function vectorFromHex(hex: string): Float32Array {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return new Float32Array(bytes.buffer);
}

/** The value of one upper-case hex digit (SQLite's hex() writes 0-9 and A-F). */
const nibble = (code: number) => (code <= 57 ? code - 48 : code - 55);

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

type ChunkRow = Omit<IndexedChunk, "vector"> & { documentId: string; vector: string; size: number };

function hexOf(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let hex = "";
  for (const byte of bytes) hex += HEX_BYTES[byte];
  return hex;
}
const HEX_BYTES = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function chunkRow(documentId: string, chunk: IndexedChunk): ChunkRow {
  const { vector, ...payload } = chunk;
  const hex = hexOf(vector);
  return { ...payload, documentId, vector: hex, size: hex.length + (chunk.text.length + chunk.title.length + (chunk.url?.length ?? 0)) * 3 + 200 };
}

/** One statement's rows stay under this size (D1 caps a bound value at 2 MB). */
const ROWS_JSON_BYTES = 1024 * 1024;

function rowGroups(rows: readonly ChunkRow[]): Omit<ChunkRow, "size">[][] {
  const groups: Omit<ChunkRow, "size">[][] = [];
  let size = 0;
  for (const { size: rowSize, ...row } of rows) {
    if (groups.length === 0 || size + rowSize > ROWS_JSON_BYTES) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(row);
    size += rowSize;
  }
  return groups;
}

export class D1VectorStore implements VectorStore {
  constructor(private readonly db: Database) {}

  async replaceDocuments(model: string, documents: readonly DocumentChunks[]): Promise<void> {
    if (documents.length === 0) return;
    const keep = documents.flatMap((document) => document.chunks.map((chunk) => chunk.id));
    const removeStale = sql`DELETE FROM ${searchChunks} WHERE ${inIdList(searchChunks.documentId, documents.map((document) => document.documentId))}
      AND ${searchChunks.id} NOT IN (SELECT value FROM json_each(${JSON.stringify(keep)}))`;
    // The chunks travel as JSON (vectors as hex, turned back into BLOBs by unhex), a few
    // statements per call however many chunks: D1 counts statements, not rows.
    const writes = rowGroups(documents.flatMap((document) => document.chunks.map((chunk) => chunkRow(document.documentId, chunk)))).map(
      (rows) => sql`INSERT INTO ${searchChunks} ("id", "document_id", "chunk_index", "model", "vector", "text", "source", "entity_type", "room", "title", "url", "occurred_at")
        SELECT json_extract(value, '$.id'), json_extract(value, '$.documentId'), json_extract(value, '$.chunkIndex'), ${model},
          unhex(json_extract(value, '$.vector')), json_extract(value, '$.text'), json_extract(value, '$.source'), json_extract(value, '$.entityType'),
          json_extract(value, '$.room'), json_extract(value, '$.title'), json_extract(value, '$.url'), json_extract(value, '$.occurredAt')
        FROM json_each(${JSON.stringify(rows)}) WHERE true
        ON CONFLICT ("id") DO UPDATE SET "document_id" = excluded."document_id", "chunk_index" = excluded."chunk_index", "model" = excluded."model",
          "vector" = excluded."vector", "text" = excluded."text", "source" = excluded."source", "entity_type" = excluded."entity_type",
          "room" = excluded."room", "title" = excluded."title", "url" = excluded."url", "occurred_at" = excluded."occurred_at"`,
    );
    await this.db.$client.batch([removeStale, ...writes].map((statement) => prepare(this.db, statement)));
  }

  async query(query: SearchQuery): Promise<SearchHit[]> {
    const candidates = Math.max(1, query.k) * CANDIDATES_PER_RESULT;
    const where = filterConditions(query.model, query.filter);
    const match = keywordQuery(query.text);
    const floor = query.floor;
    const dense = sql`SELECT ${searchChunks.id} AS id, hex(${searchChunks.vector}) AS vector FROM ${searchChunks} WHERE ${where}`;
    const keyword = sql`SELECT ${searchChunks.id} AS id FROM search_chunks_fts JOIN ${searchChunks} ON ${searchChunks}.rowid = search_chunks_fts.rowid
      WHERE search_chunks_fts MATCH ${match ?? '""'} AND ${where} ORDER BY bm25(search_chunks_fts) LIMIT ${candidates}`;
    // The chunks holding each candidate exact term as a word; one more than a rare term may have
    // says it is not rare. FTS5's unicode61 tokens are words() (case and accents aside).
    const exactTerms = floor?.exactTerms ?? [];
    const exact = exactTerms.map(
      ({ term }) => sql`SELECT ${searchChunks.id} AS id FROM search_chunks_fts JOIN ${searchChunks} ON ${searchChunks}.rowid = search_chunks_fts.rowid
        WHERE search_chunks_fts MATCH ${`"${term}"`} AND ${where} LIMIT ${RARE_TERM_MAX_CHUNKS + 1}`,
    );
    const results = await this.db.$client.batch<{ id: string; vector?: unknown }>(
      [dense, ...(match ? [keyword] : []), ...exact].map((statement) => prepare(this.db, statement)),
    );
    const denseRows = results[0]?.results ?? [];
    const keywordRanking = match ? (results[1]?.results ?? []).map((row) => row.id) : [];
    const exactRows = results.slice(match ? 2 : 1).map((result) => result.results ?? []);

    const relevance = new Map<string, number>();
    for (const row of denseRows) relevance.set(row.id, cosine(query.vector, vectorFromHex(String(row.vector))));
    const byRelevance = (least: number) =>
      [...relevance]
        .filter(([, score]) => score >= least)
        .sort((a, b) => b[1] - a[1])
        .map(([id]) => id);
    const fused = floor
      ? fuseAboveFloor({
          minScore: floor.minScore,
          dense: byRelevance(hitFloor(floor)),
          keyword: keywordRanking,
          relevance,
          exact: new Set(exactRows.filter((rows) => rows.length <= RARE_TERM_MAX_CHUNKS).flatMap((rows) => rows.map((row) => row.id))),
          candidates,
          k: query.k,
        })
      : [...fuseByReciprocalRank([byRelevance(Number.MIN_VALUE).slice(0, candidates), keywordRanking])].sort((a, b) => b[1] - a[1]).slice(0, query.k);
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
      return row ? [{ ...row, score, relevance: relevance.get(id) ?? null }] : [];
    });
  }
}
