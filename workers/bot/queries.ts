// The bot's questions in D1: one row per question message (a redelivered webhook finds it),
// its answer, sources, model, usage, timings, delivery and feedback.
import { and, desc, eq, isNotNull } from "drizzle-orm";
import type { Database } from "../db/client";
import { botQueries } from "../db/schema";
import { withStorage } from "../db/with-storage";
import type { Answer } from "./answer";
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

export async function recordAnswer(db: Database, id: string, answer: Answer, text: string, timings: { totalMs: number; delivery: "sync" | "async" }, now = Date.now()) {
  await withStorage("storing the answer", () =>
    db
      .update(botQueries)
      .set({
        status: answer.mode === "error" ? "failed" : "answered",
        mode: answer.mode,
        answer: text,
        sources: answer.sources,
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
      .where(eq(botQueries.id, id)),
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
