// Every capability the Worker offers, for /healthz (handed to the health route by app.ts: the
// shared http block knows no feature). Each one loads its own configuration where it is used;
// this list only reports on them.
import { accessConfig } from "./access/config";
import { alertWebhookConfig } from "./alerts/config";
import { adminApiConfig } from "./auth/admin-token";
import { backupsConfig } from "./backups/config";
import { edgeRoutesConfig } from "./edge/config";
import { botConfig } from "./bot/config";
import { chatSyncConfig } from "./chat-sync/config";
import { aircallIntakeConfig } from "./intake/aircall/config";
import { guestyIntakeConfig } from "./intake/guesty/config";
import { metricsConfig } from "./metrics/config";
import { rocketChatIngestConfig } from "./intake/rocketchat/config";
import { secretsConfig } from "./secrets/config";
import { vectorizeConfig } from "./vectorize/config";
import type { Capability } from "./config/capability";

export const capabilities: Record<string, Capability<unknown>> = {
  aircallIntake: aircallIntakeConfig,
  guestyIntake: guestyIntakeConfig,
  rocketChatIngest: rocketChatIngestConfig,
  rocketChatBot: botConfig,
  rocketChatSync: chatSyncConfig,
  adminApi: adminApiConfig,
  access: accessConfig,
  vectorization: vectorizeConfig,
  backups: backupsConfig,
  secrets: secretsConfig,
  metrics: metricsConfig,
  alertWebhook: alertWebhookConfig,
  edgeRouting: edgeRoutesConfig,
};
