// GET /healthz: does each binding answer, and is the configuration complete? Names problems,
// never values.
import { Hono } from "hono";
import { ConfigError, loadConfig } from "../config";
import type { AppEnv } from "./app-env";

type Check = { ok: boolean; detail?: string };

async function checkDatabase(db: D1Database): Promise<Check> {
  const started = Date.now();
  try {
    await db.prepare("SELECT 1").first();
    return { ok: true, detail: `${Date.now() - started} ms` };
  } catch {
    return { ok: false, detail: "query failed" };
  }
}

function checkConfig(env: Env): Check {
  try {
    loadConfig(env);
    return { ok: true };
  } catch (error) {
    return { ok: false, detail: error instanceof ConfigError ? error.problems.join("; ") : "unreadable" };
  }
}

export const healthRoutes = new Hono<AppEnv>();

healthRoutes.get("/healthz", async (c) => {
  const checks: Record<string, Check> = {
    config: checkConfig(c.env),
    db: await checkDatabase(c.env.DB),
    // A producer binding cannot be probed without sending a message; report that it is bound.
    vectorizeQueue: typeof c.env.VECTORIZE_QUEUE?.send === "function" ? { ok: true } : { ok: false, detail: "not bound" },
  };
  const ok = Object.values(checks).every((check) => check.ok);
  return c.json({ status: ok ? "ok" : "degraded", checks }, ok ? 200 : 503);
});
