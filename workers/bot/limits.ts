// How many questions the bot takes per minute: BOT_RATE_LIMIT per user (default 10) and
// BOT_ROOM_RATE_LIMIT per room (default 30). One D1 statement counts the question for both its
// user and its room in the current minute and returns both counts; a question over either limit
// gets a polite answer and no search and no model call. Feedback and help are not counted.
// Earlier minutes are deleted by the bot sweep (workers/bot/sweep.ts).
import { lt, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { botRateCounts } from "../db/schema";
import { withStorage } from "../db/with-storage";

export type QuestionLimits = { perUser: number; perRoom: number };
export type LimitedBy = "user" | "room";

export const minuteOf = (ms: number) => Math.floor(ms / 60_000);

/** Counts a question of `userId` in `roomId`; which limit it goes over, or null. */
export async function countQuestion(db: Database, asker: { userId: string; roomId: string }, limits: QuestionLimits, now = Date.now()): Promise<LimitedBy | null> {
  const minute = minuteOf(now);
  const userKey = `user:${asker.userId}`;
  const roomKey = `room:${asker.roomId}`;
  const counts = await withStorage("counting the question", () =>
    db
      .insert(botRateCounts)
      .values([
        { key: userKey, minute, count: 1 },
        { key: roomKey, minute, count: 1 },
      ])
      .onConflictDoUpdate({ target: [botRateCounts.key, botRateCounts.minute], set: { count: sql`${botRateCounts.count} + 1` } })
      .returning({ key: botRateCounts.key, count: botRateCounts.count }),
  );
  const countOf = (key: string) => counts.find((row) => row.key === key)?.count ?? 0;
  if (countOf(userKey) > limits.perUser) return "user";
  if (countOf(roomKey) > limits.perRoom) return "room";
  return null;
}

/** Drops the counts of minutes before the previous one. */
export async function forgetOldCounts(db: Database, now = Date.now()) {
  await withStorage("dropping old question counts", () => db.delete(botRateCounts).where(lt(botRateCounts.minute, minuteOf(now) - 1)));
}

/** What the bot says instead of answering: which limit, and when to ask again. */
export function limitReply(by: LimitedBy, limits: QuestionLimits): string {
  return by === "user"
    ? `You have asked me more than ${limits.perUser} questions in the last minute, the most I answer for one person. Please ask again in a minute.`
    : `This room has asked me more than ${limits.perRoom} questions in the last minute, the most I answer for one room. Please ask again in a minute.`;
}
