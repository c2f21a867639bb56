/** Seconds before retry n (1-based): 10, 20, 40, ... capped at 5 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(300, 10 * 2 ** Math.max(0, attempts - 1));
}

/**
 * Cloudflare Queues refuse a retry delay over 24 hours (miniflare's broker in wrangler 4.156.2
 * validates delays as an integer 0-86400, checked 2026-12-06): a provider's Retry-After beyond
 * that is waited in steps of a day rather than making `message.retry` throw.
 */
export const MAX_QUEUE_DELAY_SECONDS = 86_400;

/** A delay a queue accepts: whole seconds, 0 to MAX_QUEUE_DELAY_SECONDS. */
export const queueDelaySeconds = (seconds: number) => Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil(seconds)));
