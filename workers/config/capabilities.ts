// Every capability the Worker offers, for /healthz. Each one loads its own configuration
// where it is used; this list only reports on them.
import { adminApiConfig } from "../admin/config";
import { backupsConfig } from "../backups/config";
import { botConfig } from "../bot/config";
import { aircallIntakeConfig } from "../intake/aircall/config";
import { guestyIntakeConfig } from "../intake/guesty/config";
import { rocketChatIngestConfig } from "../intake/rocketchat/config";
import { secretsConfig } from "../secrets/config";
import { vectorizeConfig } from "../vectorize/config";
import type { Capability } from "./capability";

export const capabilities: Record<string, Capability<unknown>> = {
  aircallIntake: aircallIntakeConfig,
  guestyIntake: guestyIntakeConfig,
  rocketChatIngest: rocketChatIngestConfig,
  rocketChatBot: botConfig,
  adminApi: adminApiConfig,
  vectorization: vectorizeConfig,
  backups: backupsConfig,
  secrets: secretsConfig,
};
