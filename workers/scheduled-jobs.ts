// Every job the Worker's one cron trigger dispatches (workers/scheduler/dispatch.ts), with the
// times it runs at. A capability with periodic work registers it here.
import { backupSchedule, reportMissedRun, startScheduledRun, sweepBackups } from "./backups/scheduled";
import { BOT_SWEEP_SCHEDULE, sweepBotQuestions } from "./bot/sweep";
import { checkEdgeOrigins, edgeCheckSchedule } from "./edge/check";
import { chatSyncSchedule, runChatSync } from "./chat-sync/run";
import { SWEEP_SCHEDULE, sweepReceivedEvents } from "./intake/sweep";
import { METRICS_ROLLUP_SCHEDULE, rollUpMetrics } from "./metrics/rollup";
import type { CronJob } from "./scheduler/dispatch";
import { CATCH_UP_SCHEDULE, catchUpStaleDocuments } from "./vectorize/catch-up";

export const cronJobs: readonly CronJob[] = [
  {
    name: "intake-sweep",
    timed: false,
    schedule: () => SWEEP_SCHEDULE,
    run: async ({ env, tickTime }) => void (await sweepReceivedEvents(env, tickTime)),
  },
  {
    name: "backup-reaper",
    timed: false,
    schedule: () => "*/5 * * * *",
    run: ({ env }) => sweepBackups(env),
  },
  {
    // Questions to the bot still without an answer in their thread after five minutes.
    name: "bot-sweep",
    timed: false,
    schedule: () => BOT_SWEEP_SCHEDULE,
    run: async ({ env, tickTime }) => void (await sweepBotQuestions(env, tickTime)),
  },
  {
    // Rocket.Chat history, edits and deletions, a bounded slice per tick (off without the REST credentials).
    name: "chat-sync",
    timed: false,
    schedule: (env) => chatSyncSchedule(env),
    run: async ({ env }) => void (await runChatSync(env, { trigger: "cron" })),
  },
  {
    name: "vectorize-catch-up",
    timed: false,
    schedule: () => CATCH_UP_SCHEDULE,
    run: async ({ env, tickTime }) => void (await catchUpStaleDocuments(env, tickTime)),
  },
  {
    // Folds the metrics' source tables into their running totals, samples the queue lags.
    name: "metrics-rollup",
    timed: false,
    schedule: () => METRICS_ROLLUP_SCHEDULE,
    // The clock, not the tick's time: a cursor ahead of the clock would skip rows written meanwhile.
    run: async ({ env }) => void (await rollUpMetrics(env, Date.now())),
  },
  {
    // Edge routing's active health checks: every origin of every routed host (off without EDGE_ROUTES).
    name: "edge-health-check",
    timed: false,
    schedule: edgeCheckSchedule,
    run: async ({ env }) => void (await checkEdgeOrigins(env)),
  },
  {
    name: "backup-daily",
    timed: true,
    schedule: (env) => backupSchedule(env, "backup"),
    run: ({ env }) => startScheduledRun(env, "backup"),
    missed: (env, dueAt) => reportMissedRun(env, "backup", dueAt),
  },
  {
    name: "restore-test-weekly",
    timed: true,
    schedule: (env) => backupSchedule(env, "restore-test"),
    run: ({ env }) => startScheduledRun(env, "restore-test"),
    missed: (env, dueAt) => reportMissedRun(env, "restore-test", dueAt),
  },
];
