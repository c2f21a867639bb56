// Active health checks: the cron job `edge-health-check` checks every origin of every routable
// host on each five-minute tick (both ways: a healthy origin nobody sends traffic to, such as a
// failover, is found down; a down one found back); between ticks, requests check an origin that
// is down once its RECHECK_MS have passed (router.ts), so a recovered origin returns within about
// half a minute while the host has traffic.
import { logWarn } from "../log";
import { edgeRoutesConfig, edgeRoutingOn, originsOf, type EdgeOrigin, type EdgeRoute } from "./config";
import type { HealthReport } from "./health-state";
import { sendHealth } from "./health-view";
import { checkOrigin } from "./origin-request";

/** Every tick: Cloudflare's monitors check every 60 s at best on its lower plans; the tick is what we have. */
export const EDGE_CHECK_SCHEDULE = "*/5 * * * *";

/** Off while EDGE_ROUTES is unset: nothing to check. */
export const edgeCheckSchedule = (env: Env): string | null => (edgeRoutingOn(env) ? EDGE_CHECK_SCHEDULE : null);

export type CheckOptions = { now?: () => number; timeoutMs?: number; retries?: number };

/** Checks `origins` of `route`; the verdicts as reports (inconclusive checks left out, and logged). */
export async function checkRouteOrigins(route: EdgeRoute, origins: readonly EdgeOrigin[], options: CheckOptions = {}): Promise<{ reports: HealthReport[]; inconclusive: number }> {
  const now = options.now ?? Date.now;
  const reports: HealthReport[] = [];
  let inconclusive = 0;
  await Promise.all(
    origins.map(async (origin) => {
      const startedAt = now();
      const result = await checkOrigin(route, origin, { ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...(options.retries === undefined ? {} : { retries: options.retries }) });
      if (result.ok === null) {
        inconclusive++;
        logWarn("edge health check reached the router, not the origin", { host: route.host, origin: origin.url });
        return;
      }
      reports.push({ origin: origin.url, ok: result.ok, reason: result.ok ? null : result.reason, source: "check", startedAt, at: now() });
    }),
  );
  return { reports, inconclusive };
}

/**
 * The cron job: every origin of every routable host, verdicts stored before it returns. Throws
 * (the dispatcher reports the job failed) when EDGE_ROUTES cannot be read, or when no check
 * reached an origin: a silent pass would leave dead origins marked healthy.
 */
export async function checkEdgeOrigins(env: Env, options: CheckOptions = {}): Promise<{ checked: number; failed: number }> {
  const routes = await edgeRoutesConfig.load(env);
  let checked = 0;
  let failed = 0;
  let inconclusive = 0;
  await Promise.all(
    [...routes.entries.values()].map(async (entry) => {
      if (!entry.ok) return;
      const result = await checkRouteOrigins(entry.route, originsOf(entry.route), options);
      checked += result.reports.length;
      failed += result.reports.filter((report) => !report.ok).length;
      inconclusive += result.inconclusive;
      await sendHealth(env, entry.route.host, result.reports);
    }),
  );
  if (checked === 0 && inconclusive > 0) throw new Error(`${inconclusive} edge health checks reached this Worker instead of an origin (is cf.resolveOverride applied outside a request?)`);
  return { checked, failed };
}
