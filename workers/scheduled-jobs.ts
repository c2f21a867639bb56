// Jobs by cron expression. A capability with periodic work registers it here and lists the
// same expression under [triggers] crons in wrangler.toml (a Node test checks that they agree).
import { SWEEP_CRON, sweepReceivedEvents } from "./intake/sweep";
import { CATCH_UP_CRON, catchUpStaleDocuments } from "./vectorize/catch-up";
import { startScheduledRun, sweepBackups } from "./backups/scheduled";
import { CRONS } from "./crons";

export type ScheduledJob = (controller: ScheduledController, env: Env, ctx: ExecutionContext) => Promise<void>;

export const scheduledJobs: Record<string, ScheduledJob[]> = {
  [SWEEP_CRON]: [
    async (controller, env) => {
      await sweepReceivedEvents(env, controller.scheduledTime);
    },
    async (_controller, env) => {
      await sweepBackups(env);
    },
  ],
  [CRONS.backupDaily]: [
    async (_controller, env) => {
      await startScheduledRun(env, "backup");
    },
  ],
  [CRONS.restoreTestWeekly]: [
    async (_controller, env) => {
      await startScheduledRun(env, "restore-test");
    },
  ],
  [CATCH_UP_CRON]: [
    async (controller, env) => {
      await catchUpStaleDocuments(env, controller.scheduledTime);
    },
  ],
};
