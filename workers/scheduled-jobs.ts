// Jobs by cron expression. A capability with periodic work registers it here and lists the
// same expression under [triggers] crons in wrangler.toml.
export type ScheduledJob = (controller: ScheduledController, env: Env, ctx: ExecutionContext) => Promise<void>;

export const scheduledJobs: Record<string, ScheduledJob[]> = {};
