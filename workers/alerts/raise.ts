// One way to raise an alert, for every feature: the `alert: true` log line at once (what log
// based alerting has always read), then, off the caller's critical path, a row in D1's `alerts`
// (the status page's "recent alerts" and the edgeops_alerts_total counter) and a post to
// ALERT_WEBHOOK_URL, a channel that does not run on the Swarm the alert may be about.
//
// The returned promise never rejects: a request path hands it to waitUntil, a queue consumer or
// a cron job awaits it. Delivery failures are logged (never as alerts: no loop), not thrown.
//
// The post is `{"text": ..., ...fields}`: Slack's and Rocket.Chat's incoming webhooks read `text`
// (checked against Slack's "Sending messages using incoming webhooks" page, api.slack.com/messaging/webhooks:
// POST JSON with `text`, answered 200 `ok`; Rocket.Chat's incoming integration docs,
// docs.rocket.chat "Integrations": POST JSON `text`; both read 2026-12-06). The same message
// posted within SUPPRESS_MS is recorded as `suppressed`, not posted again: a storm of one failure
// (a batch of dead letters) is one notification; the status page still lists every one.
import { logError, logWarn, type LogFields } from "../log";
import { alertWebhookConfig } from "./config";

export const ALERT_POST_TIMEOUT_MS = 5_000;
export const SUPPRESS_MS = 5 * 60_000;

export type AlertDelivery = "posted" | "failed" | "suppressed" | "off";

export type AlertOptions = {
  now?: () => number;
  fetch?: typeof fetch;
  timeoutMs?: number;
};

type Scalar = string | number | boolean | null;

/** The fields as logged, without undefined (JSON drops them anyway) and without the alert flag. */
function recordedFields(fields: LogFields): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && key !== "alert") out[key] = value;
  return out;
}

function alertText(env: Env, message: string, fields: Record<string, Scalar>): string {
  const details = Object.entries(fields)
    .filter(([, value]) => value !== null)
    .map(([key, value]) => `${key}: ${value}`)
    .join(", ");
  return `[edge-ops ${env.EDGE_OPS_ENV}] ${message}${details ? ` (${details})` : ""}`;
}

async function post(url: string, body: unknown, options: AlertOptions): Promise<"posted" | "failed"> {
  try {
    const response = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? ALERT_POST_TIMEOUT_MS),
    });
    // The body is the service's business ("ok", {"success":true}); only the status counts.
    await response.body?.cancel();
    if (response.ok) return "posted";
    logWarn("alert webhook refused the alert", { status: response.status });
    return "failed";
  } catch (error) {
    // The URL is a secret of sorts (it carries the webhook's key): never logged, nor the error's text.
    logWarn("alert webhook did not answer", { reason: error instanceof Error ? error.name : "unknown" });
    return "failed";
  }
}

async function deliver(env: Env, message: string, fields: Record<string, Scalar>, options: AlertOptions): Promise<void> {
  const now = (options.now ?? Date.now)();
  const db = env.DB;
  let delivery: AlertDelivery = "off";
  // Unset or malformed: nothing is posted (/healthz and the capability metric say which).
  const url = (await alertWebhookConfig.loadIfConfigured(env))?.url ?? null;
  if (url !== null) {
    let recent = false;
    try {
      recent = (await db.prepare("SELECT 1 AS seen FROM alerts WHERE message = ? AND at > ? AND delivery = 'posted' LIMIT 1").bind(message, now - SUPPRESS_MS).first()) !== null;
    } catch {
      // Storage down is when an alert matters most: posted, unsuppressed.
    }
    delivery = recent ? "suppressed" : await post(url, { ...fields, alert: message, env: env.EDGE_OPS_ENV, at: new Date(now).toISOString(), text: alertText(env, message, fields) }, options);
  }
  try {
    const counter = "INSERT INTO metric_rollups (scope, bucket, series, value) VALUES ('total', 0, ?, 1) ON CONFLICT (scope, bucket, series) DO UPDATE SET value = value + 1";
    await db.batch([
      db.prepare("INSERT INTO alerts (id, at, message, fields, delivery) VALUES (?, ?, ?, ?, ?)").bind(crypto.randomUUID(), now, message, JSON.stringify(fields), delivery),
      db.prepare(counter).bind(JSON.stringify(["alerts", message])),
      ...(delivery === "off" ? [] : [db.prepare(counter).bind(JSON.stringify(["alert_webhook_posts", delivery]))]),
    ]);
  } catch {
    // Storage refused (its message quotes bound values: not logged). The log line above stands.
    logError("alert not recorded", { alertMessage: message, delivery });
  }
}

/**
 * Raises an alert: logs `message` with `fields` and `alert: true` now; the promise records it and
 * posts it to ALERT_WEBHOOK_URL (when configured). `fields` follow the log's rules: identifiers
 * and outcomes only, never a token, payload or driver text.
 */
export function raiseAlert(env: Env, message: string, fields: LogFields = {}, options: AlertOptions = {}): Promise<void> {
  logError(message, { ...fields, alert: true });
  return deliver(env, message, recordedFields(fields), options).catch(() => undefined);
}

/** What raiseAlertAfterResponse needs of a request: a Hono context. */
type RequestContext = { readonly env: Env; readonly executionCtx: { waitUntil(promise: Promise<unknown>): void } };

/** A request's waitUntil (a Hono context's), or null where it has no execution context (some tests). */
function waitUntilOf(c: RequestContext): ((promise: Promise<unknown>) => void) | null {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return null;
  }
}

/** raiseAlert from a request: the recording and the post run after the answer (waitUntil). */
export function raiseAlertAfterResponse(c: RequestContext, message: string, fields: LogFields = {}): void {
  const waitUntil = waitUntilOf(c);
  const work = raiseAlert(c.env, message, fields);
  if (waitUntil) waitUntil(work);
}
