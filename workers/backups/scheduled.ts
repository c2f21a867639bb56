// What the cron triggers ask of the backup scheduler: a daily backup, a weekly restore test, and
// every few minutes the safety net (reap servers by label and age, resume a stuck run). An
// installation without the backups capability configured skips them quietly.
import { backupScheduler } from "../../durable-objects/backup-scheduler";
import { CapabilityNotConfigured } from "../config/capability";
import type { BackupKind } from "../db/schema";
import { logInfo } from "../log";
import { backupAlert } from "./alerts";
import { backupsConfig, type BackupsConfig } from "./config";

async function configured(env: Env): Promise<BackupsConfig | null> {
  try {
    return await backupsConfig.load(env);
  } catch (error) {
    if (error instanceof CapabilityNotConfigured) return null;
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
  if (!result.started) await backupAlert(config, "scheduled backup run missed: another run is still active", { kind, activeRunId: result.activeRunId });
}

export async function sweepBackups(env: Env): Promise<void> {
  if (!(await configured(env))) return;
  await backupScheduler(env).sweep();
}
