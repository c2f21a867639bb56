// Runs a queue handler on a batch made here and reports what it did with each message.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { vi } from "vitest";

let messageSeq = 0;

export type BatchOutcome<B> = { acked: B[]; retried: { body: B; delaySeconds: number | undefined }[] };

export async function runBatch<B>(
  queue: string,
  bodies: readonly B[],
  handle: (batch: MessageBatch<B>, ctx: ExecutionContext) => Promise<void>,
  attempts = 1,
): Promise<BatchOutcome<B>> {
  const messages = bodies.map((body) => ({ id: `msg-${++messageSeq}`, timestamp: Date.now(), attempts, body }));
  const batch = createMessageBatch<B>(queue, messages);
  // The pool's QueueResult drops retry options; the spies keep the delay each retry asked for.
  const retries = batch.messages.map((message) => ({ message, spy: vi.spyOn(message, "retry") }));
  const ctx = createExecutionContext();
  await handle(batch, ctx);
  const result = await getQueueResult(batch, ctx);
  const bodyOf = (id: string) => messages.find((message) => message.id === id)!.body;
  return {
    acked: result.explicitAcks.map(bodyOf),
    retried: retries.flatMap(({ message, spy }) => spy.mock.calls.map(([options]) => ({ body: bodyOf(message.id), delaySeconds: options?.delaySeconds }))),
  };
}
