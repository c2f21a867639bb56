// A failed or missed backup must be heard about: always an alert log line, and a message in the
// Rocket.Chat room ROCKETCHAT_ALERT_ROOM when it and the REST API are configured. Alerts load
// only their own variables: a malformed backup variable elsewhere must not silence them.
import { z } from "zod";
import { optionalRocketChatVariables, rocketChatApiFrom } from "../chat/rocketchat-api";
import { CapabilityNotConfigured, defineCapability } from "../config/capability";
import { raiseAlert } from "../alerts/raise";

export const backupAlertsConfig = defineCapability({
  name: "backup alerts",
  variables: {
    ROCKETCHAT_ALERT_ROOM: z.string().min(1).optional(),
    ...optionalRocketChatVariables,
  },
  build: (values) => ({ room: values.ROCKETCHAT_ALERT_ROOM ?? null, rocketChat: rocketChatApiFrom(values) }),
});

export type AlertFields = Record<string, string | number | null>;

/**
 * Logs the alert (`alert: true`) and posts it to the alert room. `room: false` keeps it to the
 * log line, for a repeat that would only flood the room.
 */
export async function backupAlert(env: Env, message: string, fields: AlertFields, options: { room?: boolean } = {}): Promise<void> {
  // Logged, recorded for the status page and posted to ALERT_WEBHOOK_URL (workers/alerts/).
  await raiseAlert(env, message, fields);
  if (options.room === false) return;
  let alerts: Awaited<ReturnType<typeof backupAlertsConfig.load>>;
  try {
    alerts = await backupAlertsConfig.load(env);
  } catch (error) {
    if (!(error instanceof CapabilityNotConfigured)) throw error;
    await raiseAlert(env, "backup alert could not be posted", { reason: error.publicMessage });
    return;
  }
  if (!alerts.room || !alerts.rocketChat) return;
  const details = Object.entries(fields)
    .filter(([, value]) => value !== null)
    .map(([key, value]) => `${key}: ${value}`)
    .join(", ");
  try {
    await alerts.rocketChat.sendMessage({ _id: crypto.randomUUID().replaceAll("-", "").slice(0, 17), rid: alerts.room, msg: `:warning: Backups: ${message}${details ? ` (${details})` : ""}` });
  } catch (error) {
    await raiseAlert(env, "backup alert could not be posted", { reason: error instanceof Error ? error.name : "unknown" });
  }
}
