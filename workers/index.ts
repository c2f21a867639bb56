// Entry point: every way into the Worker is listed here, and each only dispatches.
//   fetch     -> a host EDGE_ROUTES lists: proxied to its origins (workers/edge/router.ts);
//                any other: the Hono routes of every HTTP capability (workers/app.ts)
//   queue     -> the consumer registered for the batch's queue name
//   scheduled -> the cron dispatcher: the registered jobs due at this tick
import { createApp } from "./app";
import { routeEdgeRequest } from "./edge/router";
import { raiseAlert } from "./alerts/raise";
import { queueConsumers, queueRole } from "./queue-consumers";
import { cronJobs } from "./scheduled-jobs";
import { CRONS } from "./crons";
import { runTick } from "./scheduler/dispatch";

const app = createApp();

// Durable Object classes are exported from the entry point, as wrangler.toml binds them.
export { BackupScheduler } from "../durable-objects/backup-scheduler";
export { EdgeHealth } from "../durable-objects/edge-health";

export default {
  // Any Request, as app.fetch takes (tests and service calls build their own).
  async fetch(request: Request, env: Env, ctx: ExecutionContext) {
    return (await routeEdgeRequest(request, env, ctx)) ?? app.fetch(request, env, ctx);
  },

  async queue(batch, env, ctx) {
    const consumer = queueConsumers[queueRole(batch.queue)];
    if (!consumer) {
      // Retrying keeps the messages until a consumer for this queue is deployed.
      ctx.waitUntil(raiseAlert(env, "no consumer for queue", { queue: batch.queue, messages: batch.messages.length }));
      batch.retryAll();
      return;
    }
    await consumer(batch, env, ctx);
  },

  async scheduled(controller, env, ctx) {
    // A trigger left over from an older wrangler.toml: the dispatcher's jobs run on the tick only.
    if (controller.cron !== CRONS.tick) {
      ctx.waitUntil(raiseAlert(env, "no job for cron", { cron: controller.cron }));
      return;
    }
    await runTick(cronJobs, env, ctx, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;

