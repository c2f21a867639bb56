// The safety net behind the intake queue: every few minutes, events still "received" a while
// after they arrived (their queue message was lost, or retried to exhaustion) are processed
// here. No flow depends on it; it only finishes what the queue did not.
import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import { openDatabase } from "../db/client";
import { withStorage } from "../db/with-storage";
import { webhookEvents } from "../db/schema";
import { raiseAlert } from "../alerts/raise";
import { logError, logInfo } from "../log";
import { processIsolating } from "./process-events";

/** Every tick of the cron dispatcher. */
export const SWEEP_SCHEDULE = "*/5 * * * *";
/** Younger events are still in the queue's hands (its retries span about 5 minutes). */
export const SWEEP_MIN_AGE_MS = 2 * 60_000;
export const SWEEP_BATCH = 100;
/** From this many sweeps on, an event that is still unfinished raises an alert each time. */
export const SWEEP_ALERT_ATTEMPTS = 3;

export async function sweepReceivedEvents(env: Env, now = Date.now()): Promise<{ picked: number; processed: number; failed: number }> {
  const db = openDatabase(env.DB);
  const stale = db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.status, "received"), lt(webhookEvents.receivedAt, now - SWEEP_MIN_AGE_MS)))
    .orderBy(asc(webhookEvents.receivedAt))
    .limit(SWEEP_BATCH);
  const picked = await withStorage("picking events to sweep", () =>
    db
      .update(webhookEvents)
      .set({ sweepAttempts: sql`${webhookEvents.sweepAttempts} + 1` })
      .where(inArray(webhookEvents.id, stale))
      .returning({ id: webhookEvents.id, source: webhookEvents.source, type: webhookEvents.type, sweepAttempts: webhookEvents.sweepAttempts }),
  );
  if (picked.length === 0) return { picked: 0, processed: 0, failed: 0 };

  for (const event of picked) {
    if (event.sweepAttempts >= SWEEP_ALERT_ATTEMPTS) {
      await raiseAlert(env, "event keeps failing", { eventId: event.id, source: event.source, eventType: event.type, sweepAttempts: event.sweepAttempts });
    }
  }
  const outcome = await processIsolating({ db, vectorizeQueue: env.VECTORIZE_QUEUE }, picked.map((event) => event.id), now);
  for (const { id, reason } of outcome.failed) logError("sweep could not process event", { eventId: id, reason, alert: false });
  const summary = { picked: picked.length, processed: outcome.processed.length, failed: outcome.failed.length };
  logInfo("sweep", summary);
  return summary;
}
