// POST /api/chat/sync runs the Rocket.Chat history sync now (what the cron tick does every five
// minutes); GET /api/chat/sync-status shows where it stands, room by room. Both behind the admin
// bearer; both answer 503 naming the variable while the sync's capability is not configured.
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { adminErrors, adminRouter, adminSecurity, errorSchema, json } from "../admin/openapi";
import { RocketChatApiError } from "../chat/rocketchat-api";
import { openDatabase } from "../db/client";
import { CHAT_SYNC_CHANGE_MODES, chatSyncRooms } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { AppError } from "../http/errors";
import { chatSyncConfig } from "./config";
import { roomPhase, roomStatus, runChatSync } from "./run";
import { readServer } from "./state";

export const chatSyncRoutes = adminRouter();

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const reportSchema = z
  .object({
    outcome: z.enum(["done", "partial", "more", "busy", "off", "rate-limited", "disabled"]).openapi({
      description:
        "done: nothing left for now; partial: every room was read but some failed (rooms.failed; each room's lastError in GET /api/chat/sync-status), the next run tries them again; more: the run's budget (ROCKETCHAT_SYNC_SUBREQUESTS) ran out, the next run goes on; off: the server lacks an endpoint the sync needs (offEndpoint); rate-limited: Rocket.Chat asked to wait until rateLimitedUntil; disabled: ROCKETCHAT_SYNC_ROOMS is off.",
    }),
    server: z.string(),
    changeMode: z.enum(CHAT_SYNC_CHANGE_MODES).nullable(),
    rooms: z.object({ listed: z.number().int(), selected: z.number().int(), backfilling: z.number().int(), gone: z.number().int(), failed: z.number().int() }),
    messagesRead: z.number().int(),
    eventsStored: z.number().int(),
    subrequests: z.number().int(),
    offEndpoint: z.string().nullable(),
    rateLimitedUntil: z.iso.datetime().nullable(),
  })
  .openapi("ChatSyncReport");

chatSyncRoutes.openapi(
  createRoute({
    method: "post",
    path: "/chat/sync",
    summary: "Run the Rocket.Chat history sync now: rooms, backfill slices and changes, within one run's budget",
    security: adminSecurity,
    responses: {
      200: json(reportSchema, "What the run did"),
      409: json(errorSchema, "A run (the cron tick's) is under way"),
      502: json(errorSchema, "Rocket.Chat failed (its status and error code)"),
      ...adminErrors,
    },
  }),
  async (c) => {
    let report;
    try {
      report = await runChatSync(c.env, { trigger: "manual" });
    } catch (error) {
      if (error instanceof RocketChatApiError) throw new AppError(502, `rocket.chat answered ${error.status} ${error.code}`);
      throw error;
    }
    if (report.outcome === "busy") return c.json({ error: "a sync run is under way; try again in a minute" }, 409);
    return c.json(report, 200);
  },
);

const roomStatusSchema = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    type: z.string().openapi({ description: "c channel, p private group, d direct message" }),
    selected: z.boolean().openapi({ description: "Read by the sync (ROCKETCHAT_SYNC_ROOMS; direct messages only with ROCKETCHAT_SYNC_DIRECT_MESSAGES)." }),
    phase: z.enum(["backfill", "live", "gone", "not selected"]),
    backfill: z.object({
      readUntil: z.iso.datetime().nullable().openapi({ description: "History read from the start up to here." }),
      until: z.iso.datetime().openapi({ description: "The backfill ends here; changes after it are read as changes." }),
      progress: z.number().nullable().openapi({ description: "Share of the time from the room's creation to `until` read (0 to 1); null when the creation is not known." }),
      done: z.iso.datetime().nullable(),
    }),
    changesSince: z.iso.datetime(),
    messagesRead: z.number().int(),
    syncedAt: z.iso.datetime().nullable(),
    lastError: z.string().nullable(),
  })
  .openapi("ChatSyncRoom");

chatSyncRoutes.openapi(
  createRoute({
    method: "get",
    path: "/chat/sync-status",
    summary: "Where the Rocket.Chat history sync stands: the server's state and each room's backfill and changes",
    security: adminSecurity,
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(1000).default(200),
        after: z.string().min(1).max(64).optional().openapi({ description: "The previous page's `next` (a room id)." }),
      }),
    },
    responses: {
      200: json(
        z
          .object({
            server: z.string(),
            state: z.enum(["on", "off", "rate-limited", "disabled"]),
            offEndpoint: z.string().nullable(),
            offSince: z.iso.datetime().nullable(),
            rateLimitedUntil: z.iso.datetime().nullable(),
            changeMode: z.enum(CHAT_SYNC_CHANGE_MODES).nullable(),
            lastRun: z.object({ at: z.iso.datetime(), outcome: z.string() }).nullable(),
            totals: z.object({ rooms: z.number().int(), backfill: z.number().int(), live: z.number().int(), gone: z.number().int(), notSelected: z.number().int() }),
            rooms: z.array(roomStatusSchema),
            next: z.string().nullable(),
          })
          .openapi("ChatSyncStatus"),
        "Server and rooms, by room id",
      ),
      ...adminErrors,
    },
  }),
  async (c) => {
    const { limit, after } = c.req.valid("query");
    const config = await chatSyncConfig.load(c.env);
    const db = openDatabase(c.env.DB);
    const now = Date.now();
    const [server, page, all] = await withStorage("reading the chat sync's state", () =>
      Promise.all([
        readServer(db, config.server),
        db
          .select()
          .from(chatSyncRooms)
          .where(and(eq(chatSyncRooms.server, config.server), after ? gt(chatSyncRooms.roomId, after) : sql`true`))
          .orderBy(asc(chatSyncRooms.roomId))
          .limit(limit + 1),
        db
          .select({ roomId: chatSyncRooms.roomId, name: chatSyncRooms.name, roomType: chatSyncRooms.roomType, state: chatSyncRooms.state, backfilledAt: chatSyncRooms.backfilledAt })
          .from(chatSyncRooms)
          .where(eq(chatSyncRooms.server, config.server)),
      ]),
    );
    const rooms = page.slice(0, limit).map((room) => roomStatus(config, room));
    const totals = { rooms: all.length, backfill: 0, live: 0, gone: 0, notSelected: 0 };
    for (const room of all) {
      const phase = roomPhase(config, room);
      if (phase === "backfill") totals.backfill += 1;
      else if (phase === "live") totals.live += 1;
      else if (phase === "gone") totals.gone += 1;
      else totals.notSelected += 1;
    }
    const state =
      config.rooms.kind === "off" ? "disabled" : server?.offEndpoint ? "off" : server?.rateLimitedUntil && server.rateLimitedUntil > now ? "rate-limited" : "on";
    return c.json(
      {
        server: config.server,
        state,
        offEndpoint: server?.offEndpoint ?? null,
        offSince: iso(server?.offSince ?? null),
        rateLimitedUntil: server?.rateLimitedUntil && server.rateLimitedUntil > now ? iso(server.rateLimitedUntil) : null,
        changeMode: server?.changeMode ?? null,
        lastRun: server?.lastRunAt ? { at: new Date(server.lastRunAt).toISOString(), outcome: server.lastRunOutcome ?? "unknown" } : null,
        totals,
        rooms,
        next: page.length > limit ? page[limit - 1]!.roomId : null,
      } as const,
      200,
    );
  },
);
