// The bot never goes silent, against the fake Rocket.Chat and the fake Groq: a question whose
// queue send failed is answered by Rocket.Chat's retry or, failing that, by the sweep; the sweep
// posts an answer, or an honest message when answering fails again, under the question's one
// answer id; a message the bot queue dead-letters ends in an honest message in its thread.
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { consumeBotBatch } from "../queues/bot-consumer";
import { consumeBotDeadLetters } from "../queues/bot-dead-letter-consumer";
import { GAVE_UP } from "../workers/bot/delivery";
import { ACKNOWLEDGEMENT } from "../workers/bot/format";
import { sweepBotQuestions } from "../workers/bot/sweep";
import { ask, groqCalls, groqFault, groqOn, indexDocuments, pendingQuestion, postedTo, queryRow } from "./support/bot";
import { recordingQueue, tickWith } from "./support/faults";
import { runBatch } from "./support/queue";
import { fakeRoom, rocketChatId } from "./support/rocketchat";

afterEach(() => vi.restoreAllMocks());

const room = rocketChatId("lroom");
const SIX_MINUTES = 6 * 60_000;

beforeAll(async () => {
  await fakeRoom({ id: room, name: "front-desk", t: "p" });
  await indexDocuments([{ id: "call:liveness-boiler", room: null, kind: "call", source: "aircall", title: "Call about the zzliveboiler", text: "Caller: the zzliveboiler boiler at the Porto flat shows error E119" }]);
});

const thread = async (messageId: string) => (await postedTo(room)).filter((message) => message.tmid === messageId);

describe("a question whose queue send failed", () => {
  it("answers 503 (Rocket.Chat retries that, never a 500), and the retry answers the question", async () => {
    await groqFault({ delayMs: 1500, count: 1, match: "zzretried" });
    const failedQueue = recordingQueue({ fail: true });
    const first = await ask("!ask zzretried which error does the zzliveboiler boiler show?", { roomId: room, overrides: { ...groqOn, BOT_ANSWER_BUDGET_MS: "800", BOT_QUEUE: failedQueue.queue } });
    expect(first.status).toBe(503);
    expect(failedQueue.calls.send).toBe(1);
    expect(await queryRow(first.messageId)).toMatchObject({ status: "pending", queued_at: null });

    const retry = await ask("!ask zzretried which error does the zzliveboiler boiler show?", { roomId: room, messageId: first.messageId, overrides: groqOn });
    expect(retry.status).toBe(200);
    expect(retry.body.text).toContain("E119");
    expect(retry.body.text).not.toBe(ACKNOWLEDGEMENT);
    expect(await queryRow(first.messageId)).toMatchObject({ status: "answered", delivery: "sync" });
  });

  it("without a retry, is answered by the sweep after five minutes, once, in its thread", async () => {
    await groqFault({ delayMs: 1500, count: 1, match: "zzswept" });
    const asked = await ask("!ask zzswept which error does the zzliveboiler boiler show?", {
      roomId: room,
      overrides: { ...groqOn, BOT_ANSWER_BUDGET_MS: "800", BOT_QUEUE: recordingQueue({ fail: true }).queue },
    });
    expect(asked.status).toBe(503);

    // Not overdue yet: the sweep leaves it alone.
    await tickWith(groqOn, Date.now() + 60_000);
    expect(await thread(asked.messageId)).toEqual([]);

    await tickWith(groqOn, Date.now() + SIX_MINUTES);
    const posted = await thread(asked.messageId);
    expect(posted).toHaveLength(1);
    expect(posted[0]?.msg).toContain("E119");
    expect(await queryRow(asked.messageId)).toMatchObject({ status: "answered", delivery: "async", delivered_at: expect.any(Number), sweep_attempts: 1 });

    // A later tick finds nothing left to do for it.
    await tickWith(groqOn, Date.now() + 2 * SIX_MINUTES);
    expect(await thread(asked.messageId)).toHaveLength(1);
    expect((await queryRow(asked.messageId))?.sweep_attempts).toBe(1);
  });
});

describe("the sweep", () => {
  it("closes a question it cannot answer either with an honest message in the thread", async () => {
    const { queryId, messageId } = await pendingQuestion(room, "zzsweepclose which error does the zzliveboiler boiler show?", Date.now() - SIX_MINUTES);
    // Groq asks to wait longer than the sweep may: the question is closed, not left hanging.
    await groqFault({ status: 429, retryAfter: 120, count: 1, match: "zzsweepclose" });
    const report = await sweepBotQuestions({ ...env, ...groqOn } as Env, Date.now());
    expect(report.closed).toBeGreaterThanOrEqual(1);
    expect((await thread(messageId)).map((message) => message.msg)).toEqual([GAVE_UP.sweep]);
    expect(await queryRow(messageId)).toMatchObject({ id: queryId, status: "failed", mode: "error", answer: GAVE_UP.sweep, delivered_at: expect.any(Number) });
  });

  it("posts an answer recorded but never posted, and never doubles one the queue posted meanwhile", async () => {
    const { queryId, messageId } = await pendingQuestion(room, "zzsweeplate which error does the zzliveboiler boiler show?", Date.now() - SIX_MINUTES);
    // The queue answers and posts, then its record of the delivery is lost (mark it undelivered).
    expect(await runBatch("edge-ops-bot-dev", [{ queryId }], (batch) => consumeBotBatch(batch, env as Env))).toEqual({ acked: [{ queryId }], retried: [] });
    await env.DB.prepare("UPDATE bot_queries SET delivered_at = NULL WHERE id = ?").bind(queryId).run();

    await sweepBotQuestions(env as Env, Date.now());
    const posted = await thread(messageId);
    expect(posted).toHaveLength(1);
    expect(posted[0]?.msg).toContain("E119");
    expect(await queryRow(messageId)).toMatchObject({ status: "answered", delivered_at: expect.any(Number) });
  });

  it("leaves questions older than a day, and gives one up after three sweeps", async () => {
    const old = await pendingQuestion(room, "zzsweepold which error does the boiler show?", Date.now() - 25 * 3600_000);
    const unreachable = rocketChatId("lgone");
    // A room Rocket.Chat refuses posts to (it does not know it).
    const stuck = await pendingQuestion(unreachable, "zzsweepstuck which error does the zzliveboiler boiler show?", Date.now() - SIX_MINUTES);
    for (let sweep = 1; sweep <= 4; sweep += 1) await sweepBotQuestions({ ...env, ...groqOn } as Env, Date.now());
    expect(await queryRow(old.messageId)).toMatchObject({ status: "pending", sweep_attempts: 0, delivered_at: null });
    expect(await queryRow(stuck.messageId)).toMatchObject({ sweep_attempts: 3, delivered_at: null });
    expect(await postedTo(unreachable)).toEqual([]);
    expect(await groqCalls("zzsweepold")).toEqual([]);
  });
});

describe("the bot queue's dead-letter queue", () => {
  it("ends a dead-lettered question with an honest message in its thread, once", async () => {
    const { queryId, messageId } = await pendingQuestion(room, "zzdeadletter which error does the zzliveboiler boiler show?");
    const outcome = await runBatch("edge-ops-bot-dlq-dev", [{ queryId }], (batch) => consumeBotDeadLetters(batch, env as Env), 1);
    expect(outcome).toEqual({ acked: [{ queryId }], retried: [] });
    expect((await thread(messageId)).map((message) => message.msg)).toEqual([GAVE_UP.deadLetter]);
    expect(await queryRow(messageId)).toMatchObject({ status: "failed", mode: "error", answer: GAVE_UP.deadLetter, delivered_at: expect.any(Number) });
    // Delivered again (the queue delivers at least once): nothing more in the thread.
    await runBatch("edge-ops-bot-dlq-dev", [{ queryId }], (batch) => consumeBotDeadLetters(batch, env as Env), 1);
    expect(await thread(messageId)).toHaveLength(1);
    // Nothing is asked of the model for a question the queue gave up on.
    expect(await groqCalls("zzdeadletter")).toEqual([]);
  });

  it("posts the answer a dead-lettered question already had, and retries when Rocket.Chat refuses the post", async () => {
    const flaky = rocketChatId("lflk");
    await fakeRoom({ id: flaky, name: "flaky", t: "p", failures: [{ status: 500 }] });
    const { queryId, messageId } = await pendingQuestion(flaky, "zzdeadanswered which error does the boiler show?");
    await env.DB.prepare("UPDATE bot_queries SET status = 'answered', mode = 'extractive', answer = 'the recorded answer [1]' WHERE id = ?").bind(queryId).run();

    const refused = await runBatch("edge-ops-bot-dlq-dev", [{ queryId }], (batch) => consumeBotDeadLetters(batch, env as Env), 1);
    expect(refused.retried).toEqual([{ body: { queryId }, delaySeconds: 10 }]);
    await runBatch("edge-ops-bot-dlq-dev", [{ queryId }], (batch) => consumeBotDeadLetters(batch, env as Env), 2);
    expect((await postedTo(flaky)).filter((message) => message.tmid === messageId).map((message) => message.msg)).toEqual(["the recorded answer [1]"]);
    expect(await queryRow(messageId)).toMatchObject({ status: "answered", delivered_at: expect.any(Number) });
  });
});
