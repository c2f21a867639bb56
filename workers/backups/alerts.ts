// A failed or missed backup must be heard about: always an alert log line, and a message in the
// Rocket.Chat room ROCKETCHAT_ALERT_ROOM when it and the REST API are configured.
import { logError } from "../log";
import type { BackupsConfig } from "./config";

export async function backupAlert(config: BackupsConfig | null, message: string, fields: Record<string, string | number | null>): Promise<void> {
  logError(message, { ...fields, alert: true });
  if (!config?.alertRoom || !config.rocketChat) return;
  const details = Object.entries(fields)
    .filter(([, value]) => value !== null)
    .map(([key, value]) => `${key}: ${value}`)
    .join(", ");
  try {
    await config.rocketChat.sendMessage({ _id: crypto.randomUUID().replaceAll("-", "").slice(0, 17), rid: config.alertRoom, msg: `:warning: Backups: ${message}${details ? ` (${details})` : ""}` });
  } catch (error) {
    logError("backup alert could not be posted", { reason: error instanceof Error ? error.name : "unknown", alert: true });
  }
}
