// GET /api/metrics: the Prometheus exposition (docs/metrics.md). Mounted before the admin API's
// guard: its bearer is METRICS_TOKEN (this endpoint only) or ADMIN_TOKEN.
import { Hono } from "hono";
import { adminApiConfig } from "../auth/admin-token";
import { matchesAny } from "../auth/constant-time";
import { CapabilityNotConfigured, type Capability } from "../config/capability";
import type { AppEnv } from "../http/app-env";
import { unauthorized } from "../http/errors";
import { metricsConfig } from "./config";
import { EXPOSITION_CONTENT_TYPE, renderExposition } from "./exposition";
import { readSnapshot } from "./snapshot";
import { bearerToken } from "../auth/bearer";


/** The tokens that open the endpoint, or the problem of the one that cannot be used. */
async function scrapeTokens(env: Env): Promise<{ tokens: string[]; problems: CapabilityNotConfigured[] }> {
  const tokens: string[] = [];
  const problems: CapabilityNotConfigured[] = [];
  for (const capability of [adminApiConfig, metricsConfig]) {
    try {
      tokens.push((await capability.load(env)).token);
    } catch (error) {
      if (!(error instanceof CapabilityNotConfigured)) throw error;
      // An unset METRICS_TOKEN is no problem (ADMIN_TOKEN scrapes); a malformed one is.
      if (capability === metricsConfig && (env.METRICS_TOKEN ?? "") === "") continue;
      problems.push(error);
    }
  }
  return { tokens, problems };
}

export function metricsRoutes(capabilities: Readonly<Record<string, Capability<unknown>>>) {
  const routes = new Hono<AppEnv>();
  routes.get("/metrics", async (c) => {
    const { tokens, problems } = await scrapeTokens(c.env);
    const bearer = bearerToken(c.req.header("authorization"));
    if (bearer === null || !(await matchesAny(bearer, tokens))) {
      if (problems[0] && (tokens.length === 0 || problems[0].capability === metricsConfig.name)) throw problems[0];
      c.header("WWW-Authenticate", 'Bearer realm="metrics"');
      throw unauthorized("metrics bearer token mismatch");
    }
    const snapshot = await readSnapshot(c.env, capabilities);
    c.header("Cache-Control", "no-store");
    return c.body(renderExposition(snapshot), 200, { "Content-Type": EXPOSITION_CONTENT_TYPE });
  });
  return routes;
}
