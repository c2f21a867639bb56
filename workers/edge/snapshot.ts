// Origin health for /api/metrics and the status page: every origin of every routable host, as the
// shared Durable Objects hold it (not one isolate's copy), in EDGE_ROUTES's order.
import { logWarn } from "../log";
import { edgeRoutesConfig, edgeRoutingOn, originsOf, type OriginPool } from "./config";
import type { OriginHealth } from "./health-state";
import { sharedHealth } from "./health-view";

export type EdgeOriginState = "healthy" | "down" | "unknown";

export type EdgeOriginRow = {
  host: string;
  origin: string;
  pool: OriginPool;
  /** unknown: no request or check has reached a verdict yet (requests go to it). */
  state: EdgeOriginState;
  /** When it entered its state; null when unknown. */
  since: number | null;
  checkedAt: number | null;
  reason: string | null;
};

export async function readEdgeOrigins(env: Env): Promise<EdgeOriginRow[]> {
  if (!edgeRoutingOn(env)) return [];
  const routes = await edgeRoutesConfig.loadIfConfigured(env);
  // Misconfigured: the capability rows say so; there is nothing routed to show.
  if (!routes) return [];
  const hosts = await Promise.all(
    [...routes.entries.values()].map(async (entry) => {
      if (!entry.ok) return [];
      let states = new Map<string, OriginHealth>();
      try {
        states = new Map((await sharedHealth(env, entry.route.host)).map((state) => [state.origin, state]));
      } catch (error) {
        logWarn("edge health not read", { host: entry.route.host, reason: error instanceof Error ? error.name : "unknown" });
      }
      return originsOf(entry.route).map((origin): EdgeOriginRow => {
        const state = states.get(origin.url);
        return {
          host: entry.route.host,
          origin: origin.url,
          pool: origin.pool,
          state: state === undefined ? "unknown" : state.healthy ? "healthy" : "down",
          since: state?.changedAt ?? null,
          checkedAt: state?.checkedAt ?? null,
          reason: state && !state.healthy ? state.reason : null,
        };
      });
    }),
  );
  return hosts.flat();
}
