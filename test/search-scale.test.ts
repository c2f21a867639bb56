// The D1 store reads a bounded number of rows per search whatever the index holds (the bound is
// workers/vectorize/d1-vector-store.ts's searchReadBound): D1's own meta.rows_read, summed over
// every statement a search runs, at two index sizes. Speed and recall at 100,000 chunks are
// measured by `npm run bench:search`, not here.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { countingD1, emptyCounts } from "../scripts/bench/cost-counters";
import { openDatabase } from "../workers/db/client";
import { chunkId } from "../workers/vectorize/chunk-id";
import { D1VectorStore, searchReadBound } from "../workers/vectorize/d1-vector-store";
import { LSH_BANDS, lshBuckets } from "../workers/vectorize/lsh";
import { exactTermCandidates } from "../workers/vectorize/relevance-floor";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import type { DocumentChunks } from "../workers/vectorize/vector-store";

const embedder = new OfflineEmbedder();

const PLACES = ["Porto flat", "Alfama loft", "Baixa studio", "Sintra house", "Cascais apartment"];
const ISSUES = ["boiler has no hot water", "lockbox code does not open", "wifi is slow in the bedroom", "towels are missing", "heating does not come on"];

async function documents(prefix: string, from: number, count: number): Promise<DocumentChunks[]> {
  const drafts = Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return { documentId: `${prefix}:${n}`, text: `Guest ${n} at the ${PLACES[n % 5]}: the ${ISSUES[(n >> 2) % 5]}, scalemarker${prefix}` };
  });
  const vectors = await embedder.embed(drafts.map((draft) => draft.text));
  return Promise.all(
    drafts.map(async (draft, i) => ({
      documentId: draft.documentId,
      chunks: [{ id: await chunkId(draft.documentId, 0), documentId: draft.documentId, chunkIndex: 0, text: draft.text, source: "guesty", entityType: "guest_conversation", room: null, title: draft.documentId, url: null, occurredAt: 1_763_000_000_000 + i, vector: vectors[i]! }],
    })),
  );
}

const QUESTION = "the boiler at the Porto flat has no hot water";
/** The question, with the word only one test's chunks hold: other tests' chunks share the index. */
const questionFor = (prefix: string) => `${QUESTION} scalemarker${prefix}`;
/** Small candidate limits, so a few hundred chunks are already more than a search may read. */
const SMALL = { keywordCandidates: 20, bucketRows: 8, probes: 1, exactTermMatches: 8, recentChunks: 16 };

async function rowsReadBySearch(prefix: string, options: ConstructorParameters<typeof D1VectorStore>[1], floor = false) {
  const model = `scale-${prefix}`;
  const text = questionFor(prefix);
  // D1's own rows_read of every statement the search runs (the cost bench's counting binding).
  const counts = emptyCounts();
  const [vector] = await embedder.embed([text]);
  const hits = await new D1VectorStore(openDatabase(countingD1(env.DB, counts)), options).query({
    model,
    vector: vector!,
    text,
    k: 5,
    filter: {},
    ...(floor ? { floor: { minScore: 0.2, exactTerms: exactTermCandidates(`${text} Porto Boiler`) } } : {}),
  });
  return { rows: counts.d1.rowsRead, statements: counts.d1.statements, hits };
}

describe("the D1 store's bounded search", () => {
  it("reads at most searchReadBound rows at 200 and at 1,200 chunks, where an exhaustive search reads them all", async () => {
    const prefix = crypto.randomUUID().slice(0, 8);
    const model = `scale-${prefix}`;
    const store = new D1VectorStore(openDatabase(env.DB));
    const bound = searchReadBound(5, SMALL);
    expect(bound).toBeLessThan(1200);

    await store.replaceDocuments(model, await documents(prefix, 0, 200));
    const small = await rowsReadBySearch(prefix, SMALL, true);
    await store.replaceDocuments(model, await documents(prefix, 200, 1000));
    const large = await rowsReadBySearch(prefix, SMALL, true);
    const exhaustive = await rowsReadBySearch(prefix, { exhaustive: true }, true);

    expect(small.rows).toBeGreaterThan(0);
    expect(small.rows).toBeLessThanOrEqual(bound);
    expect(large.rows).toBeLessThanOrEqual(bound);
    // The same statements at both sizes, and the bound is real: reading every vector exceeds it.
    expect(large.statements).toBe(small.statements);
    expect(exhaustive.rows).toBeGreaterThan(1200);
    expect(large.hits.length).toBe(5);
    expect(large.hits.every((hit) => hit.documentId.startsWith(`${prefix}:`))).toBe(true);
  });

  it("finds the best chunk exhaustive search finds, through the keyword candidates and the buckets", async () => {
    // A fixed index: the bounded search is approximate, and this asserts it on one known index
    // (a random prefix changes every vector and bucket, and so which near-equal chunk is best).
    const prefix = "b0unded1";
    const model = `scale-${prefix}`;
    const store = new D1VectorStore(openDatabase(env.DB));
    await store.replaceDocuments(model, await documents(prefix, 0, 400));
    const bounded = await rowsReadBySearch(prefix, SMALL);
    const exact = await rowsReadBySearch(prefix, { exhaustive: true });
    expect(bounded.hits[0]?.chunkId).toBe(exact.hits[0]?.chunkId);
  });

  it("keeps the buckets in step with the chunks: rewritten with their vector, gone with their chunk", async () => {
    const prefix = crypto.randomUUID().slice(0, 8);
    const model = `scale-${prefix}`;
    const store = new D1VectorStore(openDatabase(env.DB));
    const [first, second] = await documents(prefix, 0, 2);
    const bucketsOf = async (documentId: string) =>
      (
        await env.DB.prepare("SELECT lsh0, lsh1, lsh2, lsh3, lsh4, lsh5, lsh6, lsh7 FROM search_chunks WHERE document_id = ? AND model = ?")
          .bind(documentId, model)
          .raw<number[]>()
      ).map((row) => row.slice(0, LSH_BANDS));

    await store.replaceDocuments(model, [first!, second!]);
    expect(await bucketsOf(first!.documentId)).toEqual([lshBuckets(first!.chunks[0]!.vector)]);

    // The same chunk id with another text: its buckets follow the new vector.
    const [rewritten] = await embedder.embed(["a completely different message about parking permits"]);
    await store.replaceDocuments(model, [{ documentId: first!.documentId, chunks: [{ ...first!.chunks[0]!, text: "a completely different message about parking permits", vector: rewritten! }] }]);
    expect(await bucketsOf(first!.documentId)).toEqual([lshBuckets(rewritten!)]);

    await store.replaceDocuments(model, [{ documentId: second!.documentId, chunks: [] }]);
    expect(await bucketsOf(second!.documentId)).toEqual([]);
  });

  it("writes nothing for a unit rewritten unchanged, and only the changed chunk when one changes", async () => {
    const prefix = crypto.randomUUID().slice(0, 8);
    const model = `scale-${prefix}`;
    const unit = async (texts: string[]): Promise<DocumentChunks> => {
      const vectors = await embedder.embed(texts);
      const documentId = `${prefix}:unit`;
      return {
        documentId,
        chunks: await Promise.all(
          texts.map(async (text, chunkIndex) => ({ id: await chunkId(documentId, chunkIndex), documentId, chunkIndex, text, source: "guesty", entityType: "guest_conversation", room: null, title: "unit", url: null, occurredAt: 1_763_000_000_000, vector: vectors[chunkIndex]! })),
        ),
      };
    };
    const written = async (document: DocumentChunks) => {
      const counts = emptyCounts();
      await new D1VectorStore(openDatabase(countingD1(env.DB, counts))).replaceDocuments(model, [document]);
      return counts.d1.rowsWritten;
    };
    const texts = ["the boiler at the Porto flat is fixed", "the guest asks for late checkout", "towels were delivered"];
    const first = await written(await unit(texts));
    expect(first).toBeGreaterThan(0);
    expect(await written(await unit(texts))).toBe(0);
    const oneChanged = await written(await unit([texts[0]!, texts[1]!, "towels were delivered at noon"]));
    expect(oneChanged).toBeGreaterThan(0);
    expect(oneChanged).toBeLessThan(first);
  });
});
