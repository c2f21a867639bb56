// Consumer of the bot queue: questions not answered within the bot's budget. It answers each
// (unless an earlier attempt already did) and posts the answer into the thread with
// chat.sendMessage, under a message id derived from the question: a retry first checks whether
// that message exists, and a "message already exists" is success, so an answer is never posted
// twice. A message is acknowledged once its answer is in the thread.
import { z } from "zod";
import { answerQuestion } from "../workers/bot/answer";
import { botConfig } from "../workers/bot/config";
import { formatAnswer } from "../workers/bot/format";
import { findQuery, markDelivered, recordAnswer, threadHistory } from "../workers/bot/queries";
import { RocketChatApiError } from "../workers/chat/rocketchat-api";
import { openDatabase } from "../workers/db/client";
import { GroqChat } from "../workers/llm/groq-chat";
import { failureReason, logError, logInfo } from "../workers/log";
import { vectorizeConfig } from "../workers/vectorize/config";
import { requestedRetryDelay } from "../workers/vectorize/provider-errors";
import { vectorizeProviders } from "../workers/vectorize/providers";
import { retryDelaySeconds } from "./retry-delay";

const botMessageSchema = z.object({ queryId: z.uuid() });

/** Time one answer may take here: no webhook is waiting, but an invocation should not run long. */
const ANSWER_DEADLINE_MS = 25_000;


export async function consumeBotBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = openDatabase(env.DB);
  for (const message of batch.messages) {
    const parsed = botMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      logError("malformed bot message", { messageId: message.id, alert: true });
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
        const vectorize = await vectorizeConfig.load(env);
        const started = Date.now();
        const result = await answerQuestion({
          db,
          providers: await vectorizeProviders(env, db),
          groq: vectorize.groq ? new GroqChat(vectorize.groq) : null,
          roomId: query.roomId,
          question: query.question,
          history: await threadHistory(db, query.threadId, query.createdAt),
          deadline: started + ANSWER_DEADLINE_MS,
        });
        if ("later" in result) {
          message.retry({ delaySeconds: Math.max(result.delaySeconds, retryDelaySeconds(message.attempts)) });
          continue;
        }
        const text = formatAnswer(result, config.messageLimit);
        await recordAnswer(db, query.id, result, text, { totalMs: Date.now() - query.createdAt, delivery: "async" });
        query = { ...query, answer: text };
      }
      const id = query.deliveryMessageId!;
      const posted = message.attempts > 1 && (await config.api.messageExists(id));
      if (!posted) {
        try {
          await config.api.sendMessage({ _id: id, rid: query.roomId, tmid: query.threadId, msg: query.answer ?? "" });
        } catch (error) {
          if (!(error instanceof RocketChatApiError && error.code === "error-message-already-exists")) throw error;
        }
      }
      await markDelivered(db, query.id);
      logInfo("bot answer delivered", { queryId: query.id, attempts: message.attempts });
      message.ack();
    } catch (error) {
      const delaySeconds = (error instanceof RocketChatApiError ? error.retryAfterSeconds : requestedRetryDelay(error)) ?? retryDelaySeconds(message.attempts);
      logError("bot answer delivery failed", { queryId: parsed.data.queryId, attempts: message.attempts, delaySeconds, reason: failureReason(error), alert: message.attempts >= 3 });
      message.retry({ delaySeconds });
    }
  }
}
