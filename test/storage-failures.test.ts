// Storage or queue failure must answer 503 (the sender retries) and leave nothing that blocks
// the retry; the retry must finish the job exactly once.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { aircallEvent, aircallTokens, ended } from "./support/aircall";
import { fetchWith, faultyD1, recordingQueue, touches } from "./support/faults";
import { row } from "./support/d1";

function aircallRequest(body: unknown): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}
const url = "http://intake/webhooks/aircall";

async function deliver(body: unknown, overrides: Partial<Env>) {
  const response = await fetchWith(overrides, url, aircallRequest(body));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("D1 failures", () => {
  it("answers 503 when the raw event cannot be stored, and the retry stores it once", async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1001));
    const failed = await deliver(body, { DB: faultyD1(touches("webhook_events", "insert into")) });
    expect(failed).toEqual({ status: 503, body: { error: "temporarily unavailable, retry later", requestId: expect.any(String) } });
    expect(await row("SELECT count(*) AS n FROM webhook_events WHERE payload LIKE '%\"id\":1001,%'")).toEqual({ n: 0 });

    const { sent, queue } = recordingQueue();
    const retry = await deliver(body, { VECTORIZE_QUEUE: queue });
    expect(retry).toEqual({ status: 200, body: { id: expect.stringMatching(/^aircall_/), duplicate: false } });
    expect(sent).toEqual([{ documentId: "call:1001" }]);
  });

  it("stores the raw event and its entities in one transaction: a failed entity upsert stores neither", async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1002));
    const failed = await deliver(body, { DB: faultyD1(touches("aircall_calls", "insert into")) });
    expect(failed.status).toBe(503);
    expect(await row("SELECT count(*) AS n FROM webhook_events WHERE payload LIKE '%\"id\":1002,%'")).toEqual({ n: 0 });
    expect(await row("SELECT count(*) AS n FROM aircall_calls WHERE id = 1002")).toEqual({ n: 0 });

    const { sent, queue } = recordingQueue();
    expect((await deliver(body, { VECTORIZE_QUEUE: queue })).body).toMatchObject({ duplicate: false });
    expect(await row("SELECT status FROM aircall_calls WHERE id = 1002")).toEqual({ status: "done" });
    expect(sent).toEqual([{ documentId: "call:1002" }]);
  });

  it('after the event is stored, a failed document upsert leaves it "received" and the retry completes it', async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1003));
    const failed = await deliver(body, { DB: faultyD1(touches("documents", "insert into")) });
    expect(failed.status).toBe(503);
    const stored = await row("SELECT id, status FROM webhook_events WHERE payload LIKE '%\"id\":1003,%'");
    expect(stored?.status).toBe("received");
    expect(await row("SELECT count(*) AS n FROM documents WHERE id = 'call:1003'")).toEqual({ n: 0 });

    const { sent, queue } = recordingQueue();
    const retry = await deliver(body, { VECTORIZE_QUEUE: queue });
    expect(retry.body).toEqual({ id: stored?.id, duplicate: false });
    expect(await row("SELECT status FROM webhook_events WHERE id = ?", stored?.id)).toEqual({ status: "processed" });
    expect(await row("SELECT status FROM aircall_calls WHERE id = 1003")).toEqual({ status: "done" });
    expect(sent).toEqual([{ documentId: "call:1003" }]);

    const again = await deliver(body, { VECTORIZE_QUEUE: queue });
    expect(again.body).toEqual({ id: stored?.id, duplicate: true });
    expect(sent).toHaveLength(1);
  });

  it("a failure while marking the event processed is retried; the queue may see the document again", async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1004));
    const first = recordingQueue();
    const failed = await deliver(body, { DB: faultyD1(touches("webhook_events", "update")), VECTORIZE_QUEUE: first.queue });
    expect(failed.status).toBe(503);
    expect(first.sent).toEqual([{ documentId: "call:1004" }]);
    const second = recordingQueue();
    const retry = await deliver(body, { VECTORIZE_QUEUE: second.queue });
    expect(retry.status).toBe(200);
    // enqueued_hash was not recorded, so the document is sent again: at-least-once, never lost.
    expect(second.sent).toEqual([{ documentId: "call:1004" }]);
    const document = await row("SELECT content_hash, enqueued_hash FROM documents WHERE id = 'call:1004'");
    expect(document?.enqueued_hash).toBe(document?.content_hash);
  });
});

describe("queue failures", () => {
  it("answers 503 when the queue refuses, keeps the data, and the retry enqueues once", async () => {
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1100));
    const down = recordingQueue({ fail: true });
    expect((await deliver(body, { VECTORIZE_QUEUE: down.queue })).status).toBe(503);
    expect(await row("SELECT status FROM aircall_calls WHERE id = 1100")).toEqual({ status: "done" });
    const pending = await row("SELECT content_hash, enqueued_hash FROM documents WHERE id = 'call:1100'");
    expect(pending?.enqueued_hash).toBeNull();

    const up = recordingQueue();
    expect((await deliver(body, { VECTORIZE_QUEUE: up.queue })).body).toMatchObject({ duplicate: false });
    expect(up.sent).toEqual([{ documentId: "call:1100" }]);
    expect((await row("SELECT enqueued_hash FROM documents WHERE id = 'call:1100'"))?.enqueued_hash).toBe(pending?.content_hash);
  });
});

describe("logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("write one request line with ids and outcome, and never the token or the payload", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(`ERROR ${line}`));
    const body = aircallEvent("call.ended", 1_763_000_094, ended(1200, { raw_digits: "+44 7700 900999" }));
    await deliver(body, {});
    await deliver({ ...body, token: "forged-token-value" }, {});

    // An expected 401 is a warning on stdout, not a red error line.
    expect(lines.filter((line) => line.startsWith("ERROR "))).toEqual([]);
    const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.message === "request");
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      level: "info",
      requestId: expect.any(String),
      source: "aircall",
      eventType: "call.ended",
      eventId: expect.stringMatching(/^aircall_/),
      outcome: "processed",
      status: 200,
    });
    expect(requests[1]).toMatchObject({ source: "aircall", outcome: "rejected", status: 401 });
    const failure = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.message === "request failed");
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
