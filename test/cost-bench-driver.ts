// bench:cost's driver, inside workerd (run by scripts/bench-cost.ts through
// scripts/bench/cost-vitest.config.ts, not by `npm test`): sends the workload's webhooks and bot
// questions to the Worker's own fetch handler, delivers what its queues were sent through its own
// queue handler in batches it makes, runs one cron tick, and posts every count to the bench.
// The Worker gets its real bindings wrapped by scripts/bench/cost-counters.ts; it knows nothing
// of the bench.
import { env } from "cloudflare:workers";
import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { it } from "vitest";
import worker from "../workers/index";
import { CRONS } from "../workers/crons";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import {
  cloneCounts,
  countDelivery,
  countedEnv,
  countingAi,
  countingFetch,
  diffCounts,
  emptyCounts,
  type CostPhase,
  type CostReport,
  type CostWorkload,
  type Counts,
  type HeldMessage,
  type QueueBindingName,
} from "../scripts/bench/cost-counters";

const bench = env as unknown as Env & { COST_WORKLOAD: CostWorkload; COST_REPORT_URL: string };

// Queue names and batch caps as wrangler.toml declares them for the dev environment.
const QUEUES: Record<QueueBindingName, { name: string; maxBatch: number; maxRetries: number }> = {
  INTAKE_QUEUE: { name: "edge-ops-intake-dev", maxBatch: 100, maxRetries: 5 },
  VECTORIZE_QUEUE: { name: "edge-ops-vectorize-dev", maxBatch: 100, maxRetries: 5 },
  BOT_QUEUE: { name: "edge-ops-bot-dev", maxBatch: 10, maxRetries: 6 },
};

it("counts the billable operations of the workload", { timeout: 600_000 }, async () => {
  const workload = bench.COST_WORKLOAD;
  const counts = emptyCounts();
  const embedder = new OfflineEmbedder();
  // Workers AI as deployed (the default embedder where the AI binding exists), embedding with the
  // offline model so search still finds what it should.
  const ai = countingAi(counts, async (texts) => (await embedder.embed(texts)).map((vector) => Array.from(vector)));
  const { env: counted, held } = countedEnv(bench, counts, { ai });
  const groqHost = new URL(bench.GROQ_BASE_URL).host;
  const originalFetch = globalThis.fetch;
  globalThis.fetch = countingFetch(originalFetch, counts, (url) => url.host === groqHost);
  const failures: string[] = [];
  let retries = 0;
  let deadLettered = 0;
  let messageSeq = 0;

  const batchSizeOf = (binding: QueueBindingName) => Math.min(workload.batchSize, QUEUES[binding].maxBatch);

  /** Delivers `binding`'s held messages in batches; with `onlyFull`, only while a batch is full. */
  async function deliver(binding: QueueBindingName, onlyFull = false): Promise<void> {
    const queue = QUEUES[binding];
    const pending = held[binding];
    const size = batchSizeOf(binding);
    while (pending.length >= (onlyFull ? size : 1)) {
      const delivered = pending.splice(0, size);
      const messages = delivered.map((message) => ({ id: `cost-${++messageSeq}`, timestamp: new Date(), attempts: message.attempts, body: message.body }));
      const batch = createMessageBatch(queue.name, messages);
      const ctx = createExecutionContext();
      let threw = false;
      try {
        await worker.queue(batch as MessageBatch<unknown>, counted, ctx);
      } catch {
        threw = true;
      }
      await waitOnExecutionContext(ctx);
      // As Cloudflare does: a handler that returns acknowledges every message not retried; one
      // that throws retries the batch.
      const result = threw ? null : await getQueueResult(batch, ctx);
      const retriedIds = new Set(!result || result.retryBatch.retry ? messages.map((message) => message.id) : result.retryMessages.map((message) => message.msgId));
      const acknowledged = delivered.filter((_, index) => !retriedIds.has(messages[index]!.id));
      countDelivery(counts, binding, delivered, acknowledged);
      for (const [index, message] of delivered.entries()) {
        if (!retriedIds.has(messages[index]!.id)) continue;
        retries += 1;
        if (message.attempts >= queue.maxRetries + 1) {
          deadLettered += 1;
          failures.push(`${binding} message dead-lettered after ${message.attempts} attempts`);
        } else {
          pending.push({ ...message, attempts: message.attempts + 1 });
        }
      }
    }
  }

  /**
   * Delivers until every queue is empty (a consumer may send to the next queue), or with
   * `onlyFull` until no queue holds a full batch: as traffic arrives, a batch goes out once full
   * (at the default batch of 1, each webhook is processed before the next arrives).
   */
  async function drain(onlyFull = false): Promise<void> {
    const bindings = Object.keys(QUEUES) as QueueBindingName[];
    for (let round = 0; round < 50; round++) {
      if (bindings.every((binding) => held[binding].length < (onlyFull ? batchSizeOf(binding) : 1))) return;
      for (const binding of bindings) await deliver(binding, onlyFull);
    }
    failures.push("queues did not drain in 50 rounds");
  }

  /** Posts `body` to the Worker's fetch handler: the status, and the error a non-200 answer names. */
  async function post(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; error: string }> {
    counts.invocations.fetch += 1;
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(`https://edge.example.test${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body }),
      counted,
      ctx,
    );
    const text = await response.text();
    await waitOnExecutionContext(ctx);
    // The error names a variable or a reason, never a payload (workers/http/errors.ts).
    const error = response.status === 200 ? "" : String((JSON.parse(text || "{}") as { error?: unknown }).error ?? "");
    return { status: response.status, error };
  }

  const phases: CostPhase[] = [];
  try {
    for (const phase of workload.phases) {
      const before = cloneCounts(counts);
      for (const webhook of phase.webhooks) {
        const { status, error } = await post(webhook.path, webhook.headers, webhook.body);
        if (status !== 200) failures.push(`${phase.kind} webhook answered ${status} ${error}`);
        await drain(true);
      }
      await drain();
      phases.push({ kind: phase.kind, events: phase.webhooks.length, counts: diffCounts(counts, before) });
    }

    const beforeQuestions = cloneCounts(counts);
    for (const [index, question] of workload.questions.entries()) {
      const messageId = `costQuestion${String(index).padStart(5, "0")}`;
      const { status, error } = await post(
        "/rocketchat/bot",
        {},
        JSON.stringify({
          token: bench.ROCKETCHAT_BOT_TOKEN,
          bot: false,
          trigger_word: "!ask",
          channel_id: question.roomId,
          channel_name: "ops",
          message_id: messageId,
          timestamp: new Date().toISOString(),
          user_id: "costStaffUser0001",
          user_name: "staff",
          text: question.text,
        }),
      );
      if (status !== 200) failures.push(`bot question answered ${status} ${error}`);
      await drain(true);
    }
    await drain();
    phases.push({ kind: "bot question", events: workload.questions.length, counts: diffCounts(counts, beforeQuestions) });

    const beforeTick = cloneCounts(counts);
    counts.invocations.scheduled += 1;
    const ctx = createExecutionContext();
    // At a ten-minute mark, so the jobs of every other tick (the vectorize catch-up) run too.
    const tenMinutes = 10 * 60_000;
    await worker.scheduled(createScheduledController({ cron: CRONS.tick, scheduledTime: Math.floor(Date.now() / tenMinutes) * tenMinutes }), counted, ctx);
    await waitOnExecutionContext(ctx);
    await drain();
    const tick = diffCounts(counts, beforeTick);

    // Read past the counters: the bench's own check that every stored event was processed.
    const statuses = await bench.DB.prepare("SELECT status, count(*) AS n FROM webhook_events GROUP BY status").all<{ status: string; n: number }>();
    const eventStatuses = Object.fromEntries(statuses.results.map((row) => [row.status, row.n]));
    if (eventStatuses.received) failures.push(`${eventStatuses.received} stored events were never processed`);
    const report: CostReport = { phases, tick, failures, retries, deadLettered, eventStatuses };
    const posted = await originalFetch(bench.COST_REPORT_URL, { method: "POST", body: JSON.stringify(report) });
    if (!posted.ok) throw new Error(`the bench did not take the report: ${posted.status}`);
  } finally {
    globalThis.fetch = originalFetch;
  }
});
