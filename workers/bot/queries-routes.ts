// GET /api/queries: what staff asked the bot, what it answered, from which sources, with which
// model, tokens and timings, and their feedback. Newest first.
import { createRoute, z } from "@hono/zod-openapi";
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import { adminErrors, adminRouter, adminSecurity, json } from "../admin/openapi";
import { openDatabase } from "../db/client";
import { BOT_ANSWER_MODES, BOT_QUERY_STATUSES, botQueries } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { badRequest } from "../http/errors";

export const queriesRoutes = adminRouter();

const querySchema = z
  .object({
    id: z.string(),
    roomId: z.string(),
    threadId: z.string(),
    userName: z.string().nullable(),
    question: z.string(),
    status: z.enum(BOT_QUERY_STATUSES),
    mode: z.enum(BOT_ANSWER_MODES).nullable(),
    answer: z.string().nullable(),
    sources: z.array(z.object({ n: z.number(), documentId: z.string(), title: z.string(), occurredAt: z.number().nullable(), url: z.string().nullable() })),
    model: z.string().nullable(),
    usage: z.object({ promptTokens: z.number().nullable(), completionTokens: z.number().nullable() }),
    timings: z.object({ retrievalMs: z.number().nullable(), modelMs: z.number().nullable(), totalMs: z.number().nullable() }),
    delivery: z.enum(["sync", "async"]).nullable(),
    deliveredAt: z.iso.datetime().nullable(),
    feedback: z.enum(["good", "bad"]).nullable(),
    feedbackReason: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("BotQuery");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

queriesRoutes.openapi(
  createRoute({
    method: "get",
    path: "/queries",
    summary: "Questions asked of the Rocket.Chat bot, with answers, sources, model, usage, timings and feedback; newest first",
    security: adminSecurity,
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(200).default(50),
        roomId: z.string().min(1).max(64).optional(),
        feedback: z.enum(["good", "bad"]).optional(),
        before: z.string().regex(/^\d+:[\w-]+$/).optional().openapi({ description: "The previous page's `next`." }),
      }),
    },
    responses: { 200: json(z.object({ items: z.array(querySchema), next: z.string().nullable() }).openapi("BotQueryList"), "One page"), ...adminErrors },
  }),
  async (c) => {
    const { limit, roomId, feedback, before } = c.req.valid("query");
    const conditions: SQL[] = [];
    if (roomId) conditions.push(eq(botQueries.roomId, roomId));
    if (feedback) conditions.push(eq(botQueries.feedback, feedback));
    if (before) {
      const [at, id] = before.split(":");
      if (!at || !id) throw badRequest("before: not a value returned by this API");
      conditions.push(or(lt(botQueries.createdAt, Number(at)), and(eq(botQueries.createdAt, Number(at)), lt(botQueries.id, id)))!);
    }
    const rows = await withStorage("listing questions", () =>
      openDatabase(c.env.DB)
        .select()
        .from(botQueries)
        .where(and(...conditions))
        .orderBy(desc(botQueries.createdAt), desc(botQueries.id))
        .limit(limit + 1),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return c.json(
      {
        items: page.map((row) => ({
          id: row.id,
          roomId: row.roomId,
          threadId: row.threadId,
          userName: row.userName,
          question: row.question,
          status: row.status,
          mode: row.mode,
          answer: row.answer,
          sources: row.sources ?? [],
          model: row.model,
          usage: { promptTokens: row.promptTokens, completionTokens: row.completionTokens },
          timings: { retrievalMs: row.retrievalMs, modelMs: row.modelMs, totalMs: row.totalMs },
          delivery: row.delivery,
          deliveredAt: iso(row.deliveredAt),
          feedback: row.feedback,
          feedbackReason: row.feedbackReason,
          createdAt: new Date(row.createdAt).toISOString(),
        })),
        next: rows.length > limit && last ? `${last.createdAt}:${last.id}` : null,
      },
      200,
    );
  },
);
