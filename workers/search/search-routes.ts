// POST /api/search: the admin's view of the index, and the same retrieval the bot uses.
import { createRoute, z } from "@hono/zod-openapi";
import { adminErrors, adminRouter, adminSecurity, json } from "../admin/openapi";
import { openDatabase } from "../db/client";
import { EVENT_SOURCES } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { vectorizeProviders } from "../vectorize/providers";
import { searchFloor, searchIndex } from "./search";
import { roomVisibilityConfig, visibleHits } from "../chat/room-visibility";

const searchRequestSchema = z
  .object({
    query: z.string().trim().min(1).max(2000).openapi({ example: "who called about the broken boiler in Porto?" }),
    k: z.number().int().min(1).max(50).default(10),
    minScore: z.union([z.number().min(-1).max(1), z.literal("off")]).optional().openapi({
      description: 'This search\'s relevance floor (a dense cosine, -1 to 1), or "off" for none; default SEARCH_MIN_SCORE, else the embedder model\'s calibrated floor, else none.',
    }),
    filter: z
      .object({
        source: z.enum(EVENT_SOURCES).optional(),
        entityType: z.string().min(1).max(64).optional().openapi({
          description: "call, contact, reservation, listing, guest, task, guest_conversation, chat_thread or chat_window",
        }),
        rooms: z.array(z.string().min(1).max(64)).max(100).optional().openapi({
          description:
            "When set: business records, these rooms, and other rooms only while they are public channels (Rocket.Chat's rooms.info, asked again when its cached answer is older than ROOM_VISIBILITY_TTL_SECONDS; a room it cannot learn about counts as private). Unset: every room.",
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
    score: z.number().openapi({ description: "Reciprocal-rank fusion of the dense and keyword ranks: orders hits, not a relevance." }),
    relevance: z.number().nullable().openapi({ description: "Cosine similarity of the chunk and the query, what the relevance floor compares; null where the store did not compute it." }),
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
  responses: {
    200: json(
      z
        .object({
          hits: z.array(searchHitSchema),
          floor: z
            .object({ minScore: z.number(), source: z.enum(["calibrated", "SEARCH_MIN_SCORE", "request"]) })
            .nullable()
            .openapi({ description: "The relevance floor applied (fewer than k hits, or none, when little passes it); null: none." }),
        })
        .openapi("SearchResult"),
      "Best chunks first",
    ),
    ...adminErrors,
  },
});

export const searchRoutes = adminRouter();

searchRoutes.openapi(searchRoute, async (c) => {
  const request = c.req.valid("json");
  const db = openDatabase(c.env.DB);
  const { since, until, ...filter } = request.filter ?? {};
  const providers = await vectorizeProviders(c.env, db);
  // The reader of a rooms filter sees those rooms and rooms public now; without one, every room.
  const visibility = filter.rooms ? await roomVisibilityConfig.load(c.env) : null;
  const found = await withStorage("searching", () =>
    searchIndex(db, providers, {
      query: request.query,
      k: request.k,
      minScore: request.minScore,
      filter: {
        ...filter,
        ...(since !== undefined ? { since: Date.parse(since) } : {}),
        ...(until !== undefined ? { until: Date.parse(until) } : {}),
      },
    }),
  );
  // Permalinks follow each room's type either way (the filter's own rooms and, unfiltered, every room are the reader's).
  const ownRooms = filter.rooms ?? found.flatMap((hit) => (hit.room === null ? [] : [hit.room]));
  const hits = await withStorage("checking room visibility", () => visibleHits(db, found, ownRooms, visibility ?? { api: null, ttlMs: 0 }));
  return c.json(
    {
      hits: hits.map((hit) => ({
        documentId: hit.documentId,
        chunkId: hit.chunkId,
        score: hit.score,
        relevance: hit.relevance ?? null,
        source: hit.source,
        entityType: hit.entityType,
        title: hit.title,
        text: hit.text,
        ...(hit.url ? { url: hit.url } : {}),
        ...(hit.room ? { room: hit.room } : {}),
        occurredAt: hit.occurredAt === null ? null : new Date(hit.occurredAt).toISOString(),
      })),
      floor: searchFloor(providers, request.minScore),
    },
    200,
  );
});
