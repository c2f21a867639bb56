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
