// Brings the index in line with the current text of some documents: rebuild their units,
// chunk, embed every chunk of the batch in as few calls as the embedder allows, write all
// units to the store in one call, then record per document what the index now holds. A unit
// whose every document is already indexed as it is, in the current model, is left alone.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { prepare } from "../db/prepare";
import { withStorage } from "../db/with-storage";
import { chunkId } from "./chunk-id";
import { chunkDocument } from "./chunker";
import { indexUnits, isIndexed, loadDocumentsForIndexing, type IndexUnit } from "./index-units";
import type { VectorizeProviders } from "./providers";
import { summariesFor, summaryBacklogStatements, type SummaryStats } from "./summaries";
import type { DocumentChunks, IndexedChunk } from "./vector-store";

export type VectorizeStats = {
  /** Documents asked for that exist. */
  documents: number;
  /** Documents asked for that do not exist (nothing to index). */
  missing: number;
  units: number;
  /** Units already indexed as they are. */
  unchanged: number;
  chunks: number;
  embedCalls: number;
  storeCalls: number;
} & SummaryStats;

async function embedAll(providers: VectorizeProviders, texts: readonly string[]): Promise<{ vectors: Float32Array[]; calls: number }> {
  const vectors: Float32Array[] = [];
  let calls = 0;
  for (let start = 0; start < texts.length; start += providers.embedder.maxBatch) {
    vectors.push(...(await providers.embedder.embed(texts.slice(start, start + providers.embedder.maxBatch))));
    calls += 1;
  }
  return { vectors, calls };
}

/** Records the hash each member had when it was read, unless it changed since (then it stays stale). */
function markIndexedStatement(units: readonly IndexUnit[], model: string, now: number) {
  const rows = JSON.stringify(units.flatMap((unit) => unit.members.map((member) => [member.id, member.contentHash])));
  return sql`UPDATE "documents" SET "indexed_hash" = "content_hash", "indexed_model" = ${model}, "indexed_at" = ${now}
    WHERE ("id", "content_hash") IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(${rows}))`;
}

/**
 * Indexes the documents `ids`. `force` rebuilds units that look up to date. Throws when the
 * embedder, the store or D1 fails; nothing is then recorded as indexed. A summarizer whose
 * model is unavailable does not fail it: those units are indexed without their summary and
 * recorded in the summary backlog (workers/vectorize/summaries.ts).
 */
export async function vectorizeDocuments(
  db: Database,
  providers: VectorizeProviders,
  ids: readonly string[],
  options: { force?: boolean; now?: number } = {},
): Promise<VectorizeStats> {
  const unique = [...new Set(ids)];
  const loaded = await withStorage("loading documents", () => loadDocumentsForIndexing(db, unique));
  const found = new Set(loaded.map((document) => document.id));
  const units = indexUnits(loaded, unique);
  const model = providers.embedder.model;
  const stale = options.force ? units : units.filter((unit) => !isIndexed(unit, model));
  const stats: VectorizeStats = {
    documents: unique.filter((id) => found.has(id)).length,
    missing: unique.filter((id) => !found.has(id)).length,
    units: units.length,
    unchanged: units.length - stale.length,
    chunks: 0,
    embedCalls: 0,
    storeCalls: 0,
    summarized: 0,
    summaryCacheHits: 0,
    summariesMissing: 0,
  };
  if (stale.length === 0) return stats;

  const now = options.now ?? Date.now();
  const summaries = providers.summarizer ? await summariesFor(db, providers.summarizer, stale, now) : null;
  if (summaries) Object.assign(stats, summaries.stats);
  // A long unit's summary is its first chunk, header first like every other.
  const texts = stale.map((unit) => {
    const summary = summaries?.summaries.get(unit.id);
    const chunks = chunkDocument(unit.header, unit.body);
    return summary && chunks.length > 0 ? [`${unit.header}\nSummary: ${summary.replace(/\s+/g, " ")}`, ...chunks] : chunks;
  });
  const { vectors, calls } = await embedAll(providers, texts.flat());
  stats.embedCalls = calls;
  stats.chunks = vectors.length;

  // Each unit's vectors start where the previous unit's chunks ended.
  const offsets = texts.map((_, unitIndex) => texts.slice(0, unitIndex).reduce((sum, chunks) => sum + chunks.length, 0));
  const replacements: DocumentChunks[] = await Promise.all(
    stale.map(async (unit, unitIndex) => ({
      documentId: unit.id,
      chunks: await Promise.all(
        texts[unitIndex]!.map(
          async (text, chunkIndex): Promise<IndexedChunk> => ({
            id: await chunkId(unit.id, chunkIndex),
            documentId: unit.id,
            chunkIndex,
            text,
            vector: vectors[offsets[unitIndex]! + chunkIndex]!,
            source: unit.source,
            entityType: unit.entityType,
            room: unit.room,
            title: unit.title,
            url: unit.url,
            occurredAt: unit.occurredAt,
          }),
        ),
      ),
    })),
  );
  await providers.store.replaceDocuments(model, replacements);
  stats.storeCalls = 1;
  // With what is indexed, which units still wait for a summary (the summarizer's model was unavailable).
  const backlog = providers.summarizer ? summaryBacklogStatements(providers.summarizer, stale, summaries?.lacking ?? [], now) : [];
  await withStorage("recording what is indexed", () =>
    db.$client.batch([prepare(db, markIndexedStatement(stale, model, now)), ...backlog.map((statement) => prepare(db, statement))]),
  );
  return stats;
}
