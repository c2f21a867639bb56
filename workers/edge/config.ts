// EDGE_ROUTES: the public hostnames the Worker proxies to the Swarm (docs/edge-routing.md), as one
// JSON object, e.g.
//   {"chat.example.com": {"origins": ["https://node1.example.com", "https://node2.example.com"],
//                         "failover": ["https://dr.example.com"], "healthPath": "/api/info"}}
//
// Two levels of failure, so that one typo never takes the Worker down:
// - a value that is not a JSON object of entries makes the capability misconfigured (/healthz names
//   EDGE_ROUTES) and routes no host: every request reaches the Worker's own routes;
// - an entry that parses but is invalid (no origins, a malformed URL, an unknown key) answers 503
//   naming EDGE_ROUTES for its host only; /healthz reports the capability degraded, naming the host.
//
// An origin is a scheme, a host and maybe a port (no path). A hostname origin is reached with
// `cf.resolveOverride` (the request keeps the public Host, which is how Traefik routes), which
// Cloudflare applies only when both hostnames are within the zone (checked against Cloudflare's
// "Request" docs, cloudflare-docs src/content/docs/workers/runtime-apis/request.mdx, `cf.resolveOverride`,
// 2026-12-06): such an origin must share the public host's parent domain. An IP address or
// localhost origin is fetched directly (local development and the tests): it sees the public
// host in X-Forwarded-Host only.
import { z } from "zod";
import { defineCapability } from "../config/capability";

export const EDGE_ROUTES_VARIABLE = "EDGE_ROUTES";

/** Whether EDGE_ROUTES is set at all: unset (or blank), the Worker routes nothing and checks nothing. */
export const edgeRoutingOn = (env: Env): boolean => (env.EDGE_ROUTES ?? "").trim() !== "";

/** Cloudflare's load balancer monitor defaults: path "/", 5 s timeout (its API reference, 2026-12-06). */
export const DEFAULT_HEALTH_PATH = "/";
/** How long an origin may take to send its response headers before the attempt counts as failed. */
export const DEFAULT_TIMEOUT_SECONDS = 30;
/** Cloudflare's own proxy gives up after 100 s (its 524): a longer wait would never be seen. */
const MAX_TIMEOUT_SECONDS = 100;

export type OriginPool = "primary" | "failover";

export type EdgeOrigin = {
  /** The origin as configured, normalized (`https://node1.example.com`, `http://127.0.0.1:8080`). */
  url: string;
  pool: OriginPool;
  /** true: fetched at the public host with cf.resolveOverride = this origin's hostname. */
  resolveOverride: boolean;
};

export type EdgeRoute = {
  host: string;
  origins: EdgeOrigin[];
  failover: EdgeOrigin[];
  healthPath: string;
  timeoutMs: number;
};

export type EdgeRouteEntry = { ok: true; route: EdgeRoute } | { ok: false; problems: string[] };

export type EdgeRoutes = {
  /** By lower-case hostname. */
  entries: ReadonlyMap<string, EdgeRouteEntry>;
};

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Addresses resolveOverride cannot name: fetched directly. */
const isDirectAddress = (hostname: string) => IPV4.test(hostname) || hostname.startsWith("[") || hostname === "localhost" || hostname.endsWith(".localhost");

/** The last two labels: every hostname of one zone shares them (a check, not the zone itself). */
const parentDomain = (hostname: string) => hostname.split(".").slice(-2).join(".");

const originUrl = z.string().transform((raw, ctx) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be an http(s) URL such as https://node1.example.com" });
    return z.NEVER;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") ctx.addIssue({ code: "custom", message: "must be an http or https URL" });
  if (url.username !== "" || url.password !== "") ctx.addIssue({ code: "custom", message: "must not carry credentials" });
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") ctx.addIssue({ code: "custom", message: "must be a scheme, a host and an optional port, without a path" });
  return url;
});

const entrySchema = z.strictObject({
  origins: z.array(originUrl, { error: "must be a list of origin URLs" }).min(1, { error: "must list at least one origin" }),
  failover: z.array(originUrl, { error: "must be a list of origin URLs" }).default([]),
  healthPath: z
    .string()
    .regex(/^\/[^\s#]*$/, { error: "must be a path starting with / (a query allowed)" })
    .max(500, { error: "must be at most 500 characters" })
    .default(DEFAULT_HEALTH_PATH),
  timeoutSeconds: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).default(DEFAULT_TIMEOUT_SECONDS),
});

/** The variable itself: a JSON object. Its messages never repeat the value. */
const routesObject = z.string().transform((raw, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    ctx.addIssue({ code: "custom", message: "must be JSON: an object mapping each public hostname to its origins" });
    return z.NEVER;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    ctx.addIssue({ code: "custom", message: "must be a JSON object mapping each public hostname to its origins" });
    return z.NEVER;
  }
  return parsed as Record<string, unknown>;
});

/** One entry, checked on its own: its problems name EDGE_ROUTES and its host. */
export function parseEntry(rawHost: string, value: unknown): EdgeRouteEntry {
  const host = rawHost.trim().toLowerCase();
  const problem = (what: string) => `${EDGE_ROUTES_VARIABLE}: ${rawHost}: ${what}`;
  if (!HOSTNAME.test(host)) return { ok: false, problems: [problem("the key must be a hostname, without scheme, port or path")] };
  const parsed = entrySchema.safeParse(value);
  if (!parsed.success) {
    return { ok: false, problems: [...new Set(parsed.error.issues.map((issue) => problem(`${issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""}${issue.message}`)))] };
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  const origins = (urls: URL[], pool: OriginPool): EdgeOrigin[] =>
    urls.map((url, index) => {
      const where = `${pool === "primary" ? "origins" : "failover"}.${index}`;
      if (seen.has(url.origin)) problems.push(problem(`${where}: listed more than once`));
      seen.add(url.origin);
      const direct = isDirectAddress(url.hostname);
      if (url.hostname === host) problems.push(problem(`${where}: is the public host itself (requests would loop)`));
      else if (!direct && parentDomain(url.hostname) !== parentDomain(host)) {
        problems.push(problem(`${where}: must be a hostname in the public host's zone (Cloudflare applies resolveOverride only within the zone), or an IP address`));
      }
      return { url: url.origin, pool, resolveOverride: !direct };
    });
  const route: EdgeRoute = {
    host,
    origins: origins(parsed.data.origins, "primary"),
    failover: origins(parsed.data.failover, "failover"),
    healthPath: parsed.data.healthPath,
    timeoutMs: parsed.data.timeoutSeconds * 1000,
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, route };
}

export const edgeRoutesConfig = defineCapability({
  name: "edge routing",
  variables: { EDGE_ROUTES: routesObject },
  build: (values): EdgeRoutes => {
    const entries = new Map<string, EdgeRouteEntry>();
    for (const [rawHost, value] of Object.entries(values.EDGE_ROUTES)) {
      const host = rawHost.trim().toLowerCase();
      const entry = parseEntry(rawHost, value);
      // Two keys differing only in case: neither is trusted.
      entries.set(host, entries.has(host) ? { ok: false, problems: [`${EDGE_ROUTES_VARIABLE}: ${rawHost}: listed more than once`] } : entry);
    }
    return { entries };
  },
  // Entries that cannot route: their hosts answer 503, every other host works.
  degradation: async (routes) => [...routes.entries.values()].flatMap((entry) => (entry.ok ? [] : entry.problems)),
});

/** Every origin of a route, primaries first. */
export const originsOf = (route: EdgeRoute): EdgeOrigin[] => [...route.origins, ...route.failover];
