// Alerts leave through ALERT_WEBHOOK_URL (the incoming-webhook fake on 127.0.0.1, one hook path
// per test): posted as {text, ...fields}, recorded for the status page, a repeat suppressed, a
// failing or hanging hook logged and never thrown, and a request's answer never waiting for it.
// Also the bot's dead letters, now counted in dead_letters like the vectorize ones.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { consumeBotDeadLetters } from "../queues/bot-dead-letter-consumer";
import { consumeDeadLetters } from "../queues/dead-letter-consumer";
import { raiseAlert } from "../workers/alerts/raise";
import worker from "../workers/index";
import { recordingBotDeadLetters } from "../workers/metrics/bot-dead-letters";
import { pendingQuestion } from "./support/bot";
import { runBatch } from "./support/queue";
import { fakeRoom, rocketChatId } from "./support/rocketchat";

type Posted = { text: string; alert: string; env: string; at: string } & Record<string, unknown>;

/** A hook of the test's own on the fake, and the env that posts to it. */
async function hook(behaviour: { status?: number; hangMs?: number } = {}) {
  const path = `/services/${crypto.randomUUID()}`;
  if (Object.keys(behaviour).length > 0) await fetch(`${env.FAKE_ALERT_WEBHOOK_URL}/__fake/hooks`, { method: "POST", body: JSON.stringify({ hook: path, ...behaviour }) });
  return {
    env: { ...env, ALERT_WEBHOOK_URL: `${env.FAKE_ALERT_WEBHOOK_URL}${path}` } satisfies Env,
    posted: async (): Promise<Posted[]> => (await fetch(`${env.FAKE_ALERT_WEBHOOK_URL}/__fake/messages?hook=${encodeURIComponent(path)}`)).json(),
    requests: async (): Promise<number> => ((await (await fetch(`${env.FAKE_ALERT_WEBHOOK_URL}/__fake/requests?hook=${encodeURIComponent(path)}`)).json()) as { count: number }).count,
  };
}

const recorded = (message: string) =>
  env.DB.prepare("SELECT message, fields, delivery FROM alerts WHERE message = ? ORDER BY at").bind(message).all<{ message: string; fields: string; delivery: string }>();

const counter = (series: unknown[]) =>
  env.DB.prepare("SELECT value FROM metric_rollups WHERE scope = 'total' AND bucket = 0 AND series = ?").bind(JSON.stringify(series)).first<number>("value");

describe("raiseAlert", () => {
  it("logs the alert line, posts {text, ...fields} and records it; a repeat within five minutes is not posted again", async () => {
    const target = await hook();
    const message = `test alert ${crypto.randomUUID()}`;
    const lines: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    await raiseAlert(target.env, message, { runId: "run-1", parts: 2 });
    await raiseAlert(target.env, message, { runId: "run-2", parts: 2 });
    spy.mockRestore();

    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.message === message)).toEqual([
      { level: "error", message, runId: "run-1", parts: 2, alert: true },
      { level: "error", message, runId: "run-2", parts: 2, alert: true },
    ]);
    const posted = await target.posted();
    expect(posted).toHaveLength(1);
    expect(posted[0]).toMatchObject({ alert: message, env: "dev", runId: "run-1", parts: 2, text: `[edge-ops dev] ${message} (runId: run-1, parts: 2)` });
    expect(Date.parse(posted[0]!.at)).not.toBeNaN();
    expect((await recorded(message)).results).toEqual([
      { message, fields: JSON.stringify({ runId: "run-1", parts: 2 }), delivery: "posted" },
      { message, fields: JSON.stringify({ runId: "run-2", parts: 2 }), delivery: "suppressed" },
    ]);
    expect(await counter(["alerts", message])).toBe(2);
  });

  it("records a refusing hook as failed and a hanging one as failed at its timeout, and never throws", async () => {
    const refusing = await hook({ status: 500 });
    const message = `refused alert ${crypto.randomUUID()}`;
    const failedBefore = (await counter(["alert_webhook_posts", "failed"])) ?? 0;
    await expect(raiseAlert(refusing.env, message, {})).resolves.toBeUndefined();
    expect(await refusing.requests()).toBe(1);
    expect((await recorded(message)).results.map((row) => row.delivery)).toEqual(["failed"]);

    const hanging = await hook({ hangMs: 3000 });
    const slow = `hanging alert ${crypto.randomUUID()}`;
    await expect(raiseAlert(hanging.env, slow, {}, { timeoutMs: 50 })).resolves.toBeUndefined();
    expect((await recorded(slow)).results.map((row) => row.delivery)).toEqual(["failed"]);
    expect(await counter(["alert_webhook_posts", "failed"])).toBe(failedBefore + 2);
  });

  it("without ALERT_WEBHOOK_URL records the alert as off; a storage failure still leaves the log line", async () => {
    const message = `quiet alert ${crypto.randomUUID()}`;
    await raiseAlert({ ...env, ALERT_WEBHOOK_URL: "" }, message, { queue: "edge-ops-vectorize" });
    expect((await recorded(message)).results.map((row) => row.delivery)).toEqual(["off"]);

    const lines: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    const broken = { ...env, DB: { prepare: () => { throw new Error("D1_ERROR: no such table: alerts, params: secret"); } } as unknown as D1Database };
    await expect(raiseAlert(broken, "broken storage alert", { job: "x" })).resolves.toBeUndefined();
    spy.mockRestore();
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      { level: "error", message: "broken storage alert", job: "x", alert: true },
      { level: "error", message: "alert not recorded", alertMessage: "broken storage alert", delivery: "off" },
    ]);
    expect(lines.join("\n")).not.toContain("secret");
  });

  it("posts from a real call site: a vectorize dead letter", async () => {
    const target = await hook();
    const documentId = `doc:${crypto.randomUUID()}`;
    await runBatch("edge-ops-vectorize-dlq-dev", [{ documentId }], (batch) => consumeDeadLetters(batch, target.env));
    const posted = await target.posted();
    expect(posted.map((body) => [body.alert, body.documentId])).toEqual([["message dead-lettered", documentId]]);
  });

  it("after a request's answer, never before it: a webhook is answered while the hook still hangs", async () => {
    const target = await hook({ hangMs: 3000 });
    // A stored event cannot be written (D1 refuses): the intake answers 503 and raises the alert.
    const failing = { ...target.env, DB: { prepare: () => { throw new Error("D1_ERROR: injected"); }, batch: () => Promise.reject(new Error("D1_ERROR: injected")) } as unknown as D1Database };
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request("http://intake/webhooks/aircall", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ resource: "call", event: "call.created", timestamp: 1, token: env.AIRCALL_WEBHOOK_TOKENS.split(",")[0], data: { id: 1 } }) }),
      failing,
      ctx,
    );
    expect(response.status).toBe(503);
    // Answered: the hook has been asked (or not yet) but has accepted nothing.
    expect(await target.posted()).toEqual([]);
    await waitOnExecutionContext(ctx);
    expect(await target.requests()).toBe(1);
  });
});

describe("the bot's dead letters", () => {
  const letterOf = (queryId: string) =>
    env.DB.prepare("SELECT queue, superseded_at FROM dead_letters WHERE body = ?").bind(JSON.stringify({ queryId })).first<{ queue: string; superseded_at: number | null }>();

  it("stay open in dead_letters while the consumer retries them", async () => {
    const { queryId } = await pendingQuestion(rocketChatId("r"), "which boiler?");
    const retrying = async (batch: MessageBatch<unknown>) => {
      for (const message of batch.messages) message.retry();
    };
    const outcome = await runBatch("edge-ops-bot-dlq-dev", [{ queryId }], (batch, ctx) => recordingBotDeadLetters(retrying)(batch, env, ctx));
    expect(outcome.retried).toHaveLength(1);
    expect(await letterOf(queryId)).toEqual({ queue: "edge-ops-bot", superseded_at: null });
  });

  it("are closed once the consumer has answered the question in its thread and acknowledged it", async () => {
    const room = rocketChatId("r");
    await fakeRoom({ id: room, name: "front-desk", t: "p" });
    const { queryId } = await pendingQuestion(room, "where is the key?");
    const outcome = await runBatch("edge-ops-bot-dlq-dev", [{ queryId }], (batch, ctx) => recordingBotDeadLetters(consumeBotDeadLetters)(batch, env, ctx));
    expect(outcome.acked).toHaveLength(1);
    const letter = await letterOf(queryId);
    expect(letter?.queue).toBe("edge-ops-bot");
    expect(letter?.superseded_at).not.toBeNull();
  });
});
