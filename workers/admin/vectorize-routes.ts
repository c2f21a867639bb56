// Admin API over the vectorize pipeline: re-vectorize documents on demand, list the messages
// the queue gave up on, and replay them. A dead letter is open until it is replayed or
// superseded (its document was indexed since, or a newer dead letter names it).
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, isNull, sql } from "drizzle-orm";
import { openDatabase } from "../db/client";
import { inIdList } from "../db/id-list";
import { deadLetters, documents, EVENT_SOURCES } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { queueRole } from "../queue-consumers";
import { revectorize, sendForVectorizing } from "../vectorize/catch-up";
import { describeProviders, vectorizeProviders } from "../vectorize/providers";
import { adminErrors, adminRouter, adminSecurity, json } from "./openapi";

export const vectorizeRoutes = adminRouter();

const revectorizeRequestSchema = z
  .object({
    force: z.boolean().default(false).openapi({ description: "Also documents whose index looks current (e.g. after changing how text is chunked)." }),
    filter: z
      .object({
        source: z.enum(EVENT_SOURCES).optional(),
        kind: z.string().min(1).max(64).optional().openapi({ description: "Document kind: call, contact, reservation, listing, guest, message, task, chat_message" }),
        ids: z.array(z.string().min(1).max(512)).min(1).max(1000).optional(),
      })
      .strict()
      .default({}),
    limit: z.number().int().min(1).max(5000).default(1000),
    after: z.string().min(1).max(512).optional().openapi({ description: "The previous answer's `next`, to continue." }),
  })
  .strict()
  .openapi("RevectorizeRequest");

vectorizeRoutes.openapi(
  createRoute({
    method: "post",
    path: "/documents/revectorize",
    summary: "Send documents to the vectorize queue: all stale ones by default, every matching one with force",
    security: adminSecurity,
    request: { body: { content: { "application/json": { schema: revectorizeRequestSchema } }, required: true } },
    responses: {
      202: json(z.object({ enqueued: z.number().int(), next: z.string().nullable() }).openapi("RevectorizeResult"), "Queued; call again with `after: next` while next is set"),
      ...adminErrors,
    },
  }),
  async (c) => c.json(await revectorize(c.env, c.req.valid("json")), 202),
);

vectorizeRoutes.openapi(
  createRoute({
    method: "get",
    path: "/documents/index-status",
    summary: "How much of the documents the index holds as they are now, in the current embedder's model",
    security: adminSecurity,
    responses: {
      200: json(
        z
          .object({
            model: z.string(),
            providers: z.object({ embedder: z.string(), store: z.enum(["d1", "qdrant"]), summarizer: z.string().nullable() }),
            documents: z.number().int(),
            indexed: z.number().int().openapi({ description: "Indexed with their current text, in `model`." }),
            stale: z.number().int().openapi({ description: "Waiting for the vectorize queue or the catch-up sweep." }),
            deadLetters: z.number().int().openapi({ description: "Open dead letters, waiting for an operator's replay (neither replayed nor superseded)." }),
          })
          .openapi("IndexStatus"),
        "Counts",
      ),
      ...adminErrors,
    },
  }),
  async (c) => {
    const db = openDatabase(c.env.DB);
    const providers = await vectorizeProviders(c.env, db);
    const { model } = providers.embedder;
    const [counts] = await withStorage("counting documents", () =>
      db
        .select({
          documents: sql<number>`count(*)`,
          indexed: sql<number>`coalesce(sum(${documents.indexedHash} = ${documents.contentHash} AND ${documents.indexedModel} = ${model}), 0)`,
          deadLetters: sql<number>`(SELECT count(*) FROM ${deadLetters} WHERE ${deadLetters.replayedAt} IS NULL AND ${deadLetters.supersededAt} IS NULL)`,
        })
        .from(documents),
    );
    const documentCount = counts?.documents ?? 0;
    const indexed = counts?.indexed ?? 0;
    return c.json({ model, providers: describeProviders(providers), documents: documentCount, indexed, stale: documentCount - indexed, deadLetters: counts?.deadLetters ?? 0 }, 200);
  },
);

const deadLetterSchema = z
  .object({
    id: z.string(),
    queue: z.string(),
    documentId: z.string().nullable(),
    attempts: z.number().int(),
    deadAt: z.iso.datetime(),
    body: z.unknown(),
  })
  .openapi("DeadLetter");

vectorizeRoutes.openapi(
  createRoute({
    method: "get",
    path: "/dlq",
    summary: "Messages a queue gave up on that are still open (not replayed, not superseded by a later indexing of their document), oldest first",
    security: adminSecurity,
    request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }) },
    responses: { 200: json(z.object({ items: z.array(deadLetterSchema) }).openapi("DeadLetterList"), "Open dead letters"), ...adminErrors },
  }),
  async (c) => {
    const rows = await withStorage("listing dead letters", () =>
      openDatabase(c.env.DB)
        .select()
        .from(deadLetters)
        .where(and(isNull(deadLetters.replayedAt), isNull(deadLetters.supersededAt)))
        .orderBy(asc(deadLetters.deadAt), asc(deadLetters.id))
        .limit(c.req.valid("query").limit),
    );
    return c.json(
      { items: rows.map((row) => ({ id: row.id, queue: row.queue, documentId: row.documentId, attempts: row.attempts, deadAt: new Date(row.deadAt).toISOString(), body: JSON.parse(row.body) as unknown })) },
      200,
    );
  },
);

const VECTORIZE_QUEUE_ROLE = "edge-ops-vectorize";

vectorizeRoutes.openapi(
  createRoute({
    method: "post",
    path: "/dlq/replay",
    summary: "Send open dead letters (all, or the ids listed) back to their queue",
    security: adminSecurity,
    request: {
      body: {
        content: { "application/json": { schema: z.object({ ids: z.array(z.string().min(1).max(128)).min(1).max(500).optional() }).strict().openapi("DeadLetterReplayRequest") } },
        required: true,
      },
    },
    responses: { 202: json(z.object({ replayed: z.number().int(), ids: z.array(z.string()) }).openapi("DeadLetterReplayResult"), "Re-enqueued"), ...adminErrors },
  }),
  async (c) => {
    const { ids } = c.req.valid("json");
    const db = openDatabase(c.env.DB);
    const open = await withStorage("reading dead letters", () =>
      db
        .select({ id: deadLetters.id, queue: deadLetters.queue, documentId: deadLetters.documentId })
        .from(deadLetters)
        .where(and(isNull(deadLetters.replayedAt), isNull(deadLetters.supersededAt), ids ? inIdList(deadLetters.id, ids) : undefined))
        .orderBy(asc(deadLetters.deadAt))
        .limit(500),
    );
    // Only the vectorize queue has a dead-letter queue today; its messages name a document.
    const replayable = open.filter((row) => queueRole(row.queue) === VECTORIZE_QUEUE_ROLE && row.documentId !== null);
    const now = Date.now();
    const replayedIds = replayable.map((row) => row.id);
    // Marked first, so the indexing that follows finds them replayed, not open (it would close
    // them as superseded). Should the send fail, the documents are no longer held back from the
    // catch-up, which sends them within its next ticks.
    if (replayedIds.length > 0) {
      await withStorage("marking dead letters replayed", () => db.update(deadLetters).set({ replayedAt: now }).where(inIdList(deadLetters.id, replayedIds)));
    }
    await sendForVectorizing(db, c.env.VECTORIZE_QUEUE, [...new Set(replayable.map((row) => row.documentId!))], { now });
    return c.json({ replayed: replayedIds.length, ids: replayedIds }, 202);
  },
);


