// Admin API of the backups: start a run by hand, list runs, read one.
import { createRoute, z } from "@hono/zod-openapi";
import { desc, eq } from "drizzle-orm";
import { backupScheduler } from "../../durable-objects/backup-scheduler";
import { adminErrors, adminRouter, adminSecurity, errorSchema, json } from "../admin/openapi";
import { openDatabase } from "../db/client";
import { BACKUP_KINDS, BACKUP_RUN_STATUSES, backupRuns } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { AppError } from "../http/errors";
import { backupsConfig } from "./config";

export const backupAdminRoutes = adminRouter();

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const partSchema = z
  .object({
    name: z.string().openapi({ description: "The target's name (BACKUP_TARGETS), or `targets` when there were none" }),
    kind: z.string().openapi({ description: "mongodb, postgres, s3, path, or none" }),
    ok: z.boolean(),
    reason: z.string().nullable().openapi({ description: "Why it failed, one line" }),
    bytes: z.number(),
    seconds: z.number(),
  })
  .openapi("BackupRunPart");

const runSchema = z
  .object({
    id: z.string(),
    kind: z.enum(BACKUP_KINDS),
    status: z.enum(BACKUP_RUN_STATUSES).openapi({
      description: "done: every part, forget and the restore test succeeded and the server is gone; partial: a snapshot exists but something failed (failedParts); failed: nothing usable was saved",
    }),
    trigger: z.string(),
    serverName: z.string(),
    createdAt: z.iso.datetime(),
    deadline: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
    snapshotId: z.string().nullable(),
    bytesAdded: z.number().nullable(),
    exitCode: z.number().nullable().openapi({ description: "restic's exit code (3: some files could not be read)" }),
    partial: z.boolean().nullable().openapi({ description: "true when the run ended partial" }),
    parts: z.array(partSchema).nullable().openapi({ description: "Every part as the runner reported it; null before the report" }),
    failedParts: z.array(z.string()).nullable().openapi({ description: 'What failed, by name (e.g. "mongodb", "restore-test check"); [] when nothing did' }),
    serverSeconds: z.number().nullable().openapi({ description: "How long the backup server existed" }),
    hetznerCalls: z.number(),
    error: z.string().nullable(),
    report: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("BackupRun");

function present(row: typeof backupRuns.$inferSelect) {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    trigger: row.trigger,
    serverName: row.serverName,
    createdAt: iso(row.createdAt)!,
    deadline: iso(row.deadline)!,
    finishedAt: iso(row.finishedAt),
    snapshotId: row.snapshotId,
    bytesAdded: row.bytesAdded,
    exitCode: row.exitCode,
    partial: row.partial,
    parts: row.parts,
    failedParts: row.failedParts,
    serverSeconds: row.serverCreatedAt !== null && row.serverDeletedAt !== null ? Math.round((row.serverDeletedAt - row.serverCreatedAt) / 1000) : null,
    hetznerCalls: row.hetznerCalls,
    error: row.error,
    report: row.report,
  };
}

backupAdminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/backups/run",
    summary: "Start a backup (or restore-test) run now; one active run at a time",
    security: adminSecurity,
    request: { body: { content: { "application/json": { schema: z.object({ kind: z.enum(BACKUP_KINDS).default("backup") }).strict().openapi("BackupRunRequest") } }, required: true } },
    responses: {
      202: json(z.object({ id: z.string() }).openapi("BackupRunStarted"), "Scheduled"),
      409: json(errorSchema.extend({ activeRunId: z.string() }), "Another run is active"),
      ...adminErrors,
    },
  }),
  async (c) => {
    const config = await backupsConfig.load(c.env);
    const { kind } = c.req.valid("json");
    // The runner calls back here: PUBLIC_BASE_URL, else this request's origin.
    const result = await backupScheduler(c.env).start({ kind, trigger: "manual", baseUrl: config.publicBaseUrl ?? new URL(c.req.url).origin });
    if (!result.started) return c.json({ error: "another backup run is active", activeRunId: result.activeRunId }, 409);
    return c.json({ id: result.runId }, 202);
  },
);

backupAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/backups/runs",
    summary: "Backup runs, newest first",
    security: adminSecurity,
    request: { query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }) },
    responses: { 200: json(z.object({ items: z.array(runSchema) }).openapi("BackupRunList"), "Runs"), ...adminErrors },
  }),
  async (c) => {
    const rows = await withStorage("listing backup runs", () =>
      openDatabase(c.env.DB).select().from(backupRuns).orderBy(desc(backupRuns.createdAt), desc(backupRuns.id)).limit(c.req.valid("query").limit),
    );
    return c.json({ items: rows.map(present) }, 200);
  },
);

backupAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/backups/runs/{id}",
    summary: "One backup run",
    security: adminSecurity,
    request: { params: z.object({ id: z.string().min(1).max(64) }) },
    responses: { 200: json(runSchema, "The run"), 404: json(errorSchema, "No such run"), ...adminErrors },
  }),
  async (c) => {
    const [row] = await withStorage("reading the backup run", () => openDatabase(c.env.DB).select().from(backupRuns).where(eq(backupRuns.id, c.req.valid("param").id)));
    if (!row) throw new AppError(404, "no such backup run");
    return c.json(present(row), 200);
  },
);
