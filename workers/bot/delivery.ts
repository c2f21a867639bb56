// Answers that were not ready within the bot's budget: the question's id goes to the bot queue,
// whose consumer answers it and posts the answer into the thread through Rocket.Chat's REST API.
// The posted message's id is derived from the question's message id, so a retried delivery finds
// its message already there instead of posting it twice; the sweep (./sweep.ts) and the bot
// queue's dead-letter consumer post under the same id, so a question gets one message in its
// thread whoever posts it.
import { sha256Hex } from "../auth/constant-time";
import { RocketChatApiError, type RocketChatApi, type OutgoingMessage } from "../chat/rocketchat-api";
import type { Database } from "../db/client";
import { markDelivered, type BotQuery } from "./queries";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A Rocket.Chat-shaped id (17 alphanumerics) derived from the question's message id. */
export async function answerMessageId(questionMessageId: string): Promise<string> {
  const hex = await sha256Hex(`edge-ops bot answer:${questionMessageId}`);
  let id = "";
  for (let i = 0; i < 17; i += 1) id += BASE62[parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 62];
  return id;
}

export type BotQueueMessage = { queryId: string };

/** What the thread gets when the bot gave up on a question: honest, and naming nothing internal. */
export const GAVE_UP = {
  sweep: "Sorry, I could not answer this question: answering it failed or took too long. Please ask again in a few minutes; if it keeps happening, tell an administrator.",
  deadLetter: "Sorry, I could not answer this question: answering it failed several times. Please ask again in a few minutes; if it keeps happening, tell an administrator.",
} as const;

/** A question closed with one of those messages, as its record: failed, no sources, no model. */
export const GAVE_UP_RECORD = { mode: "error", sources: [], model: null, promptTokens: null, completionTokens: null, retrievalMs: null, modelMs: null } as const;

/**
 * Posts `message` once. Rocket.Chat answers no "already exists" for an `_id` it has (see
 * RocketChatApi.sendMessage): it inserts nothing and fails in other ways, and a timed-out post
 * may have landed. So after a failed post chat.getMessage decides; if the message is not there
 * (or cannot be looked up) the post's own error is thrown.
 */
export async function postOnce(api: RocketChatApi, message: OutgoingMessage): Promise<void> {
  try {
    await api.sendMessage(message);
  } catch (error) {
    // The rate limiter refused the post before it ran, and would refuse the lookup too.
    if (error instanceof RocketChatApiError && error.status === 429) throw error;
    if (!(await api.messageExists(message._id).catch(() => false))) throw error;
  }
}

/** Posts `text` as the question's one answer in its thread and records it delivered. */
export async function deliverToThread(db: Database, api: RocketChatApi, query: BotQuery, text: string, options: { checkFirst: boolean }): Promise<void> {
  const id = query.deliveryMessageId ?? (await answerMessageId(query.messageId));
  // A retry may follow a post that reached the room but not our record of it.
  const posted = options.checkFirst && (await api.messageExists(id));
  if (!posted) await postOnce(api, { _id: id, rid: query.roomId, tmid: query.threadId, msg: text });
  await markDelivered(db, query.id);
}
