// One request to one origin, live or a health check, and what became of it.
//
// Where it goes: a hostname origin is fetched at the public URL with `cf.resolveOverride` set to
// the origin's hostname, so the origin's Traefik sees the public Host it routes by (Cloudflare's
// "Request" docs: the Host header still matches the URL; applied only when both hostnames are in
// the zone, workers/edge/config.ts checks that); scheme and port are the origin's. An IP or
// localhost origin is fetched at its own URL (local development, the tests). Either way the origin
// gets X-Forwarded-Host, -Proto and -For, and `edge-ops-via`, by which the Worker recognises a
// request of its own that came back to it (loop) instead of reaching an origin.
//
// What counts as a failed attempt: no response (connection refused, reset, DNS, TLS: Cloudflare's
// 521, 522, 523, 525, 526, on which its zero-downtime failover retries) or no response headers
// within the route's timeout (its 524). A 5xx is an answer: the router decides (router.ts).
import type { EdgeOrigin, EdgeRoute } from "./config";

export const VIA_HEADER = "edge-ops-via";
export const VIA_VALUE = "edge-ops";
/** On every response the router makes itself (the 503 page, a loop refusal), never on an origin's. */
export const ROUTER_HEADER = "edge-ops-router";

/** Cloudflare's load balancer monitor defaults: a 5 s timeout, 2 retries on a timeout (API reference, 2026-12-06). */
export const CHECK_TIMEOUT_MS = 5_000;
export const CHECK_RETRIES = 2;
export const CHECK_USER_AGENT = "edge-ops-health-check";

export type Attempt =
  | { kind: "response"; response: Response }
  | { kind: "failed"; reason: "connection failed" | "timed out" };

/** The URL to fetch and the cf options that make it reach `origin` for `publicUrl`. */
export function originTarget(publicUrl: URL, origin: EdgeOrigin): { url: string; cf?: RequestInitCfProperties } {
  const base = new URL(origin.url);
  if (!origin.resolveOverride) return { url: `${base.origin}${publicUrl.pathname}${publicUrl.search}` };
  const target = new URL(`${publicUrl.pathname}${publicUrl.search}`, `${base.protocol}//${publicUrl.hostname}`);
  target.port = base.port;
  return { url: target.toString(), cf: { resolveOverride: base.hostname } };
}

/** The client address as Cloudflare gives it to the Worker (absent locally). */
const clientAddress = (headers: Headers) => headers.get("cf-connecting-ip");

/** The headers an origin gets: the client's, with the forwarding headers set by us, not by the client. */
export function forwardedHeaders(incoming: Headers, publicUrl: URL): Headers {
  const headers = new Headers(incoming);
  // The URL decides the Host (the public host, or the IP origin's own).
  headers.delete("host");
  headers.set("x-forwarded-host", publicUrl.host);
  headers.set("x-forwarded-proto", publicUrl.protocol.replace(":", ""));
  const client = clientAddress(incoming);
  const chain = incoming.get("x-forwarded-for");
  if (client) headers.set("x-forwarded-for", chain && chain.split(",").at(-1)?.trim() !== client ? `${chain}, ${client}` : (chain ?? client));
  headers.set(VIA_HEADER, VIA_VALUE);
  return headers;
}

/**
 * Sends `init` to `url`; failed when no response headers came within `timeoutMs`. The timer ends
 * with the headers: a body (a download, a WebSocket) then streams as long as it lasts.
 */
export async function attempt(url: string, init: RequestInit<RequestInitCfProperties>, timeoutMs: number, fetcher: typeof fetch = fetch): Promise<Attempt> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    return { kind: "response", response: await fetcher(url, { ...init, signal: controller.signal }) };
  } catch {
    // The runtime's message is not ours to log (it may quote the address); the kind is enough.
    return { kind: "failed", reason: timedOut ? "timed out" : "connection failed" };
  } finally {
    clearTimeout(timer);
  }
}

export type CheckResult = { ok: true } | { ok: false; reason: string } | { ok: null; reason: "reached the router, not the origin" };

/**
 * A health check of `origin`: GET the route's health path at the public host, as live traffic
 * goes. Passes on 200-399 (Cloudflare's monitors pass on their expected codes; a redirect to a
 * login page is an app that answers, while Traefik's 404 means it has no router for the host: the
 * app is gone). Retried on a timeout, as Cloudflare's monitors are. `ok: null`: the check came back
 * to this Worker instead of the origin, so it tells nothing about the origin.
 */
export async function checkOrigin(route: EdgeRoute, origin: EdgeOrigin, options: { timeoutMs?: number; retries?: number; fetcher?: typeof fetch } = {}): Promise<CheckResult> {
  const publicUrl = new URL(route.healthPath, `https://${route.host}`);
  const target = originTarget(publicUrl, origin);
  const headers = new Headers({ "user-agent": CHECK_USER_AGENT, "x-forwarded-host": route.host, "x-forwarded-proto": "https", [VIA_HEADER]: VIA_VALUE });
  const tries = 1 + (options.retries ?? CHECK_RETRIES);
  let outcome: Attempt = { kind: "failed", reason: "timed out" };
  for (let tried = 0; tried < tries; tried++) {
    outcome = await attempt(target.url, { method: "GET", headers, redirect: "manual", ...(target.cf ? { cf: target.cf } : {}) }, options.timeoutMs ?? CHECK_TIMEOUT_MS, options.fetcher);
    if (outcome.kind === "response" || outcome.reason !== "timed out") break;
  }
  if (outcome.kind === "failed") return { ok: false, reason: outcome.reason };
  const { response } = outcome;
  await response.body?.cancel();
  if (response.headers.has(ROUTER_HEADER)) return { ok: null, reason: "reached the router, not the origin" };
  return response.status >= 200 && response.status < 400 ? { ok: true } : { ok: false, reason: `health check status ${response.status}` };
}
