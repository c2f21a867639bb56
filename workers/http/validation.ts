import type { z } from "zod";

/** "<path>: <message>" of a validation failure's first issue: a 400's reason, never the value. */
export function issueReason(error: z.ZodError, fallbackPath = "request"): string {
  const issue = error.issues[0];
  return `${issue?.path.join(".") || fallbackPath}: ${issue?.message ?? "invalid"}`;
}
