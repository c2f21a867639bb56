import { CapabilityNotConfigured } from "./config/capability";
import { storageFailureCode } from "./db/with-storage";
import { AppError } from "./http/errors";

// Structured logs: one JSON object per line. Callers pass only identifiers and outcomes;
// tokens, signatures, secrets and payloads never go in here.
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export function logInfo(message: string, fields: LogFields): void {
  console.log(JSON.stringify({ level: "info", message, ...fields }));
}

/** Something the sender got wrong (a 4xx): worth a line, not an operator's attention. */
export function logWarn(message: string, fields: LogFields): void {
  console.log(JSON.stringify({ level: "warn", message, ...fields }));
}

export function logError(message: string, fields: LogFields): void {
  console.error(JSON.stringify({ level: "error", message, ...fields }));
}

/**
 * Why something failed, safe for a log line: a capability's configuration problem (names the
 * variable), an AppError's code-only reason, a storage error's D1/SQLite code only (its message
 * quotes bound parameters), else the error's name and the first line of its message, cut short
 * (our provider errors say status and code there, never a secret).
 */
export function failureReason(error: unknown): string {
  if (error instanceof CapabilityNotConfigured) return error.publicMessage;
  if (error instanceof AppError) return error.internalReason;
  // A storage error's message quotes SQL and its bound parameters: only its code is safe.
  const storageCode = storageFailureCode(error);
  if (/^(D1|SQLITE)_/.test(storageCode)) return `storage failed: ${storageCode}`;
  if (error instanceof Error && /Failed query|params:/i.test(error.message)) return `storage failed: ${storageCode}`;
  if (error instanceof Error) return `${error.name}: ${error.message.split("\n")[0]!.slice(0, 160)}`;
  return "unknown";
}
