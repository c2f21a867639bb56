// A run's calls to Rocket.Chat, within the run's budget. A Worker invocation may make only so
// many subrequests (Rocket.Chat requests, D1 queries, queue sends: 50 on Workers Free, 1000 D1
// queries on Paid), and the cron tick shares one invocation among every job, so a run spends at
// most ROCKETCHAT_SYNC_SUBREQUESTS and stops between pages: what it stored stays stored, and the
// next run resumes from the cursors.
//
// Rocket.Chat's rate limiter answers 429 with X-RateLimit-Reset (epoch ms): a reset within
// `maxWaitMs` is waited for (once per request), a later one stops the run until then. A 404 is an
// endpoint the server does not have (Rocket.Chat answers 400 for a room it does not know).
import { RocketChatApiError } from "../chat/rocketchat-api";

/** The run's subrequests are spent: stop after the page in hand. */
export class BudgetSpent extends Error {
  constructor() {
    super("the run's subrequests are spent");
    this.name = "BudgetSpent";
  }
}

/** The server has no such endpoint (404). */
export class EndpointMissing extends Error {
  constructor(readonly endpoint: string) {
    super(`rocket.chat has no ${endpoint} (404)`);
    this.name = "EndpointMissing";
  }
}

/** Rocket.Chat asked for a wait longer than a run waits: the run stops, the next one resumes. */
export class RateLimited extends Error {
  constructor(
    readonly endpoint: string,
    readonly until: number,
  ) {
    super(`rocket.chat rate limited ${endpoint} until ${new Date(until).toISOString()}`);
    this.name = "RateLimited";
  }
}

export class Budget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Counts `subrequests`; throws BudgetSpent when that would pass the limit. */
  spend(subrequests = 1): void {
    if (this.used + subrequests > this.limit) throw new BudgetSpent();
    this.used += subrequests;
  }

  /** Counts what already happened (a D1 batch after the request it stores), even past the limit. */
  record(subrequests = 1): void {
    this.used += subrequests;
  }

  get spent(): number {
    return this.used;
  }

  get left(): number {
    return Math.max(0, this.limit - this.used);
  }
}

export type CallOptions = {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** The longest reset a run waits for (default 10 s); the cron tick waits with every other job. */
  maxWaitMs: number;
};

export const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 10_000;

/** Runs `request` against Rocket.Chat as `endpoint` (for errors and alerts), within the budget. */
export async function callRocketChat<T>(budget: Budget, options: CallOptions, endpoint: string, request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    budget.spend(1);
    try {
      return await request();
    } catch (error) {
      if (!(error instanceof RocketChatApiError)) throw error;
      if (error.status === 404) throw new EndpointMissing(endpoint);
      if (error.status !== 429) throw error;
      const now = options.now();
      const until = error.resetAt ?? now + (error.retryAfterSeconds ?? 60) * 1000;
      if (attempt > 1 || until - now > options.maxWaitMs || budget.left < 1) throw new RateLimited(endpoint, until);
      await options.sleep(Math.max(0, until - now));
    }
  }
}
