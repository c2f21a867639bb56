// Consumer of the bot queue: questions not answered within the bot's budget. It answers each
// (unless an earlier attempt already did) and posts the answer into the thread with
// chat.sendMessage, under a message id derived from the question: a retry first checks with
// chat.getMessage whether that message exists, and a failed post counts as delivered only when
// chat.getMessage then finds it, so an answer is never posted twice. A message is acknowledged
// once its answer is in the thread. After the queue's last retry the message goes to the bot's
// dead-letter queue, whose consumer (./bot-dead-letter-consumer.ts) closes the question with an
// honest message in the thread; the bot sweep (workers/bot/sweep.ts) catches anything else.
import { z } from "zod";
import { answerQuestion } from "../workers/bot/answer";
import { botConfig } from "../workers/bot/config";
import { deliverToThread } from "../workers/bot/delivery";
import { formatAnswer } from "../workers/bot/format";
import { findQuery, recordAnswerOrCurrent, threadHistory } from "../workers/bot/queries";
import { RocketChatApiError } from "../workers/chat/rocketchat-api";
import { openDatabase } from "../workers/db/client";
import { GroqChat } from "../workers/llm/groq-chat";
import { raiseAlert } from "../workers/alerts/raise";
import { failureReason, logError, logInfo } from "../workers/log";
import { requestedRetryDelay } from "../workers/http/provider-errors";
import { vectorizeProviders } from "../workers/vectorize/providers";
import { queueDelaySeconds, retryDelaySeconds } from "./retry-delay";

export const botMessageSchema = z.object({ queryId: z.uuid() });

/** Time one answer may take here: no webhook is waiting, but an invocation should not run long. */
const ANSWER_DEADLINE_MS = 25_000;

export async function consumeBotBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = openDatabase(env.DB);
  for (const message of batch.messages) {
    const parsed = botMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      await raiseAlert(env, "malformed bot message", { messageId: message.id });
      message.ack();
      continue;
    }
    try {
      const config = await botConfig.load(env);
      if (!config.api) throw new Error("the REST API is not configured (ROCKETCHAT_URL, ROCKETCHAT_USER_ID, ROCKETCHAT_AUTH_TOKEN)");
      let query = await findQuery(db, parsed.data.queryId);
      if (!query || query.deliveredAt !== null) {
        message.ack();
        continue;
      }
      if (query.status === "pending") {
        const started = Date.now();
        const result = await answerQuestion({
          db,
          providers: await vectorizeProviders(env, db),
          groq: config.groq ? new GroqChat(config.groq) : null,
          roomId: query.roomId,
          question: query.question,
          history: await threadHistory(db, query.threadId, query.createdAt),
          deadline: started + ANSWER_DEADLINE_MS,
          visibility: config.visibility,
        });
        if ("later" in result) {
          message.retry({ delaySeconds: queueDelaySeconds(Math.max(result.delaySeconds, retryDelaySeconds(message.attempts))) });
          continue;
        }
        const text = formatAnswer(result, config.messageLimit, config.links);
        const outcome = await recordAnswerOrCurrent(db, query.id, result, text, { totalMs: Date.now() - query.createdAt, delivery: "async" });
        // Another attempt (the sweep, a second delivery) recorded its answer first: post that one.
        query = outcome.recorded ? { ...query, answer: text } : (outcome.query ?? { ...query, answer: text });
        if (query.deliveredAt !== null) {
          message.ack();
          continue;
        }
      }
      await deliverToThread(db, config.api, query, query.answer ?? "", { checkFirst: message.attempts > 1 });
      logInfo("bot answer delivered", { queryId: query.id, attempts: message.attempts });
      message.ack();
    } catch (error) {
      const delaySeconds = queueDelaySeconds((error instanceof RocketChatApiError ? error.retryAfterSeconds : requestedRetryDelay(error)) ?? retryDelaySeconds(message.attempts));
      const fields = { queryId: parsed.data.queryId, attempts: message.attempts, delaySeconds, reason: failureReason(error) };
      if (message.attempts >= 3) await raiseAlert(env, "bot answer delivery failed", fields);
      else logError("bot answer delivery failed", { ...fields, alert: false });
      message.retry({ delaySeconds });
    }
  }
}
