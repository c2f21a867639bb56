// Zod schemas of the admin events API: they validate requests and generate the OpenAPI document.
import { z } from "@hono/zod-openapi";
import { EVENT_SOURCES, EVENT_STATUSES } from "../db/schema";

export const eventSummarySchema = z
  .object({
    id: z.string().openapi({ example: "guesty_msg_2Lx8kQ1" }),
    source: z.enum(EVENT_SOURCES),
    type: z.string().openapi({ example: "reservation.updated.v2" }),
    receivedAt: z.iso.datetime(),
    status: z.enum(EVENT_STATUSES),
  })
  .openapi("EventSummary");

export const eventDetailSchema = eventSummarySchema
  .extend({
    processedAt: z.iso.datetime().nullable(),
    error: z.string().nullable(),
    payload: z.unknown().openapi({ description: "The body exactly as received, parsed as JSON." }),
  })
  .openapi("EventDetail");

export const eventListQuerySchema = z.object({
  source: z.enum(EVENT_SOURCES).optional(),
  type: z.string().min(1).max(200).optional(),
  status: z.enum(EVENT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(500).optional().openapi({ description: "nextCursor of the previous page" }),
});

export const eventListSchema = z
  .object({ items: z.array(eventSummarySchema), nextCursor: z.string().nullable() })
  .openapi("EventList");

export const eventIdParamsSchema = z.object({
  id: z.string().min(1).max(300).openapi({ param: { name: "id", in: "path" } }),
});

export const replayResultSchema = z
  .object({ id: z.string(), status: z.enum(EVENT_STATUSES), documentsEnqueued: z.number().int() })
  .openapi("ReplayResult");
