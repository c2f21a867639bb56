// The embedded vector store: chunks in D1 (`search_chunks`), BM25 over the FTS5 mirror of their
// text and cosine over their vectors, fused by reciprocal rank. A search never reads every vector:
// the dense half scores exact cosine over a bounded candidate set, namely
//   - the best keyword (BM25) matches that pass the filter of three FTS5 queries: the chunks
//     holding all but one of the question's rarest words (`matchMost`, k * CANDIDATES_PER_RESULT
//     of them), then KEYWORD_CANDIDATES of those holding a
//     quorum of them and of those holding any (`matchQuorum`, `rankingTerms`); the first
//     k * CANDIDATES_PER_RESULT, in that order, are the keyword ranking,
//   - KEYWORD_CANDIDATES chunks holding two of its words close together (`matchNear`, FTS5's
//     NEAR), the best k * CANDIDATES_PER_RESULT by `proximityScore` a ranking of their own,
//   - the RECENT_CHUNKS newest chunks that pass it (a small index is searched exhaustively), and
//   - at most LSH_BUCKET_ROWS chunks of each bucket probed that pass it: in each of LSH_BANDS
//     bands the query's own bucket and LSH_PROBES neighbours (random-hyperplane hashing with
//     multi-probe, workers/vectorize/lsh.ts: what words alone would not find),
// so a search reads at most `searchReadBound(k)` rows and READ_BOUND_VECTORS vectors whatever the
// index holds (test/search-scale.test.ts sums D1's rows_read at two index sizes). Each read is a
// LIMITed slice of an index, filtered after: a narrow filter gets fewer candidates, never more
// reads. `exhaustive` scores every vector that passes the filter instead: the exact search
// scripts/bench-search.ts compares against.
import { and, eq, gte, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { searchChunks } from "../db/schema";
import { cosine } from "./embedder";
import { LSH_BANDS, LSH_BUCKET_ROWS, LSH_PROBES, lshBuckets, lshProbes } from "./lsh";
import { STOPWORDS } from "./offline-embedder";
import { fuseAboveFloor, hitFloor, MAX_EXACT_TERMS, RARE_TERM_MAX_CHUNKS } from "./relevance-floor";
import { fuseByReciprocalRank, type DocumentChunks, type IndexedChunk, type SearchFilter, type SearchHit, type SearchQuery, type VectorStore } from "./vector-store";
import { words } from "./words";

/** How many candidates each half contributes to the fusion, per result asked for. */
const CANDIDATES_PER_RESULT = 4;
/** The best keyword matches whose vectors the dense half scores (besides the LSH buckets'). */
export const KEYWORD_CANDIDATES = 300;
/** The newest chunks whose vectors every search scores. */
export const RECENT_CHUNKS = 256;
/** The keyword half reads this many times its candidates in rank order, then filters: a filter that keeps one match in 4 still fills it. */
export const FILTER_HEADROOM = 4;
/** Matches of an exact term read, in the whole index, to learn whether the search sees it in few enough chunks. */
export const EXACT_TERM_MATCHES = 64;
/** The most results the API asks one search for (workers/search/search-routes.ts: `k` at most 50). */
const MOST_RESULTS = 50;
/** The most vectors one search reads: the keyword queries' candidates, the newest chunks and a bounded slice of each bucket probed. */
export const READ_BOUND_VECTORS = 3 * KEYWORD_CANDIDATES + MOST_RESULTS * CANDIDATES_PER_RESULT + RECENT_CHUNKS + LSH_BANDS * (1 + LSH_PROBES) * LSH_BUCKET_ROWS;

/**
 * The most rows (D1's `rows_read`, summed over its statements) one bounded search with `k`
 * results reads, whatever the index holds: every statement reads a LIMITed slice of an index
 * (FTS5 matches in rank order, the newest rowids, a band index's entries for one bucket in rowid order) and
 * at most one chunk row per entry read. One row per query word's vocabulary entry and one for
 * the index size; 2 per keyword match read (FILTER_HEADROOM per candidate of three keyword queries, one per candidate of the "near" one),
 * per recent chunk, per exact-term match and per bucket entry of each probe (the entry, then its
 * chunk); 3 per hit for the payload. With the defaults: 10,135 rows at k = 10 and 11,535 at k = 50
 * (the API's most), and at most READ_BOUND_VECTORS (2,892) vectors, 5.9 MB at 512 float32 dimensions. What
 * D1 does not count: FTS5 scores every chunk holding a query word inside its own index before
 * handing over the best, so words in more than COMMON_TERM_SHARE of the index are left out.
 */
export function searchReadBound(k: number, options: Omit<D1VectorStoreOptions, "exhaustive"> = {}): number {
  const candidates = Math.max(1, k) * CANDIDATES_PER_RESULT;
  const keyword = Math.max(candidates, options.keywordCandidates ?? KEYWORD_CANDIDATES);
  return MAX_KEYWORD_TERMS + 1 + 2 * FILTER_HEADROOM * (2 * keyword + candidates) + 2 * keyword + 2 * (options.recentChunks ?? RECENT_CHUNKS) + MAX_EXACT_TERMS * 2 * (options.exactTermMatches ?? EXACT_TERM_MATCHES) + LSH_BANDS * (1 + (options.probes ?? LSH_PROBES)) * 2 * (options.bucketRows ?? LSH_BUCKET_ROWS) + 3 * Math.max(1, k);
}

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

/** The most words of a question the keyword half matches. */
const MAX_KEYWORD_TERMS = 32;

/** The question's distinct words, at most MAX_KEYWORD_TERMS: what the keyword half matches. */
export function keywordTerms(text: string): string[] {
  return [...new Set(words(text))].slice(0, MAX_KEYWORD_TERMS);
}

/** A word as an FTS5 string: quoted, so it is never an operator. */
const ftsTerm = (term: string) => `"${term.replaceAll('"', '""')}"`;

/** An FTS5 query that matches any of `terms`. */
const matchAny = (terms: readonly string[]) => (terms.length === 0 ? null : terms.map(ftsTerm).join(" OR "));

/** An FTS5 query that matches any of the question's words, each quoted so none is an operator. */
export function keywordQuery(text: string): string | null {
  return matchAny(keywordTerms(text));
}

/**
 * A word held by more than this share of the index is left out of the keyword query ("the",
 * "guest", a listing every record names): BM25 gives it little weight (an IDF of at most log 4),
 * yet FTS5 would score every chunk that holds it. The rarest word always stays.
 */
export const COMMON_TERM_SHARE = 0.2;
/** A word in fewer chunks than this always stays: below it, scoring its chunks costs little. */
export const COMMON_TERM_MIN_CHUNKS = 1000;

/** The rarest words of a question the quorum query combines (C(6, 3) = 20 groups at most). */
const QUORUM_TERMS = 6;

/** The QUORUM_TERMS rarest of `terms`, rarest first (equals in the question's order). */
const rarestTerms = (terms: readonly string[], chunksWith: ReadonlyMap<string, number>) =>
  [...terms].sort((a, b) => (chunksWith.get(a) ?? 0) - (chunksWith.get(b) ?? 0)).slice(0, QUORUM_TERMS);

/** How many chunks may hold a word before it is common in an index of `indexSize` chunks. */
const commonAbove = (indexSize: number) => Math.max(COMMON_TERM_MIN_CHUNKS, COMMON_TERM_SHARE * indexSize);

/**
 * An FTS5 query that matches the chunks holding at least half (and at least 2) of the rarest
 * QUORUM_TERMS `terms`: every such group of words ANDed, the groups ORed. The answer to "who
 * called about the cold radiators at the Alfama loft" holds the place and the problem; a
 * look-alike holds one of them, in a shorter chunk that BM25's length normalization favours.
 * Ranking the quorum's matches first (as a search engine's "minimum should match") is what keeps
 * the answer among the keyword candidates in an index of look-alikes. Null for fewer than 2 words.
 */
export function matchQuorum(terms: readonly string[], chunksWith: ReadonlyMap<string, number>, quorum: (rarest: number) => number = (rarest) => Math.ceil(rarest / 2)): string | null {
  const rarest = rarestTerms(terms, chunksWith);
  if (rarest.length < 2) return null;
  const size = Math.max(2, quorum(rarest.length));
  const groups = (from: readonly string[], count: number): string[][] =>
    count === 0 ? [[]] : from.length < count ? [] : [...groups(from.slice(1), count - 1).map((group) => [from[0]!, ...group]), ...groups(from.slice(1), count)];
  return groups(rarest, size)
    .map((group) => `(${group.map(ftsTerm).join(" AND ")})`)
    .join(" OR ");
}

/**
 * The chunks holding all but one of the rarest QUORUM_TERMS words (at least 3 of 4): the answer
 * names the place and the problem, a look-alike one of them, and at 100,000 chunks the half
 * quorum alone is matched by thousands of look-alikes that share the topic's words. Null where
 * it would be the half quorum (3 words or fewer).
 */
export function matchMost(terms: readonly string[], chunksWith: ReadonlyMap<string, number>): string | null {
  return Math.min(terms.length, QUORUM_TERMS) < 4 ? null : matchQuorum(terms, chunksWith, (rarest) => rarest - 1);
}

/** How close (in tokens, FTS5's NEAR) two of the question's words must stand to count as said together. */
export const NEAR_DISTANCE = 10;

/** Two of the question's words, and what each weighs (its BM25 inverse document frequency). */
export type NearPair = { first: string; second: string; weight: number };

/**
 * The phrases of a question: its runs of words between function words ("the cold radiators at
 * the Alfama loft": "cold radiators", "alfama loft"), by word, numbered in order.
 */
export function questionPhrases(text: string): Map<string, Set<number>> {
  const phrases = new Map<string, Set<number>>();
  let phrase = 0;
  let inPhrase = false;
  for (const word of words(text)) {
    if (STOPWORDS.has(word) || QUESTION_WORDS.has(word)) {
      if (inPhrase) phrase += 1;
      inPhrase = false;
      continue;
    }
    inPhrase = true;
    phrases.set(word, (phrases.get(word) ?? new Set()).add(phrase));
  }
  return phrases;
}

/**
 * The pairs of the question's rarest QUORUM_TERMS `terms` whose standing close together says
 * something: two words of different phrases (the place and the problem; the words of one phrase,
 * a listing's name, stand together in every chunk that names it), and not two common words.
 * Each weighs the two words' inverse document frequencies.
 */
export function nearPairs(terms: readonly string[], chunksWith: ReadonlyMap<string, number>, indexSize: number, phrases: ReadonlyMap<string, ReadonlySet<number>> = new Map()): NearPair[] {
  const most = commonAbove(indexSize);
  const rarest = rarestTerms(terms, chunksWith);
  const common = (term: string) => (chunksWith.get(term) ?? 0) > most;
  const idf = (term: string) => {
    const holding = chunksWith.get(term) ?? 0;
    return Math.log(1 + (Math.max(indexSize, holding) - holding + 0.5) / (holding + 0.5));
  };
  return rarest.flatMap((first, i) =>
    rarest
      .slice(i + 1)
      .filter((second) => !(common(first) && common(second)) && ![...(phrases.get(first) ?? [])].some((phrase) => phrases.get(second)?.has(phrase)))
      .map((second) => ({ first, second, weight: idf(first) + idf(second) })),
  );
}

/**
 * An FTS5 query that matches the chunks holding any of `pairs` within NEAR_DISTANCE tokens. The
 * answer says the place and the problem in one breath ("staying at the Alfama Loft. The radiators
 * are cold"); a chat window of unrelated messages holds the same words lines apart. Null for none.
 */
export function matchNear(pairs: readonly NearPair[]): string | null {
  return pairs.length === 0 ? null : pairs.map(({ first, second }) => `NEAR(${ftsTerm(first)} ${ftsTerm(second)}, ${NEAR_DISTANCE})`).join(" OR ");
}

/**
 * How much of the question `text` says together: the weight of every pair whose words stand
 * within NEAR_DISTANCE tokens of each other in it (the tokens FTS5's unicode61 makes: words()).
 * FTS5's BM25 cannot say it: it scores the words of a NEAR match as any others, so a short chunk
 * holding one pair outranks a long one holding four.
 */
export function proximityScore(text: string, pairs: readonly NearPair[]): number {
  const positions = new Map<string, number[]>();
  const wanted = new Set(pairs.flatMap(({ first, second }) => [first, second]));
  words(text).forEach((word, position) => {
    if (!wanted.has(word)) return;
    const seen = positions.get(word);
    if (seen) seen.push(position);
    else positions.set(word, [position]);
  });
  let score = 0;
  for (const { first, second, weight } of pairs) {
    const a = positions.get(first) ?? [];
    const b = positions.get(second) ?? [];
    if (a.some((p) => b.some((q) => Math.abs(p - q) - 1 <= NEAR_DISTANCE))) score += weight;
  }
  return score;
}

/**
 * The keyword half's FTS5 queries: chunks holding most of the words (ranked first, a short
 * slice), a quorum of them, then any of them.
 */
type KeywordQueries = { most: string | null; quorum: string | null; any: string | null; near: NearPair[] };

/**
 * Words a question is phrased with, not about: rare in records ("which", "who"), so BM25 gives
 * them a high weight and ranks whatever short record happens to hold them above the answer.
 * Besides question words, the verbs that name the record's kind ("who called", "what did the
 * cleaner say", "who phoned asking"): a call's transcript does not say "called", and "phoned"
 * may be in no record at all, yet as the rarest words they would decide the keyword ranking.
 * "about": a preposition the embedder's STOPWORDS lack (changing those changes every vector).
 */
const QUESTION_WORDS = new Set(
  ("who whom whose what which when where why how did does do much many about " +
    "call calls called calling phone phoned phoning rang ask asks asked asking say says said tell told write wrote mention mentioned").split(" "),
);

/** A word a question is about: not a function word (STOPWORDS, QUESTION_WORDS). */
const isContentWord = (term: string) => !STOPWORDS.has(term) && !QUESTION_WORDS.has(term);

/**
 * `terms` without function words and without those held by more than COMMON_TERM_SHARE of
 * `indexSize` chunks (and COMMON_TERM_MIN_CHUNKS); the rarest one stays.
 */
export function rankingTerms(terms: readonly string[], chunksWith: ReadonlyMap<string, number>, indexSize: number): string[] {
  const most = commonAbove(indexSize);
  const kept = terms.filter((term) => isContentWord(term) && (chunksWith.get(term) ?? 0) <= most);
  if (kept.length > 0 || terms.length === 0) return kept;
  return rarestTerms(terms, chunksWith).slice(0, 1);
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

type ChunkRow = Omit<IndexedChunk, "vector"> & { documentId: string; vector: string; buckets: number[]; size: number };

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
  return { ...payload, documentId, vector: hex, buckets: lshBuckets(vector), size: hex.length + (chunk.text.length + chunk.title.length + (chunk.url?.length ?? 0)) * 3 + 200 };
}

/** Each band's bucket column (its index is what a search reads a slice of), band 0 first: LSH_BANDS of them. */
const BUCKET_COLUMNS = [searchChunks.lsh0, searchChunks.lsh1, searchChunks.lsh2, searchChunks.lsh3, searchChunks.lsh4, searchChunks.lsh5, searchChunks.lsh6, searchChunks.lsh7];

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

export type D1VectorStoreOptions = {
  /** Score every vector that passes the filter (unbounded reads): the reference the benchmark compares against. */
  exhaustive?: boolean;
  /**
   * Exhaustive only: the vectors the caller already holds, by chunk id (scripts/bench-search.ts,
   * which wrote them), so the scan reads ids instead of 100,000 vectors per search.
   */
  knownVectors?: ReadonlyMap<string, Float32Array>;
  /** The best keyword matches whose vectors the dense half scores (default KEYWORD_CANDIDATES). */
  keywordCandidates?: number;
  /** Chunks read of each bucket probed (default LSH_BUCKET_ROWS). */
  bucketRows?: number;
  /** Neighbouring buckets probed per band besides the query's own (default LSH_PROBES). */
  probes?: number;
  /** Matches of an exact term read (default EXACT_TERM_MATCHES). */
  exactTermMatches?: number;
  /** The newest chunks scored whatever they say (default RECENT_CHUNKS). */
  recentChunks?: number;
};

export class D1VectorStore implements VectorStore {
  constructor(
    private readonly db: Database,
    private readonly options: D1VectorStoreOptions = {},
  ) {}

  async replaceDocuments(model: string, documents: readonly DocumentChunks[]): Promise<void> {
    if (documents.length === 0) return;
    const keep = documents.flatMap((document) => document.chunks.map((chunk) => chunk.id));
    const removeStale = sql`DELETE FROM ${searchChunks} WHERE ${inIdList(searchChunks.documentId, documents.map((document) => document.documentId))}
      AND ${searchChunks.id} NOT IN (SELECT value FROM json_each(${JSON.stringify(keep)}))`;
    // The chunks travel as JSON (vectors as hex, turned back into BLOBs by unhex), a few
    // statements per call however many chunks: D1 counts statements, not rows.
    const groups = rowGroups(documents.flatMap((document) => document.chunks.map((chunk) => chunkRow(document.documentId, chunk))));
    // A unit rewritten on each message that joins it (a guest conversation, a chat window) resends
    // its chunks: only a chunk whose row differs is written (the upsert's WHERE), so an unchanged
    // one writes no row, no FTS entry and no bucket index entry. A chunk's buckets are columns of
    // its row (one index entry per band), written with its vector.
    const writes = groups.map(
      (rows) => sql`INSERT INTO ${searchChunks} ("id", "document_id", "chunk_index", "model", "vector", "text", "source", "entity_type", "room", "title", "url", "occurred_at",
          "lsh0", "lsh1", "lsh2", "lsh3", "lsh4", "lsh5", "lsh6", "lsh7")
        SELECT json_extract(value, '$.id'), json_extract(value, '$.documentId'), json_extract(value, '$.chunkIndex'), ${model},
          unhex(json_extract(value, '$.vector')), json_extract(value, '$.text'), json_extract(value, '$.source'), json_extract(value, '$.entityType'),
          json_extract(value, '$.room'), json_extract(value, '$.title'), json_extract(value, '$.url'), json_extract(value, '$.occurredAt'),
          json_extract(value, '$.buckets[0]'), json_extract(value, '$.buckets[1]'), json_extract(value, '$.buckets[2]'), json_extract(value, '$.buckets[3]'),
          json_extract(value, '$.buckets[4]'), json_extract(value, '$.buckets[5]'), json_extract(value, '$.buckets[6]'), json_extract(value, '$.buckets[7]')
        FROM json_each(${JSON.stringify(rows)}) WHERE true
        ON CONFLICT ("id") DO UPDATE SET "document_id" = excluded."document_id", "chunk_index" = excluded."chunk_index", "model" = excluded."model",
          "vector" = excluded."vector", "text" = excluded."text", "source" = excluded."source", "entity_type" = excluded."entity_type",
          "room" = excluded."room", "title" = excluded."title", "url" = excluded."url", "occurred_at" = excluded."occurred_at",
          "lsh0" = excluded."lsh0", "lsh1" = excluded."lsh1", "lsh2" = excluded."lsh2", "lsh3" = excluded."lsh3",
          "lsh4" = excluded."lsh4", "lsh5" = excluded."lsh5", "lsh6" = excluded."lsh6", "lsh7" = excluded."lsh7"
        WHERE "document_id" IS NOT excluded."document_id" OR "chunk_index" IS NOT excluded."chunk_index" OR "model" IS NOT excluded."model"
          OR "vector" IS NOT excluded."vector" OR "text" IS NOT excluded."text" OR "source" IS NOT excluded."source"
          OR "entity_type" IS NOT excluded."entity_type" OR "room" IS NOT excluded."room" OR "title" IS NOT excluded."title"
          OR "url" IS NOT excluded."url" OR "occurred_at" IS NOT excluded."occurred_at" OR "lsh0" IS NULL`,
    );
    await this.db.$client.batch([removeStale, ...writes].map((statement) => prepare(this.db, statement)));
  }

  /**
   * The keyword query without the index's most common words: how many chunks hold each word
   * (the FTS5 vocabulary, one statement per word) and the index's size (its highest rowid, one
   * row; deletes make it an overestimate, which keeps a few more words).
   */
  private async rankingQuery(text: string): Promise<KeywordQueries> {
    const terms = keywordTerms(text);
    if (terms.length === 0) return { most: null, quorum: null, any: null, near: [] };
    const [size, ...counts] = await this.db.$client.batch<{ n: number | null }>([
      this.db.$client.prepare("SELECT max(rowid) AS n FROM search_chunks"),
      ...terms.map((term) => this.db.$client.prepare("SELECT doc AS n FROM search_chunks_fts_vocab WHERE term = ?").bind(term)),
    ]);
    const chunksWith = new Map(terms.map((term, i) => [term, Number(counts[i]?.results[0]?.n ?? 0)]));
    const indexSize = Number(size?.results[0]?.n ?? 0);
    const kept = rankingTerms(terms, chunksWith, indexSize);
    // "Most" keeps the common words the other two leave out (a listing's name, in a fifth of an
    // index about five listings, is what tells the answer from a look-alike): ANDed with the
    // rarest words, their matches are few, so FTS5 scores few chunks for them.
    const content = terms.filter(isContentWord);
    return { most: matchMost(content, chunksWith), quorum: matchQuorum(kept, chunksWith), any: matchAny(kept), near: nearPairs(content, chunksWith, indexSize, questionPhrases(text)) };
  }

  async query(query: SearchQuery): Promise<SearchHit[]> {
    const candidates = Math.max(1, query.k) * CANDIDATES_PER_RESULT;
    const where = filterConditions(query.model, query.filter);
    const keywordQueries = await this.rankingQuery(query.text);
    // Each query with how many of its matches it keeps: "most" only enough for the ranking.
    const matches = (
      [
        [keywordQueries.most, candidates],
        [keywordQueries.quorum, null],
        [keywordQueries.any, null],
      ] as const
    ).filter((entry): entry is readonly [string, number | null] => entry[0] !== null);
    const floor = query.floor;
    const bucketRows = this.options.bucketRows ?? LSH_BUCKET_ROWS;
    const keywordReads = Math.max(candidates, this.options.keywordCandidates ?? KEYWORD_CANDIDATES);
    // The newest chunks that pass the filter: an index of up to RECENT_CHUNKS chunks is searched
    // exhaustively (a small install, a test), and a search always has some vectors to rank.
    const recent = sql`SELECT ${searchChunks.id} AS id, hex(${searchChunks.vector}) AS vector
      FROM (SELECT rowid AS chunk_rowid FROM ${searchChunks} ORDER BY rowid DESC LIMIT ${this.options.recentChunks ?? RECENT_CHUNKS}) AS newest
      CROSS JOIN ${searchChunks} ON ${searchChunks}.rowid = newest.chunk_rowid WHERE ${where}`;
    // Bounded: in each band, at most LSH_BUCKET_ROWS chunks of each bucket probed (newest first,
    // read from the band's index in rowid order), then the filter; one statement per bucket (D1
    // caps a compound SELECT's terms below LSH_BANDS). Exhaustive: every chunk that passes the filter.
    const dense = this.options.exhaustive
      ? [
          this.options.knownVectors
            ? sql`SELECT ${searchChunks.id} AS id FROM ${searchChunks} WHERE ${where}`
            : sql`SELECT ${searchChunks.id} AS id, hex(${searchChunks.vector}) AS vector FROM ${searchChunks} WHERE ${where}`,
        ]
      : [recent, ...lshProbes(query.vector, this.options.probes ?? LSH_PROBES).flatMap((buckets, band) => buckets.map(
          (bucket) => sql`SELECT ${searchChunks.id} AS id, hex(${searchChunks.vector}) AS vector
            FROM (SELECT rowid AS chunk_rowid FROM ${searchChunks} WHERE ${searchChunks.model} = ${query.model} AND ${BUCKET_COLUMNS[band]} = ${bucket}
              ORDER BY rowid DESC LIMIT ${bucketRows}) AS slice
            CROSS JOIN ${searchChunks} ON ${searchChunks}.rowid = slice.chunk_rowid WHERE ${where}`,
        ))];
    // The keyword half: FTS5 hands its matches over best first (`ORDER BY rank`, BM25), so reading
    // stops after the limit; the filter applies to those. The first `candidates` make the keyword
    // ranking, all of them lend their vectors to the dense half.
    const keyword = matches.map(
      ([match, kept]) => sql`SELECT ${searchChunks.id} AS id, hex(${searchChunks.vector}) AS vector
          FROM (SELECT rowid AS chunk_rowid, rank FROM search_chunks_fts WHERE search_chunks_fts MATCH ${match} ORDER BY rank LIMIT ${(kept ?? keywordReads) * FILTER_HEADROOM}) AS matched
          CROSS JOIN ${searchChunks} ON ${searchChunks}.rowid = matched.chunk_rowid WHERE ${where} ORDER BY matched.rank LIMIT ${kept ?? keywordReads}`,
    );
    // The chunks holding two of the question's words close together, as many as the other
    // keyword queries keep, ranked by how much of the question they say together
    // (proximityScore): a ranking of their own, and their vectors join the dense half's.
    const nearQuery = matchNear(keywordQueries.near);
    const near = nearQuery === null ? [] : [
      sql`SELECT ${searchChunks.id} AS id, hex(${searchChunks.vector}) AS vector, ${searchChunks.text} AS text
          FROM (SELECT rowid AS chunk_rowid, rank FROM search_chunks_fts WHERE search_chunks_fts MATCH ${nearQuery} ORDER BY rank LIMIT ${keywordReads}) AS matched
          CROSS JOIN ${searchChunks} ON ${searchChunks}.rowid = matched.chunk_rowid WHERE ${where} ORDER BY matched.rank`,
    ];
    // The chunks holding each candidate exact term as a word; one more than a rare term may have
    // says it is not rare. FTS5's unicode61 tokens are words() (case and accents aside).
    const exactTerms = floor?.exactTerms ?? [];
    // Bounded: a term in more than EXACT_TERM_MATCHES chunks of the whole index is not rare for
    // anyone, so no more of its matches are read.
    const exact = exactTerms.map(
      ({ term }) => sql`SELECT ${searchChunks.id} AS id
            FROM (SELECT rowid AS chunk_rowid FROM search_chunks_fts WHERE search_chunks_fts MATCH ${ftsTerm(term)} LIMIT ${this.options.exactTermMatches ?? EXACT_TERM_MATCHES}) AS matched
            CROSS JOIN ${searchChunks} ON ${searchChunks}.rowid = matched.chunk_rowid WHERE ${where} LIMIT ${RARE_TERM_MAX_CHUNKS + 1}`,
    );
    const results = await this.db.$client.batch<{ id: string; vector?: unknown; text?: unknown }>(
      [...keyword, ...near, ...exact, ...dense].map((statement) => prepare(this.db, statement)),
    );
    const nearMatches = near.length === 0 ? [] : (results[keyword.length]?.results ?? []);
    // Most of the question said together first; BM25's order among equals.
    const nearRows = nearMatches
      .map((row, order) => ({ row, order, score: proximityScore(String(row.text ?? ""), keywordQueries.near) }))
      .sort((a, b) => b.score - a.score || a.order - b.order)
      .map(({ row }) => row);
    results.splice(keyword.length, near.length);
    // Most words' matches first, then the quorum's, then the rest of any word's, each chunk once.
    const keywordRows = [...new Map(results.slice(0, keyword.length).flatMap((result) => (result.results ?? []).map((row) => [row.id, row] as const))).values()];
    const exactRows = results.slice(keyword.length, keyword.length + exact.length).map((result) => result.results ?? []);
    const denseRows = [...results.slice(keyword.length + exact.length).flatMap((result) => result.results ?? []), ...keywordRows, ...nearRows];
    const nearRanking = nearRows.slice(0, candidates).map((row) => row.id);
    const keywordRanking = keywordRows.slice(0, candidates).map((row) => row.id);

    const relevance = new Map<string, number>();
    for (const row of denseRows) {
      if (relevance.has(row.id)) continue;
      const vector = row.vector === undefined ? this.options.knownVectors?.get(row.id) : vectorFromHex(String(row.vector));
      if (vector) relevance.set(row.id, cosine(query.vector, vector));
    }
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
          strongKeyword: nearRanking,
          relevance,
          exact: new Set(exactRows.filter((rows) => rows.length <= RARE_TERM_MAX_CHUNKS).flatMap((rows) => rows.map((row) => row.id))),
          candidates,
          k: query.k,
        })
      : [...fuseByReciprocalRank([byRelevance(Number.MIN_VALUE).slice(0, candidates), keywordRanking, nearRanking])].sort((a, b) => b[1] - a[1]).slice(0, query.k);
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
