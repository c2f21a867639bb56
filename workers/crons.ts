// The Worker's cron triggers: one, every five minutes, in every environment (Workers Free allows
// five per account). wrangler.toml lists it under [triggers] crons for each environment;
// test/node/wrangler-config.test.ts checks they agree. The dispatcher
// (workers/scheduler/dispatch.ts) runs the jobs of workers/scheduled-jobs.ts by their own times.
export const CRONS = { tick: "*/5 * * * *" } as const;
