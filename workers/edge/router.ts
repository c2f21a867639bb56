// Edge routing: a request whose host EDGE_ROUTES lists is proxied to one of the host's origins
// (the Swarm's nodes); every other request reaches the Worker's own routes (null here). Behaves
// as Cloudflare's load balancer documents where the issue is silent (Load Balancing docs,
// "Adaptive routing", developers.cloudflare.com/load-balancing/understand-basics/adaptive-routing,
// last updated 2026-07-23, read 2026-12-06): random steering over the healthy origins of the
// primary pool; the failover origins, in order of listing, only while no primary is healthy (its
// "failover across pools"); an origin that cannot be reached is skipped without the client seeing
// it (its "zero-downtime failover", which retries only on the connection-level 521, 522, 523, 525
// and 526, never on an origin's own 5xx). Those docs say nothing of methods; which requests may be
// sent twice is RFC 9110's rule, below.
//
// Which requests may go to a second origin. A request's body streams through to the first origin
// as the client sends it (never buffered: uploads may be large), so a request with a body cannot
// be sent again, and a non-idempotent one must not be (the first origin may have acted on it
// before failing). So a request is retried elsewhere only when its method is idempotent
// (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and it has no body: in practice GET,
// HEAD, OPTIONS, DELETE and WebSocket upgrades. Any other goes to one origin, once; if that origin
// cannot be reached the client gets 502 (504 after the timeout), saying the request was not repeated.
//
// What marks an origin down (health-state.ts): no response, or no response headers within the
// route's timeout; and a 5xx, but only when another origin answered the same request without one
// (so a request that fails everywhere, an application's own bug, marks nobody and its 5xx is
// passed on as Cloudflare passes an origin's 5xx). A 5xx to a request that was not retried is
// passed on and marks nothing.
//
// When no origin is healthy, those due for a check (RECHECK_MS after they went down, claimed so
// that one isolate checks) are checked at once with a short timeout; if none passes, the 503 page
// with Retry-After, within INLINE_CHECK_TIMEOUT_MS. Otherwise due origins are checked after the
// response.
import { failureReason, logError, logWarn } from "../log";
import { checkRouteOrigins } from "./check";
import { edgeRoutesConfig, edgeRoutingOn, originsOf, type EdgeOrigin, type EdgeRoute } from "./config";
import { isRoutable, RECHECK_MS, type HealthReport, type OriginHealth } from "./health-state";
import { claimChecks, hostHealth, recordHealth, sendHealth } from "./health-view";
import { attempt, forwardedHeaders, originTarget, ROUTER_HEADER, VIA_HEADER, VIA_VALUE } from "./origin-request";
import { badGatewayPage, loopResponse, misconfiguredResponse, unavailablePage } from "./pages";

/** An origin down for good answers a check within this when it is checked during a request. */
export const INLINE_CHECK_TIMEOUT_MS = 1_500;
const MAX_RETRY_AFTER_SECONDS = 300;

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export type RouterOptions = {
  now?: () => number;
  /** Steering's choice of the first origin, in [0, 1). */
  random?: () => number;
};

type Waiter = { waitUntil(promise: Promise<unknown>): void };

/**
 * May this request be sent to a second origin after the first failed? Idempotent and without a
 * body: a body is streamed to the first origin as it arrives and cannot be sent again.
 */
export const isReplayable = (request: Request) => IDEMPOTENT.has(request.method) && request.body === null;

/** `origins` from a random one on, the others in their order after it. */
function rotate(origins: EdgeOrigin[], random: () => number): EdgeOrigin[] {
  if (origins.length < 2) return origins;
  const start = Math.min(origins.length - 1, Math.floor(random() * origins.length));
  return [...origins.slice(start), ...origins.slice(0, start)];
}

/** Seconds until an origin of the route is next checked (at least 1, at most 5 minutes). */
function retryAfterSeconds(route: EdgeRoute, health: ReadonlyMap<string, OriginHealth>, now: number): number {
  const next = originsOf(route)
    .map((origin) => health.get(origin.url)?.recheckAt)
    .filter((at): at is number => at !== undefined && at > now);
  const wait = next.length > 0 ? Math.min(...next) - now : RECHECK_MS;
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(wait / 1000)));
}

const failure = (origin: EdgeOrigin, reason: string, startedAt: number, at: number): HealthReport => ({ origin: origin.url, ok: false, reason, source: "live", startedAt, at });

/**
 * The answer for a request to a host EDGE_ROUTES lists; null for any other request (and for all
 * of them while EDGE_ROUTES is unset or unreadable: /healthz names it), which the Worker's own
 * routes answer.
 */
export async function routeEdgeRequest(request: Request, env: Env, ctx: Waiter, options: RouterOptions = {}): Promise<Response | null> {
  if (!edgeRoutingOn(env)) return null;
  const publicUrl = new URL(request.url);
  const routes = await edgeRoutesConfig.loadIfConfigured(env);
  if (!routes) return null;
  const entry = routes.entries.get(publicUrl.hostname);
  if (!entry) return null;
  const host = publicUrl.hostname;
  const reference = request.headers.get("cf-ray") ?? crypto.randomUUID();
  if (!entry.ok) {
    logWarn("edge route misconfigured", { host, requestId: reference });
    return misconfiguredResponse(host, entry.problems, reference);
  }
  if (request.headers.get(VIA_HEADER) === VIA_VALUE) {
    logError("edge routing loop", { host, requestId: reference, alert: false });
    return loopResponse(host, reference);
  }
  try {
    return await forward(request, publicUrl, entry.route, env, ctx, { now: options.now ?? Date.now, random: options.random ?? Math.random }, reference);
  } catch (error) {
    logError("edge routing failed", { host, requestId: reference, reason: failureReason(error), alert: false });
    return badGatewayPage(host, false, reference);
  }
}

async function forward(request: Request, publicUrl: URL, route: EdgeRoute, env: Env, ctx: Waiter, options: Required<RouterOptions>, reference: string): Promise<Response> {
  const { now } = options;
  const started = now();
  let health = await hostHealth(env, route.host, ctx, started);
  const routable = (origin: EdgeOrigin) => isRoutable(health.get(origin.url));
  const due = originsOf(route).filter((origin) => {
    const state = health.get(origin.url);
    return state !== undefined && !state.healthy && state.recheckAt <= started;
  });
  let primaries = route.origins.filter(routable);
  let failovers = route.failover.filter(routable);

  if (primaries.length === 0 && failovers.length === 0) {
    // Everything is marked down: check, now and briefly, those due for it.
    const claimed = new Set(await claimChecks(env, route.host, due.map((origin) => origin.url), started));
    const { reports } = await checkRouteOrigins(route, due.filter((origin) => claimed.has(origin.url)), { now, timeoutMs: INLINE_CHECK_TIMEOUT_MS, retries: 0 });
    recordHealth(env, route.host, reports, ctx);
    const passed = new Set(reports.filter((report) => report.ok).map((report) => report.origin));
    primaries = route.origins.filter((origin) => passed.has(origin.url));
    failovers = route.failover.filter((origin) => passed.has(origin.url));
    if (primaries.length === 0 && failovers.length === 0) {
      health = await hostHealth(env, route.host, ctx, now());
      return unavailablePage(route.host, retryAfterSeconds(route, health, now()), reference);
    }
  } else if (due.length > 0) {
    // Traffic flows elsewhere meanwhile: check the due ones after the response.
    ctx.waitUntil(
      claimChecks(env, route.host, due.map((origin) => origin.url), started).then(async (claimed) => {
        const { reports } = await checkRouteOrigins(route, due.filter((origin) => claimed.includes(origin.url)), { now });
        await sendHealth(env, route.host, reports);
      }),
    );
  }

  const candidates = [...rotate(primaries, options.random), ...rotate(failovers, options.random)];
  const headers = forwardedHeaders(request.headers, publicUrl);
  if (!isReplayable(request)) return once(request, publicUrl, route, candidates[0]!, headers, env, ctx, now, reference);

  const reports: HealthReport[] = [];
  /** Origins that answered 5xx: down only if another one answers this request without. */
  const fivexx: { origin: EdgeOrigin; status: number; startedAt: number }[] = [];
  let held: Response | null = null;
  for (const origin of candidates) {
    const target = originTarget(publicUrl, origin);
    const startedAt = now();
    const result = await attempt(target.url, { method: request.method, headers, redirect: "manual", ...(target.cf ? { cf: target.cf } : {}) }, route.timeoutMs);
    if (result.kind === "failed") {
      logWarn("edge origin failed", { host: route.host, origin: origin.url, reason: result.reason, method: request.method, requestId: reference });
      reports.push(failure(origin, result.reason, startedAt, now()));
      continue;
    }
    const { response } = result;
    if (response.headers.has(ROUTER_HEADER)) {
      await response.body?.cancel();
      reports.push(failure(origin, "reached the router, not the origin", startedAt, now()));
      continue;
    }
    if (response.status >= 500) {
      await held?.body?.cancel();
      held = response;
      fivexx.push({ origin, status: response.status, startedAt });
      continue;
    }
    await held?.body?.cancel();
    for (const entry of fivexx) reports.push(failure(entry.origin, `status ${entry.status}`, entry.startedAt, now()));
    recordHealth(env, route.host, reports, ctx);
    return response;
  }
  recordHealth(env, route.host, reports, ctx);
  // Every origin that answered said 5xx: the request's own failure, passed on as it came.
  if (held) return held;
  health = await hostHealth(env, route.host, ctx, now());
  return unavailablePage(route.host, retryAfterSeconds(route, health, now()), reference);
}

/** A request that must not be sent twice: one origin, once, its body streamed through. */
async function once(request: Request, publicUrl: URL, route: EdgeRoute, origin: EdgeOrigin, headers: Headers, env: Env, ctx: Waiter, now: () => number, reference: string): Promise<Response> {
  const target = originTarget(publicUrl, origin);
  const startedAt = now();
  const result = await attempt(target.url, { method: request.method, headers, body: request.body, redirect: "manual", ...(target.cf ? { cf: target.cf } : {}) }, route.timeoutMs);
  if (result.kind === "response" && !result.response.headers.has(ROUTER_HEADER)) return result.response;
  if (result.kind === "response") await result.response.body?.cancel();
  const reason = result.kind === "failed" ? result.reason : "reached the router, not the origin";
  logWarn("edge origin failed", { host: route.host, origin: origin.url, reason, method: request.method, requestId: reference, retried: false });
  recordHealth(env, route.host, [failure(origin, reason, startedAt, now())], ctx);
  return badGatewayPage(route.host, reason === "timed out", reference);
}
