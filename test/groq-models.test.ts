// Groq as it is today, against the fake (test/node/fakes/groq.ts): reasoning models that spend
// their completion budget on reasoning first (a too-small budget fails truthfully, ours
// answers), and retired or unknown models (a configuration error: documents are indexed without
// summaries and summarized once a served model answers, one alert naming the variable, nothing
// dead-lettered, /healthz degraded; the bot answers extractively and says the model is unavailable).
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { vectorizeBatch, consumeVectorizeBatch } from "../queues/vectorize-consumer";
import { answerQuestion, type Answer } from "../workers/bot/answer";
import { formatAnswer } from "../workers/bot/format";
import { openDatabase } from "../workers/db/client";
import { GroqApiError, GroqChat, GroqModelUnavailable, type ChatTurn } from "../workers/llm/groq-chat";
import { ANSWER_MAX_COMPLETION_TOKENS, SUMMARY_MAX_COMPLETION_TOKENS } from "../workers/llm/groq-models";
import { PROBE_INTERVAL_MS } from "../workers/llm/model-outages";
import { catchUpStaleDocuments } from "../workers/vectorize/catch-up";
import { DEFAULT_GROQ_MODEL } from "../workers/vectorize/config";
import { GroqSummarizer, type Summarizer } from "../workers/vectorize/groq-summarizer";
import { vectorizeProviders } from "../workers/vectorize/providers";
import { vectorizeDocuments } from "../workers/vectorize/vectorize-documents";
import { ask as askBot } from "./support/bot";
import { row } from "./support/d1";
import { fetchWith, recordingQueue } from "./support/faults";
import { runBatch } from "./support/queue";
import { rocketChatId } from "./support/rocketchat";

afterEach(() => vi.restoreAllMocks());

const db = () => openDatabase(env.DB);
const groqSettings = (model: string) => ({ apiKey: env.FAKE_GROQ_API_KEY, baseUrl: env.FAKE_GROQ_URL, model });
const groqOn = { GROQ_API_KEY: env.FAKE_GROQ_API_KEY, GROQ_BASE_URL: env.FAKE_GROQ_URL } as Partial<Env>;

type FakeCall = { model: string; user: string; params: Record<string, unknown> };
const groqCalls = async (match: string): Promise<FakeCall[]> => (await fetch(`${env.FAKE_GROQ_URL}/__fake/requests?match=${encodeURIComponent(match)}`)).json();

const transcript = (topic: string) =>
  Array.from({ length: 40 }, (_, index) => `Line ${index}: the guest and the agent talk about ${topic}, the keys, the parking and the wifi password.`).join("\n");

async function seedLong(id: string, text: string) {
  await env.DB.prepare(
    `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header)
     VALUES (?, 'call', ?, ?, ?, 1, ?, 'aircall', ?, ?)
     ON CONFLICT (id) DO UPDATE SET text = excluded.text, content_hash = excluded.content_hash`,
  )
    .bind(id, id, text, `hash:${id}:${text.length}`, Date.now(), `Call ${id}`, `Aircall inbound call ${id}`)
    .run();
}

const chunkTexts = async (id: string) =>
  (await env.DB.prepare("SELECT text FROM search_chunks WHERE document_id = ? ORDER BY chunk_index").bind(id).all<{ text: string }>()).results.map((chunk) => chunk.text);
const backlogOf = (id: string) => row("SELECT unit_id, document_id, model FROM summary_backlog WHERE unit_id = ?", id);

/** The structured error lines that are model alerts for `variable`. */
function modelAlerts(spy: { mock: { calls: unknown[][] } }, variable: string) {
  return spy.mock.calls
    .map(([line]) => String(line))
    .filter((line) => line.includes('"language model unavailable"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((fields) => fields.variable === variable);
}

async function healthOf(overrides: Partial<Env>) {
  const response = await fetchWith(overrides, "http://admin/healthz");
  expect(response.status).toBe(200);
  const text = await response.text();
  expect(text).not.toContain(env.FAKE_GROQ_API_KEY);
  return (JSON.parse(text) as { capabilities: Record<string, unknown> }).capabilities;
}

describe("reasoning models spend the completion budget on reasoning first", () => {
  const summaryRequest = (topic: string): ChatTurn[] => [
    { role: "system", content: "You summarize business records of a short-let rental company for search." },
    { role: "user", content: `Call about ${topic}\n\n${transcript(topic)}` },
  ];

  it("Groq answers a budget the reasoning used up with no content and finish_reason length", async () => {
    const response = await fetch(`${env.FAKE_GROQ_URL}/openai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.FAKE_GROQ_API_KEY}`, "content-type": "application/json" },
      // What the client sent before: the old budget, no reasoning settings.
      body: JSON.stringify({ model: "openai/gpt-oss-20b", temperature: 0, max_completion_tokens: 220, messages: summaryRequest("zzrawbudget a frozen pipe") }),
    });
    expect(response.status).toBe(200);
    const completion = (await response.json()) as {
      choices: { message: { content: string; reasoning?: string }; finish_reason: string }[];
      usage: { completion_tokens: number; completion_tokens_details: { reasoning_tokens: number } };
    };
    expect(completion.choices[0]).toMatchObject({ message: { content: "", reasoning: expect.any(String) }, finish_reason: "length" });
    expect(completion.usage).toMatchObject({ completion_tokens: 220, completion_tokens_details: { reasoning_tokens: 220 } });
  });

  it("a too-small budget fails as incomplete, never as an answer; ours answers with the reasoning kept out", async () => {
    const chat = new GroqChat(groqSettings("openai/gpt-oss-20b"));
    const tooSmall = await chat.complete(summaryRequest("zzsmallbudget a leaking roof"), { timeoutMs: 10_000, maxTokens: 220, reasoningEffort: "medium" }).catch((error: unknown) => error);
    expect(tooSmall).toBeInstanceOf(GroqApiError);
    expect(tooSmall).toMatchObject({ status: 200, kind: "incomplete" });

    const summary = await new GroqSummarizer({ ...groqSettings("openai/gpt-oss-20b"), minChars: 2000 }).summarize("Call zzourbudget", transcript("zzourbudget a broken lift"));
    expect(summary).toMatch(/^Summary: .*broken lift/);
    const [call] = await groqCalls("zzourbudget");
    expect(call?.params).toEqual({ max_completion_tokens: SUMMARY_MAX_COMPLETION_TOKENS, reasoning_effort: "low", include_reasoning: false });
  });

  it("an answer cut short by the budget is not passed on, even with some text before the cut", async () => {
    const chat = new GroqChat(groqSettings("openai/gpt-oss-20b"));
    const full = await chat.complete(summaryRequest("zzcutshort a jammed door"), { timeoutMs: 10_000, maxTokens: SUMMARY_MAX_COMPLETION_TOKENS });
    expect(full.reasoningTokens).toBeGreaterThan(0);
    expect(full.completionTokens).toBeGreaterThan(full.reasoningTokens!);
    // Room for the reasoning and a few words of the answer.
    const cut = chat.complete(summaryRequest("zzcutshort a jammed door"), { timeoutMs: 10_000, maxTokens: full.reasoningTokens! + 3 });
    await expect(cut).rejects.toMatchObject({ kind: "incomplete" });
  });

  it("Groq refuses reasoning_format for gpt-oss: the client never sends it", async () => {
    const response = await fetch(`${env.FAKE_GROQ_URL}/openai/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.FAKE_GROQ_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "openai/gpt-oss-120b", reasoning_format: "hidden", messages: [{ role: "user", content: "zzformat hello" }] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error", param: "reasoning_format" } });
  });
});

describe("a model Groq does not serve", () => {
  it("is GroqModelUnavailable with Groq's status and code, never Groq's message text", async () => {
    const turns: ChatTurn[] = [{ role: "user", content: "zzgone hello" }];
    const retired = await new GroqChat(groqSettings("llama-3.1-8b-instant")).complete(turns, { timeoutMs: 5000, maxTokens: 100 }).catch((error: unknown) => error);
    expect(retired).toBeInstanceOf(GroqModelUnavailable);
    expect(retired).toMatchObject({ status: 400, code: "model_decommissioned", model: "llama-3.1-8b-instant" });
    expect(String((retired as Error).message)).not.toContain("no longer supported");
    const unknown = new GroqChat(groqSettings("zz-no-such-model")).complete(turns, { timeoutMs: 5000, maxTokens: 100 });
    await expect(unknown).rejects.toMatchObject({ name: "GroqModelUnavailable", status: 404, code: "model_not_found" });
  });
});

describe("summaries with a retired GROQ_MODEL", () => {
  const retiredEnv = { ...env, ...groqOn, GROQ_MODEL: "llama-3.1-8b-instant", SUMMARY_MIN_CHARS: "2000" } as Env;
  const fixedEnv = { ...env, ...groqOn, SUMMARY_MIN_CHARS: "2000" } as Env;

  it("indexes without summaries, alerts once naming GROQ_MODEL, dead-letters nothing, is degraded on /healthz; a served model summarizes them through the catch-up", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    await seedLong("call:gm-first", transcript("zzgmfirst a flooded kitchen in Porto"));
    await seedLong("call:gm-second", transcript("zzgmsecond a lost key card in Faro"));

    const first = await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:gm-first" }], (batch) => consumeVectorizeBatch(batch, retiredEnv));
    const second = await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:gm-second" }], (batch) => consumeVectorizeBatch(batch, retiredEnv));
    expect(first).toEqual({ acked: [{ documentId: "call:gm-first" }], retried: [] });
    expect(second).toEqual({ acked: [{ documentId: "call:gm-second" }], retried: [] });
    for (const id of ["call:gm-first", "call:gm-second"]) {
      const chunks = await chunkTexts(id);
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.join("\n")).not.toContain("Summary:");
      expect(await row("SELECT indexed_hash = content_hash AS indexed FROM documents WHERE id = ?", id)).toEqual({ indexed: 1 });
      expect(await backlogOf(id)).toEqual({ unit_id: id, document_id: id, model: "groq:llama-3.1-8b-instant" });
    }
    // The first batch learned that the model is gone; the second did not ask it.
    expect(await groqCalls("zzgmfirst")).toHaveLength(1);
    expect(await groqCalls("zzgmsecond")).toEqual([]);
    const alerts = modelAlerts(errors, "GROQ_MODEL");
    expect(alerts).toEqual([
      { level: "error", message: "language model unavailable", capability: "vectorization", variable: "GROQ_MODEL", model: "llama-3.1-8b-instant", code: "model_decommissioned", effect: expect.any(String), alert: true },
    ]);
    expect(await row("SELECT count(*) AS n FROM dead_letters WHERE document_id IN ('call:gm-first', 'call:gm-second')")).toEqual({ n: 0 });

    expect((await healthOf({ ...groqOn, GROQ_MODEL: "llama-3.1-8b-instant" })).vectorization).toEqual({
      configured: true,
      degraded: true,
      problems: [expect.stringMatching(/^GROQ_MODEL: Groq answers model_decommissioned for llama-3\.1-8b-instant .*without summaries/)],
    });

    // While the model is known to be gone, the catch-up leaves the backlog alone.
    const waiting = recordingQueue();
    expect((await catchUpStaleDocuments({ ...retiredEnv, VECTORIZE_QUEUE: waiting.queue }, Date.now())).summaryBacklog).toBe(0);
    expect(waiting.sent).not.toContainEqual(expect.objectContaining({ documentId: "call:gm-first" }));
    // Every PROBE_INTERVAL_MS it sends one unit, whose batch asks the model again.
    const probe = recordingQueue();
    expect((await catchUpStaleDocuments({ ...retiredEnv, VECTORIZE_QUEUE: probe.queue }, Date.now() + PROBE_INTERVAL_MS + 1000)).summaryBacklog).toBe(1);
    await env.DB.prepare("UPDATE documents SET enqueued_at = NULL WHERE id IN ('call:gm-first', 'call:gm-second')").run();

    // GROQ_MODEL corrected (unset: the default): a new model id, used at once.
    expect((await healthOf(groqOn)).vectorization).toEqual({ configured: true });
    const resend = recordingQueue();
    expect((await catchUpStaleDocuments({ ...fixedEnv, VECTORIZE_QUEUE: resend.queue }, Date.now())).summaryBacklog).toBeGreaterThanOrEqual(2);
    const ours = (resend.sent as { documentId: string; force?: boolean }[]).filter((message) => message.documentId.startsWith("call:gm-"));
    expect(ours).toEqual(expect.arrayContaining([{ documentId: "call:gm-first", force: true }, { documentId: "call:gm-second", force: true }]));
    const summarized = await runBatch("edge-ops-vectorize-dev", ours, (batch) => consumeVectorizeBatch(batch, fixedEnv));
    expect(summarized.retried).toEqual([]);
    for (const [id, topic] of [["call:gm-first", "flooded kitchen"], ["call:gm-second", "lost key card"]] as const) {
      expect((await chunkTexts(id))[0]).toMatch(new RegExp(`^Aircall inbound call ${id}\\nSummary: .*${topic}`));
      expect(await backlogOf(id)).toBeNull();
    }
    expect((await groqCalls("zzgmsecond")).map((call) => call.model)).toEqual([DEFAULT_GROQ_MODEL]);
    expect(modelAlerts(errors, "GROQ_MODEL")).toHaveLength(1);
  });

  it("an unknown model id (404 model_not_found) is handled the same way", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await seedLong("call:gm-unknown", transcript("zzgmunknown a noisy boiler in Braga"));
    const outcome = await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:gm-unknown" }], (batch) =>
      consumeVectorizeBatch(batch, { ...retiredEnv, GROQ_MODEL: "zz-typo-model" } as Env),
    );
    expect(outcome).toEqual({ acked: [{ documentId: "call:gm-unknown" }], retried: [] });
    expect(await backlogOf("call:gm-unknown")).toMatchObject({ model: "groq:zz-typo-model" });
    expect(await row("SELECT code FROM groq_model_outages WHERE variable = 'GROQ_MODEL' AND model = 'zz-typo-model'")).toEqual({ code: "model_not_found" });
  });
});

describe("the model outage over time", () => {
  /** A summarizer whose model is gone until `back` is set. */
  function flakySummarizer(model: string) {
    const state = { back: false, calls: 0 };
    const summarizer: Summarizer = {
      model: `stub:${model}`,
      minChars: 2000,
      modelRole: { variable: "GROQ_MODEL", model, capability: "vectorization", withoutIt: "documents are indexed without summaries" },
      async summarize(title) {
        state.calls += 1;
        if (!state.back) throw new GroqModelUnavailable(400, "model_decommissioned", model);
        return `A summary of ${title}.`;
      },
    };
    return { summarizer, state };
  }

  it("asks the model again only after PROBE_INTERVAL_MS, and forgets the outage when it answers", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    const model = `zz-flaky-${crypto.randomUUID()}`;
    const { summarizer, state } = flakySummarizer(model);
    const providers = { ...(await vectorizeProviders(env, db())), summarizer };
    await seedLong("call:gm-flaky", transcript("zzgmflaky a broken shutter in Lagos"));
    const t0 = Date.now();

    expect(await vectorizeDocuments(db(), providers, ["call:gm-flaky"], { now: t0 })).toMatchObject({ summarized: 0, summariesMissing: 1 });
    expect(state.calls).toBe(1);
    expect(await vectorizeDocuments(db(), providers, ["call:gm-flaky"], { force: true, now: t0 + 60_000 })).toMatchObject({ summariesMissing: 1 });
    expect(state.calls).toBe(1);

    state.back = true;
    expect(await vectorizeDocuments(db(), providers, ["call:gm-flaky"], { force: true, now: t0 + PROBE_INTERVAL_MS + 60_000 })).toMatchObject({ summarized: 1, summariesMissing: 0 });
    expect(state.calls).toBe(2);
    expect(await row("SELECT code FROM groq_model_outages WHERE model = ?", model)).toBeNull();
    expect(await backlogOf("call:gm-flaky")).toBeNull();
    expect((await chunkTexts("call:gm-flaky"))[0]).toContain("Summary: A summary of Call call:gm-flaky.");
  });
});

describe("the bot's answer model", () => {
  const room = rocketChatId("gma");
  beforeAll(async () => {
    await env.DB.prepare(
      `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header, occurred_at)
       VALUES ('call:gm-dishwasher', 'call', 'gm-dishwasher', ?, 'h:gm-dishwasher', 1, ?, 'aircall', 'Call about the Lisbon Loft dishwasher', 'Aircall inbound call · Lisbon Loft', ?)
       ON CONFLICT (id) DO NOTHING`,
    )
      .bind("Caller: the zzdishwasher at Lisbon Loft shows error F07 and leaks water on the floor", Date.now(), Date.parse("2026-06-05T10:00:00Z"))
      .run();
    await runBatch("edge-ops-vectorize-dev", [{ documentId: "call:gm-dishwasher" }], async (batch) => vectorizeBatch(batch, db(), await vectorizeProviders(env, db())));
  });

  async function ask(question: string, overrides: Partial<Env>) {
    const reply = await askBot(`!ask ${question}`, { roomId: room, overrides });
    expect(reply.status).toBe(200);
    return reply.body.text!;
  }

  it("answers on its own model, GROQ_ANSWER_MODEL (default openai/gpt-oss-120b), with room for reasoning", async () => {
    const text = await ask("zzgmdefault which error does the Lisbon Loft dishwasher show?", groqOn);
    expect(text).toContain("F07");
    const [call] = await groqCalls("zzgmdefault");
    expect(call).toMatchObject({ model: "openai/gpt-oss-120b", params: { max_completion_tokens: ANSWER_MAX_COMPLETION_TOKENS, reasoning_effort: "low", include_reasoning: false } });
  });

  it("with a retired model answers extractively, says the model is unavailable, alerts once naming GROQ_ANSWER_MODEL and is degraded on /healthz", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const retired = { ...groqOn, GROQ_ANSWER_MODEL: "llama-3.3-70b-versatile" } as Partial<Env>;
    const first = await ask("zzgmretired1 which error does the Lisbon Loft dishwasher show?", retired);
    expect(first).toMatch(/^_Extractive answer: the language model is unavailable right now, so here are the most relevant records\._\n\n\*\*\[1\]\*\* .*F07/);
    expect(first).toContain("*Sources*\n[1] Call about the Lisbon Loft dishwasher");
    for (const secret of [env.FAKE_GROQ_API_KEY, "GROQ_", "llama"]) expect(first).not.toContain(secret);
    const second = await ask("zzgmretired2 which error does the Lisbon Loft dishwasher show?", retired);
    expect(second).toMatch(/^_Extractive answer: the language model is unavailable right now/);
    expect(await groqCalls("zzgmretired1")).toHaveLength(1);
    expect(await groqCalls("zzgmretired2")).toEqual([]);
    expect(modelAlerts(errors, "GROQ_ANSWER_MODEL")).toEqual([expect.objectContaining({ model: "llama-3.3-70b-versatile", code: "model_decommissioned", capability: "rocket.chat bot", alert: true })]);
    expect(await row("SELECT mode, status FROM bot_queries WHERE question = ?", "zzgmretired1 which error does the Lisbon Loft dishwasher show?")).toEqual({ mode: "extractive", status: "answered" });

    const health = await healthOf(retired);
    expect(health.rocketChatBot).toEqual({ configured: true, degraded: true, problems: [expect.stringMatching(/^GROQ_ANSWER_MODEL: Groq answers model_decommissioned for llama-3\.3-70b-versatile .*extractively/)] });
    expect(health.vectorization).toEqual({ configured: true });

    // Corrected: the default model answers at once.
    expect(await ask("zzgmfixed which error does the Lisbon Loft dishwasher show?", groqOn)).toMatch(/^According to the records: .*F07.* \[1\]/);
  });

  it("a reply the budget cut short becomes an extractive answer that says so", async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    /** The same client with a budget the reasoning alone uses up. */
    class TinyBudget extends GroqChat {
      override complete(messages: readonly ChatTurn[], options: { timeoutMs: number; maxTokens: number }) {
        return super.complete(messages, { ...options, maxTokens: 64 });
      }
    }
    const input = {
      db: db(),
      providers: await vectorizeProviders(env, db()),
      roomId: room,
      question: "zzgmtiny which error does the Lisbon Loft dishwasher show?",
      history: [],
      deadline: Date.now() + 10_000,
    };
    const cut = (await answerQuestion({ ...input, groq: new TinyBudget(groqSettings("openai/gpt-oss-120b")) })) as Answer;
    expect(cut).toMatchObject({ mode: "extractive", extractiveReason: "model-incomplete", model: null });
    expect(formatAnswer(cut, 5000)).toMatch(/^_Extractive answer: the language model did not finish an answer, so here are the most relevant records\._/);
    expect(await groqCalls("zzgmtiny")).toHaveLength(1);

    const ours = (await answerQuestion({ ...input, groq: new GroqChat(groqSettings("openai/gpt-oss-120b")) })) as Answer;
    expect(ours).toMatchObject({ mode: "groq", body: expect.stringMatching(/F07.*\[1\]$/) });
  });
});
