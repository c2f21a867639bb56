// The backup scheduler: one Durable Object (SQLite storage + alarms) owns every backup run as a
// persisted state machine,
//   scheduled → creating → running → reported → deleting → done | partial | failed,
// one active run at a time. Each step is idempotent and the alarm resumes whatever step a run is
// in after a restart or a failed step. What must never happen: a backup server left running, a
// failed backup nobody hears about, or a report lost. So: the server's name is backup-<runId>
// (names are unique per project: a retried creation cannot make a second one); a deadline alarm
// deletes the server and fails the run; every wake-up reaps servers labelled role=backup that
// are past their `expires` label (any environment's) or belong to no active run of this one;
// quota and capacity errors fail the run with an alert instead of being retried; other Hetzner
// failures are retried with backoff, a limited number of times. Deleting and reaping need only
// the Hetzner variables (backupServersConfig), so no other broken variable can leave a server.
//
// The run's state has one owner, this object: the runner's token, its server's addresses and the
// config answers it got are checked here (RPC), D1 only mirrors the run for the admin API.
//
// Atomic state. An alarm reads a run, then awaits Hetzner; during that outgoing fetch the input
// gate lets other calls in (the runner's report), so a step must never save its older copy over
// what arrived meanwhile. A change of state is a compare-and-set on the run's `version`
// (`commit`), writing only the columns it changes: a step whose run changed under it throws
// StaleRun, and `wake` reloads the run and redoes the step from what is stored (each step is
// idempotent, so redoing it is safe). Counters (Hetzner calls, config answers, a step's attempts)
// change in place, so they neither undo a change of state nor conflict with one. Reads and writes
// with no await in between (the report, the config checks) cannot interleave with anything.
// Compare-and-set rather than serializing everything (blockConcurrencyWhile, a queue): a step may
// wait minutes on Hetzner's actions, and the runner's report must be taken at once, not after it.
// Wake-ups are also single-flight (a report's wake-up joins the one under way, which then goes
// round once more), so two passes never delete the same server at once.
import { DurableObject } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { constantTimeEquals, sha256Hex } from "../workers/auth/constant-time";
import { backupAlert } from "../workers/backups/alerts";
import { isServerAddress } from "../workers/backups/client-address";
import { backupUserData, runToken } from "../workers/backups/cloud-config";
import { backupServersConfig, backupsConfig, type BackupServersConfig, type BackupsConfig } from "../workers/backups/config";
import { judgeReport, type ReportDelivery } from "../workers/backups/report";
import { CapabilityNotConfigured } from "../workers/config/capability";
import { openDatabase } from "../workers/db/client";
import { backupRuns, type BackupKind, type BackupRunPart, type BackupRunStatus } from "../workers/db/schema";
import { BACKUP_RUNNER_ROLE, HetznerApiError, HetznerClient, labelSelector, type HetznerServer } from "../workers/hetzner/client";
import { logError, logInfo } from "../workers/log";

export type StartRequest = { kind: BackupKind; trigger: "cron" | "manual"; baseUrl: string | null };
export type StartResult = { started: true; runId: string } | { started: false; activeRunId: string };
export type ReportResult = { accepted: true; status: BackupRunStatus; readable: boolean } | { accepted: false; status: BackupRunStatus } | { accepted: false; unauthorized: true };
export type ConfigAccess = { allowed: true; runId: string; kind: BackupKind; deadline: number } | { allowed: false; status: 401 | 403; reason: string };

const ACTIVE: readonly BackupRunStatus[] = ["scheduled", "creating", "running", "reported", "deleting"];
const AWAITING_REPORT: readonly BackupRunStatus[] = ["scheduled", "creating", "running"];
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
/** Config answers a run gets: the runner needs one; a few allow for a lost answer. */
export const MAX_CONFIG_ANSWERS = 3;
/** Refused config requests alerted in the room per run; later ones only in the log. */
const MAX_REFUSAL_ROOM_ALERTS = 3;
/** Times a wake-up redoes a step whose run changed under it before leaving it to the next one. */
const MAX_STALE_RETRIES = 5;

/** 10 s, 20 s, 40 s, ... capped at 10 minutes: Hetzner's hiccups pass, and nothing loops tightly. */
const backoffMs = (attempt: number) => Math.min(10 * 60_000, 10_000 * 2 ** Math.max(0, attempt - 1));

type Outcome = "done" | "partial" | "failed";

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
  outcome: Outcome | null;
  error: string | null;
  /** The report as stored (JSON): the runner's version-2 report, or a note on an unreadable one. */
  report: string | null;
  server_created_at: number | null;
  server_deleted_at: number | null;
  reported_at: number | null;
  finished_at: number | null;
  hetzner_calls: number;
  /** Compare-and-set counter: every write increments it. */
  version: number;
  /** The server's public IPv4 and IPv6 /64 as Hetzner reported them at creation. */
  server_ipv4: string | null;
  server_ipv6: string | null;
  config_answers: number;
  config_refusals: number;
  /** JSON: BackupRunPart[] and string[]. */
  parts: string | null;
  failed_parts: string | null;
  snapshot_id: string | null;
  bytes_added: number | null;
  exit_code: number | null;
};

type CounterColumn = "hetzner_calls" | "config_answers" | "config_refusals";
/** What a change of state may set: not the id, the version or the counters. */
type RunChanges = Partial<Omit<Run, "id" | "version" | CounterColumn>>;

const COLUMNS = [
  "id", "kind", "status", "trigger", "token", "token_hash", "server_id", "server_name", "base_url", "created_at", "deadline", "attempts",
  "next_attempt_at", "outcome", "error", "report", "server_created_at", "server_deleted_at", "reported_at", "finished_at", "hetzner_calls",
  "version", "server_ipv4", "server_ipv6", "config_answers", "config_refusals", "parts", "failed_parts", "snapshot_id", "bytes_added", "exit_code",
] as const satisfies readonly (keyof Run)[];

/** Columns added after the first version of the table (existing objects get them on start). */
const ADDED_COLUMNS = [
  "version INTEGER NOT NULL DEFAULT 0",
  "server_ipv4 TEXT",
  "server_ipv6 TEXT",
  "config_answers INTEGER NOT NULL DEFAULT 0",
  "config_refusals INTEGER NOT NULL DEFAULT 0",
  "parts TEXT",
  "failed_parts TEXT",
  "snapshot_id TEXT",
  "bytes_added INTEGER",
  "exit_code INTEGER",
];

/** The run changed since this copy was read: reload it and redo the step. */
class StaleRun extends Error {
  constructor(readonly runId: string) {
    super(`backup run ${runId} changed meanwhile`);
    this.name = "StaleRun";
  }
}

type FullConfig = { ok: true; config: BackupsConfig } | { ok: false; problems: string[] };

const hetznerReason = (error: unknown) => (error instanceof HetznerApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.message : "unknown");

/** The public addresses Hetzner gave the server: its IPv4, and its IPv6 network ("…::/64"). */
function publicAddresses(server: HetznerServer): { ipv4: string | null; ipv6: string | null } {
  const net = server.public_net as { ipv4?: { ip?: unknown } | null; ipv6?: { ip?: unknown } | null } | null | undefined;
  const ip = (value: unknown) => (typeof value === "string" && value.length > 0 && value.length <= 64 ? value : null);
  return { ipv4: ip(net?.ipv4?.ip), ipv6: ip(net?.ipv6?.ip) };
}

export class BackupScheduler extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private waking: Promise<number> | null = null;
  private wakeAgain = false;

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
    const existing = new Set(this.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('runs')").toArray().map((column) => column.name));
    for (const column of ADDED_COLUMNS) {
      if (!existing.has(column.split(" ")[0]!)) this.sql.exec(`ALTER TABLE runs ADD COLUMN ${column}`);
    }
    // role=backup servers with neither an expires label nor this environment's: alerted once each.
    this.sql.exec("CREATE TABLE IF NOT EXISTS unclaimed_servers (server_id INTEGER PRIMARY KEY, alerted_at INTEGER NOT NULL)");
  }

  private activeRun(): Run | null {
    const rows = this.sql.exec<Run>(`SELECT * FROM runs WHERE status IN (${ACTIVE.map(() => "?").join(",")}) ORDER BY created_at LIMIT 1`, ...ACTIVE).toArray();
    return rows[0] ?? null;
  }

  private run(id: string): Run | null {
    return this.sql.exec<Run>("SELECT * FROM runs WHERE id = ?", id).toArray()[0] ?? null;
  }

  private insert(run: Run): void {
    this.sql.exec(`INSERT INTO runs (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`, ...COLUMNS.map((column) => run[column]));
  }

  /**
   * Saves `changes` only if the stored run is still the version `run` was read at (compare-and-
   * set), and only those columns; returns the run as stored now. The counters (Hetzner calls,
   * config answers and refusals) change in place through `count` and leave the version alone:
   * they never conflict with a step.
   */
  private commit(run: Run, changes: RunChanges): Run {
    const columns = COLUMNS.filter((column) => column in changes) as (keyof typeof changes)[];
    const cursor = this.sql.exec(
      `UPDATE runs SET ${[...columns.map((column) => `${column} = ?`), "version = version + 1"].join(", ")} WHERE id = ? AND version = ?`,
      ...columns.map((column) => changes[column] ?? null),
      run.id,
      run.version,
    );
    cursor.toArray();
    if (cursor.rowsWritten !== 1) throw new StaleRun(run.id);
    return this.run(run.id)!;
  }

  /** Adds to a counter in place: never a write of an older copy of the run. */
  private count(runId: string, column: CounterColumn, by = 1): Run | null {
    this.sql.exec(`UPDATE runs SET ${column} = ${column} + ? WHERE id = ?`, by, runId);
    return this.run(runId);
  }

  /**
   * One more attempt at the step the run is in (creating, deleting), if it is still the version
   * read. The version stays: two passes repeating a step then conflict only where one of them
   * finishes it, and the other stops there instead of both starting over and over.
   */
  private attempt(run: Run): Run {
    const cursor = this.sql.exec("UPDATE runs SET attempts = attempts + 1 WHERE id = ? AND version = ?", run.id, run.version);
    cursor.toArray();
    if (cursor.rowsWritten !== 1) throw new StaleRun(run.id);
    return this.run(run.id)!;
  }

  private async transition(run: Run, changes: RunChanges): Promise<Run> {
    const next = this.commit(run, changes);
    await this.mirror(next);
    return next;
  }

  /**
   * The run as the admin API sees it (D1). A mirror write never replaces a newer version (two
   * writes may reach D1 out of order; the same version may carry newer counters); one that fails
   * is caught up by the run's next write.
   */
  private async mirror(run: Run): Promise<void> {
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
      snapshotId: run.snapshot_id,
      bytesAdded: run.bytes_added,
      exitCode: run.exit_code,
      partial: run.outcome === null ? null : run.outcome === "partial",
      report: run.report ? (JSON.parse(run.report) as Record<string, unknown>) : null,
      parts: run.parts ? (JSON.parse(run.parts) as BackupRunPart[]) : null,
      failedParts: run.failed_parts ? (JSON.parse(run.failed_parts) as string[]) : null,
      error: run.error,
      hetznerCalls: run.hetzner_calls,
      version: run.version,
    };
    try {
      await openDatabase(this.env.DB)
        .insert(backupRuns)
        .values(row)
        .onConflictDoUpdate({ target: backupRuns.id, set: row, setWhere: sql`${backupRuns.version} <= excluded.version` });
    } catch (error) {
      // The driver's message may quote bound values: its name only.
      logError("backup run could not be mirrored to D1", { runId: run.id, version: run.version, reason: error instanceof Error ? error.name : "unknown" });
    }
  }

  private hetzner(config: BackupServersConfig) {
    return new HetznerClient({ token: config.hetzner.token, endpoint: config.hetzner.endpoint, maxRateLimitWaitMs: 5000, pollIntervalMs: 1000 });
  }

  private async scheduleAlarm(): Promise<void> {
    const run = this.activeRun();
    const now = Date.now();
    // The run's next step when it waits (a backoff, or the report until the deadline), never
    // sooner: an alarm that finds nothing due still lists servers, and would loop on Hetzner.
    // The deadline matters until the runner reports; a deletion in backoff waits for its retry.
    const deadline = run && AWAITING_REPORT.includes(run.status) ? run.deadline : Number.POSITIVE_INFINITY;
    const at = run ? Math.min(deadline, run.next_attempt_at ?? (run.status === "running" ? now + IDLE_CHECK_MS : now)) : null;
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(at, now));
  }

  /** Whether `tokenHash` is the run's, compared in constant time whether or not the run exists. */
  private async tokenMatches(runId: string, tokenHash: string): Promise<boolean> {
    const stored = this.run(runId)?.token_hash;
    const matches = await constantTimeEquals(tokenHash, stored ?? "0".repeat(64));
    return stored !== undefined && matches;
  }

  // ---- RPC

  async start(request: StartRequest): Promise<StartResult> {
    const config = await backupsConfig.load(this.env);
    const id = crypto.randomUUID();
    const token = runToken();
    const tokenHash = await sha256Hex(token);
    // Checked after the awaits, right before the insert: one active run at a time.
    const active = this.activeRun();
    if (active) return { started: false, activeRunId: active.id };
    const now = Date.now();
    const run: Run = {
      id,
      kind: request.kind,
      status: "scheduled",
      trigger: request.trigger,
      token,
      token_hash: tokenHash,
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
      version: 0,
      server_ipv4: null,
      server_ipv6: null,
      config_answers: 0,
      config_refusals: 0,
      parts: null,
      failed_parts: null,
      snapshot_id: null,
      bytes_added: null,
      exit_code: null,
    };
    this.insert(run);
    await this.mirror(run);
    logInfo("backup run scheduled", { runId: id, kind: run.kind, trigger: run.trigger });
    await this.scheduleAlarm();
    return { started: true, runId: id };
  }

  /**
   * The runner's report: recorded once, whatever its shape (an unreadable one ends the run
   * failed); the server is then deleted and the run completed. Read and written with no await in
   * between, so nothing can come in between.
   */
  async report(runId: string, tokenHash: string, delivery: ReportDelivery): Promise<ReportResult> {
    if (!(await this.tokenMatches(runId, tokenHash))) return { accepted: false, unauthorized: true };
    const run = this.run(runId)!;
    if (run.status !== "running" && run.status !== "creating") return { accepted: false, status: run.status };
    const verdict = judgeReport(delivery, run.kind);
    const now = Date.now();
    const reported = this.commit(run, {
      status: "reported",
      report: JSON.stringify(verdict.stored),
      reported_at: now,
      outcome: verdict.status,
      error: verdict.error,
      parts: JSON.stringify(verdict.parts),
      failed_parts: JSON.stringify(verdict.failedParts),
      snapshot_id: verdict.snapshotId,
      bytes_added: verdict.bytesAdded,
      exit_code: verdict.exitCode,
      attempts: 0,
      next_attempt_at: now,
    });
    logInfo("backup run reported", { runId, outcome: verdict.status, readable: delivery.readable });
    await this.mirror(reported);
    if (verdict.status !== "done") {
      const fields = { runId, kind: run.kind, failedParts: verdict.failedParts.length > 0 ? verdict.failedParts.join(", ") : null, error: verdict.error };
      await backupAlert(this.env, verdict.status === "partial" ? "backup run partial: some parts failed" : "backup run failed", fields);
    }
    // Delete at once, and set the alarm to now so that a restart before the deletion (an evicted
    // object, a redeploy) resumes it at once instead of at the waiting run's next check.
    await this.scheduleAlarm();
    this.ctx.waitUntil(this.wake().then(() => undefined, (error: unknown) => logError("backup wake-up failed", { runId, reason: error instanceof Error ? error.name : "unknown" })));
    return { accepted: true, status: reported.status, readable: delivery.readable };
  }

  /**
   * May this request have the run's configuration? Only with the run's token, from the run's own
   * server (its public IPv4, or an address in its IPv6 /64), while the run waits for its report,
   * and at most MAX_CONFIG_ANSWERS times. A refusal is counted and alerted. `commit` counts an
   * answer: the route checks first, builds the answer (which may fail and be retried), then
   * commits, so only answers given count.
   */
  async configAccess(runId: string, tokenHash: string, clientAddress: string | null, commit: boolean): Promise<ConfigAccess> {
    if (!(await this.tokenMatches(runId, tokenHash))) return { allowed: false, status: 401, reason: "wrong token" };
    const run = this.run(runId)!;
    const refusal =
      run.status !== "running"
        ? `the run is ${run.status}, not waiting for its report`
        : Date.now() > run.deadline
          ? "the run is past its deadline"
          : !isServerAddress(clientAddress, { ipv4: run.server_ipv4, ipv6: run.server_ipv6 })
            ? run.server_ipv4 === null && run.server_ipv6 === null
              ? "the run's server has no known public address"
              : "the request does not come from the run's server"
            : run.config_answers >= MAX_CONFIG_ANSWERS
              ? `the configuration was already given ${MAX_CONFIG_ANSWERS} times`
              : null;
    if (refusal) {
      const refusals = this.count(runId, "config_refusals")?.config_refusals ?? 0;
      await backupAlert(this.env, "backup config request refused", { runId, kind: run.kind, reason: refusal, address: clientAddress }, { room: refusals <= MAX_REFUSAL_ROOM_ALERTS });
      return { allowed: false, status: 403, reason: refusal };
    }
    if (commit) {
      const answers = this.count(runId, "config_answers")?.config_answers ?? 0;
      logInfo("backup config answered", { runId, answers });
    }
    return { allowed: true, runId: run.id, kind: run.kind, deadline: run.deadline };
  }

  /** The cron safety net: reap and advance, as an alarm would. */
  async sweep(): Promise<{ reaped: number }> {
    return { reaped: await this.wake() };
  }

  // ---- alarm

  override async alarm(): Promise<void> {
    await this.wake();
  }

  /** Single-flight: a wake-up asked for while one runs makes that one go round again. */
  private wake(): Promise<number> {
    if (this.waking) {
      this.wakeAgain = true;
      return this.waking;
    }
    const pass = async () => {
      let reaped = 0;
      try {
        do {
          this.wakeAgain = false;
          reaped += await this.wakeOnce();
        } while (this.wakeAgain);
      } finally {
        this.waking = null;
      }
      return reaped;
    };
    this.waking = pass();
    return this.waking;
  }

  private async wakeOnce(): Promise<number> {
    let servers: BackupServersConfig;
    try {
      servers = await backupServersConfig.load(this.env);
    } catch (error) {
      await backupAlert(this.env, "backup servers cannot be managed: the Hetzner configuration is broken", { reason: error instanceof CapabilityNotConfigured ? error.publicMessage : "unknown" });
      return 0;
    }
    let full: FullConfig;
    try {
      full = { ok: true, config: await backupsConfig.load(this.env) };
    } catch (error) {
      if (!(error instanceof CapabilityNotConfigured)) throw error;
      full = { ok: false, problems: error.problems };
    }
    const hetzner = this.hetzner(servers);
    let run = this.activeRun();
    const countedRunId = run?.id ?? null;
    for (let attempt = 1; run; attempt += 1) {
      try {
        await this.advance(run, full, hetzner);
        break;
      } catch (error) {
        if (!(error instanceof StaleRun)) throw error;
        if (attempt >= MAX_STALE_RETRIES) {
          logInfo("backup run kept changing during a step; the next wake-up goes on", { runId: run.id });
          break;
        }
        run = this.activeRun();
      }
    }
    const reaped = await this.reap(servers, hetzner, this.activeRun());
    if (countedRunId !== null && hetzner.requests > 0) await this.countHetznerCalls(countedRunId, hetzner.requests);
    await this.scheduleAlarm();
    return reaped;
  }

  private async countHetznerCalls(runId: string, calls: number): Promise<void> {
    const run = this.count(runId, "hetzner_calls", calls);
    if (run) await this.mirror(run);
  }

  /** Fails the run (its server, if any, is deleted next) and alerts, once the failure is stored. */
  private async fail(run: Run, error: string): Promise<Run> {
    const hasServer = run.server_id !== null || run.status === "creating" || run.status === "running";
    const failed = await this.transition(run, {
      status: hasServer ? "deleting" : "failed",
      outcome: "failed",
      error,
      attempts: 0,
      next_attempt_at: hasServer ? Date.now() : null,
      finished_at: hasServer ? null : Date.now(),
      token: hasServer ? run.token : null,
    });
    await backupAlert(this.env, "backup run failed", { runId: run.id, kind: run.kind, error });
    return failed;
  }

  private async advance(start: Run, full: FullConfig, hetzner: HetznerClient): Promise<void> {
    let run = start;
    const now = Date.now();
    if (AWAITING_REPORT.includes(run.status)) {
      if (now >= run.deadline) run = await this.fail(run, "no report before the deadline");
      // The runner cannot get its configuration: no use keeping its server until the deadline.
      // A runner that already has it needs nothing more from the configuration.
      else if (!full.ok && (run.status !== "running" || run.config_answers === 0)) {
        run = await this.fail(run, `the backups configuration is broken: ${full.problems.join("; ")}`);
      }
    }
    if (run.next_attempt_at !== null && run.next_attempt_at > now && run.status !== "running") return;

    if ((run.status === "scheduled" || run.status === "creating") && full.ok) {
      if (!run.base_url) {
        await this.fail(run, "PUBLIC_BASE_URL is not set, so the runner could not call back");
        return;
      }
      run = run.status === "scheduled" ? await this.transition(run, { status: "creating", attempts: 1 }) : this.attempt(run);
      let server: HetznerServer;
      try {
        server = await this.createServer(run, full.config, hetzner);
      } catch (error) {
        const reason = hetznerReason(error);
        if ((error instanceof HetznerApiError && error.isPermanent) || run.attempts >= MAX_CREATE_ATTEMPTS) {
          await this.fail(run, `creating the server failed: ${reason}`);
          return;
        }
        logInfo("backup server creation will be retried", { runId: run.id, attempts: run.attempts, reason });
        await this.transition(run, { next_attempt_at: Date.now() + backoffMs(run.attempts) });
        return;
      }
      const addresses = publicAddresses(server);
      await this.transition(run, {
        status: "running",
        server_id: server.id,
        server_ipv4: addresses.ipv4,
        server_ipv6: addresses.ipv6,
        server_created_at: run.server_created_at ?? Date.now(),
        next_attempt_at: null,
        attempts: 0,
      });
      return;
    }

    if (run.status === "reported" || run.status === "deleting") {
      run = run.status === "reported" ? await this.transition(run, { status: "deleting", attempts: 1 }) : this.attempt(run);
      try {
        await this.deleteServers(run, hetzner);
      } catch (error) {
        const reason = hetznerReason(error);
        if (run.attempts >= DELETE_ALERT_ATTEMPTS) await backupAlert(this.env, "backup server could not be deleted yet", { runId: run.id, attempts: run.attempts, reason });
        await this.transition(run, { next_attempt_at: Date.now() + backoffMs(run.attempts) });
        return;
      }
      const finished = await this.transition(run, { status: run.outcome ?? "done", server_deleted_at: run.server_deleted_at ?? Date.now(), finished_at: Date.now(), token: null, next_attempt_at: null });
      logInfo("backup run finished", { runId: run.id, status: finished.status });
    }
  }

  /** Creates backup-<runId>, or finds it when an earlier attempt did. */
  private async createServer(run: Run, config: BackupsConfig, hetzner: HetznerClient): Promise<HetznerServer> {
    const [existing] = await hetzner.listServers({ name: run.server_name });
    if (existing) return existing;
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
          // Staging and production may share a Hetzner project: each reaps only its own servers
          // (and, whatever the environment, any past its expiry).
          "edge-ops-env": config.environment,
        },
        user_data: backupUserData({ url, token: run.token, deadline: run.deadline }),
        // The environment's private network: the route to the dump ports and the nodes' paths.
        ...(config.server.networkId ? { networks: [config.server.networkId] } : {}),
        ...(config.server.sshKey ? { ssh_keys: [config.server.sshKey] } : {}),
        start_after_create: true,
      });
      return server;
    } catch (error) {
      // Created by an attempt whose answer was lost: names are unique, so it is ours.
      if (error instanceof HetznerApiError && error.code === "uniqueness_error") {
        const [found] = await hetzner.listServers({ name: run.server_name });
        if (found) return found;
      }
      throw error;
    }
  }

  /**
   * The newest runner snapshot whose status is `available`: one still `creating` (a backup-image
   * run taking it right now) holds an incomplete disk and cannot boot a server yet.
   */
  private async newestRunnerImage(hetzner: HetznerClient): Promise<number> {
    const images = await hetzner.listImages({ type: "snapshot", labelSelector: labelSelector({ role: BACKUP_RUNNER_ROLE }), sort: "created:desc" });
    const available = images.filter((image) => image.status === "available");
    const newest = available.sort((a, b) => Date.parse(b.created) - Date.parse(a.created))[0];
    if (!newest) {
      const creating = images.filter((image) => image.status === "creating").length;
      const detail = creating > 0 ? `no snapshot labelled role=${BACKUP_RUNNER_ROLE} is available yet (${creating} still being created; wait for it, or set BACKUP_IMAGE)` : `no snapshot labelled role=${BACKUP_RUNNER_ROLE} (build one, or set BACKUP_IMAGE)`;
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

  /**
   * Every server labelled role=backup, of any environment: deleted when past its `expires` label
   * (whatever its environment: an older version's or a renamed environment's would bill forever);
   * this environment's also when it belongs to no active run and is a few minutes old; one with
   * neither an `expires` label nor this environment's label is not ours to judge, so it is
   * alerted (once) and left alone.
   */
  private async reap(servers: BackupServersConfig, hetzner: HetznerClient, active: Run | null): Promise<number> {
    let reaped = 0;
    try {
      const found = await hetzner.listServers({ labelSelector: labelSelector({ role: "backup" }) });
      const now = Date.now();
      const unclaimed: number[] = [];
      for (const server of found) {
        const expiresLabel = server.labels.expires;
        const expires = expiresLabel !== undefined && /^\d{1,12}$/.test(expiresLabel) ? Number(expiresLabel) * 1000 : null;
        const ourEnvironment = server.labels["edge-ops-env"] === servers.environment;
        const ours = active !== null && server.labels.run === active.id && server.name === active.server_name;
        // A server whose run is finishing right now is deleted by that run.
        if (ours && active.status === "deleting") continue;
        let why: string | null = null;
        if (expires !== null && expires <= now) why = "past its expiry";
        else if (ourEnvironment && !ours && now - Date.parse(server.created) >= ORPHAN_GRACE_MS) why = "of no active run";
        if (why === null) {
          // Otherwise it is the active run's, one just being created (grace), or another
          // environment's that has not expired yet: that environment's scheduler reaps it.
          if (expires === null && !ourEnvironment) {
            unclaimed.push(server.id);
            await this.alertUnclaimed(server);
          }
          continue;
        }
        await hetzner.deleteServer(server.id);
        reaped += 1;
        await backupAlert(this.env, "orphan backup server deleted", { serverId: server.id, name: server.name, run: server.labels.run ?? null, environment: server.labels["edge-ops-env"] ?? null, why });
      }
      // Forget servers that are gone: a new one with a reused id is alerted again.
      this.sql.exec("DELETE FROM unclaimed_servers WHERE server_id NOT IN (SELECT value FROM json_each(?))", JSON.stringify(unclaimed));
    } catch (error) {
      await backupAlert(this.env, "reaping backup servers failed", { reason: error instanceof HetznerApiError ? `${error.status} ${error.code}` : error instanceof Error ? error.name : "unknown" });
    }
    return reaped;
  }

  /** Alerts once per server: every sweep would otherwise repeat it every five minutes. */
  private async alertUnclaimed(server: HetznerServer): Promise<void> {
    const cursor = this.sql.exec("INSERT OR IGNORE INTO unclaimed_servers (server_id, alerted_at) VALUES (?, ?)", server.id, Date.now());
    cursor.toArray();
    if (cursor.rowsWritten === 0) return;
    await backupAlert(this.env, "backup server with neither an expires label nor this environment's label: not deleted, check it", {
      serverId: server.id,
      name: server.name,
      environment: server.labels["edge-ops-env"] ?? null,
      created: server.created,
    });
  }
}

/** The one scheduler of this Worker. */
export const backupScheduler = (env: Env) => env.BACKUP_SCHEDULER.get(env.BACKUP_SCHEDULER.idFromName("backup-scheduler"));
