// What the backup runner calls, with its run's token (Authorization: Bearer), valid for that run
// only and only until it ends:
//   GET  /backups/runs/:id/config  the restic repository and credentials, targets, retention
//   POST /backups/runs/:id/report  restic's --json summary; a second report changes nothing
import { eq } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { backupScheduler, reportSchema } from "../../durable-objects/backup-scheduler";
import { constantTimeEquals, sha256Hex } from "../auth/constant-time";
import { openDatabase } from "../db/client";
import { backupRuns } from "../db/schema";
import { withStorage } from "../db/with-storage";
import type { AppEnv } from "../http/app-env";
import { badRequest, unauthorized, unavailable } from "../http/errors";
import { parseJsonObject, readRawBody } from "../http/read-json-body";
import { issueReason } from "../http/validation";
import { backupsConfig } from "./config";
import { temporaryR2Credentials } from "./r2-credentials";

export const runnerRoutes = new Hono<AppEnv>();

/** An upstream failure is a 503 the runner retries, named by what failed (never a secret). */
async function withUpstream<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable(`${what} failed: ${error instanceof Error ? error.message : "unknown"}`);
  }
}

const LIVE = new Set(["creating", "running"]);

/** The run, when the request carries its token and the run has not ended. */
async function authorizedRun(c: Context<AppEnv>) {
  const token = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  if (!token) throw unauthorized("backup run: no token");
  const [run] = await withStorage("reading the run", () => openDatabase(c.env.DB).select().from(backupRuns).where(eq(backupRuns.id, c.req.param("id") ?? "")));
  // Compared in constant time whether or not the run exists.
  const matches = await constantTimeEquals(await sha256Hex(token), run?.tokenHash ?? "0".repeat(64));
  if (!run || !matches) throw unauthorized("backup run: wrong token");
  return run;
}

runnerRoutes.get("/runs/:id/config", async (c) => {
  const config = await backupsConfig.load(c.env);
  const run = await authorizedRun(c);
  if (!LIVE.has(run.status) || Date.now() > run.deadline) throw unauthorized("backup run: ended");
  // Short-lived, bucket- and prefix-scoped credentials when Cloudflare's API can issue them.
  const credentials = config.cloudflare
    ? await withUpstream("issuing R2 credentials", () =>
        temporaryR2Credentials({
          ...config.cloudflare!,
          parentAccessKeyId: config.restic.accessKeyId,
          repository: config.restic.repository,
          ttlSeconds: (run.deadline - Date.now()) / 1000,
        }),
      )
    : { AWS_ACCESS_KEY_ID: config.restic.accessKeyId, AWS_SECRET_ACCESS_KEY: config.restic.secretAccessKey };
  c.header("Cache-Control", "no-store");
  return c.json({
    runId: run.id,
    kind: run.kind,
    host: config.host,
    repository: config.restic.repository,
    password: config.restic.password,
    env: credentials,
    targets: config.targets,
    retention: config.retention,
    deadline: Math.floor(run.deadline / 1000),
  });
});

runnerRoutes.post("/runs/:id/report", async (c) => {
  await backupsConfig.load(c.env);
  const run = await authorizedRun(c);
  const parsed = reportSchema.safeParse(parseJsonObject((await readRawBody(c.req.raw)).text));
  if (!parsed.success) throw badRequest(issueReason(parsed.error, "body"));
  if (!LIVE.has(run.status)) return c.json({ accepted: false, status: run.status }, 200);
  return c.json(await backupScheduler(c.env).report(run.id, parsed.data), 200);
});
