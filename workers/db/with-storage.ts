import { unavailable } from "../http/errors";

/**
 * What went wrong, by cause and code only. Driver messages can quote SQL parameters (a
 * D1_TYPE_ERROR names the offending value, a constraint error the key), so they never reach
 * a log line or a caller.
 */
export function storageFailureCode(error: unknown): string {
  if (!(error instanceof Error)) return "non-error thrown";
  const code = /\b((?:D1|SQLITE)_[A-Z_]+)\b/.exec(error.message)?.[1];
  return code ?? error.name;
}

/** Runs a D1 or queue operation; any failure becomes a 503 so the caller retries. */
export async function withStorage<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable(`${what} failed: ${storageFailureCode(error)}`);
  }
}
