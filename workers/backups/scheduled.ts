// What the cron dispatcher (workers/scheduler/dispatch.ts) asks of the backup scheduler: a daily
// backup and a weekly restore test at BACKUP_SCHEDULE / RESTORE_TEST_SCHEDULE, and every few
// minutes the safety net (reap servers by label and age, resume a stuck run). An installation
// without the backups capability configured has no timed runs; one without the Hetzner variables
// skips the safety net.
import { backupScheduler } from "../../durable-objects/backup-scheduler";
import type { BackupKind } from "../db/schema";
import { logInfo } from "../log";
import { backupAlert } from "./alerts";
import { backupServersConfig, backupsConfig } from "./config";

export async function startScheduledRun(env: Env, kind: BackupKind): Promise<void> {
  const config = await backupsConfig.loadIfConfigured(env);
  if (!config) {
    logInfo("backups not configured, scheduled run skipped", { kind });
    return;
  }
  const result = await backupScheduler(env).start({ kind, trigger: "cron", baseUrl: config.publicBaseUrl });
  if (!result.started) await backupAlert(env, "scheduled backup run missed: another run is still active", { kind, activeRunId: result.activeRunId });
}

/** The cron expression of a timed run; null when backups are not configured or the run is "off". */
export async function backupSchedule(env: Env, kind: BackupKind): Promise<string | null> {
  const config = await backupsConfig.loadIfConfigured(env);
  if (!config) return null;
  return kind === "backup" ? config.schedules.backup : config.schedules.restoreTest;
}

/** No tick ran a timed occurrence: the run did not happen and will not start late. */
export async function reportMissedRun(env: Env, kind: BackupKind, dueAt: number): Promise<void> {
  await backupAlert(env, "scheduled backup run missed: no cron tick came within five minutes of its time", { kind, dueAt: new Date(dueAt).toISOString() });
}

/** The safety net runs whenever servers can be deleted: a broken variable elsewhere must not stop it. */
export async function sweepBackups(env: Env): Promise<void> {
  // Backup servers can be reaped wherever the Hetzner variables are set.
  if (!(await backupServersConfig.loadIfConfigured(env))) return;
  await backupScheduler(env).sweep();
}
