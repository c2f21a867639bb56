// Every cron expression the Worker handles. wrangler.toml lists the same ones under
// [triggers] crons for each environment; test/node/wrangler-config.test.ts checks they agree.
export const CRONS = {
  /** Finish webhook events left "received" (workers/intake/sweep.ts). */
  intakeSweep: "*/5 * * * *",
  /** Send documents whose index is stale to the vectorize queue (workers/vectorize/catch-up.ts). */
  vectorizeCatchUp: "*/10 * * * *",
  /** The daily backup run (durable-objects/backup-scheduler.ts). */
  backupDaily: "17 3 * * *",
  /** The weekly restore test, Sunday morning. */
  restoreTestWeekly: "47 4 * * 0",
} as const;
