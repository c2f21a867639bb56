// The backup scheduler: one Durable Object (SQLite storage + alarms) owns every backup run as a
// persisted state machine,
//   scheduled → creating → running → reported → deleting → done | failed,
// one active run at a time. Each step is idempotent and the alarm resumes whatever step a run is
// in after a restart or a failed step. What must never happen: a backup server left running, or a
// failed backup nobody hears about. So: the server's name is backup-<runId> (names are unique per
// project: a retried creation cannot make a second one); a deadline alarm deletes the server and
// fails the run; every wake-up reaps servers labelled role=backup that belong to no active run or
// are past their `expires` label; quota and capacity errors fail the run with an alert instead of
// being retried; other Hetzner failures are retried with backoff, a limited number of times.
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { sha256Hex } from "../workers/auth/constant-time";
import { backupAlert } from "../workers/backups/alerts";
import { backupUserData, runToken } from "../workers/backups/cloud-config";
import { backupsConfig, type BackupsConfig } from "../workers/backups/config";
import { openDatabase } from "../workers/db/client";
import { backupRuns, type BackupKind, type BackupRunStatus } from "../workers/db/schema";
import { HetznerApiError, HetznerClient, labelSelector } from "../workers/hetzner/client";
import { logInfo } from "../workers/log";

export type StartRequest = { kind: BackupKind; trigger: "cron" | "manual"; baseUrl: string | null };
export type StartResult = { started: true; runId: string } | { started: false; activeRunId: string };
export type ReportResult = { accepted: boolean; status: BackupRunStatus };

const ACTIVE: readonly BackupRunStatus[] = ["scheduled", "creating", "running", "reported", "deleting"];
/** Creation attempts before a run fails (each after a growing pause, never in a tight loop). */
const MAX_CREATE_ATTEMPTS = 4;
/** Deletion is retried until it works; from this attempt on, every failure alerts. */
const DELETE_ALERT_ATTEMPTS = 3;
/** While a run waits for its report, the alarm still looks in now and then (reaping orphans). */
const IDLE_CHECK_MS = 10 * 60_000;
/** Age from which a backup server of no active run (and not yet expired) counts as an orphan. */
const ORPHAN_GRACE_MS = 5 * 60_000;
/** Extra lifetime in the server's `expires` label beyond the deadline, for the reaper. */
const EXPIRY_GRACE_MS = 10 * 60_000;

/** 10 s, 20 s, 40 s, ... capped at 10 minutes: Hetzner's hiccups pass, and nothing loops tightly. */
const backoffMs = (attempt: number) => Math.min(10 * 60_000, 10_000 * 2 ** Math.max(0, attempt - 1));

type Run = {
  id: string;
  kind: BackupKind;
  status: BackupRunStatus;
  trigger: string;
  token: string | null;
  token_hash: string;
  server_id: number | null;
  server_name: string;
  base_url: string | null;
  created_at: number;
  deadline: number;
  attempts: number;
  next_attempt_at: number | null;
  /** What the run ends as once its server is gone. */
  outcome: "done" | "failed" | null;
  error: string | null;
  report: string | null;
  server_created_at: number | null;
  server_deleted_at: number | null;
  reported_at: number | null;
  finished_at: number | null;
  hetzner_calls: number;
};

export const reportSchema = z
  .object({
    message_type: z.string().min(1).max(64),
    snapshot_id: z.string().max(128).nullable(),
    exit_code: z.number().int().optional(),
    partial: z.boolean().optional(),
    data_added: z.number().nonnegative().optional(),
  })
  .loose();
export type RunnerReport = z.infer<typeof reportSchema>;

export class BackupScheduler extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS runs (
      id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, trigger TEXT NOT NULL,
      token TEXT, token_hash TEXT NOT NULL, server_id INTEGER, server_name TEXT NOT NULL, base_url TEXT,
      created_at INTEGER NOT NULL, deadline INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER, outcome TEXT, error TEXT, report TEXT,
      server_created_at INTEGER, server_deleted_at INTEGER, reported_at INTEGER, finished_at INTEGER,
      hetzner_calls INTEGER NOT NULL DEFAULT 0)`);
  }

  private activeRun(): Run | null {
    const rows = this.sql.exec<Run>(`SELECT * FROM runs WHERE status IN (${ACTIVE.map(() => "?").join(",")}) ORDER BY created_at LIMIT 1`, ...ACTIVE).toArray();
    return rows[0] ?? null;
  }

  private run(id: string): Run | null {
    return this.sql.exec<Run>("SELECT * FROM runs WHERE id = ?", id).toArray()[0] ?? null;
  }

  private save(run: Run): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO runs (id, kind, status, trigger, token, token_hash, server_id, server_name, base_url, created_at, deadline, attempts,
        next_attempt_at, outcome, error, report, server_created_at, server_deleted_at, reported_at, finished_at, hetzner_calls)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      run.id, run.kind, run.status, run.trigger, run.token, run.token_hash, run.server_id, run.server_name, run.base_url, run.created_at,
      run.deadline, run.attempts, run.next_attempt_at, run.outcome, run.error, run.report, run.server_created_at, run.server_deleted_at,
      run.reported_at, run.finished_at, run.hetzner_calls,
    );
  }

  /** The run as the admin API and the runner's token check see it (D1). */
  private async mirror(run: Run): Promise<void> {
    const report = run.report ? (JSON.parse(run.report) as RunnerReport) : null;
    const row = {
      id: run.id,
      kind: run.kind,
      status: run.status,
      trigger: run.trigger,
      tokenHash: run.token_hash,
      serverId: run.server_id,
      serverName: run.server_name,
      baseUrl: run.base_url,
      createdAt: run.created_at,
      deadline: run.deadline,
      serverCreatedAt: run.server_created_at,
      serverDeletedAt: run.server_deleted_at,
      reportedAt: run.reported_at,
      finishedAt: run.finished_at,
      snapshotId: report?.snapshot_id ?? null,
      bytesAdded: typeof report?.data_added === "number" ? Math.round(report.data_added) : null,
      exitCode: report?.exit_code ?? null,
      partial: report ? report.partial === true || report.exit_code === 3 : null,
      report: report as Record<string, unknown> | null,
      error: run.error,
      hetznerCalls: run.hetzner_calls,
    };
    await openDatabase(this.env.DB).insert(backupRuns).values(row).onConflictDoUpdate({ target: backupRuns.id, set: row });
  }

  private async transition(run: Run, changes: Partial<Run>): Promise<Run> {
    const next = { ...run, ...changes };
    this.save(next);
    await this.mirror(next);
    return next;
  }

  private hetzner(config: BackupsConfig) {
    return new HetznerClient({ token: config.hetzner.token, endpoint: config.hetzner.endpoint, maxRateLimitWaitMs: 5000, pollIntervalMs: 1000 });
  }

  private async scheduleAlarm(): Promise<void> {
    const run = this.activeRun();
    const now = Date.now();
    // The run's next step when it waits (a backoff, or the report until the deadline), never
    // sooner: an alarm that finds nothing due still lists servers, and would loop on Hetzner.
    // The deadline matters until the runner reports; a deletion in backoff waits for its retry.
    const deadline = run && ["scheduled", "creating", "running"].includes(run.status) ? run.deadline : Number.POSITIVE_INFINITY;
    const at = run ? Math.min(deadline, run.next_attempt_at ?? (run.status === "running" ? now + IDLE_CHECK_MS : now)) : null;
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(at, now));
  }

  // ---- RPC

  async start(request: StartRequest): Promise<StartResult> {
    const active = this.activeRun();
    if (active) return { started: false, activeRunId: active.id };
    const config = await backupsConfig.load(this.env);
    const id = crypto.randomUUID();
    const token = runToken();
    const now = Date.now();
    let run: Run = {
      id,
      kind: request.kind,
      status: "scheduled",
      trigger: request.trigger,
      token,
      token_hash: await sha256Hex(token),
      server_id: null,
      server_name: `backup-${id}`,
      base_url: request.baseUrl,
      created_at: now,
      deadline: now + config.deadlineMs,
      attempts: 0,
      next_attempt_at: now,
      outcome: null,
      error: null,
      report: null,
      server_created_at: null,
      server_deleted_at: null,
      reported_at: null,
      finished_at: null,
      hetzner_calls: 0,
    };
    run = await this.transition(run, {});
    logInfo("backup run scheduled", { runId: id, kind: run.kind, trigger: run.trigger });
    await this.scheduleAlarm();
    return { started: true, runId: id };
  }

  /** The runner's report: recorded once; the server is then deleted and the run completed. */
  async report(runId: string, report: RunnerReport): Promise<ReportResult> {
    const run = this.run(runId);
    if (!run) throw new Error("unknown run");
    if (run.status !== "running" && run.status !== "creating") return { accepted: false, status: run.status };
    const failed = report.snapshot_id === null || (report.exit_code !== undefined && report.exit_code !== 0 && report.exit_code !== 3);
    const now = Date.now();
    const reported = await this.transition(run, {
      status: "reported",
      report: JSON.stringify(report),
      reported_at: now,
      outcome: failed ? "failed" : "done",
      error: failed ? `the runner reported failure (exit code ${report.exit_code ?? "unknown"})` : null,
      attempts: 0,
      next_attempt_at: now,
    });
    // Delete at once; the alarm finishes it if this does not.
    this.ctx.waitUntil(this.alarm().catch(() => undefined));
    return { accepted: true, status: reported.status };
  }

  /** The cron safety net: reap and advance, as an alarm would. */
  async sweep(): Promise<{ reaped: number }> {
    return { reaped: await this.wake() };
  }

  // ---- alarm

  override async alarm(): Promise<void> {
    await this.wake();
  }

  private async wake(): Promise<number> {
    let config: BackupsConfig;
    try {
      config = await backupsConfig.load(this.env);
    } catch (error) {
      await backupAlert(null, "backups are not configured, runs cannot proceed", { reason: error instanceof Error ? error.message : "unknown" });
      return 0;
    }
    const hetzner = this.hetzner(config);
    let run = this.activeRun();
    if (run) run = await this.advance(run, config, hetzner);
    const reaped = await this.reap(config, hetzner, this.activeRun());
    if (run) await this.transition(run, { hetzner_calls: run.hetzner_calls + hetzner.requests });
    await this.scheduleAlarm();
    return reaped;
  }

  private async fail(run: Run, config: BackupsConfig, error: string): Promise<Run> {
    await backupAlert(config, "backup run failed", { runId: run.id, kind: run.kind, error });
    return this.transition(run, { status: run.server_id !== null || run.status === "creating" ? "deleting" : "failed", outcome: "failed", error, attempts: 0, next_attempt_at: Date.now(), finished_at: run.server_id === null && run.status !== "creating" ? Date.now() : null });
  }

  private async advance(start: Run, config: BackupsConfig, hetzner: HetznerClient): Promise<Run> {
    let run = start;
    const now = Date.now();
    if (now >= run.deadline && ["scheduled", "creating", "running"].includes(run.status)) {
      run = await this.fail(run, config, "no report before the deadline");
    }
    if (run.next_attempt_at !== null && run.next_attempt_at > now && run.status !== "running") return run;

    if (run.status === "scheduled" || run.status === "creating") {
      if (!run.base_url) return this.fail(run, config, "PUBLIC_BASE_URL is not set, so the runner could not call back");
      run = await this.transition(run, { status: "creating", attempts: run.attempts + 1 });
      try {
        const serverId = await this.createServer(run, config, hetzner);
        return await this.transition(run, { status: "running", server_id: serverId, server_created_at: run.server_created_at ?? Date.now(), next_attempt_at: null, attempts: 0 });
      } catch (error) {
        const reason = error instanceof HetznerApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.message : "unknown";
        if ((error instanceof HetznerApiError && error.isPermanent) || run.attempts >= MAX_CREATE_ATTEMPTS) {
          return this.fail(run, config, `creating the server failed: ${reason}`);
        }
        logInfo("backup server creation will be retried", { runId: run.id, attempts: run.attempts, reason });
        return this.transition(run, { next_attempt_at: Date.now() + backoffMs(run.attempts) });
      }
    }

    if (run.status === "reported" || run.status === "deleting") {
      run = await this.transition(run, { status: "deleting", attempts: run.attempts + 1 });
      try {
        await this.deleteServers(run, hetzner);
        const finished = await this.transition(run, { status: run.outcome ?? "done", server_deleted_at: run.server_deleted_at ?? Date.now(), finished_at: Date.now(), token: null, next_attempt_at: null });
        if (finished.status === "failed" && start.status === "reported") {
          await backupAlert(config, "backup run failed", { runId: run.id, kind: run.kind, error: run.error });
        } else if (finished.report && (JSON.parse(finished.report) as RunnerReport).exit_code === 3) {
          await backupAlert(config, "backup was partial: some sources could not be read", { runId: run.id, kind: run.kind });
        }
        logInfo("backup run finished", { runId: run.id, status: finished.status });
        return finished;
      } catch (error) {
        const reason = error instanceof HetznerApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.message : "unknown";
        if (run.attempts >= DELETE_ALERT_ATTEMPTS) await backupAlert(config, "backup server could not be deleted yet", { runId: run.id, attempts: run.attempts, reason });
        return this.transition(run, { next_attempt_at: Date.now() + backoffMs(run.attempts) });
      }
    }
    return run;
  }

  /** Creates backup-<runId>, or finds it when an earlier attempt did; returns its id. */
  private async createServer(run: Run, config: BackupsConfig, hetzner: HetznerClient): Promise<number> {
    const [existing] = await hetzner.listServers({ name: run.server_name });
    if (existing) return existing.id;
    const image = config.server.image ?? (await this.newestRunnerImage(hetzner));
    if (!run.token) throw new Error("the run's token is gone");
    const url = `${run.base_url!.replace(/\/+$/, "")}/backups/runs/${run.id}`;
    try {
      const { server } = await hetzner.createServer({
        name: run.server_name,
        server_type: config.server.type,
        image,
        location: config.server.location,
        labels: {
          role: "backup",
          run: run.id,
          expires: String(Math.floor((run.deadline + EXPIRY_GRACE_MS) / 1000)),
          "managed-by": "edge-ops",
          // Staging and production may share a Hetzner project: each reaps only its own servers.
          "edge-ops-env": config.environment,
        },
        user_data: backupUserData({ url, token: run.token, deadline: run.deadline }),
        ...(config.server.networkId ? { networks: [config.server.networkId] } : {}),
        ...(config.server.sshKey ? { ssh_keys: [config.server.sshKey] } : {}),
        start_after_create: true,
      });
      return server.id;
    } catch (error) {
      // Created by an attempt whose answer was lost: names are unique, so it is ours.
      if (error instanceof HetznerApiError && error.code === "uniqueness_error") {
        const [found] = await hetzner.listServers({ name: run.server_name });
        if (found) return found.id;
      }
      throw error;
    }
  }

  /**
   * The newest runner snapshot whose status is `available`: one still `creating` (a backup-image
   * run taking it right now) holds an incomplete disk and cannot boot a server yet.
   */
  private async newestRunnerImage(hetzner: HetznerClient): Promise<number> {
    const images = await hetzner.listImages({ type: "snapshot", labelSelector: labelSelector({ role: "backup-runner" }), sort: "created:desc" });
    const available = images.filter((image) => image.status === "available");
    const newest = available.sort((a, b) => Date.parse(b.created) - Date.parse(a.created))[0];
    if (!newest) {
      const creating = images.filter((image) => image.status === "creating").length;
      const detail = creating > 0 ? `no snapshot labelled role=backup-runner is available yet (${creating} still being created; wait for it, or set BACKUP_IMAGE)` : "no snapshot labelled role=backup-runner (build one, or set BACKUP_IMAGE)";
      throw new HetznerApiError(404, "invalid_input", detail);
    }
    return newest.id;
  }

  /**
   * Deletes the run's server, found by id and by name (an attempt may have created it unseen),
   * and waits until Hetzner says it is gone: only then does the run end.
   */
  private async deleteServers(run: Run, hetzner: HetznerClient): Promise<void> {
    const ids = new Set<number>();
    if (run.server_id !== null) ids.add(run.server_id);
    for (const server of await hetzner.listServers({ name: run.server_name })) ids.add(server.id);
    const actions: number[] = [];
    for (const id of ids) {
      const action = await hetzner.deleteServer(id);
      if (action) actions.push(action.id);
    }
    await hetzner.waitForActions(actions, 120_000);
  }

  /** Deletes backup servers of no active run, or past their expiry; alerts for each found. */
  private async reap(config: BackupsConfig, hetzner: HetznerClient, active: Run | null): Promise<number> {
    let reaped = 0;
    try {
      const servers = await hetzner.listServers({ labelSelector: labelSelector({ role: "backup", "edge-ops-env": config.environment }) });
      const now = Date.now();
      for (const server of servers) {
        const expires = Number(server.labels.expires ?? "0") * 1000;
        const ours = active !== null && server.labels.run === active.id && server.name === active.server_name;
        if (expires > now) {
          if (ours) continue;
          // Not past its expiry and of no active run: reaped once it is a few minutes old, so a
          // server another scheduler sharing the project is just creating is never taken.
          if (now - Date.parse(server.created) < ORPHAN_GRACE_MS) continue;
        }
        // A server whose run is finishing right now is deleted by that run.
        if (ours && active.status === "deleting") continue;
        await hetzner.deleteServer(server.id);
        reaped += 1;
        await backupAlert(config, "orphan backup server deleted", { serverId: server.id, name: server.name, run: server.labels.run ?? null });
      }
    } catch (error) {
      await backupAlert(config, "reaping backup servers failed", { reason: error instanceof HetznerApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.name : "unknown" });
    }
    return reaped;
  }
}

/** The one scheduler of this Worker. */
export const backupScheduler = (env: Env) => env.BACKUP_SCHEDULER.get(env.BACKUP_SCHEDULER.idFromName("backup-scheduler"));

