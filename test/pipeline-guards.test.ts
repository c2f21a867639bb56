// Guards deep in the pipeline that black-box intake tests rarely reach: each test here fails
// when the guard it names is removed.
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openDatabase } from "../workers/db/client";
import { prepare } from "../workers/db/prepare";
import { upsertDocumentsStatements } from "../workers/documents/sync-documents";
import worker from "../workers/index";
import { row } from "./support/d1";
import { SWEEP_MIN_AGE_MS } from "../workers/intake/sweep";
import { sweepWith } from "./support/faults";
import { guestyRequest } from "./support/guesty";

describe("document version guard", () => {
  it("a slower writer holding an older entity version does not replace newer text", async () => {
    const db = openDatabase(env.DB);
    const draft = (entityVersion: number, text: string) => ({
      id: "task:guard-1",
      kind: "task" as const,
      entityId: "guard-1",
      text,
      entityVersion,
      contentHash: `hash-of-${text}`,
      source: "guesty" as const,
      title: "Task guard-1",
      header: "Guesty task guard-1",
      room: null,
      url: null,
      occurredAt: null,
      groupId: null,
    });
    const write = async (entityVersion: number, text: string): Promise<void> => {
      const [statement] = upsertDocumentsStatements([draft(entityVersion, text)], Date.now());
      await prepare(db, statement!).all();
    };
    await write(3, "version three");
    await write(2, "version two");
    expect(await row("SELECT text, entity_version FROM documents WHERE id = 'task:guard-1'")).toEqual({ text: "version three", entity_version: 3 });
    await write(4, "version four");
    expect(await row("SELECT text FROM documents WHERE id = 'task:guard-1'")).toEqual({ text: "version four" });
  });
});

describe('an event left "received" whose normalization is now final', () => {
  async function storeStuck(id: string, type: string, payload: unknown) {
    await env.DB.prepare("INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES (?, 'guesty', ?, ?, 'received', ?)")
      .bind(id, type, Date.now() - SWEEP_MIN_AGE_MS - 60_000, JSON.stringify(payload))
      .run();
  }
  const sweep = () => sweepWith({});

  it("is finished as ignored", async () => {
    await storeStuck("guesty_msg_stuck_ignored", "payments.received", { event: "payments.received", payment: { _id: "p-stuck" } });
    await sweep();
    expect(await row("SELECT status, processed_at IS NOT NULL AS done FROM webhook_events WHERE id = 'guesty_msg_stuck_ignored'")).toEqual({
      status: "ignored",
      done: 1,
    });
  });

  it("is finished as failed, with the reason", async () => {
    await storeStuck("guesty_msg_stuck_failed", "task.created", { event: "task.created", task: { title: "no id" } });
    await sweep();
    expect(await row("SELECT status, error FROM webhook_events WHERE id = 'guesty_msg_stuck_failed'")).toEqual({
      status: "failed",
      error: expect.stringContaining("task._id"),
    });
  });

  it("a redelivery of a stored event is a duplicate and stores nothing more", async () => {
    const body = { event: "payments.received", payment: { _id: "p-dup" } };
    await storeStuck("guesty_msg_stuck_dup", "payments.received", body);
    const { url, init } = await guestyRequest({ id: "msg_stuck_dup", body });
    const response = await exports.default.fetch(url, init);
    expect(await response.json()).toEqual({ id: "guesty_msg_stuck_dup", duplicate: true });
    expect(await row("SELECT status FROM webhook_events WHERE id = 'guesty_msg_stuck_dup'")).toEqual({ status: "received" });
  });
});

describe("migration 0001: Aircall tokens leave stored payloads", () => {
  it("strips the token from Aircall rows, keeps their ids, and leaves other sources alone", async () => {
    const migration = env.TEST_MIGRATIONS.find((candidate) => candidate.name.startsWith("0001_"));
    expect(migration?.name).toBe("0001_strip_aircall_token.sql");
    const insert = "INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES (?, ?, 'x', 1, 'processed', ?)";
    await env.DB.batch([
      env.DB.prepare(insert).bind("aircall_legacy_with_token", "aircall", '{"event":"call.created","token":"legacy-token-1234","data":{"id":1}}'),
      env.DB.prepare(insert).bind("guesty_keeps_its_token_field", "guesty", '{"event":"x","token":"not-an-aircall-token"}'),
    ]);
    for (const query of migration!.queries) await env.DB.prepare(query).run();
    expect(await row("SELECT payload FROM webhook_events WHERE id = 'aircall_legacy_with_token'")).toEqual({
      payload: '{"event":"call.created","data":{"id":1}}',
    });
    expect(await row("SELECT payload FROM webhook_events WHERE id = 'guesty_keeps_its_token_field'")).toEqual({
      payload: '{"event":"x","token":"not-an-aircall-token"}',
    });
  });
});

describe("entry dispatch", () => {
  afterEach(() => vi.restoreAllMocks());

  it("retries a batch from a queue that has no consumer, with an alert", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const batch = createMessageBatch("edge-ops-unknown-dev", [{ id: "m1", timestamp: Date.now(), attempts: 1, body: { documentId: "x" } }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryBatch.retry).toBe(true);
    expect(result.ackAll).toBe(false);
    expect(errors.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ message: "no consumer for queue", queue: "edge-ops-unknown-dev", alert: true }),
    ]);
  });

  it("logs an alert for a cron with no job", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    await worker.scheduled(createScheduledController({ cron: "7 7 * * *", scheduledTime: Date.now() }), env, createExecutionContext());
    expect(errors.map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ message: "no job for cron", cron: "7 7 * * *" })]);
  });
});
