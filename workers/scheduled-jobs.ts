// Jobs by cron expression. A capability with periodic work registers it here and lists the
// same expression under [triggers] crons in wrangler.toml (a Node test checks that they agree).
import { SWEEP_CRON, sweepReceivedEvents } from "./intake/sweep";
import { CATCH_UP_CRON, catchUpStaleDocuments } from "./vectorize/catch-up";

export type ScheduledJob = (controller: ScheduledController, env: Env, ctx: ExecutionContext) => Promise<void>;

export const scheduledJobs: Record<string, ScheduledJob[]> = {
  [SWEEP_CRON]: [
    async (controller, env) => {
      await sweepReceivedEvents(env, controller.scheduledTime);
    },
  ],
  [CATCH_UP_CRON]: [
    async (controller, env) => {
      await catchUpStaleDocuments(env, controller.scheduledTime);
    },
  ],
};
