// Failures of an embedder or vector store that tell the queue how long to wait.

/** The provider said "too many requests" and, when it did, for how long (Retry-After). */
export class ProviderRateLimited extends Error {
  constructor(
    readonly provider: string,
    readonly retryAfterSeconds: number | null,
  ) {
    super(`${provider} rate limited${retryAfterSeconds !== null ? `, retry after ${retryAfterSeconds} s` : ""}`);
    this.name = "ProviderRateLimited";
  }
}

/** The delay a rate-limited provider asked for, found along the cause chain; null when none did. */
export function requestedRetryDelay(error: unknown): number | null {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    if (current instanceof ProviderRateLimited) return current.retryAfterSeconds;
  }
  return null;
}

/** Retry-After as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}
