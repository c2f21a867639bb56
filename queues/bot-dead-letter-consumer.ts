// Consumer of the bot queue's dead-letter queue: questions the bot queue gave up on after its
// last retry. None ends in silence: the thread gets the answer when one was recorded but never
// posted, else an honest message saying the bot could not answer (the question is recorded as
// failed), posted under the question's one answer id so it never doubles a late answer. Each
// raises an alert. A message whose post fails is retried; after this queue's own retries the
// bot sweep (workers/bot/sweep.ts) still finds the question undelivered.
import { botConfig } from "../workers/bot/config";
import { deliverToThread, GAVE_UP, GAVE_UP_RECORD } from "../workers/bot/delivery";
import { findQuery, recordAnswerOrCurrent } from "../workers/bot/queries";
import { RocketChatApiError } from "../workers/chat/rocketchat-api";
import { openDatabase } from "../workers/db/client";
import { raiseAlert } from "../workers/alerts/raise";
import { failureReason } from "../workers/log";
import { botMessageSchema } from "./bot-consumer";
import { queueDelaySeconds, retryDelaySeconds } from "./retry-delay";

export async function consumeBotDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = openDatabase(env.DB);
  for (const message of batch.messages) {
    const parsed = botMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      await raiseAlert(env, "malformed bot dead letter", { messageId: message.id });
      message.ack();
      continue;
    }
    const queryId = parsed.data.queryId;
    try {
      const config = await botConfig.load(env);
      let query = await findQuery(db, queryId);
      if (!query || query.deliveredAt !== null) {
        message.ack();
        continue;
      }
      if (!config.api) {
        // Nothing can be posted without the REST API: say so to the operators, once.
        await raiseAlert(env, "bot question dead-lettered, not answered", { queryId, reason: "the REST API is not configured (ROCKETCHAT_URL, ROCKETCHAT_USER_ID, ROCKETCHAT_AUTH_TOKEN)" });
        message.ack();
        continue;
      }
      const hadAnswer = query.answer !== null;
      if (!hadAnswer) {
        const outcome = await recordAnswerOrCurrent(db, query.id, GAVE_UP_RECORD, GAVE_UP.deadLetter, { totalMs: Date.now() - query.createdAt, delivery: "async" });
        query = outcome.recorded ? { ...query, answer: GAVE_UP.deadLetter } : (outcome.query ?? query);
      }
      // The queue's last attempt may have posted before failing.
      await deliverToThread(db, config.api, query, query.answer ?? GAVE_UP.deadLetter, { checkFirst: true });
      await raiseAlert(env, "bot question dead-lettered", { queryId, attempts: message.attempts, answerPosted: hadAnswer });
      message.ack();
    } catch (error) {
      const delaySeconds = queueDelaySeconds((error instanceof RocketChatApiError ? error.retryAfterSeconds : null) ?? retryDelaySeconds(message.attempts));
      await raiseAlert(env, "closing a dead-lettered bot question failed", { queryId, attempts: message.attempts, delaySeconds, reason: failureReason(error) });
      message.retry({ delaySeconds });
    }
  }
}
