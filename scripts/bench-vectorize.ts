// `npm run bench:vectorize`: the vectorize pipeline on the embedded defaults (offline embedder,
// D1 store), under `wrangler dev` on a fresh temporary local D1, through the real queues.
//
//  1. Latency: SAMPLE records of the labelled corpus (scripts/bench/search-questions.ts) are
//     sent one at a time as webhooks (Aircall, signed Guesty, Rocket.Chat); each is timed from
//     the webhook's 200 to the first /api/search answer that returns its document.
//  2. Recall: the rest of the corpus is sent, and each labelled question is searched (k=5);
//     recall@5 is the share whose answering document is among the five (target >= 0.9). The
//     questions no record answers are searched too: refused when search returns nothing, under
//     the relevance floor the Worker applies (workers/vectorize/relevance-floor.ts).
//  3. Throughput: N Guesty reservations are sent and indexed, then all documents are
//     re-vectorized at once (POST /api/documents/revectorize with force) and timed until
//     indexed again; the consumer's "vectorize batch" log lines give the documents per batch
//     and the embedder and store calls per 100 documents (target at most 2 of each).
//
//   npm run bench:vectorize                      N=1000 SAMPLE=10
//   npm run bench:vectorize -- --n 2000 --sample 20 --timeout 600
//   npm run bench:vectorize -- --calibrate       the relevance floor of the embedder's model
//
// --calibrate indexes the corpus, searches every question at each floor of a grid and prints
// the floor to keep (scripts/bench/floor-calibration.ts), instead of phases 1 and 3. With
// --providers env it calibrates the model the EMBEDDINGS_* variables of the benchmark's own
// environment name, on the D1 store (the floor compares cosines, the same in both stores; no
// benchmark record is written to a real Qdrant).
//
// Exit status: 0 PASS, 1 FAIL or error, 124 timeout.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus, platform, release } from "node:os";
import { FAKE_EMBEDDINGS_API_KEY, startFakeEmbeddings } from "../test/node/fakes/openai-embeddings.ts";
import { FAKE_GROQ_API_KEY, startFakeGroq } from "../test/node/fakes/groq.ts";
import { startFakeQdrant } from "../test/node/fakes/qdrant.ts";
import { aircallToken, documentIdsOf, guestySecret, guestyWebhook, rocketChatToken, webhooksOf, type Webhook } from "./bench/corpus-webhooks.ts";
import { createWranglerRun, freePort, sleep } from "./bench/wrangler-run.ts";
import { calibrationReport, chooseFloor, finerGrid, FLOOR_GRID, type FloorOutcome } from "./bench/floor-calibration.ts";
import { corpus, questions, unanswerableQuestions } from "./bench/search-questions.ts";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder.ts";
import { CALIBRATED_FLOORS } from "../workers/vectorize/relevance-floor.ts";
import { failOption, readBenchOptions } from "./bench/options.ts";
import { percentile } from "./bench/percentile.ts";

const USAGE = `usage: npm run bench:vectorize [-- --n N --sample SAMPLE --providers embedded|fakes|env --timeout SECONDS --port PORT --calibrate]
  N        reservations for the throughput phase (default 1000)
  PROVIDERS  embedded (default: offline embedder, D1 store), fakes (the contract fakes of an
           OpenAI-compatible embeddings API, Qdrant and Groq, started on 127.0.0.1) or env (the
           EMBEDDINGS_* and SEARCH_MIN_SCORE variables of this environment, D1 store)
  CALIBRATE  print the relevance floor calibration of the embedder's model instead of the benchmark
  SAMPLE   corpus records whose webhook-to-searchable latency is timed one by one (default 10)
  TIMEOUT  total time limit in seconds (default 600)
  PORT     port for wrangler dev (default: a free port)`;

function readOptions(argv: readonly string[]) {
  const options = readBenchOptions(argv, { usage: USAGE, values: ["N", "SAMPLE", "PROVIDERS", "TIMEOUT", "PORT"], switches: ["CALIBRATE"] });
  const providers = options.raw("PROVIDERS") ?? "embedded";
  if (providers !== "embedded" && providers !== "fakes" && providers !== "env") failOption(`PROVIDERS must be embedded, fakes or env, got "${providers}"`);
  return {
    providers,
    calibrate: options.on("CALIBRATE"),
    n: options.number("N", 1000),
    sample: Math.min(options.number("SAMPLE", 10), corpus.length),
    timeoutMs: options.number("TIMEOUT", 600) * 1000,
    port: options.number("PORT", 0),
  };
}

const options = readOptions(process.argv.slice(2));
const run = createWranglerRun({ name: "bench-vectorize", timeoutMs: options.timeoutMs });

const adminToken = randomBytes(24).toString("hex");

// ---------------------------------------------------------------- HTTP

let base = "";

async function post(webhook: Webhook): Promise<void> {
  const response = await fetch(`${base}${webhook.path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...webhook.headers },
    body: webhook.body,
    signal: run.abort.signal,
  });
  if (response.status !== 200) throw new Error(`${webhook.path} answered ${response.status}: ${await response.text()}`);
}

async function admin<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: run.abort.signal,
  });
  if (response.status >= 300) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

type Hit = { documentId: string; relevance: number | null };
type SearchResult = { hits: Hit[]; floor: { minScore: number; source: string } | null };
/** `minScore` given: this search's own floor ("off": none); else the Worker's. `room`: as the bot searches, asked there. */
const searchFor = (query: string, k: number, minScore?: number | "off", room?: string) =>
  admin<SearchResult>("/api/search", { query, k, ...(minScore === undefined ? {} : { minScore }), ...(room ? { filter: { rooms: [room] } } : {}) });
/** A room with no chat of the corpus, where the bot benchmark asks every question that is not about chat. */
const STAFF_ROOM = "benchStaffRoom001";
const searchIds = async (query: string, k: number) => (await searchFor(query, k)).hits.map((hit) => hit.documentId);

type IndexStatus = { documents: number; indexed: number; stale: number; model: string };

async function waitAllIndexed(expectedDocuments: number, timeoutMs = options.timeoutMs): Promise<IndexStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await admin<IndexStatus>("/api/documents/index-status");
    if (status.documents >= expectedDocuments && status.stale === 0) return status;
    if (Date.now() > until) throw new Error(`index not caught up: ${JSON.stringify(status)}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------- consumer log lines

type BatchLine = { documents: number; units: number; chunks: number; embedCalls: number; storeCalls: number; durationMs: number; at: number };
const batches: BatchLine[] = [];

function onWorkerOutput(line: string) {
  const start = line.indexOf('{"level":"info","message":"vectorize batch"');
  if (start < 0) return;
  try {
    const parsed = JSON.parse(line.slice(start)) as Omit<BatchLine, "at">;
    batches.push({ ...parsed, at: Date.now() });
  } catch {
    // a line cut by the pipe; the counts of other batches still stand
  }
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

// ---------------------------------------------------------------- provider fakes

/** The production providers' fakes on 127.0.0.1, and the variables that point the Worker at them. */
async function startProviderFakes() {
  const qdrantKey = randomBytes(12).toString("hex");
  const [embeddings, qdrant, groq] = await Promise.all([startFakeEmbeddings(), startFakeQdrant({ apiKey: qdrantKey }), startFakeGroq()]);
  const model = "bench-embedding-model";
  const vars = {
    EMBEDDINGS_URL: `${embeddings.url}/v1`,
    EMBEDDINGS_API_KEY: FAKE_EMBEDDINGS_API_KEY,
    EMBEDDINGS_MODEL: model,
    QDRANT_URL: qdrant.url,
    QDRANT_API_KEY: qdrantKey,
    QDRANT_COLLECTION: "bench",
    GROQ_API_KEY: FAKE_GROQ_API_KEY,
    GROQ_BASE_URL: groq.url,
    // The corpus's call transcripts are short: summarize from 600 characters so they get one.
    SUMMARY_MIN_CHARS: "600",
    // The fake embeds with the offline embedder under another model id, which nobody calibrated:
    // its vectors are the offline model's, so its floor is too.
    SEARCH_MIN_SCORE: String(CALIBRATED_FLOORS[new OfflineEmbedder().model]),
  };
  const count = async (url: string, keep: (entry: { method?: string; path?: string }) => boolean) =>
    ((await (await fetch(url)).json()) as { method?: string; path?: string }[]).filter(keep).length;
  return {
    vars,
    /** HTTP requests the fakes received so far: embeddings, Qdrant point writes, Groq completions. */
    requests: async () => ({
      embeddings: await count(`${embeddings.url}/__fake/requests?model=${model}`, () => true),
      qdrantWrites: await count(`${qdrant.url}/__fake/requests`, (entry) => entry.method !== "GET" && /\/points(\/delete)?$/.test(entry.path ?? "")),
      groq: await count(`${groq.url}/__fake/requests`, () => true),
    }),
  };
}

// ---------------------------------------------------------------- the relevance floor

/** The floor the Worker applies, as the report line says it. */
async function describeFloor(model: string): Promise<string> {
  const { floor } = await searchFor(questions[0]!.question, 1);
  if (!floor) return `none (no calibrated floor for ${model}, SEARCH_MIN_SCORE unset)`;
  return `${floor.minScore} (${floor.source === "calibrated" ? `calibrated for ${model}` : floor.source})`;
}

/** PROVIDERS=env: the embedder variables of this environment, in a file only we can read (never on a command line). */
function providerEnvFile(): string {
  const names = ["EMBEDDINGS_URL", "EMBEDDINGS_API_KEY", "EMBEDDINGS_MODEL", "EMBEDDINGS_DIMENSIONS", "EMBEDDINGS_MAX_BATCH", "SEARCH_MIN_SCORE"];
  const lines = names.flatMap((name) => (process.env[name] ? [`${name}=${JSON.stringify(process.env[name])}`] : []));
  if (!process.env.EMBEDDINGS_URL) throw new Error("PROVIDERS=env needs EMBEDDINGS_URL and EMBEDDINGS_MODEL in the environment");
  const path = join(run.persistDir, "providers.env");
  writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o600 });
  return path;
}

/**
 * --calibrate: the whole corpus indexed, every question searched at each floor of the grid, as
 * the bot searches (scripts/bench-ask.ts): a chat question from its own room, the others from a
 * staff room, so `filter.rooms` leaves only business records, public channels and that room. A
 * floor that keeps the bot's recall keeps the admin's, who sees more.
 */
async function calibrate(): Promise<number> {
  await Promise.all(corpus.map(async (record) => { for (const hook of webhooksOf(record)) await post(hook); }));
  await waitAllIndexed(corpus.length);
  const status = await admin<IndexStatus & { providers: { embedder: string; store: string } }>("/api/documents/index-status");
  const byKey = new Map(corpus.map((record) => [record.key, record]));
  const roomOf = (key: string) => {
    const record = byKey.get(key)!;
    return record.kind === "chat" ? record.roomId : STAFF_ROOM;
  };
  const outcomes: FloorOutcome[] = [];
  const measure = async (minScore: number | "off") => {
    const outcome: FloorOutcome = { minScore: minScore === "off" ? null : minScore, recalled: 0, answerableRefused: 0, unanswerableRefused: 0 };
    for (const { question, answerKey } of questions) {
      const ids = (await searchFor(question, 5, minScore, roomOf(answerKey))).hits.map((hit) => hit.documentId);
      if (ids.length === 0) outcome.answerableRefused += 1;
      if (ids.some((id) => documentIdsOf(byKey.get(answerKey)!).includes(id))) outcome.recalled += 1;
    }
    for (const question of unanswerableQuestions) if ((await searchFor(question, 5, minScore, STAFF_ROOM)).hits.length === 0) outcome.unanswerableRefused += 1;
    outcomes.push(outcome);
  };
  for (const minScore of ["off", ...FLOOR_GRID] as const) await measure(minScore);
  const coarse = chooseFloor(outcomes);
  if (coarse) for (const minScore of finerGrid(coarse)) await measure(minScore);
  outcomes.sort((a, b) => (a.minScore ?? -2) - (b.minScore ?? -2));
  if (process.env.BENCH_DEBUG) {
    // Each question's best cosine over the index, and the answering document's.
    const best = async (question: string, room = STAFF_ROOM) => (await searchFor(question, 50, -1, room)).hits;
    const top = (hits: Hit[]) => Math.max(...hits.map((hit) => hit.relevance ?? Number.NaN));
    for (const { question, answerKey } of questions) {
      const hits = await best(question, roomOf(answerKey));
      const answer = hits.filter((hit) => documentIdsOf(byKey.get(answerKey)!).includes(hit.documentId));
      console.log(`answerable   best ${top(hits).toFixed(3)}  answer ${answer.length ? top(answer).toFixed(3) : "-    "}  ${question}`);
    }
    for (const question of unanswerableQuestions) {
      const hits = await best(question);
      console.log(`unanswerable best ${top(hits).toFixed(3)}  ${hits[0]?.documentId ?? "-"}  ${question}`);
    }
  }
  console.log(`\`\`\`
npm run bench:vectorize -- --calibrate  (PROVIDERS=${options.providers})
providers    embedder ${status.providers.embedder}, store ${status.providers.store}; ${corpus.length} records, ${questions.length} answerable and ${unanswerableQuestions.length} unanswerable questions
${calibrationReport(status.providers.embedder, outcomes, questions.length, unanswerableQuestions.length)}
\`\`\``);
  return 0;
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  await run.applyMigrations();
  const port = options.port || (await freePort());
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = { AIRCALL_WEBHOOK_TOKENS: aircallToken, GUESTY_WEBHOOK_SECRETS: guestySecret, ROCKETCHAT_INGEST_TOKEN: rocketChatToken, ADMIN_TOKEN: adminToken };
  const fakes = options.providers === "fakes" ? await startProviderFakes() : null;
  if (fakes) Object.assign(vars, fakes.vars);
  // Log level "log": the consumer's "vectorize batch" lines carry the call counts.
  process.env.BENCH_LOG_LEVEL = "log";
  const { dev, exited } = await run.startWranglerDev(port, [
    "--persist-to", run.persistDir,
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ...(options.providers === "env" ? ["--env-file", providerEnvFile()] : []),
  ]);
  for (const stream of [dev.stdout, dev.stderr]) stream.on("data", (chunk: Buffer) => chunk.toString().split("\n").forEach(onWorkerOutput));
  await run.waitForHealth(base, "/healthz", dev, exited);
  console.log(`bench: wrangler dev on ${base}; corpus ${corpus.length} records, ${questions.length} answerable and ${unanswerableQuestions.length} unanswerable questions, N=${options.n}`);
  if (options.calibrate) return calibrate();

  // 1. Latency, one record at a time.
  const latencies: number[] = [];
  const sample = corpus.filter((record) => record.kind !== "chat" || !record.threadId).slice(0, options.sample);
  for (const record of sample) {
    const hooks = webhooksOf(record);
    for (const hook of hooks) await post(hook);
    const answered = Date.now();
    const expected = documentIdsOf(record);
    const query = record.kind === "call" ? record.transcript[0]! : record.kind === "reservation" ? `${record.guestName} ${record.listingName}` : record.kind === "chat" ? record.text : record.body;
    for (;;) {
      if ((await searchIds(query, 10)).some((id) => expected.includes(id))) break;
      if (Date.now() - answered > 30_000) throw new Error(`${record.key} not searchable within 30 s`);
      await sleep(10);
    }
    latencies.push(Date.now() - answered);
  }

  // 2. Recall@5 over the labelled questions.
  const rest = corpus.filter((record) => !sample.includes(record));
  await Promise.all(rest.map(async (record) => { for (const hook of webhooksOf(record)) await post(hook); }));
  // One document per record (a call, a reservation, a message): wait until all exist and are indexed.
  await waitAllIndexed(corpus.length);
  const byKey = new Map(corpus.map((record) => [record.key, record]));
  async function measureRecall() {
    const misses: string[] = [];
    const searchTimes: number[] = [];
    let answerableRefused = 0;
    for (const { question, answerKey } of questions) {
      const started = performance.now();
      const ids = await searchIds(question, 5);
      searchTimes.push(performance.now() - started);
      if (ids.length === 0) answerableRefused += 1;
      if (!ids.some((id) => documentIdsOf(byKey.get(answerKey)!).includes(id))) {
        misses.push(`${answerKey}: ${question}${process.env.BENCH_DEBUG ? `\n    expected ${documentIdsOf(byKey.get(answerKey)!).join(" or ")}, got ${ids.join(", ")}` : ""}`);
      }
    }
    const answered: string[] = [];
    for (const question of unanswerableQuestions) {
      const ids = await searchIds(question, 5);
      if (ids.length > 0) answered.push(`${question}${process.env.BENCH_DEBUG ? `\n    got ${ids.join(", ")}` : ""}`);
    }
    return { recall: (questions.length - misses.length) / questions.length, misses, searchTimes, answerableRefused, refused: unanswerableQuestions.length - answered.length, answered };
  }
  const corpusOnly = await measureRecall();

  // 3. Throughput through the consumer: N reservations, then everything re-vectorized at once.
  const listings = ["Lisbon Alfama Loft", "Porto Riverside Flat", "Lisbon Baixa Studio", "Sintra Garden House", "Cascais Beach Apartment"];
  const reservations = Array.from({ length: options.n }, (_, index) =>
    guestyWebhook({
      event: "reservation.new",
      reservation: {
        _id: randomBytes(12).toString("hex"),
        confirmationCode: `BENCH${index}`,
        status: "confirmed",
        checkInDateLocalized: `2026-0${5 + (index % 4)}-${String(1 + (index % 28)).padStart(2, "0")}`,
        checkOutDateLocalized: `2026-0${5 + (index % 4)}-${String(2 + (index % 27)).padStart(2, "0")}`,
        guestsCount: 1 + (index % 5),
        source: "airbnb2",
        listing: { title: listings[index % listings.length] },
        guest: { fullName: `Guest ${index}` },
        lastUpdatedAt: "2026-04-01T00:00:00.000Z",
      },
    }),
  );
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => { while (next < reservations.length) await post(reservations[next++]!); }));
  const loaded = await waitAllIndexed(corpus.length + options.n);
  // The same questions with N more reservations in the index, all about the same listings.
  const crowded = await measureRecall();

  batches.length = 0;
  const requestsBefore = await fakes?.requests();
  const revectorizeStarted = Date.now();
  let after: string | null = null;
  let enqueued = 0;
  do {
    const page: { enqueued: number; next: string | null } = await admin("/api/documents/revectorize", { force: true, limit: 5000, ...(after ? { after } : {}) });
    enqueued += page.enqueued;
    after = page.next;
  } while (after);
  // Every message consumed: the batches' documents add up to what was sent.
  while (batches.reduce((sum, batch) => sum + batch.documents, 0) < enqueued) {
    if (Date.now() - revectorizeStarted > options.timeoutMs) throw new Error("re-vectorize did not finish");
    await sleep(20);
  }
  const elapsedS = (Math.max(...batches.map((batch) => batch.at)) - revectorizeStarted) / 1000;
  const requestsAfter = await fakes?.requests();
  const documents = batches.reduce((sum, batch) => sum + batch.documents, 0);
  const full = batches.filter((batch) => batch.documents === 100);
  const per100 = (key: "embedCalls" | "storeCalls", list: readonly BatchLine[]) =>
    (100 * list.reduce((sum, batch) => sum + batch[key], 0)) / Math.max(1, list.reduce((sum, batch) => sum + batch.documents, 0));

  const recallOk = corpusOnly.recall >= 0.9 && crowded.recall >= 0.9;
  const consumerSeconds = batches.reduce((sum, batch) => sum + batch.durationMs, 0) / 1000;
  const status = await admin<IndexStatus & { providers: { embedder: string; store: string; summarizer: string | null } }>("/api/documents/index-status");
  const floorLine = await describeFloor(status.providers.embedder);
  const httpDelta = (key: "embeddings" | "qdrantWrites" | "groq") => (requestsBefore && requestsAfter ? requestsAfter[key] - requestsBefore[key] : 0);
  const httpLine = requestsBefore
    ? `http         counted by the fakes while re-vectorizing ${documents} documents in ${batches.length} batches (${full.length} of 100): ` +
      `embeddings API ${httpDelta("embeddings")} (${(httpDelta("embeddings") / batches.length).toFixed(2)} per batch), ` +
      `Qdrant point writes ${httpDelta("qdrantWrites")} (${(httpDelta("qdrantWrites") / batches.length).toFixed(2)} per batch: upsert + delete), ` +
      `Groq ${httpDelta("groq")} (summaries cached by content hash)\n`
    : "";
  const callsOk =
    full.length > 0 &&
    full.every((batch) => batch.embedCalls <= 2 && batch.storeCalls <= 2) &&
    (!requestsBefore || (httpDelta("embeddings") <= 2 * batches.length && httpDelta("qdrantWrites") <= 2 * batches.length));
  console.log(`\`\`\`
npm run bench:vectorize  (N=${options.n} SAMPLE=${options.sample} PROVIDERS=${options.providers})
machine      ${cpus()[0]?.model.split(" ").slice(0, 2).join(" ")}, ${cpus().length} cores, ${platform()} ${release()}, node ${process.version}
providers    embedder ${status.providers.embedder}, store ${status.providers.store}, summaries ${status.providers.summarizer ?? "off"}
latency      webhook 200 -> searchable: p50 ${ms(percentile(latencies, 50))}  p90 ${ms(percentile(latencies, 90))}  max ${ms(Math.max(...latencies))} (${latencies.length} records, one at a time)
recall@5     ${corpusOnly.recall.toFixed(3)} over the ${corpus.length}-record corpus, ${crowded.recall.toFixed(3)} with ${options.n} more reservations (${questions.length} labelled questions; target >= 0.9)
floor        ${floorLine}
refused      unanswerable ${corpusOnly.refused}/${unanswerableQuestions.length} over the corpus, ${crowded.refused}/${unanswerableQuestions.length} with ${options.n} more reservations (search returns nothing); answerable ${corpusOnly.answerableRefused}/${questions.length} and ${crowded.answerableRefused}/${questions.length}
search       p50 ${ms(percentile(crowded.searchTimes, 50))}  p90 ${ms(percentile(crowded.searchTimes, 90))} per /api/search over ${loaded.documents} documents
throughput   ${(documents / elapsedS).toFixed(0)} documents/s end to end (${documents} re-vectorized in ${elapsedS.toFixed(2)} s, ${batches.length} batches; the last partial batch waits for the 1 s batch timeout)
             ${(documents / consumerSeconds).toFixed(0)} documents/s of consumer time (${consumerSeconds.toFixed(2)} s in batches)
calls        per 100 documents in full batches: embedder ${per100("embedCalls", full).toFixed(2)}, store ${per100("storeCalls", full).toFixed(2)} (${full.length} full batches; target <= 2 each)
             over all batches: embedder ${per100("embedCalls", batches).toFixed(2)}, store ${per100("storeCalls", batches).toFixed(2)}
${httpLine}batch time   p50 ${ms(percentile(batches.map((batch) => batch.durationMs), 50))}  max ${ms(Math.max(...batches.map((batch) => batch.durationMs)))} per batch
result       ${recallOk && callsOk ? "PASS" : "FAIL"}
\`\`\``);
  const misses = [...new Set([...corpusOnly.misses, ...crowded.misses])];
  if (misses.length > 0) console.log(`missed (answer not in the top 5):\n  ${misses.join("\n  ")}`);
  const answered = [...new Set([...corpusOnly.answered, ...crowded.answered])];
  if (answered.length > 0) console.log(`not refused (an unanswerable question got hits):\n  ${answered.join("\n  ")}`);
  return recallOk && callsOk ? 0 : 1;
}

void run.finish(main);
