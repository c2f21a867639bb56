// Entry point: every way into the Worker is listed here, and each only dispatches.
//   fetch     -> the Hono routes of every HTTP capability (workers/app.ts)
//   queue     -> the consumer registered for the batch's queue name
//   scheduled -> the jobs registered for the firing cron expression
import { createApp } from "./app";
import { logError } from "./log";
import { queueConsumers, queueRole } from "./queue-consumers";
import { scheduledJobs } from "./scheduled-jobs";

const app = createApp();

// Durable Object classes are exported from the entry point, as wrangler.toml binds them.
export { BackupScheduler } from "../durable-objects/backup-scheduler";

export default {
  fetch: app.fetch,

  async queue(batch, env, ctx) {
    const consumer = queueConsumers[queueRole(batch.queue)];
    if (!consumer) {
      // Retrying keeps the messages until a consumer for this queue is deployed.
      logError("no consumer for queue", { queue: batch.queue, messages: batch.messages.length, alert: true });
      batch.retryAll();
      return;
    }
    await consumer(batch, env, ctx);
  },

  async scheduled(controller, env, ctx) {
    const jobs = scheduledJobs[controller.cron] ?? [];
    if (jobs.length === 0) logError("no job for cron", { cron: controller.cron, alert: true });
    for (const job of jobs) await job(controller, env, ctx);
  },
} satisfies ExportedHandler<Env>;

