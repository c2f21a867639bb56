// Consumer of the intake queue: processes the stored events its messages name, a batch at a
// time (four round trips for up to 100 events). A message is acknowledged only once its event
// is processed; a failing one is retried with exponential backoff, and after the queue's last
// retry the event stays "received" for the sweep, which alerts when it keeps failing.
import { openDatabase } from "../workers/db/client";
import { processIsolating } from "../workers/intake/process-events";
import { raiseAlert } from "../workers/alerts/raise";
import { logError, logInfo } from "../workers/log";
import { intakeMessageSchema } from "./intake-message";
import { retryDelaySeconds } from "./retry-delay";

export async function consumeIntakeBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const byEvent = new Map<string, Message<unknown>[]>();
  for (const message of batch.messages) {
    const parsed = intakeMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      // Retrying cannot fix a malformed message; the events it might have named are swept.
      await raiseAlert(env, "malformed intake message", { queue: batch.queue, messageId: message.id });
      message.ack();
      continue;
    }
    byEvent.set(parsed.data.eventId, [...(byEvent.get(parsed.data.eventId) ?? []), message]);
  }
  if (byEvent.size === 0) return;

  const started = Date.now();
  const outcome = await processIsolating({ db: openDatabase(env.DB), vectorizeQueue: env.VECTORIZE_QUEUE }, [...byEvent.keys()]);
  for (const id of outcome.processed) for (const message of byEvent.get(id) ?? []) message.ack();
  for (const { id, reason } of outcome.failed) {
    for (const message of byEvent.get(id) ?? []) {
      logError("event processing failed", { eventId: id, reason, attempts: message.attempts, alert: false });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
  logInfo("intake batch", {
    queue: batch.queue,
    events: byEvent.size,
    processed: outcome.processed.length,
    failed: outcome.failed.length,
    durationMs: Date.now() - started,
  });
}
