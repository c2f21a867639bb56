// Each isolate's copy of its hosts' origin health, kept close to the shared Durable Object
// (durable-objects/edge-health.ts) without asking it on every request:
// - a copy younger than VIEW_FRESH_MS is used as it is; an older one is used while a refresh runs
//   after the response (waitUntil); an isolate with no copy yet waits up to VIEW_WAIT_MS for one,
//   then routes on what it has (everything healthy): the object being slow or down must not take
//   the sites down with it;
// - what this isolate's requests find is applied to its copy at once (the next request already
//   avoids the dead origin) and reported to the object after the response.
// Only news is reported: a failure, or a success of an origin this copy holds down. A request
// answered by a healthy origin costs the object nothing.
import { logWarn } from "../log";
import { applyReport, newer, RECHECK_MS, type HealthReport, type OriginHealth } from "./health-state";

export const VIEW_FRESH_MS = 5_000;
export const VIEW_WAIT_MS = 1_000;

type HostView = { states: Map<string, OriginHealth>; fetchedAt: number | null; refreshing: Promise<void> | null };

/** By public hostname. Bounded by the hosts EDGE_ROUTES lists. */
const views = new Map<string, HostView>();

type Waiter = { waitUntil(promise: Promise<unknown>): void };

const stubOf = (env: Env, host: string) => env.EDGE_HEALTH.get(env.EDGE_HEALTH.idFromName(host));

function viewOf(host: string): HostView {
  let view = views.get(host);
  if (!view) {
    view = { states: new Map(), fetchedAt: null, refreshing: null };
    views.set(host, view);
  }
  return view;
}

function merge(view: HostView, states: readonly OriginHealth[]): void {
  for (const state of states) view.states.set(state.origin, newer(view.states.get(state.origin), state));
}

function refresh(env: Env, host: string, view: HostView, now: number): Promise<void> {
  view.refreshing ??= stubOf(env, host)
    .view()
    .then((states) => {
      merge(view, states);
      view.fetchedAt = now;
    })
    .catch((error: unknown) => logWarn("edge health not read", { host, reason: error instanceof Error ? error.name : "unknown" }))
    .finally(() => {
      view.refreshing = null;
    });
  return view.refreshing;
}

const within = (promise: Promise<void>, ms: number) => Promise.race([promise, new Promise<void>((resolve) => setTimeout(resolve, ms))]);

/** The host's origin states as this isolate knows them (absent: never reported on, healthy). */
export async function hostHealth(env: Env, host: string, waiter: Waiter, now: number): Promise<ReadonlyMap<string, OriginHealth>> {
  const view = viewOf(host);
  if (view.fetchedAt === null) {
    await within(refresh(env, host, view, now), VIEW_WAIT_MS);
    // Unread (slow, failed): the next requests route on this copy instead of waiting again.
    view.fetchedAt ??= now - VIEW_FRESH_MS;
  } else if (now - view.fetchedAt >= VIEW_FRESH_MS && !view.refreshing) {
    waiter.waitUntil(refresh(env, host, view, now));
  }
  return view.states;
}

/** Applies `reports` to this isolate's copy now; the promise stores them in the shared object (never rejects). */
export function sendHealth(env: Env, host: string, reports: readonly HealthReport[]): Promise<void> {
  if (reports.length === 0) return Promise.resolve();
  const view = viewOf(host);
  for (const report of reports) view.states.set(report.origin, applyReport(view.states.get(report.origin), report));
  return stubOf(env, host)
    .report(host, [...reports])
    .then((states) => merge(view, states))
    .catch((error: unknown) => logWarn("edge health not reported", { host, reason: error instanceof Error ? error.name : "unknown" }));
}

/** sendHealth from a request: this isolate's copy now, the shared object after the response. */
export function recordHealth(env: Env, host: string, reports: readonly HealthReport[], waiter: Waiter): void {
  if (reports.length > 0) waiter.waitUntil(sendHealth(env, host, reports));
}

/**
 * Claims the checks of `origins` (unhealthy, due at `now`) for this isolate: the object answers
 * those no other isolate claimed within RECHECK_MS. Unreachable, it answers none: the cron job's
 * checks still run.
 */
export async function claimChecks(env: Env, host: string, origins: string[], now: number): Promise<string[]> {
  if (origins.length === 0) return [];
  const view = viewOf(host);
  // Claimed or not, this isolate leaves them alone for an interval: the claimant's verdict
  // reaches this copy with its next refresh.
  for (const origin of origins) {
    const state = view.states.get(origin);
    if (state) view.states.set(origin, { ...state, recheckAt: Math.max(state.recheckAt, now + RECHECK_MS) });
  }
  try {
    return await stubOf(env, host).claimRecheck(origins, now);
  } catch (error) {
    logWarn("edge health checks not claimed", { host, reason: error instanceof Error ? error.name : "unknown" });
    return [];
  }
}

/** Reads the shared states of `host`, bypassing this isolate's copy (the status page, the metrics). */
export async function sharedHealth(env: Env, host: string): Promise<OriginHealth[]> {
  const states = await stubOf(env, host).view();
  merge(viewOf(host), states);
  return states;
}

/** Forgets this isolate's copies (tests that play another isolate). */
export function forgetHealthViews(): void {
  views.clear();
}
