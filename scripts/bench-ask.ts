// `npm run bench:ask`: the Rocket.Chat bot under `wrangler dev` on a fresh local D1, answering
// the labelled questions (scripts/bench/search-questions.ts) over the labelled corpus, with the
// fake Groq answering after a fixed latency. For each question it reads the bot's own record
// (GET /api/queries) and reports the time our code adds (total minus the Groq call: retrieval,
// prompt, storage, formatting; target p95 under 150 ms locally) and how often the answer cites
// the record that answers the question. The questions no record answers are asked too: how
// often the bot refuses them (and how often without a model call: nothing passed the relevance
// floor), and how often it still answers the answerable ones. Chat questions are asked in their own room (other
// rooms' chat is private to them); the rest in a staff room. The bot runs on its default answer
// model (a reasoning model): the fake spends reasoning tokens as Groq does, so the report also
// shows the completion tokens against the bot's budget, and an answer cut by that budget (an
// extractive fallback) fails the run.
//
//   npm run bench:ask                         LATENCY=300 (ms of the fake Groq)
//   npm run bench:ask -- --latency 800 --timeout 300
//
// Exit status: 0 PASS, 1 FAIL or error, 124 timeout.
import { randomBytes } from "node:crypto";
import { cpus, platform, release } from "node:os";
import { FAKE_GROQ_API_KEY, startFakeGroq } from "../test/node/fakes/groq.ts";
import { ANSWER_MAX_COMPLETION_TOKENS } from "../workers/llm/groq-models.ts";
import { aircallToken, documentIdsOf, guestySecret, rocketChatToken, webhooksOf, type Webhook } from "./bench/corpus-webhooks.ts";
import { corpus, questions, unanswerableQuestions } from "./bench/search-questions.ts";
import { createWranglerRun, freePort, sleep } from "./bench/wrangler-run.ts";
import { percentile } from "./bench/percentile.ts";

function option(name: string, fallback: number): number {
  const flag = process.argv.indexOf(`--${name}`);
  const raw = flag >= 0 ? process.argv[flag + 1] : process.env[name.toUpperCase()];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`bench: --${name} must be a non-negative number, got "${raw}"`);
    process.exit(1);
  }
  return value;
}
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log("usage: npm run bench:ask [-- --latency MS --timeout SECONDS --port PORT]");
  process.exit(0);
}
const latencyMs = option("latency", 300);
const run = createWranglerRun({ name: "bench-ask", timeoutMs: option("timeout", 300) * 1000 });
const adminToken = randomBytes(24).toString("hex");
const botToken = `bench-${randomBytes(12).toString("hex")}`;
const STAFF_ROOM = "benchStaffRoom001";
let base = "";

async function post(webhook: Webhook): Promise<void> {
  const response = await fetch(`${base}${webhook.path}`, { method: "POST", headers: { "content-type": "application/json", ...webhook.headers }, body: webhook.body, signal: run.abort.signal });
  if (response.status !== 200) throw new Error(`${webhook.path} answered ${response.status}: ${await response.text()}`);
}

async function admin<T>(path: string): Promise<T> {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${adminToken}` }, signal: run.abort.signal });
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

type StoredQuery = {
  question: string;
  mode: string;
  model: string | null;
  sources: { documentId: string }[];
  usage: { completionTokens: number | null };
  timings: { modelMs: number | null; totalMs: number | null };
};

async function main(): Promise<number> {
  const groq = await startFakeGroq(0, { latencyMs });
  await run.applyMigrations();
  const port = Number(process.argv[process.argv.indexOf("--port") + 1]) || (await freePort());
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    AIRCALL_WEBHOOK_TOKENS: aircallToken,
    GUESTY_WEBHOOK_SECRETS: guestySecret,
    ROCKETCHAT_INGEST_TOKEN: rocketChatToken,
    ROCKETCHAT_BOT_TOKEN: botToken,
    ADMIN_TOKEN: adminToken,
    GROQ_API_KEY: FAKE_GROQ_API_KEY,
    GROQ_BASE_URL: groq.url,
    // One staff user asks every question within a minute or two: above the bot's default limits.
    BOT_RATE_LIMIT: "10000",
    BOT_ROOM_RATE_LIMIT: "100000",
  };
  const { dev, exited } = await run.startWranglerDev(port, ["--persist-to", run.persistDir, ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`])]);
  await run.waitForHealth(base, "/healthz", dev, exited);

  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => { while (next < corpus.length) for (const hook of webhooksOf(corpus[next++]!)) await post(hook); }));
  for (;;) {
    const status = await admin<{ documents: number; stale: number }>("/api/documents/index-status");
    if (status.documents >= corpus.length && status.stale === 0) break;
    await sleep(50);
  }
  console.log(`bench: corpus indexed (${corpus.length} records); asking ${questions.length} answerable and ${unanswerableQuestions.length} unanswerable questions, fake Groq latency ${latencyMs} ms`);

  const byKey = new Map(corpus.map((record) => [record.key, record]));
  const clientMs: number[] = [];
  const asking = [...questions.map(({ question, answerKey }) => ({ question, record: byKey.get(answerKey)! })), ...unanswerableQuestions.map((question) => ({ question, record: null }))];
  for (const [index, { question, record }] of asking.entries()) {
    const started = performance.now();
    const response = await fetch(`${base}/rocketchat/bot`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        token: botToken,
        bot: false,
        trigger_word: "!ask",
        channel_id: record?.kind === "chat" ? record.roomId : STAFF_ROOM,
        channel_name: "ops",
        message_id: `benchQuestion${String(index).padStart(4, "0")}`,
        timestamp: new Date().toISOString(),
        user_id: "benchStaffUser001",
        user_name: "staff",
        text: `!ask ${question}`,
      }),
      signal: run.abort.signal,
    });
    const body = (await response.json()) as { text?: string };
    if (response.status !== 200 || !body.text) throw new Error(`question ${index} answered ${response.status}: ${JSON.stringify(body)}`);
    clientMs.push(performance.now() - started);
  }

  const { items } = await admin<{ items: StoredQuery[] }>("/api/queries?limit=200");
  const byQuestion = new Map(items.map((item) => [item.question, item]));
  const ours: number[] = [];
  let cited = 0;
  const missed: string[] = [];
  for (const { question } of asking) {
    const stored = byQuestion.get(question);
    if (!stored) throw new Error(`no stored query for: ${question}`);
    ours.push((stored.timings.totalMs ?? 0) - (stored.timings.modelMs ?? 0));
  }
  // A refusal: the bot says it found nothing (no model call) or the model says the records do not hold it; no sources either way.
  const refusedOf = (stored: StoredQuery) => stored.mode === "refusal" && stored.sources.length === 0;
  let answerableRefused = 0;
  for (const { question, answerKey } of questions) {
    const stored = byQuestion.get(question)!;
    if (refusedOf(stored)) answerableRefused += 1;
    if (stored.sources.some((source) => documentIdsOf(byKey.get(answerKey)!).includes(source.documentId))) cited += 1;
    else missed.push(`${answerKey} (${stored.mode}): ${question}`);
  }
  const unanswered = unanswerableQuestions.map((question) => byQuestion.get(question)!);
  const refused = unanswered.filter(refusedOf);
  const refusedWithoutModel = refused.filter((stored) => stored.model === null).length;
  const notRefused = unanswerableQuestions.filter((question) => !refusedOf(byQuestion.get(question)!));
  const p95 = percentile(ours, 95);
  const asked = questions.map(({ question }) => byQuestion.get(question)!);
  const models = [...new Set(asked.flatMap((stored) => (stored.model ? [stored.model] : [])))].join(", ") || "none";
  const modes = Object.entries(Object.groupBy(asked, (stored) => stored.mode)).map(([mode, list]) => `${list?.length ?? 0} ${mode}`).join(", ");
  const extractive = asked.filter((stored) => stored.mode === "extractive").length;
  const completionTokens = asked.flatMap((stored) => (stored.usage.completionTokens === null ? [] : [stored.usage.completionTokens]));
  const pass = p95 < 150 && extractive === 0;
  console.log(`\`\`\`
npm run bench:ask  (LATENCY=${latencyMs} ms of the fake Groq)
machine      ${cpus()[0]?.model.split(" ").slice(0, 2).join(" ")}, ${cpus().length} cores, ${platform()} ${release()}, node ${process.version}
our time     p50 ${percentile(ours, 50).toFixed(0)} ms  p95 ${p95.toFixed(0)} ms  max ${Math.max(...ours).toFixed(0)} ms per question, all ${asking.length} (total minus the Groq call; target p95 < 150 ms)
round trip   p50 ${percentile(clientMs, 50).toFixed(0)} ms  p95 ${percentile(clientMs, 95).toFixed(0)} ms as the webhook sender sees it
cited        ${cited}/${questions.length} answers cite the record that answers the question (${((100 * cited) / questions.length).toFixed(0)}%)
answered     ${questions.length - answerableRefused}/${questions.length} answerable questions answered (not refused)
refused      ${refused.length}/${unanswerableQuestions.length} unanswerable questions refused, ${refusedWithoutModel} of them without a model call (nothing passed the relevance floor)
model        ${models}: ${modes}; completion tokens (reasoning included) p50 ${percentile(completionTokens, 50)}  max ${Math.max(...completionTokens)} of a budget of ${ANSWER_MAX_COMPLETION_TOKENS}
result       ${pass ? "PASS" : "FAIL"}
\`\`\``);
  if (missed.length > 0) console.log(`not cited:\n  ${missed.join("\n  ")}`);
  if (notRefused.length > 0) console.log(`not refused:\n  ${notRefused.join("\n  ")}`);
  await groq.close();
  return pass ? 0 : 1;
}

void run.finish(main);
