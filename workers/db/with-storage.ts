import { unavailable } from "../http/errors";

/**
 * What went wrong, by cause and code only. Driver messages quote SQL parameters (drizzle's
 * "Failed query: ... params: ..." wraps D1's error; a D1_TYPE_ERROR names the offending
 * value), so no message ever reaches a log line or a caller: only the first D1/SQLite code
 * found along the cause chain, else the innermost error's name.
 */
export function storageFailureCode(error: unknown): string {
  let innermost = "non-error thrown";
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = /\b((?:D1|SQLITE)_[A-Z_]+)\b/.exec(current.message)?.[1];
    if (code) return code;
    innermost = current.name;
  }
  return innermost;
}

/** Runs a D1 or queue operation; any failure becomes a 503 so the caller retries. */
export async function withStorage<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable(`${what} failed: ${storageFailureCode(error)}`);
  }
}
