// `npm run bench:search`: the embedded store (offline embedder, D1 store) at 1,000 (the reference),
// 10,000, 50,000 and 100,000 chunks. The labelled corpus (scripts/bench/search-questions.ts) plus look-alike
// distractors (scripts/bench/distractors.ts) are turned into chunks as the pipeline would
// (scripts/bench/index-chunks.ts), embedded in Node and written straight into wrangler's local
// D1 file through the Worker's own D1 store (scripts/bench/node-d1.ts): seconds, not the hours
// 100,000 webhooks would take. Then each labelled question is searched through
// `POST /api/search` on `wrangler dev`, and per size it prints:
//
//   - search p50/p95 (every labelled and unanswerable question, twice; the first pass warms up),
//   - recall@5 against exact search: the share of the Worker's top 5 that the same store with an
//     exhaustive dense scan (every vector scored, D1VectorStore's `exhaustive` option, run in Node
//     on the same file with the vectors this bench wrote) also returns in its top 5, and the
//     labelled recall of both,
//   - recall@5 on the labelled set (the answering document among the five),
//   - the index size (chunks, the D1 file's bytes) and the load average of the machine.
//
//   npm run bench:search
//   npm run bench:search -- --sizes 1000,10000
//
// Exit status: 0 PASS (at every size: p95 <= 250 ms, labelled recall@5 within 0.02 of exact
// search's and within 0.05 of the smallest size's), 1 FAIL or error, 124 timeout.
import { randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg } from "node:os";
import { openDatabase } from "../workers/db/client.ts";
import { chunkId } from "../workers/vectorize/chunk-id.ts";
import { D1VectorStore } from "../workers/vectorize/d1-vector-store.ts";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder.ts";
import { CALIBRATED_FLOORS, exactTermCandidates } from "../workers/vectorize/relevance-floor.ts";
import type { DocumentChunks } from "../workers/vectorize/vector-store.ts";
import { documentIdsOf } from "./bench/corpus-webhooks.ts";
import { distractors } from "./bench/distractors.ts";
import { indexChunks, type UnitChunks } from "./bench/index-chunks.ts";
import { nodeD1 } from "./bench/node-d1.ts";
import { corpus, questions, unanswerableQuestions } from "./bench/search-questions.ts";
import { createWranglerRun, freePort } from "./bench/wrangler-run.ts";
import { failOption, readBenchOptions } from "./bench/options.ts";
import { percentile } from "./bench/percentile.ts";

const USAGE = `usage: npm run bench:search [-- --sizes 1000,10000,50000,100000 --timeout SECONDS --port PORT]
  SIZES    index sizes in chunks, ascending (default 1000,10000,50000,100000); the labelled corpus is in every one, the first is the reference for recall
  TIMEOUT  total time limit in seconds (default 900)
  PORT     port for wrangler dev (default: a free port)`;

function readOptions(argv: readonly string[]) {
  const options = readBenchOptions(argv, { usage: USAGE, values: ["SIZES", "TIMEOUT", "PORT"] });
  const text = options.raw("SIZES") || "1000,10000,50000,100000";
  const sizes = text.split(",").map(Number);
  if (sizes.some((size) => !Number.isInteger(size) || size < 1) || sizes.some((size, i) => i > 0 && size <= sizes[i - 1]!)) failOption(`SIZES must be ascending positive integers, got "${text}"`);
  return { sizes, timeoutMs: options.number("TIMEOUT", 900) * 1000, port: options.number("PORT", 0) };
}

const options = readOptions(process.argv.slice(2));
const run = createWranglerRun({ name: "bench-search", timeoutMs: options.timeoutMs });
const adminToken = randomBytes(24).toString("hex");
const embedder = new OfflineEmbedder();

// ---------------------------------------------------------------- the chunks of each size

/**
 * The units of the corpus and of enough distractors for `size` chunks: distractor units are
 * dropped from the end to land on `size` exactly (the corpus's units are always kept).
 */
function unitsFor(size: number): UnitChunks[] {
  const corpusUnits = indexChunks(corpus);
  const corpusDocuments = new Set(corpusUnits.map((unit) => unit.documentId));
  let records = Math.ceil(size * 1.2);
  for (;;) {
    const stream = distractors();
    const filler = Array.from({ length: records }, () => stream.next().value!);
    const units = indexChunks([...corpus, ...filler]);
    const total = units.reduce((sum, unit) => sum + unit.chunks.length, 0);
    if (total >= size) {
      // The corpus's units first, then distractors in the order they came, until `size`.
      const kept: UnitChunks[] = units.filter((unit) => corpusDocuments.has(unit.documentId));
      let count = kept.reduce((sum, unit) => sum + unit.chunks.length, 0);
      for (const unit of units) {
        if (corpusDocuments.has(unit.documentId)) continue;
        if (count + unit.chunks.length > size) continue;
        kept.push(unit);
        count += unit.chunks.length;
      }
      return kept;
    }
    records = Math.ceil((records * size * 1.05) / Math.max(1, total));
  }
}

async function embedded(units: readonly UnitChunks[]): Promise<DocumentChunks[]> {
  return Promise.all(
    units.map(async (unit) => {
      const vectors = await embedder.embed(unit.chunks.map((chunk) => chunk.text));
      return {
        documentId: unit.documentId,
        chunks: await Promise.all(unit.chunks.map(async (chunk, i) => ({ ...chunk, id: await chunkId(unit.documentId, chunk.chunkIndex), vector: vectors[i]! }))),
      };
    }),
  );
}

function sqliteFile(): string {
  const folder = join(run.persistDir, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(folder).find((name) => name.endsWith(".sqlite") && name !== "metadata.sqlite");
  if (!file) throw new Error(`no D1 file in ${folder}`);
  return join(folder, file);
}

// ---------------------------------------------------------------- searching

type Hit = { documentId: string; chunkId: string };
type Search = { query: string; ids: string[]; chunks: string[]; ms: number };

async function search(base: string, query: string): Promise<Search> {
  const started = performance.now();
  const response = await fetch(`${base}/api/search`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query, k: 5 }),
    signal: run.abort.signal,
  });
  if (response.status !== 200) throw new Error(`/api/search answered ${response.status}: ${await response.text()}`);
  const { hits } = (await response.json()) as { hits: Hit[] };
  return { query, ids: hits.map((hit) => hit.documentId), chunks: hits.map((hit) => hit.chunkId), ms: performance.now() - started };
}

const allQueries = [...questions.map((question) => question.question), ...unanswerableQuestions];

/** The top 5 chunk ids of each query with every vector read, the search the bounded one must match. */
async function exactResults(file: string, knownVectors: ReadonlyMap<string, Float32Array>): Promise<Map<string, { chunks: string[]; ids: string[] }>> {
  const { d1, close } = nodeD1(file);
  const store = new D1VectorStore(openDatabase(d1), { exhaustive: true, knownVectors });
  const floor = CALIBRATED_FLOORS[embedder.model];
  const results = new Map<string, { chunks: string[]; ids: string[] }>();
  for (const query of allQueries) {
    const [vector] = await embedder.embed([query]);
    const hits = await store.query({
      model: embedder.model,
      vector: vector!,
      text: query,
      k: 5,
      filter: {},
      ...(floor === undefined ? {} : { floor: { minScore: floor, exactTerms: exactTermCandidates(query) } }),
    });
    results.set(query, { chunks: hits.map((hit) => hit.chunkId), ids: hits.map((hit) => hit.documentId) });
  }
  close();
  return results;
}

type SizeReport = {
  size: number;
  chunks: number;
  bytes: number;
  p50: number;
  p95: number;
  exactRecall: number;
  labelledRecall: number;
  exactLabelledRecall: number;
  /** Unanswerable questions that got no hit (the relevance floor refused them), of unanswerableQuestions. */
  refused: number;
  exactRefused: number;
  misses: string[];
  load: number[];
  fillSeconds: number;
};

async function measure(base: string, size: number, chunks: number, exact: Map<string, { chunks: string[]; ids: string[] }>, fillSeconds: number): Promise<SizeReport> {
  const times: number[] = [];
  const found = new Map<string, Search>();
  for (let pass = 0; pass < 2; pass += 1) {
    for (const query of allQueries) {
      const result = await search(base, query);
      if (pass === 1) times.push(result.ms);
      found.set(query, result);
    }
  }
  let shared = 0;
  let expected = 0;
  for (const [query, { chunks: ids }] of exact) {
    const got = new Set(found.get(query)!.chunks);
    expected += ids.length;
    shared += ids.filter((id) => got.has(id)).length;
  }
  const byKey = new Map(corpus.map((record) => [record.key, record]));
  const answers = (ids: readonly string[], answerKey: string) => ids.some((id) => documentIdsOf(byKey.get(answerKey)!).includes(id));
  const misses = questions.filter(({ question, answerKey }) => !answers(found.get(question)!.ids, answerKey));
  const exactMisses = questions.filter(({ question, answerKey }) => !answers(exact.get(question)!.ids, answerKey));
  return {
    size,
    chunks,
    bytes: statSync(sqliteFile()).size,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    exactRecall: expected === 0 ? 1 : shared / expected,
    labelledRecall: (questions.length - misses.length) / questions.length,
    exactLabelledRecall: (questions.length - exactMisses.length) / questions.length,
    refused: unanswerableQuestions.filter((question) => found.get(question)!.ids.length === 0).length,
    exactRefused: unanswerableQuestions.filter((question) => exact.get(question)!.ids.length === 0).length,
    misses: misses.map(({ answerKey, question }) => `${answerKey}: ${question}${process.env.BENCH_DEBUG ? `\n      got ${found.get(question)!.ids.join(", ")}` : ""}`),
    load: loadavg(),
    fillSeconds,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  await run.applyMigrations();
  const store = { written: new Set<string>() };
  /** Every vector written, by chunk id: exact search scores them all without reading them back. */
  const vectors = new Map<string, Float32Array>();
  const reports: SizeReport[] = [];
  for (const size of options.sizes) {
    const filling = performance.now();
    const units = unitsFor(size);
    const fresh = units.filter((unit) => !store.written.has(unit.documentId));
    const { d1, close } = nodeD1(sqliteFile());
    const d1Store = new D1VectorStore(openDatabase(d1));
    for (let i = 0; i < fresh.length; i += 500) {
      const documents = await embedded(fresh.slice(i, i + 500));
      await d1Store.replaceDocuments(embedder.model, documents);
      for (const document of documents) for (const chunk of document.chunks) vectors.set(chunk.id, chunk.vector);
    }
    close();
    for (const unit of fresh) store.written.add(unit.documentId);
    const chunks = units.reduce((sum, unit) => sum + unit.chunks.length, 0);
    const fillSeconds = (performance.now() - filling) / 1000;
    console.error(`bench: ${chunks} chunks indexed in ${fillSeconds.toFixed(1)} s; exact search…`);
    const exact = await exactResults(sqliteFile(), vectors);

    const port = options.port || (await freePort());
    const base = `http://127.0.0.1:${port}`;
    const { dev, exited } = await run.startWranglerDev(port, ["--persist-to", run.persistDir, "--var", `ADMIN_TOKEN:${adminToken}`]);
    await run.waitForHealth(base, "/healthz", dev, exited);
    const report = await measure(base, size, chunks, exact, fillSeconds);
    reports.push(report);
    console.log(
      `${String(size).padStart(7)} chunks  p50 ${report.p50.toFixed(0)} ms  p95 ${report.p95.toFixed(0)} ms  recall@5 vs exact ${report.exactRecall.toFixed(3)}  ` +
        `labelled recall@5 ${report.labelledRecall.toFixed(3)} (exact ${report.exactLabelledRecall.toFixed(3)})  ` +
        `unanswerable refused ${report.refused}/${unanswerableQuestions.length} (exact ${report.exactRefused})  D1 file ${(report.bytes / 1048576).toFixed(1)} MiB  load ${report.load.map((value) => value.toFixed(2)).join(" ")}`,
    );
    for (const miss of report.misses) console.log(`    missed ${miss}`);
    // Stop wrangler dev (its whole process group) before Node writes the file again.
    if (dev.pid) process.kill(-dev.pid, "SIGTERM");
    await dev.exited;
  }
  const first = reports[0]!;
  const latencyOk = reports.every((report) => report.p95 <= 250);
  // Within 0.02 of exact search: on the labelled set's recall@5 (what a reader gets).
  const exactOk = reports.every((report) => report.labelledRecall >= report.exactLabelledRecall - 0.02);
  const qualityOk = reports.every((report) => report.labelledRecall >= first.labelledRecall - 0.05);
  console.log(`
bench:search  ${embedder.model}, D1 store, ${cpus().length} CPUs, ${questions.length} labelled + ${unanswerableQuestions.length} unanswerable questions, k=5
p95 <= 250 ms            ${latencyOk ? "yes" : "NO"}
labelled recall within 0.02 of exact search  ${exactOk ? "yes" : "NO"}
labelled recall holds    ${qualityOk ? "yes" : "NO"} (within 0.05 of ${first.labelledRecall.toFixed(3)} at ${first.size})
result                   ${latencyOk && exactOk && qualityOk ? "PASS" : "FAIL"}`);
  return latencyOk && exactOk && qualityOk ? 0 : 1;
}

void run.finish(main);
