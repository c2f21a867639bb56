// Answers that were not ready within the bot's budget: the question's id goes to the bot queue,
// whose consumer answers it and posts the answer into the thread through Rocket.Chat's REST API.
// The posted message's id is derived from the question's message id, so a retried delivery finds
// its message already there instead of posting it twice.
import { sha256Hex } from "../auth/constant-time";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A Rocket.Chat-shaped id (17 alphanumerics) derived from the question's message id. */
export async function answerMessageId(questionMessageId: string): Promise<string> {
  const hex = await sha256Hex(`edge-ops bot answer:${questionMessageId}`);
  let id = "";
  for (let i = 0; i < 17; i += 1) id += BASE62[parseInt(hex.slice(i * 2, i * 2 + 2), 16) % 62];
  return id;
}

export type BotQueueMessage = { queryId: string };
