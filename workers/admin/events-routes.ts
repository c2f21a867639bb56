// Admin API over stored webhook events: list, inspect, replay.
import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import { openDatabase } from "../db/client";
import { withStorage } from "../db/with-storage";
import { webhookEvents } from "../db/schema";
import type { AppEnv } from "../http/app-env";
import { AppError, badRequest } from "../http/errors";
import { adminErrors as errors, adminRouter, adminSecurity as security, errorSchema, json } from "./openapi";
import { processEvents } from "../intake/process-events";
import { decodeCursor, encodeCursor } from "./event-cursor";
import {
  eventDetailSchema,
  eventIdParamsSchema,
  eventListQuerySchema,
  eventListSchema,
  replayResultSchema,
} from "./event-schemas";

const iso = (ms: number) => new Date(ms).toISOString();
export const eventsRoutes = adminRouter();

const listRoute = createRoute({
  method: "get",
  path: "/events",
  summary: "List stored webhook events, newest first",
  security,
  request: { query: eventListQuerySchema },
  responses: { 200: json(eventListSchema, "One page of events"), ...errors },
});

eventsRoutes.openapi(listRoute, async (c) => {
  const query = c.req.valid("query");
  const conditions: SQL[] = [];
  if (query.source) conditions.push(eq(webhookEvents.source, query.source));
  if (query.type) conditions.push(eq(webhookEvents.type, query.type));
  if (query.status) conditions.push(eq(webhookEvents.status, query.status));
  if (query.cursor) {
    const cursor = decodeCursor(query.cursor);
    if (!cursor) throw badRequest("cursor: not a cursor returned by this API");
    const [receivedAt, id] = cursor;
    conditions.push(
      or(lt(webhookEvents.receivedAt, receivedAt), and(eq(webhookEvents.receivedAt, receivedAt), lt(webhookEvents.id, id)))!,
    );
  }
  const rows = await withStorage("listing events", () =>
    openDatabase(c.env.DB)
      .select({
        id: webhookEvents.id,
        source: webhookEvents.source,
        type: webhookEvents.type,
        receivedAt: webhookEvents.receivedAt,
        status: webhookEvents.status,
      })
      .from(webhookEvents)
      .where(and(...conditions))
      .orderBy(desc(webhookEvents.receivedAt), desc(webhookEvents.id))
      .limit(query.limit + 1),
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return c.json(
    {
      items: page.map((row) => ({ ...row, receivedAt: iso(row.receivedAt) })),
      nextCursor: rows.length > query.limit && last ? encodeCursor([last.receivedAt, last.id]) : null,
    },
    200,
  );
});

async function loadEvent(env: Env, id: string) {
  const row = await withStorage("reading the event", () =>
    openDatabase(env.DB).select().from(webhookEvents).where(eq(webhookEvents.id, id)).get(),
  );
  if (!row) throw new AppError(404, "event not found");
  return row;
}

const getRoute = createRoute({
  method: "get",
  path: "/events/{id}",
  summary: "One stored event with its payload",
  security,
  request: { params: eventIdParamsSchema },
  responses: { 200: json(eventDetailSchema, "The event"), 404: json(errorSchema, "No such event"), ...errors },
});

eventsRoutes.openapi(getRoute, async (c) => {
  const row = await loadEvent(c.env, c.req.valid("param").id);
  return c.json(
    {
      id: row.id,
      source: row.source,
      type: row.type,
      receivedAt: iso(row.receivedAt),
      status: row.status,
      processedAt: row.processedAt === null ? null : iso(row.processedAt),
      error: row.error,
      payload: JSON.parse(row.payload) as unknown,
    },
    200,
  );
});

const replayRoute = createRoute({
  method: "post",
  path: "/events/{id}/replay",
  summary: "Normalize a stored event again and re-enqueue the documents it touches",
  security,
  request: { params: eventIdParamsSchema },
  responses: { 200: json(replayResultSchema, "Replayed"), 404: json(errorSchema, "No such event"), ...errors },
});

eventsRoutes.openapi(replayRoute, async (c) => {
  const row = await loadEvent(c.env, c.req.valid("param").id);
  c.set("source", row.source);
  c.set("eventType", row.type);
  c.set("eventId", row.id);
  const [replayed] = await processEvents({ db: openDatabase(c.env.DB), vectorizeQueue: c.env.VECTORIZE_QUEUE }, [row.id], { replay: true });
  if (!replayed) throw new AppError(404, "event not found");
  c.set("outcome", `replayed:${replayed.status}`);
  return c.json(replayed, 200);
});
