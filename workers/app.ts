// The Worker's HTTP surface. Each flow mounts its own routes here.
import { OpenAPIHono } from "@hono/zod-openapi";
import { eventsRoutes } from "./admin/events-routes";
import { backupAdminRoutes } from "./backups/admin-routes";
import { chatSyncRoutes } from "./chat-sync/routes";
import { runnerRoutes } from "./backups/runner-routes";
import { queriesRoutes } from "./bot/queries-routes";
import { botRoutes } from "./bot/routes";
import { vectorizeRoutes } from "./admin/vectorize-routes";
import { requireAdmin } from "./auth/admin-bearer";
import { capabilities } from "./capabilities";
import type { AppEnv } from "./http/app-env";
import { healthRoutes } from "./http/health-routes";
import { handleError, requestLog } from "./http/request-log";
import { metricsRoutes } from "./metrics/routes";
import { statusPageRoutes } from "./metrics/status-page";
import { webhookRoutes } from "./intake/routes";
import { searchRoutes } from "./search/search-routes";
import { adminPages } from "./secrets/admin-page";
import { secretsRoutes } from "./secrets/routes";

export function createApp() {
  const app = new OpenAPIHono<AppEnv>();
  app.use("*", requestLog);
  app.onError(handleError);
  app.notFound((c) => c.json({ error: "not found", requestId: c.get("requestId") }, 404));

  app.route("/", healthRoutes(capabilities));
  app.route("/webhooks", webhookRoutes);
  app.route("/rocketchat", botRoutes);
  app.route("/backups", runnerRoutes);
  // Its own tokens (sync, admin, app): mounted before the admin-only /api/* guard.
  app.route("/api/secrets", secretsRoutes);
  // METRICS_TOKEN or ADMIN_TOKEN (workers/metrics/routes.ts).
  app.route("/api", metricsRoutes(capabilities));
  // The status page at /admin itself; the secrets pages and the token login below it.
  app.route("/admin", statusPageRoutes(capabilities));
  app.route("/admin", adminPages);

  app.openAPIRegistry.registerComponent("securitySchemes", "adminBearer", { type: "http", scheme: "bearer" });
  app.doc31("/api/openapi.json", {
    openapi: "3.1.0",
    info: { title: "edge-ops admin API", version: "1.0.0", description: "Bearer ADMIN_TOKEN on every operation." },
  });
  app.use("/api/*", async (c, next) => (c.req.path === "/api/openapi.json" ? next() : requireAdmin(c, next)));
  app.route("/api", eventsRoutes);
  app.route("/api", searchRoutes);
  app.route("/api", vectorizeRoutes);
  app.route("/api", queriesRoutes);
  app.route("/api", backupAdminRoutes);
  app.route("/api", chatSyncRoutes);
  return app;
}
