// bench:cost counts what D1 reports for every statement through a rebuilt binding
// (scripts/bench/cost-counters.ts): these tests check that the count is exact for one webhook,
// that it sees the reads the public API hides (raw(), first(): every drizzle select), and the
// fix it led to: loading a batch of events no longer reads every unfinished event.
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { openDatabase } from "../workers/db/client";
import { webhookEvents } from "../workers/db/schema";
import { processEvents } from "../workers/intake/process-events";
import { catchUpStaleDocuments } from "../workers/vectorize/catch-up";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import { countD1Answer, countedEnv, countingD1, emptyCounts, queueChunks, type Counts } from "../scripts/bench/cost-counters";
import { guestyRequest } from "./support/guesty";

const LOAD_EVENTS_SQL = 'select "id", "source", "type", "payload", "received_at"';
const rowsReadBy = (counts: Counts, prefix: string) =>
  Object.entries(counts.d1.bySql)
    .filter(([sql]) => sql.startsWith(prefix))
    .reduce((sum, [, entry]) => sum + entry.rowsRead, 0);

const storedEvent = (id: string, status: "received" | "processed", receivedAt: number) =>
  env.DB.prepare("INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES (?, 'guesty', 'guest.created', ?, ?, ?)").bind(
    id,
    receivedAt,
    status,
    JSON.stringify({ event: "guest.created", guest: { _id: id } }),
  );

describe("counting billable operations", () => {
  it("counts one Guesty webhook's fetch as one D1 write: the event's row and its index entries, and one intake message", async () => {
    // The entries a Guesty event adds: its row, the primary key's index, and each index that is
    // not partial (the only partial one holds Rocket.Chat events).
    const indexes = await env.DB.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'webhook_events'").all<{ name: string; sql: string | null }>();
    const partial = indexes.results.filter((index) => /\bWHERE\b/i.test(index.sql ?? ""));
    expect(partial.map((index) => index.sql)).toEqual([expect.stringContaining(`"source" = 'rocketchat'`)]);
    const expectedRowsWritten = 1 + indexes.results.length - partial.length;

    const counts = emptyCounts();
    const { env: counted, held } = countedEnv(env, counts);
    const { url, init } = await guestyRequest({
      id: "msg_cost_count_1",
      body: { event: "reservation.new", reservation: { _id: "cost-count-reservation-1", status: "confirmed", listing: { title: "Porto Riverside Flat" } } },
    });
    const ctx = createExecutionContext();
    const response = await worker.fetch(new Request(url, init), counted, ctx);
    await waitOnExecutionContext(ctx);

    expect(response.status).toBe(200);
    expect(counts.d1.statements).toBe(1);
    expect(counts.d1.rowsWritten).toBe(expectedRowsWritten);
    expect(Object.keys(counts.d1.bySql)).toEqual([expect.stringMatching(/^insert into "webhook_events"/)]);
    const stored = await env.DB.prepare("SELECT status FROM webhook_events WHERE id = 'guesty_msg_cost_count_1'").first<{ status: string }>();
    expect(stored?.status).toBe("received");
    // Held for the driver to deliver, counted as its write.
    expect(held.INTAKE_QUEUE.map((message) => message.body)).toEqual([{ eventId: "guesty_msg_cost_count_1" }]);
    expect(counts.queues.INTAKE_QUEUE).toMatchObject({ messages: 1, operations: 1 });
    expect(counts.kv).toEqual({ reads: 0, writes: 0, deletes: 0, lists: 0 });
    expect(counts.durableObjectRequests).toBe(0);
  });

  it("counts the rows a drizzle select reads (through raw(), which returns no meta) as D1 reports them", async () => {
    const stamp = Date.now();
    const ids = ["cost-raw-1", "cost-raw-2", "cost-raw-3"];
    await env.DB.batch(ids.map((id) => storedEvent(id, "processed", stamp)));
    const counts = emptyCounts();
    const { env: counted } = countedEnv(env, counts);

    const rows = await openDatabase(counted.DB).select({ id: webhookEvents.id }).from(webhookEvents).where(inArray(webhookEvents.id, ids));
    const first = await counted.DB.prepare("SELECT id FROM webhook_events WHERE id = ?").bind("cost-raw-2").first<{ id: string }>();

    expect(rows.map((row) => row.id).sort()).toEqual(ids);
    expect(first?.id).toBe("cost-raw-2");
    // The same statements through the public API's all(), which does return D1's meta.
    const direct = await env.DB.prepare('select "id" from "webhook_events" where "webhook_events"."id" in (?, ?, ?)').bind(...ids).all();
    const directFirst = await env.DB.prepare("SELECT id FROM webhook_events WHERE id = ?").bind("cost-raw-2").all();
    expect(direct.meta.rows_read).toBeGreaterThan(0);
    expect(counts.d1.statements).toBe(2);
    expect(counts.d1.rowsRead).toBe(direct.meta.rows_read + directFirst.meta.rows_read);
    expect(counts.d1.rowsWritten).toBe(0);
  });

  it("fails closed where it cannot count: a D1 binding without its fetcher, an answer without row counts", () => {
    expect(() => countingD1({ prepare: () => null }, emptyCounts())).toThrow(/no fetcher/);
    expect(() => countD1Answer(emptyCounts(), [{ success: true, results: [], meta: { duration: 0 } }])).toThrow(/undercount/);
    // A failed statement may come without counts; it is not counted.
    const counts = emptyCounts();
    countD1Answer(counts, [{ success: false, error: "no such table" }]);
    expect(counts.d1.statements).toBe(0);
  });

  it("bills a queue message a write, a read and a delete per 64 KB (1,000-byte KB, about 100 bytes of metadata)", () => {
    expect(queueChunks(35)).toBe(1);
    expect(queueChunks(63_900)).toBe(1);
    expect(queueChunks(63_901)).toBe(2);
    expect(queueChunks(127_900)).toBe(2);
  });
});

describe("loading events to process", () => {
  it("reads the events of its batch by id, however many other events are unfinished", async () => {
    const stamp = Date.now();
    await env.DB.batch([storedEvent("cost-backlog-a", "received", stamp), storedEvent("cost-backlog-b", "received", stamp)]);
    const process = async (id: string) => {
      const counts = emptyCounts();
      const { env: counted } = countedEnv(env, counts);
      const [processed] = await processEvents({ db: openDatabase(counted.DB), vectorizeQueue: counted.VECTORIZE_QUEUE }, [id]);
      expect(processed?.id).toBe(id);
      return rowsReadBy(counts, LOAD_EVENTS_SQL);
    };

    const alone = await process("cost-backlog-a");
    // 40 more unfinished events: a backlog the queue has not reached yet.
    await env.DB.batch(Array.from({ length: 40 }, (_, index) => storedEvent(`cost-backlog-other-${index}`, "received", stamp)));
    const behindBacklog = await process("cost-backlog-b");

    expect(alone).toBeGreaterThan(0);
    expect(alone).toBeLessThan(10);
    // Before the fix the status index was used and every unfinished event read: 41 more rows.
    expect(behindBacklog).toBe(alone);
  });

  it("still skips an event already processed", async () => {
    await env.DB.batch([storedEvent("cost-done-1", "processed", Date.now())]);
    const counts = emptyCounts();
    const { env: counted, held } = countedEnv(env, counts);
    expect(await processEvents({ db: openDatabase(counted.DB), vectorizeQueue: counted.VECTORIZE_QUEUE }, ["cost-done-1"])).toEqual([]);
    expect(held.VECTORIZE_QUEUE).toEqual([]);
    expect(counts.d1.rowsWritten).toBe(0);
  });
});

describe("the vectorize catch-up", () => {
  it("reads the stale documents, not every document", async () => {
    const now = Date.now();
    const model = new OfflineEmbedder().model;
    const document = (id: string, indexedHash: string | null) =>
      env.DB.prepare(
        `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header, indexed_hash, indexed_model, indexed_at)
         VALUES (?, 'reservation', ?, 'text', ?, 1, ?, 'guesty', 'title', 'header', ?, ?, ?)`,
      ).bind(id, id, `h:${id}`, now - 3_600_000, indexedHash, indexedHash ? model : null, indexedHash ? now - 3_000_000 : null);
    // 60 documents indexed as they are, and one the index does not hold.
    await env.DB.batch([...Array.from({ length: 60 }, (_, index) => document(`cost-fresh-${index}`, `h:cost-fresh-${index}`)), document("cost-stale-1", null)]);
    const counts = emptyCounts();
    const { env: counted, held } = countedEnv(env, counts);

    await catchUpStaleDocuments(counted, now);

    expect(held.VECTORIZE_QUEUE.map((message) => (message.body as { documentId: string }).documentId)).toContain("cost-stale-1");
    expect(held.VECTORIZE_QUEUE.map((message) => (message.body as { documentId: string }).documentId)).not.toContain("cost-fresh-0");
    // Before, one query with an OR that no index answers read every document: 61 and more.
    expect(rowsReadBy(counts, 'select "id"')).toBeLessThan(30);
  });
});
