// Failures of a vendor API that tell a caller (a queue, a retry loop) how long to wait, shared by
// the vendor clients (embedders, Qdrant, Groq, Rocket.Chat).

/**
 * The provider said "too many requests" and, when it did, for how long (Retry-After).
 * `retryAfterSeconds` is whole seconds, rounded up: every reader hands it to a queue as
 * `delaySeconds`, which Cloudflare Queues takes as an integer, and waiting a fraction longer
 * than asked is always allowed.
 */
export class ProviderRateLimited extends Error {
  readonly retryAfterSeconds: number | null;

  constructor(
    readonly provider: string,
    retryAfterSeconds: number | null,
  ) {
    const whole = retryAfterSeconds === null ? null : Math.ceil(retryAfterSeconds);
    super(`${provider} rate limited${whole !== null ? `, retry after ${whole} s` : ""}`);
    this.name = "ProviderRateLimited";
    this.retryAfterSeconds = whole;
  }
}

/** The delay a rate-limited provider asked for, found along the cause chain; null when none did. */
export function requestedRetryDelay(error: unknown): number | null {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    if (current instanceof ProviderRateLimited) return current.retryAfterSeconds;
  }
  return null;
}

/** Seconds as APIs write them: digits with an optional fraction. */
const DECIMAL_SECONDS = /^\d+(?:\.\d+)?$/;

/**
 * Retry-After in seconds, exactly as sent (fractions kept: `1.5` is 1.5 s); null when absent or
 * unreadable. RFC 9110 allows delta-seconds or an HTTP date; some APIs send decimal seconds, so
 * any numeric value is seconds and only a non-numeric one is read as a date. Callers that need
 * whole seconds (a queue's `delaySeconds`) round up where they use it: ProviderRateLimited and
 * RocketChatApiError do.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  const trimmed = value?.trim();
  if (!trimmed) return null;
  if (DECIMAL_SECONDS.test(trimmed)) return Number(trimmed);
  // Every HTTP-date form starts with a day name. Anything else ("-5", "1e3", "1,5") is unreadable:
  // Date.parse would take some of it for a date in 2001.
  if (!/^[A-Za-z]/.test(trimmed)) return null;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, (date - now) / 1000);
}
