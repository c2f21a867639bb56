// GET /healthz: does storage answer, and which capabilities are configured (or configured but
// degraded, e.g. a language model that stopped answering)? Answers 200 whenever storage
// answers: an unconfigured or degraded capability is for its variable to fix, not an outage of
// the Worker. Names the variables, never their values.
import { Hono } from "hono";
import type { Capability, CapabilityStatus } from "../config/capability";
import type { AppEnv } from "./app-env";

type Check = { ok: boolean; detail?: string };

async function checkDatabase(db: D1Database | undefined): Promise<Check> {
  if (!db) return { ok: false, detail: "not bound" };
  const started = Date.now();
  try {
    await db.prepare("SELECT 1").first();
    return { ok: true, detail: `${Date.now() - started} ms` };
  } catch {
    return { ok: false, detail: "query failed" };
  }
}

/** A producer binding cannot be probed without sending a message; report that it is bound. */
const checkProducer = (queue: Queue | undefined): Check => (typeof queue?.send === "function" ? { ok: true } : { ok: false, detail: "not bound" });

/** The /healthz route over the capabilities the entry registers (workers/capabilities.ts). */
export function healthRoutes(capabilities: Readonly<Record<string, Capability<unknown>>>) {
  const routes = new Hono<AppEnv>();
  routes.get("/healthz", async (c) => {
    const checks: Record<string, Check> = {
      db: await checkDatabase(c.env.DB),
      intakeQueue: checkProducer(c.env.INTAKE_QUEUE),
      vectorizeQueue: checkProducer(c.env.VECTORIZE_QUEUE),
    };
    const statuses: Record<string, CapabilityStatus> = {};
    for (const [name, capability] of Object.entries(capabilities)) statuses[name] = await capability.status(c.env);
    const ok = Object.values(checks).every((check) => check.ok);
    return c.json({ status: ok ? "ok" : "degraded", checks, capabilities: statuses }, ok ? 200 : 503);
  });
  return routes;
}
