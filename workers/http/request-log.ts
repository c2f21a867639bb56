// One structured log line per request, and one per failure, keyed by a request id that is
// also returned to the caller (x-request-id) so a sender's report can be matched to our log.
// Accepted webhook deliveries get no line: each is a row in webhook_events (with its id,
// type, time and status), Workers' own invocation logs record the request, and at webhook
// volume the line would cost log volume and about a third of local throughput.
import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { storageFailureCode } from "../db/with-storage";
import { raiseAlertAfterResponse } from "../alerts/raise";
import { logError, logInfo, logWarn } from "../log";
import type { AppEnv } from "./app-env";
import { AppError } from "./errors";

export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = Date.now();
  const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
  c.set("requestId", requestId);
  await next();
  c.header("x-request-id", requestId);
  if (c.get("accessLog") === false && c.res.ok) return;
  logInfo("request", {
    requestId,
    method: c.req.method,
    path: c.req.path,
    status: c.res.status,
    durationMs: Date.now() - started,
    source: c.get("source"),
    eventType: c.get("eventType"),
    eventId: c.get("eventId"),
    outcome: c.get("outcome") ?? (c.res.ok ? "ok" : "error"),
  });
};

function failureFields(c: Context<AppEnv>) {
  return {
    requestId: c.get("requestId"),
    method: c.req.method,
    path: c.req.path,
    source: c.get("source"),
    eventType: c.get("eventType"),
    eventId: c.get("eventId"),
  };
}

export const handleError: ErrorHandler<AppEnv> = (error, c) => {
  const requestId = c.get("requestId");
  if (error instanceof AppError) {
    c.set("outcome", error.status === 401 ? "rejected" : error.status >= 500 ? "failed" : "invalid");
    // A sender's mistake (4xx) is expected traffic; only our own failures are errors.
    const fields = { ...failureFields(c), status: error.status, reason: error.internalReason };
    if (error.alert) raiseAlertAfterResponse(c, "request failed", fields);
    else (error.status >= 500 ? logError : logWarn)("request failed", { ...fields, alert: false });
    return c.json({ error: error.publicMessage, requestId }, error.status);
  }
  c.set("outcome", "failed");
  // Unknown exception text can carry anything (a driver's message quotes bound values): log the
  // D1/SQLite code or the error's name only, answer generically.
  raiseAlertAfterResponse(c, "unhandled error", {
    ...failureFields(c),
    status: 500,
    reason: storageFailureCode(error),
  });
  return c.json({ error: "internal error", requestId }, 500);
};
