// What the cron dispatcher (workers/scheduler/dispatch.ts) asks of the backup scheduler: a daily
// backup and a weekly restore test at BACKUP_SCHEDULE / RESTORE_TEST_SCHEDULE, and every few
// minutes the safety net (reap servers by label and age, resume a stuck run). An installation
// without the backups capability configured has no timed runs; one without the Hetzner variables
// skips the safety net.
import { backupScheduler } from "../../durable-objects/backup-scheduler";
import { CapabilityNotConfigured } from "../config/capability";
import type { BackupKind } from "../db/schema";
import { logInfo } from "../log";
import { backupAlert } from "./alerts";
import { backupServersConfig, backupsConfig, type BackupsConfig } from "./config";

async function configured(env: Env): Promise<BackupsConfig | null> {
  try {
    return await backupsConfig.load(env);
  } catch (error) {
    if (error instanceof CapabilityNotConfigured) return null;
    throw error;
  }
}

/** Whether backup servers can be reaped here: that needs only the Hetzner variables. */
async function serversConfigured(env: Env): Promise<boolean> {
  try {
    await backupServersConfig.load(env);
    return true;
  } catch (error) {
    if (error instanceof CapabilityNotConfigured) return false;
    throw error;
  }
}

export async function startScheduledRun(env: Env, kind: BackupKind): Promise<void> {
  const config = await configured(env);
  if (!config) {
    logInfo("backups not configured, scheduled run skipped", { kind });
    return;
  }
  const result = await backupScheduler(env).start({ kind, trigger: "cron", baseUrl: config.publicBaseUrl });
  if (!result.started) await backupAlert(env, "scheduled backup run missed: another run is still active", { kind, activeRunId: result.activeRunId });
}

/** The cron expression of a timed run; null when backups are not configured or the run is "off". */
export async function backupSchedule(env: Env, kind: BackupKind): Promise<string | null> {
  const config = await configured(env);
  if (!config) return null;
  return kind === "backup" ? config.schedules.backup : config.schedules.restoreTest;
}

/** No tick ran a timed occurrence: the run did not happen and will not start late. */
export async function reportMissedRun(env: Env, kind: BackupKind, dueAt: number): Promise<void> {
  await backupAlert(env, "scheduled backup run missed: no cron tick came within five minutes of its time", { kind, dueAt: new Date(dueAt).toISOString() });
}

/** The safety net runs whenever servers can be deleted: a broken variable elsewhere must not stop it. */
export async function sweepBackups(env: Env): Promise<void> {
  if (!(await serversConfigured(env))) return;
  await backupScheduler(env).sweep();
}
