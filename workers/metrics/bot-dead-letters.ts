// The bot's dead-letter queue in the dead_letters table, so its depth is known to D1 (and to
// /api/metrics) like the vectorize one's. The bot dead-letter consumer
// (queues/bot-dead-letter-consumer.ts) closes each question in its thread and acknowledges the
// message; this wrapper records every message it is handed as an open dead letter of queue
// "edge-ops-bot" and closes the letter (superseded_at) once the consumer acknowledges it. A
// message the consumer retries stays open: that is the queue's depth. Recording never stands in
// the consumer's way: a failed write is logged and the consumer runs all the same.
// Bot letters are not replayable (the admin API's replay takes vectorize letters only): the
// consumer itself answers every question.
import { logError } from "../log";
import { storageFailureCode } from "../db/with-storage";

export const BOT_DEAD_LETTER_QUEUE = "edge-ops-bot";

type Consumer = (batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext) => Promise<void>;

export function recordingBotDeadLetters(consumer: Consumer): Consumer {
  return async (batch, env, ctx) => {
    const now = Date.now();
    const rows = batch.messages.map((message) => ({ id: message.id, body: JSON.stringify(message.body ?? null), attempts: message.attempts }));
    try {
      await env.DB.prepare(
        `INSERT INTO dead_letters (id, queue, body, document_id, attempts, dead_at)
         SELECT json_extract(value, '$.id'), ?1, json_extract(value, '$.body'), NULL, json_extract(value, '$.attempts'), ?2 FROM json_each(?3) WHERE true
         ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts`,
      )
        .bind(BOT_DEAD_LETTER_QUEUE, now, JSON.stringify(rows))
        .run();
    } catch (error) {
      logError("recording bot dead letters failed", { messages: rows.length, reason: storageFailureCode(error) });
    }
    const acked: string[] = [];
    const messages = batch.messages.map(
      (message): Message<unknown> => ({
        id: message.id,
        timestamp: message.timestamp,
        body: message.body,
        attempts: message.attempts,
        retry: (options) => message.retry(options),
        ack: () => {
          acked.push(message.id);
          message.ack();
        },
      }),
    );
    await consumer(
      {
        queue: batch.queue,
        metadata: batch.metadata,
        messages,
        retryAll: (options) => batch.retryAll(options),
        ackAll: () => {
          acked.push(...batch.messages.map((message) => message.id));
          batch.ackAll();
        },
      },
      env,
      ctx,
    );
    if (acked.length === 0) return;
    try {
      await env.DB.prepare(
        "UPDATE dead_letters SET superseded_at = ?1 WHERE queue = ?2 AND superseded_at IS NULL AND replayed_at IS NULL AND id IN (SELECT value FROM json_each(?3))",
      )
        .bind(Date.now(), BOT_DEAD_LETTER_QUEUE, JSON.stringify(acked))
        .run();
    } catch (error) {
      logError("closing bot dead letters failed", { messages: acked.length, reason: storageFailureCode(error) });
    }
  };
}
