// POST /api/search: the admin's view of the index, and the same retrieval the bot uses.
import { createRoute, z } from "@hono/zod-openapi";
import { adminErrors, adminRouter, adminSecurity, json } from "../admin/openapi";
import { openDatabase } from "../db/client";
import { EVENT_SOURCES } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { vectorizeProviders } from "../vectorize/providers";
import { searchIndex } from "./search";

const searchRequestSchema = z
  .object({
    query: z.string().trim().min(1).max(2000).openapi({ example: "who called about the broken boiler in Porto?" }),
    k: z.number().int().min(1).max(50).default(10),
    filter: z
      .object({
        source: z.enum(EVENT_SOURCES).optional(),
        entityType: z.string().min(1).max(64).optional().openapi({
          description: "call, contact, reservation, listing, guest, task, guest_conversation, chat_thread or chat_window",
        }),
        rooms: z.array(z.string().min(1).max(64)).max(100).optional().openapi({
          description: "When set: business records, public channels and these rooms only. Unset: every room.",
        }),
        since: z.iso.datetime({ offset: true }).optional(),
        until: z.iso.datetime({ offset: true }).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .openapi("SearchRequest");

const searchHitSchema = z
  .object({
    documentId: z.string().openapi({ example: "chat-thread:8gMsLe9ApZjo2D2iB" }),
    chunkId: z.uuid(),
    score: z.number(),
    source: z.string(),
    entityType: z.string(),
    title: z.string(),
    text: z.string().openapi({ description: "The chunk as indexed, header line first." }),
    url: z.string().optional(),
    room: z.string().optional(),
    occurredAt: z.iso.datetime().nullable(),
  })
  .openapi("SearchHit");

const searchRoute = createRoute({
  method: "post",
  path: "/search",
  summary: "Hybrid search (dense + keyword, fused by reciprocal rank) over calls, reservations, guest conversations and chat",
  security: adminSecurity,
  request: { body: { content: { "application/json": { schema: searchRequestSchema } }, required: true } },
  responses: { 200: json(z.object({ hits: z.array(searchHitSchema) }).openapi("SearchResult"), "Best chunks first"), ...adminErrors },
});

export const searchRoutes = adminRouter();

searchRoutes.openapi(searchRoute, async (c) => {
  const request = c.req.valid("json");
  const db = openDatabase(c.env.DB);
  const { since, until, ...filter } = request.filter ?? {};
  const providers = await vectorizeProviders(c.env, db);
  const hits = await withStorage("searching", () =>
    searchIndex(db, providers, {
      query: request.query,
      k: request.k,
      filter: {
        ...filter,
        ...(since !== undefined ? { since: Date.parse(since) } : {}),
        ...(until !== undefined ? { until: Date.parse(until) } : {}),
      },
    }),
  );
  return c.json(
    {
      hits: hits.map((hit) => ({
        documentId: hit.documentId,
        chunkId: hit.chunkId,
        score: hit.score,
        source: hit.source,
        entityType: hit.entityType,
        title: hit.title,
        text: hit.text,
        ...(hit.url ? { url: hit.url } : {}),
        ...(hit.room ? { room: hit.room } : {}),
        occurredAt: hit.occurredAt === null ? null : new Date(hit.occurredAt).toISOString(),
      })),
    },
    200,
  );
});
