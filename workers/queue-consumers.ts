// Queue consumers by queue role (the queue name without its environment suffix). A capability
// that consumes a queue registers its handler here and binds the queue in wrangler.toml.
import { consumeBotBatch } from "../queues/bot-consumer";
import { consumeBotDeadLetters } from "../queues/bot-dead-letter-consumer";
import { consumeDeadLetters } from "../queues/dead-letter-consumer";
import { consumeIntakeBatch } from "../queues/intake-consumer";
import { consumeVectorizeBatch } from "../queues/vectorize-consumer";
import { recordingBotDeadLetters } from "./metrics/bot-dead-letters";

export type QueueConsumer = (batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext) => Promise<void>;

export const queueConsumers: Record<string, QueueConsumer> = {
  "edge-ops-intake": consumeIntakeBatch,
  "edge-ops-vectorize": consumeVectorizeBatch,
  "edge-ops-vectorize-dlq": consumeDeadLetters,
  "edge-ops-bot": consumeBotBatch,
  // Its letters go to dead_letters too, for the metrics' dead-letter depth.
  "edge-ops-bot-dlq": recordingBotDeadLetters(consumeBotDeadLetters),
};

/** Queue names carry the environment as a suffix (edge-ops-vectorize-staging); the role is the stem. */
export function queueRole(queueName: string): string {
  return queueName.replace(/-(dev|staging|production)$/, "");
}
