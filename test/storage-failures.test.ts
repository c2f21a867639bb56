// Failures on both sides of the answer. Before it (the one D1 write): 503, nothing stored,
// the sender's retry stores the event once. After it (the intake queue's consumer, the sweep):
// the event is already durable, so a failure is retried there and nothing is lost.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { retryDelaySeconds } from "../queues/retry-delay";
import { runBatch } from "./support/queue";
import worker from "../workers/index";
import { SWEEP_ALERT_ATTEMPTS, SWEEP_MIN_AGE_MS } from "../workers/intake/sweep";
import { aircallEvent, aircallRequestInit, aircallTokens, ended } from "./support/aircall";
import { row } from "./support/d1";
import { countingD1, fetchWith, faultyD1, recordingQueue, sweepWith, touches } from "./support/faults";
import { guestyRequest, LEAN_RESERVATION_UPDATES, leanReservationUpdate } from "./support/guesty";

const url = "http://intake/webhooks/aircall";

async function deliver(body: unknown, overrides: Partial<Env>) {
  const response = await fetchWith(overrides, url, aircallRequestInit(body));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Stores `body` without processing it (the intake message is only recorded) and returns its id. */
async function storeOnly(body: unknown): Promise<string> {
  const intake = recordingQueue();
  const answer = await deliver(body, { INTAKE_QUEUE: intake.queue });
  expect(answer).toMatchObject({ status: 200, body: { duplicate: false } });
  expect(intake.sent).toEqual([{ eventId: answer.body.id }]);
  return String(answer.body.id);
}

/** Runs the intake consumer on messages naming `eventIds`, with some bindings replaced. */
async function consume(eventIds: string[], overrides: Partial<Env> = {}, attempts = 1) {
  const outcome = await runBatch("edge-ops-intake-dev", eventIds.map((eventId) => ({ eventId })), (batch, ctx) => worker.queue(batch, { ...env, ...overrides }, ctx), attempts);
  return {
    acked: outcome.acked.map((body) => body.eventId),
    retried: outcome.retried.map(({ body, delaySeconds }) => ({ eventId: body.eventId, delaySeconds })),
  };
}

const status = async (id: string) => (await row("SELECT status FROM webhook_events WHERE id = ?", id))?.status;

describe("before the answer: the one D1 write", () => {
  it("answers 503 when the event cannot be stored, and the retry stores it once", async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1001));
    const failed = await deliver(body, { DB: faultyD1(touches("webhook_events", "insert into")) });
    expect(failed).toEqual({ status: 503, body: { error: "temporarily unavailable, retry later", requestId: expect.any(String) } });
    expect(await row("SELECT count(*) AS n FROM webhook_events WHERE payload LIKE '%\"id\":1001,%'")).toEqual({ n: 0 });
    const id = await storeOnly(body);
    expect(await row("SELECT count(*) AS n FROM webhook_events WHERE id = ?", id)).toEqual({ n: 1 });
  });

  it("answers before processing: the event is stored, its entity not yet", async () => {
    const id = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(1002)));
    expect(await status(id)).toBe("received");
    expect(await row("SELECT id FROM aircall_calls WHERE id = 1002")).toBeNull();
    const vectorize = recordingQueue();
    expect(await consume([id], { VECTORIZE_QUEUE: vectorize.queue })).toEqual({ acked: [id], retried: [] });
    expect(await status(id)).toBe("processed");
    expect(await row("SELECT status FROM aircall_calls WHERE id = 1002")).toEqual({ status: "done" });
    expect(vectorize.sent).toEqual([{ documentId: "call:1002" }]);
  });

  it("of concurrent redeliveries of one event, exactly one is told it is new", async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1003));
    const intake = recordingQueue();
    const answers = await Promise.all(Array.from({ length: 8 }, () => deliver(body, { INTAKE_QUEUE: intake.queue })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    expect(answers.filter((answer) => answer.body.duplicate === false)).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
    expect(intake.sent).toHaveLength(1);
    expect(await row("SELECT count(*) AS n FROM webhook_events WHERE id = ?", answers[0]!.body.id)).toEqual({ n: 1 });
  });

  it("hands deliveries that arrive together to the intake queue in one batch", async () => {
    const intake = recordingQueue();
    const answers = await Promise.all(
      [1700, 1701, 1702, 1703, 1704, 1705].map((callId) => deliver(aircallEvent("call.ended", 1_763_000_094, ended(callId)), { INTAKE_QUEUE: intake.queue })),
    );
    expect(intake.sent).toEqual(expect.arrayContaining(answers.map((answer) => ({ eventId: answer.body.id }))));
    expect(intake.sent).toHaveLength(6);
    expect(intake.calls.send).toBe(0);
    expect(intake.calls.sendBatch).toBeLessThan(6);
  });

  it("still answers 200 when the intake queue refuses the message: the sweep finishes the event", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const answer = await deliver(aircallEvent("call.ended", 1_763_000_094, ended(1004)), { INTAKE_QUEUE: recordingQueue({ fail: true }).queue });
    expect(answer.status).toBe(200);
    const id = String(answer.body.id);
    expect(await status(id)).toBe("received");
    expect(errors.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ message: "intake queue send failed", eventIds: id }));

    await sweepWith({}, Date.now() + SWEEP_MIN_AGE_MS + 1000);
    expect(await status(id)).toBe("processed");
    expect(await row("SELECT status FROM aircall_calls WHERE id = 1004")).toEqual({ status: "done" });
  });
});

describe("after the answer: the intake consumer", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    // A call id of its own per case: another test's identical body would be a duplicate.
    ["an entity upsert", touches("aircall_calls", "insert into"), 1301],
    ["a document upsert", touches("documents", "insert into"), 1302],
    ["marking the event processed", touches("webhook_events", "update"), 1303],
  ] as const)("retries the message with backoff when %s fails, and the next delivery completes it", async (_step, fault, callId) => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const id = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(callId)));
    const failing = await consume([id], { DB: faultyD1(fault), VECTORIZE_QUEUE: recordingQueue().queue }, 2);
    expect(failing).toEqual({ acked: [], retried: [{ eventId: id, delaySeconds: 20 }] });
    expect(await status(id)).toBe("received");

    const vectorize = recordingQueue();
    expect(await consume([id], { VECTORIZE_QUEUE: vectorize.queue }, 3)).toEqual({ acked: [id], retried: [] });
    expect(await status(id)).toBe("processed");
    expect(await row("SELECT status FROM aircall_calls WHERE id = ?", callId)).toEqual({ status: "done" });
    // At least once, never lost: the document reaches the vectorize queue on the completing run.
    expect(vectorize.sent).toEqual([{ documentId: `call:${callId}` }]);
    const document = await row("SELECT content_hash, enqueued_hash FROM documents WHERE id = ?", `call:${callId}`);
    expect(document?.enqueued_hash).toBe(document?.content_hash);
  });

  it("retries when the vectorize queue refuses, keeping the entity, and enqueues once on the retry", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const id = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2100)));
    expect((await consume([id], { VECTORIZE_QUEUE: recordingQueue({ fail: true }).queue })).retried).toEqual([{ eventId: id, delaySeconds: 10 }]);
    expect(await row("SELECT status FROM aircall_calls WHERE id = 2100")).toEqual({ status: "done" });
    expect((await row("SELECT enqueued_hash FROM documents WHERE id = 'call:2100'"))?.enqueued_hash).toBeNull();

    const up = recordingQueue();
    expect((await consume([id], { VECTORIZE_QUEUE: up.queue })).acked).toEqual([id]);
    expect(up.sent).toEqual([{ documentId: "call:2100" }]);
    // A late duplicate message for the finished event changes nothing.
    const late = recordingQueue();
    expect((await consume([id], { VECTORIZE_QUEUE: late.queue })).acked).toEqual([id]);
    expect(late.sent).toEqual([]);
  });

  it("does not let one failing event hold back the others in its batch", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const call = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2200)));
    const contact = await storeOnly(aircallEvent("contact.created", 1_763_000_094, { id: 2201, first_name: "Failing" }));
    const result = await consume([call, contact], { DB: faultyD1(touches("aircall_contacts", "insert into")), VECTORIZE_QUEUE: recordingQueue().queue });
    expect(result).toEqual({ acked: [call], retried: [{ eventId: contact, delaySeconds: 10 }] });
    expect(await status(call)).toBe("processed");
    expect(await status(contact)).toBe("received");
  });

  it("processes a full batch of 100 events in four round trips, two events for one entity included", async () => {
    const ids = [
      await storeOnly(aircallEvent("call.created", 1_763_000_000, { ...ended(2300), status: "initial", ended_at: null, answered_at: null })),
      await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2300))),
      await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2301))),
      await storeOnly(aircallEvent("contact.created", 1_763_000_094, { id: 2302, first_name: "Batch" })),
    ];
    // Fill the batch to the queue's maximum: more ids than D1 allows bound parameters.
    for (let callId = 3000; ids.length < 99; callId += 1) ids.push(await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(callId))));
    // An event stored "received" whose type is now unknown: finished as ignored in the same batch.
    await env.DB.prepare("INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES ('aircall_batch_unknown', 'aircall', 'mystery.event', ?, 'received', '{}')")
      .bind(Date.now())
      .run();
    ids.push("aircall_batch_unknown");
    const { db: counting, statements, counts } = countingD1();
    const vectorize = recordingQueue();
    expect((await consume(ids, { DB: counting, VECTORIZE_QUEUE: vectorize.queue })).acked.sort()).toEqual([...ids].sort());
    // One read of the events, then: entities + final statuses, documents, processed marks.
    expect(counts.batches).toBe(3);
    expect(vectorize.sent).toEqual(expect.arrayContaining([{ documentId: "call:2300" }, { documentId: "call:2301" }, { documentId: "contact:2302" }]));
    expect(vectorize.sent).toHaveLength(98);
    // Entities of one kind and column set share one upsert statement.
    expect(statements.filter((sql) => sql.toLowerCase().startsWith('insert into "aircall_calls"'))).toHaveLength(1);
    expect(await row("SELECT status FROM aircall_calls WHERE id = 2300")).toEqual({ status: "done" });
    expect(await status("aircall_batch_unknown")).toBe("ignored");
    // The statements run: one read, then everything else inside the three batches.
    expect(statements.filter((sql) => sql.toLowerCase().startsWith("select"))).toHaveLength(1);
    // 100 events stored one by one first: seconds on a busy machine, beyond the 5 s default.
  }, 20_000);

  it("applies lean updates of one entity with different column sets correctly within one batch, in any order", async () => {
    for (const [run, order] of [[3, 2, 1, 0], [1, 3, 0, 2]].entries()) {
      const reservationId = `res-batch-${run}`;
      const intake = recordingQueue();
      for (const index of order) {
        const body = leanReservationUpdate(reservationId, LEAN_RESERVATION_UPDATES[index]!);
        const { url, init } = await guestyRequest({ id: `msg_batch_${run}_${index}`, body });
        expect((await fetchWith({ INTAKE_QUEUE: intake.queue }, url, init)).status).toBe(200);
      }
      const ids = intake.sent.map((message) => (message as { eventId: string }).eventId);
      expect((await consume(ids, { VECTORIZE_QUEUE: recordingQueue().queue })).acked.sort()).toEqual([...ids].sort());
      expect(await row("SELECT status, guests_count, nights_count FROM guesty_reservations WHERE id = ?", reservationId)).toEqual({
        status: "canceled",
        guests_count: 4,
        nights_count: 5,
      });
    }
  });

  it("acknowledges a malformed message with an alert instead of retrying it forever", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const outcome = await runBatch("edge-ops-intake-dev", [{ nope: true }], (batch, ctx) => worker.queue(batch, env, ctx));
    expect(outcome).toEqual({ acked: [{ nope: true }], retried: [] });
    expect(errors.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ message: "malformed intake message", alert: true }));
  });

  it("backs off exponentially, capped at five minutes", () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(retryDelaySeconds)).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });
});

describe("the sweep", () => {
  afterEach(() => vi.restoreAllMocks());

  const sweep = (scheduledTime: number, overrides: Partial<Env> = {}) => sweepWith(overrides, scheduledTime);

  it("finishes events left received a while, and leaves younger ones to the queue", async () => {
    const old = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2400)));
    const now = Date.now() + SWEEP_MIN_AGE_MS + 1000;
    const young = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2401)));
    await env.DB.prepare("UPDATE webhook_events SET received_at = ? WHERE id = ?").bind(now - 1000, young).run();
    await sweep(now);
    expect(await status(old)).toBe("processed");
    expect(await status(young)).toBe("received");
  });

  it(`alerts from the ${SWEEP_ALERT_ATTEMPTS}rd sweep on when an event keeps failing, and finishes it once it can`, async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const id = await storeOnly(aircallEvent("call.ended", 1_763_000_094, ended(2500)));
    const later = Date.now() + SWEEP_MIN_AGE_MS + 1000;
    const broken = { DB: faultyD1(touches("aircall_calls", "insert into")) };
    const alerts = () => errors.map((line) => JSON.parse(line)).filter((entry) => entry.message === "event keeps failing" && entry.eventId === id);
    for (let sweepNumber = 1; sweepNumber <= SWEEP_ALERT_ATTEMPTS; sweepNumber += 1) {
      expect(alerts()).toHaveLength(0);
      await sweep(later, broken);
    }
    expect(alerts()).toEqual([expect.objectContaining({ alert: true, sweepAttempts: SWEEP_ALERT_ATTEMPTS, source: "aircall", eventType: "call.ended" })]);
    expect(await status(id)).toBe("received");
    await sweep(later);
    expect(await status(id)).toBe("processed");
  });
});

describe("logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("write a line for a rejected request, none for an accepted delivery, and never the token or the payload", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(`ERROR ${line}`));
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1200, { raw_digits: "+44 7700 900999" }));
    const accepted = await deliver(body, { INTAKE_QUEUE: recordingQueue().queue });
    expect(accepted.status).toBe(200);
    await deliver({ ...body, token: "forged-token-value" }, {});

    // An expected 401 is a warning on stdout, not a red error line.
    expect(lines.filter((line) => line.startsWith("ERROR "))).toEqual([]);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // The accepted delivery is its row in webhook_events; it gets no log line of its own.
    expect(entries.filter((entry) => entry.eventId === accepted.body.id)).toEqual([]);
    const requests = entries.filter((entry) => entry.message === "request");
    expect(requests).toEqual([
      expect.objectContaining({ level: "info", requestId: expect.any(String), source: "aircall", outcome: "rejected", status: 401 }),
    ]);
    const failure = entries.find((entry) => entry.message === "request failed");
    expect(failure).toMatchObject({ level: "warn", reason: "aircall token mismatch", status: 401 });
    const all = lines.join("\n");
    for (const secret of [...aircallTokens, "forged-token-value", "+44 7700 900999", env.ADMIN_TOKEN]) expect(all).not.toContain(secret);
  });

  it("name a storage failure by cause and code, never by the driver's message", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    const driverMessage = "D1_TYPE_ERROR: Type 'object' not supported for value 'guest-secret-parameter'";
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1201));
    const failed = await deliver(body, { DB: faultyD1(touches("webhook_events", "insert into"), driverMessage) });
    expect(failed.status).toBe(503);
    const failure = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.message === "request failed");
    expect(failure).toMatchObject({ level: "error", status: 503, reason: "storing the event failed: D1_TYPE_ERROR", alert: true });
    expect(lines.join("\n")).not.toContain("guest-secret-parameter");
    expect(JSON.stringify(failed.body)).not.toContain("guest-secret-parameter");
  });
});
