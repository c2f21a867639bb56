// Every cron expression the Worker handles. wrangler.toml lists the same ones under
// [triggers] crons for each environment; test/node/wrangler-config.test.ts checks they agree.
export const CRONS = {
  /** Finish webhook events left "received" (workers/intake/sweep.ts). */
  intakeSweep: "*/5 * * * *",
  /** Send documents whose index is stale to the vectorize queue (workers/vectorize/catch-up.ts). */
  vectorizeCatchUp: "*/10 * * * *",
} as const;
