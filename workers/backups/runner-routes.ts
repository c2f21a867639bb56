// What the backup runner calls, with its run's token (Authorization: Bearer), valid for that run
// only (/work/backup-contract.md §3, §4):
//   GET  /backups/runs/:id/config  version 2: the restic repository and credentials, the targets
//                                  and the ssh key, retention. Only from the run's own server
//                                  (CF-Connecting-IP), only while the run waits for its report,
//                                  at most MAX_CONFIG_ANSWERS times; anything else 403 + alert.
//   POST /backups/runs/:id/report  the runner's report; whatever its shape, it is the run's last
//                                  word (an unreadable one fails the run); a second changes nothing
// The BackupScheduler Durable Object decides both (it owns the run: token, server, answers).
// A wrong or missing token is a 401 without an alert: anyone can send one, and the room would
// fill with noise; a request with the right token that is refused is worth waking someone for.
import { Hono, type Context } from "hono";
import { backupScheduler, type ConfigAccess } from "../../durable-objects/backup-scheduler";
import { sha256Hex } from "../auth/constant-time";
import type { AppEnv } from "../http/app-env";
import { AppError, unauthorized, unavailable } from "../http/errors";
import { backupsConfig } from "./config";
import { temporaryR2Credentials } from "./r2-credentials";
import { readReport } from "./report";

export const runnerRoutes = new Hono<AppEnv>();

/** An upstream failure is a 503 the runner retries, named by what failed (never a secret). */
async function withUpstream<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw unavailable(`${what} failed: ${error instanceof Error ? error.message : "unknown"}`);
  }
}

/** SHA-256 of the bearer token; the Durable Object compares it with the run's. */
async function tokenHashOf(c: Context<AppEnv>): Promise<string> {
  const token = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  if (!token) throw unauthorized("backup run: no token");
  return sha256Hex(token);
}

function refused(access: Extract<ConfigAccess, { allowed: false }>): AppError {
  return access.status === 401 ? unauthorized("backup run: wrong token") : new AppError(403, "forbidden", `backup config refused: ${access.reason}`);
}

runnerRoutes.get("/runs/:id/config", async (c) => {
  const config = await backupsConfig.load(c.env);
  const runId = c.req.param("id");
  const tokenHash = await tokenHashOf(c);
  // Set by Cloudflare's edge (a client cannot choose it there); `wrangler dev` keeps one a client
  // sends and otherwise sets the connection's address.
  const address = c.req.header("cf-connecting-ip") ?? null;
  const scheduler = backupScheduler(c.env);
  const check = await scheduler.configAccess(runId, tokenHash, address, false);
  if (!check.allowed) throw refused(check);
  // Short-lived, bucket- and prefix-scoped credentials when Cloudflare's API can issue them.
  const credentials = config.cloudflare
    ? await withUpstream("issuing R2 credentials", () =>
        temporaryR2Credentials({
          ...config.cloudflare!,
          parentAccessKeyId: config.restic.accessKeyId,
          repository: config.restic.repository,
          ttlSeconds: (check.deadline - Date.now()) / 1000,
        }),
      )
    : { AWS_ACCESS_KEY_ID: config.restic.accessKeyId, AWS_SECRET_ACCESS_KEY: config.restic.secretAccessKey };
  // Counted only now that the answer exists: a 503 above is retried without using one up.
  const answer = await scheduler.configAccess(runId, tokenHash, address, true);
  if (!answer.allowed) throw refused(answer);
  c.header("Cache-Control", "no-store");
  return c.json({
    version: 2,
    runId: answer.runId,
    kind: answer.kind,
    host: config.host,
    repository: config.restic.repository,
    password: config.restic.password,
    env: credentials,
    targets: config.targets,
    ssh: config.ssh,
    retention: config.retention,
    deadline: Math.floor(answer.deadline / 1000),
  });
});

runnerRoutes.post("/runs/:id/report", async (c) => {
  // Needs nothing of the backups configuration: a report always reaches the run.
  const tokenHash = await tokenHashOf(c);
  const delivery = await readReport(c.req.raw);
  const result = await backupScheduler(c.env).report(c.req.param("id"), tokenHash, delivery);
  if ("unauthorized" in result) throw unauthorized("backup run: wrong token");
  return c.json(result, 200);
});
