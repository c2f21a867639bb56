// The bot's questions in D1: one row per question message (a redelivered webhook finds it),
// its answer, sources, model, usage, timings, delivery and feedback.
import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, lte, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { botQueries } from "../db/schema";
import { withStorage } from "../db/with-storage";
import type { Answer, Source } from "./answer";
import type { Turn } from "./prompt";

export type BotQuery = typeof botQueries.$inferSelect;

/** Turns of a thread a follow-up sees. */
const HISTORY_TURNS = 3;

export async function findQueryByMessage(db: Database, messageId: string): Promise<BotQuery | null> {
  const [row] = await withStorage("reading the question", () => db.select().from(botQueries).where(eq(botQueries.messageId, messageId)));
  return row ?? null;
}

export async function findQuery(db: Database, id: string): Promise<BotQuery | null> {
  const [row] = await withStorage("reading the question", () => db.select().from(botQueries).where(eq(botQueries.id, id)));
  return row ?? null;
}

/** Stores a new question as pending; null when this message was asked already (a redelivery). */
export async function insertQuestion(
  db: Database,
  question: Pick<BotQuery, "id" | "messageId" | "roomId" | "threadId" | "userId" | "userName" | "question" | "deliveryMessageId" | "createdAt">,
): Promise<BotQuery | null> {
  const [row] = await withStorage("storing the question", () =>
    db
      .insert(botQueries)
      .values({ ...question, status: "pending" })
      .onConflictDoNothing({ target: botQueries.messageId })
      .returning(),
  );
  return row ?? null;
}

/** What is recorded of an answer (an honest failure has no timings). */
export type AnswerRecord = {
  mode: Answer["mode"];
  sources: readonly Source[];
  model: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  retrievalMs: number | null;
  modelMs: number | null;
};

/**
 * Records the answer of a question still pending; false when another attempt (the webhook's
 * retry, the queue, the sweep) recorded one first: that one is what gets posted.
 */
export async function recordAnswer(
  db: Database,
  id: string,
  answer: AnswerRecord,
  text: string,
  timings: { totalMs: number; delivery: "sync" | "async" },
  now = Date.now(),
): Promise<boolean> {
  const recorded = await withStorage("storing the answer", () =>
    db
      .update(botQueries)
      .set({
        status: answer.mode === "error" ? "failed" : "answered",
        mode: answer.mode,
        answer: text,
        sources: [...answer.sources],
        model: answer.model,
        promptTokens: answer.promptTokens,
        completionTokens: answer.completionTokens,
        retrievalMs: answer.retrievalMs,
        modelMs: answer.modelMs,
        totalMs: timings.totalMs,
        delivery: timings.delivery,
        answeredAt: now,
        // A synchronous answer is delivered with the webhook's reply.
        ...(timings.delivery === "sync" ? { deliveredAt: now } : {}),
      })
      .where(and(eq(botQueries.id, id), eq(botQueries.status, "pending")))
      .returning({ id: botQueries.id }),
  );
  return recorded.length > 0;
}

/** Our answer was recorded, or another attempt's was: `query` is the row as it is now (null if gone). */
export type AnswerOfRecord = { recorded: true; query: null } | { recorded: false; query: BotQuery | null };

/**
 * recordAnswer, then, only when another attempt recorded first, the question as it is now:
 * whoever posts must post the answer of record.
 */
export async function recordAnswerOrCurrent(
  db: Database,
  id: string,
  answer: AnswerRecord,
  text: string,
  timings: { totalMs: number; delivery: "sync" | "async" },
  now = Date.now(),
): Promise<AnswerOfRecord> {
  if (await recordAnswer(db, id, answer, text, timings, now)) return { recorded: true, query: null };
  return { recorded: false, query: await findQuery(db, id) };
}

/** The question is in the bot queue: a redelivered webhook acknowledges instead of answering again. */
export async function markQueued(db: Database, id: string, now = Date.now()) {
  await withStorage("marking the question queued", () => db.update(botQueries).set({ queuedAt: now }).where(eq(botQueries.id, id)));
}

/**
 * Claims up to `limit` questions whose answer is not in the thread and that were asked between
 * `oldest` and `cutoff` (ms), fewest sweeps first, oldest first, counting this sweep: one
 * statement, so two sweeps never take the same question in the same round. A question is
 * swept at most `maxAttempts` times.
 */
export async function claimOverdueQuestions(db: Database, window: { cutoff: number; oldest: number }, limit: number, maxAttempts: number): Promise<BotQuery[]> {
  const overdue = db
    .select({ id: botQueries.id })
    .from(botQueries)
    .where(and(isNull(botQueries.deliveredAt), lte(botQueries.createdAt, window.cutoff), gt(botQueries.createdAt, window.oldest), lt(botQueries.sweepAttempts, maxAttempts)))
    .orderBy(asc(botQueries.sweepAttempts), asc(botQueries.createdAt))
    .limit(limit);
  return withStorage("claiming overdue questions", () =>
    db
      .update(botQueries)
      .set({ sweepAttempts: sql`${botQueries.sweepAttempts} + 1` })
      .where(inArray(botQueries.id, overdue))
      .returning(),
  );
}

export async function markDelivered(db: Database, id: string, now = Date.now()) {
  await withStorage("marking the answer delivered", () => db.update(botQueries).set({ deliveredAt: now }).where(eq(botQueries.id, id)));
}

/** The answered turns of a thread before `createdAt`, oldest first. */
export async function threadHistory(db: Database, threadId: string, before: number): Promise<Turn[]> {
  const rows = await withStorage("reading the thread", () =>
    db
      .select({ question: botQueries.question, answer: botQueries.answer, createdAt: botQueries.createdAt })
      .from(botQueries)
      .where(and(eq(botQueries.threadId, threadId), eq(botQueries.status, "answered"), isNotNull(botQueries.answer)))
      .orderBy(desc(botQueries.createdAt))
      .limit(HISTORY_TURNS + 1),
  );
  return rows
    .filter((row) => row.createdAt < before)
    .slice(0, HISTORY_TURNS)
    .reverse()
    .map((row) => ({ question: row.question, answer: row.answer! }));
}

/** Records feedback on the thread's latest answer; false when the thread has none. */
export async function recordFeedback(db: Database, threadId: string, feedback: "good" | "bad", reason: string | null, now = Date.now()): Promise<boolean> {
  const [latest] = await withStorage("reading the thread", () =>
    db
      .select({ id: botQueries.id })
      .from(botQueries)
      .where(and(eq(botQueries.threadId, threadId), isNotNull(botQueries.answer)))
      .orderBy(desc(botQueries.createdAt))
      .limit(1),
  );
  if (!latest) return false;
  await withStorage("storing feedback", () =>
    db.update(botQueries).set({ feedback, feedbackReason: reason, feedbackAt: now }).where(eq(botQueries.id, latest.id)),
  );
  return true;
}
