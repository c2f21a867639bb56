// Brings the index in line with the current text of some documents: rebuild their units,
// chunk, embed every chunk of the batch in as few calls as the embedder allows, write all
// units to the store in one call, then record per document what the index now holds. A unit
// whose every document is already indexed as it is, in the current model, is left alone.
//
// A queue batch goes through vectorizeIsolating: the whole batch in one attempt (one load, one
// embedder call per maxBatch texts, one store call, one D1 batch), and only when that fails,
// halves of it, then halves of the failing halves, until what fails is one document's units:
// one poisoned message costs about 2·log2(n) more attempts, and the others are indexed at the
// first delivery. Documents that share a unit are never split apart (a unit's failure retries
// its members' messages). A provider's rate limit stops everything (it is nobody's fault);
// a failure of every quarter of the batch is the provider's, not a message's: the rest is
// retried as it is, without more calls.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { prepare } from "../db/prepare";
import { withStorage } from "../db/with-storage";
import { requestedRetryDelay } from "../http/provider-errors";
import { chunkId } from "./chunk-id";
import { chunkDocument } from "./chunker";
import { chunkPayloadOf, indexUnits, isIndexed, loadDocumentsForIndexing, type IndexUnit } from "./index-units";
import type { VectorizeProviders } from "./providers";
import { isRateLimited, summariesFor, summaryBacklogStatements, type SummaryStats } from "./summaries";
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
  /** Attempts that failed (each a part of the batch, retried smaller or handed back to the queue). */
  failedAttempts: number;
} & SummaryStats;

async function embedAll(providers: VectorizeProviders, texts: readonly string[], stats: VectorizeStats): Promise<Float32Array[]> {
  const vectors: Float32Array[] = [];
  for (let start = 0; start < texts.length; start += providers.embedder.maxBatch) {
    stats.embedCalls += 1;
    vectors.push(...(await providers.embedder.embed(texts.slice(start, start + providers.embedder.maxBatch))));
  }
  return vectors;
}

/**
 * Records the hash each member had when it was read, unless it changed since (then it stays
 * stale), and the unit that now holds it.
 */
function markIndexedStatement(units: readonly IndexUnit[], model: string, now: number) {
  const rows = JSON.stringify(units.flatMap((unit) => unit.members.map((member) => [member.id, member.contentHash])));
  return sql`UPDATE "documents" SET "indexed_hash" = "content_hash", "indexed_model" = ${model}, "indexed_at" = ${now},
      "indexed_unit_id" = coalesce("group_id", "id")
    WHERE ("id", "content_hash") IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(${rows}))`;
}

/**
 * Open dead letters of documents the index now holds as they are: nothing is left for an
 * operator to replay (README: "Dead letters").
 */
function supersedeDeadLettersStatement(units: readonly IndexUnit[], now: number) {
  const ids = JSON.stringify(units.flatMap((unit) => unit.members.map((member) => member.id)));
  return sql`UPDATE "dead_letters" SET "superseded_at" = ${now}
    WHERE "replayed_at" IS NULL AND "superseded_at" IS NULL AND "document_id" IN (SELECT value FROM json_each(${ids}))
      AND EXISTS (SELECT 1 FROM "documents" WHERE "documents"."id" = "dead_letters"."document_id" AND "documents"."indexed_hash" = "documents"."content_hash")`;
}

const emptyStats = (): VectorizeStats => ({
  documents: 0,
  missing: 0,
  units: 0,
  unchanged: 0,
  chunks: 0,
  embedCalls: 0,
  storeCalls: 0,
  failedAttempts: 0,
  summarized: 0,
  summaryCacheHits: 0,
  summariesMissing: 0,
});

type Plan = { stats: VectorizeStats; stale: IndexUnit[]; found: Set<string>; unique: string[] };

/** One load: the units of `ids`, and which of them the index does not hold as they are. */
async function planIndexing(db: Database, providers: VectorizeProviders, ids: readonly string[], force: boolean): Promise<Plan> {
  const unique = [...new Set(ids)];
  const loaded = await withStorage("loading documents", () => loadDocumentsForIndexing(db, unique));
  const found = new Set(loaded.map((document) => document.id));
  const units = indexUnits(loaded, unique);
  const stale = force ? units : units.filter((unit) => !isIndexed(unit, providers.embedder.model));
  const stats = emptyStats();
  stats.documents = unique.filter((id) => found.has(id)).length;
  stats.missing = unique.length - stats.documents;
  stats.units = units.length;
  stats.unchanged = units.length - stale.length;
  return { stats, stale, found, unique };
}

/**
 * Summarizes, embeds, writes and records `stale` (one attempt; its calls are counted in
 * `stats` as they are made). Throws when the embedder, the store, D1 or a rate-limited
 * summarizer fails; nothing is then recorded as indexed.
 */
async function indexStaleUnits(db: Database, providers: VectorizeProviders, stale: readonly IndexUnit[], now: number, stats: VectorizeStats): Promise<void> {
  if (stale.length === 0) return;
  const model = providers.embedder.model;
  const summaries = providers.summarizer ? await summariesFor(db, providers.summarizer, stale, now) : null;
  if (summaries) {
    stats.summarized += summaries.stats.summarized;
    stats.summaryCacheHits += summaries.stats.summaryCacheHits;
    stats.summariesMissing += summaries.stats.summariesMissing;
  }
  // A long unit's summary is its first chunk, header first like every other.
  const texts = stale.map((unit) => {
    const summary = summaries?.summaries.get(unit.id);
    const chunks = chunkDocument(unit.header, unit.body);
    return summary && chunks.length > 0 ? [`${unit.header}\nSummary: ${summary.replace(/\s+/g, " ")}`, ...chunks] : chunks;
  });
  const vectors = await embedAll(providers, texts.flat(), stats);

  // Each unit's vectors start where the previous unit's chunks ended.
  const offsets = texts.map((_, unitIndex) => texts.slice(0, unitIndex).reduce((sum, chunks) => sum + chunks.length, 0));
  const replacements: DocumentChunks[] = await Promise.all(
    stale.map(async (unit, unitIndex) => ({
      documentId: unit.id,
      chunks: await Promise.all(
        texts[unitIndex]!.map(
          async (text, chunkIndex): Promise<IndexedChunk> => ({
            ...chunkPayloadOf(unit, chunkIndex, text),
            id: await chunkId(unit.id, chunkIndex),
            vector: vectors[offsets[unitIndex]! + chunkIndex]!,
          }),
        ),
      ),
    })),
  );
  stats.storeCalls += 1;
  await providers.store.replaceDocuments(model, replacements);
  // With what is indexed, which units still wait for a summary (the summarizer could not make it).
  const backlog = providers.summarizer ? summaryBacklogStatements(providers.summarizer, stale, summaries?.lacking ?? [], now) : [];
  await withStorage("recording what is indexed", () =>
    db.$client.batch([
      prepare(db, markIndexedStatement(stale, model, now)),
      prepare(db, supersedeDeadLettersStatement(stale, now)),
      ...backlog.map((statement) => prepare(db, statement)),
    ]),
  );
  stats.chunks += vectors.length;
}

/**
 * Indexes the documents `ids` in one attempt. `force` rebuilds units that look up to date.
 * Throws when the embedder, the store or D1 fails; nothing is then recorded as indexed. A
 * summarizer failure other than a rate limit does not fail it: those units are indexed without
 * their summary and recorded in the summary backlog (workers/vectorize/summaries.ts).
 */
export async function vectorizeDocuments(
  db: Database,
  providers: VectorizeProviders,
  ids: readonly string[],
  options: { force?: boolean; now?: number } = {},
): Promise<VectorizeStats> {
  const plan = await planIndexing(db, providers, ids, options.force === true);
  await indexStaleUnits(db, providers, plan.stale, options.now ?? Date.now(), plan.stats);
  return plan.stats;
}

export type IsolatedVectorizing = {
  stats: VectorizeStats;
  /** Documents asked for that need nothing more: indexed now, already indexed, or missing. */
  done: string[];
  /** Documents whose units could not be indexed, with the failure of their last attempt. */
  failed: { ids: string[]; error: unknown }[];
  /** A provider asked to wait: these documents (every one not done) wait that long. */
  rateLimited: { ids: string[]; error: unknown; retryAfterSeconds: number | null } | null;
};

/** Documents that share a unit, with the units they need rebuilt: the smallest thing that fails on its own. */
type Part = { ids: string[]; units: IndexUnit[] };

/**
 * Groups the requested documents of `stale` units so that no unit is split between two parts,
 * in the order they were asked for.
 */
function partsOf(stale: readonly IndexUnit[], requested: readonly string[]): Part[] {
  const parent = new Map<string, string>();
  const find = (id: string): string => {
    let root = id;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(id, root);
    return root;
  };
  for (const unit of stale) {
    for (const id of unit.requestedBy) if (!parent.has(id)) parent.set(id, id);
    const [first, ...rest] = unit.requestedBy;
    for (const id of rest) if (first !== undefined) parent.set(find(id), find(first));
  }
  const parts = new Map<string, Part>();
  for (const id of parent.keys()) {
    const root = find(id);
    parts.set(root, { ids: [...(parts.get(root)?.ids ?? []), id], units: parts.get(root)?.units ?? [] });
  }
  for (const unit of stale) {
    const root = unit.requestedBy[0] !== undefined ? find(unit.requestedBy[0]) : null;
    if (root !== null) parts.get(root)!.units.push(unit);
  }
  const position = new Map(requested.map((id, index) => [id, index]));
  const first = (part: Part) => Math.min(...part.ids.map((id) => position.get(id) ?? requested.length));
  return [...parts.values()].sort((a, b) => first(a) - first(b));
}

/** Levels of halving after which, if nothing succeeded, the failure is the provider's: the batch, its halves, its quarters. */
const PROVIDER_FAILURE_LEVELS = 3;

/**
 * Indexes the documents `ids` of a queue batch, isolating failures (see the top of this file).
 * Throws only when the documents cannot be loaded (D1): then every message is retried.
 */
export async function vectorizeIsolating(
  db: Database,
  providers: VectorizeProviders,
  ids: readonly string[],
  options: { force?: boolean; now?: number } = {},
): Promise<IsolatedVectorizing> {
  const now = options.now ?? Date.now();
  const plan = await planIndexing(db, providers, ids, options.force === true);
  const { stats } = plan;
  const parts = partsOf(plan.stale, plan.unique);
  const waiting = new Set(parts.flatMap((part) => part.ids));
  const outcome: IsolatedVectorizing = { stats, done: plan.unique.filter((id) => !waiting.has(id)), failed: [], rateLimited: null };
  // Enough failed attempts to isolate a few poisoned messages; beyond it the rest waits for the next delivery.
  const failureBudget = 1 + 4 * Math.ceil(Math.log2(Math.max(2, parts.length)));
  let succeeded = 0;
  let lastError: unknown = null;
  let level: Part[][] = parts.length > 0 ? [parts] : [];
  for (let depth = 0; level.length > 0; depth += 1) {
    const next: Part[][] = [];
    for (const [index, group] of level.entries()) {
      const groupIds = group.flatMap((part) => part.ids);
      if (stats.failedAttempts >= failureBudget) {
        outcome.failed.push({ ids: groupIds, error: lastError });
        continue;
      }
      try {
        await indexStaleUnits(db, providers, [...new Set(group.flatMap((part) => part.units))], now, stats);
        outcome.done.push(...groupIds);
        succeeded += 1;
      } catch (error) {
        stats.failedAttempts += 1;
        lastError = error;
        if (isRateLimited(error)) {
          const rest = [...level.slice(index), ...next].flat().flatMap((part) => part.ids);
          outcome.rateLimited = { ids: rest, error, retryAfterSeconds: requestedRetryDelay(error) };
          return outcome;
        }
        if (group.length === 1) outcome.failed.push({ ids: groupIds, error });
        else next.push(group.slice(0, Math.ceil(group.length / 2)), group.slice(Math.ceil(group.length / 2)));
      }
    }
    if (succeeded === 0 && depth + 1 >= PROVIDER_FAILURE_LEVELS && next.length > 0) {
      // Every part tried so far failed: the provider's failure, not a message's.
      outcome.failed.push({ ids: next.flat().flatMap((part) => part.ids), error: lastError });
      return outcome;
    }
    level = next;
  }
  return outcome;
}
