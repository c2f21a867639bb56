// An origin's health and how a report changes it: the same pure rules in the shared Durable
// Object (durable-objects/edge-health.ts) and in each isolate's copy of it (health-view.ts), so an
// isolate acts on what it saw at once and agrees with the object once the report lands.
//
// As Cloudflare's load balancer with consecutive_down and consecutive_up at their default (one
// failed or passed check changes the state): a failure marks an origin unhealthy, one good answer
// from it marks it healthy again (its monitor API reference: consecutive_down and consecutive_up
// default 0, retries 2 on a timeout, read 2026-12-06). An origin nobody reported on yet is
// healthy: its "Endpoint and pool health" page (read 2026-12-06) does not say how an endpoint
// before its first check is treated, and counting it down would leave a fresh deployment with
// nothing to route to until the first tick; live traffic finds a dead origin on its first request.

/** An origin marked down is checked again after this long (by a request or the cron job). */
export const RECHECK_MS = 30_000;

export type HealthSource = "live" | "check";

export type OriginHealth = {
  origin: string;
  healthy: boolean;
  /** When it last changed state. */
  changedAt: number;
  /** When a health check last reached a verdict on it; null: never. */
  checkedAt: number | null;
  /** Why it was last found failing: our own words ("connection failed", "status 502"), never the origin's text. */
  reason: string | null;
  /** An unhealthy origin is checked again from then on. */
  recheckAt: number;
  /** What last changed its state: live traffic or a health check. */
  source: HealthSource;
};

export type HealthReport = {
  origin: string;
  ok: boolean;
  reason: string | null;
  source: HealthSource;
  /** When the attempt started: an attempt older than the last change says nothing about the present. */
  startedAt: number;
  at: number;
};

/** Requests may go to it: healthy, or never reported on. */
export const isRoutable = (state: OriginHealth | undefined): boolean => state === undefined || state.healthy;

/** The state after `report`, or the same object when the report changes nothing. */
export function applyReport(state: OriginHealth | undefined, report: HealthReport): OriginHealth {
  const checkedAt = report.source === "check" ? report.at : (state?.checkedAt ?? null);
  if (state === undefined) {
    return report.ok
      ? { origin: report.origin, healthy: true, changedAt: report.at, checkedAt, reason: null, recheckAt: 0, source: report.source }
      : { origin: report.origin, healthy: false, changedAt: report.at, checkedAt, reason: report.reason, recheckAt: report.at + RECHECK_MS, source: report.source };
  }
  // Started before the last change (a slow request sent while the origin was still up, or before
  // it came back): it describes the past.
  if (report.startedAt < state.changedAt) return state;
  if (report.ok) {
    if (state.healthy) return report.source === "check" ? { ...state, checkedAt } : state;
    return { ...state, healthy: true, changedAt: report.at, checkedAt, reason: null, recheckAt: 0, source: report.source };
  }
  if (state.healthy) return { ...state, healthy: false, changedAt: report.at, checkedAt, reason: report.reason, recheckAt: report.at + RECHECK_MS, source: report.source };
  // Still down: the next check waits another interval.
  return { ...state, checkedAt, reason: report.reason, recheckAt: Math.max(state.recheckAt, report.at + RECHECK_MS) };
}

/** Of two copies of one origin's state, the one that knows more: the later change, then the later check. */
export function newer(a: OriginHealth | undefined, b: OriginHealth): OriginHealth {
  if (a === undefined || b.changedAt > a.changedAt) return b;
  if (b.changedAt < a.changedAt) return a;
  return { ...b, checkedAt: Math.max(a.checkedAt ?? 0, b.checkedAt ?? 0) || null, recheckAt: Math.max(a.recheckAt, b.recheckAt) };
}
