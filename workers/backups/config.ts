// Backups need only their own variables: Hetzner (to create and delete the backup server),
// restic's repository on R2 (handed to the runner), what to back up (BACKUP_TARGETS), and where
// to alert. The Worker runs them with no webhook secret set.
//
// Three configurations, so that one malformed variable never stops what does not need it:
// - `backupServersConfig`: Hetzner and the environment's name only. Deleting and reaping backup
//   servers need nothing else, so a broken target list or R2 key never leaves a server billing.
// - `backupAlertsConfig` (alerts.ts): the alert room and Rocket.Chat's REST API.
// - `backupsConfig`: everything, for starting runs and answering the runner; /healthz shows its
//   problems, naming the variable.
import { z } from "zod";
import { ConfigProblem, defineCapability } from "../config/capability";
import { secretString } from "../config/variables";
import { DEFAULT_HCLOUD_ENDPOINT } from "../hetzner/client";
import { parseCron } from "../scheduler/cron-expression";
import { backupTargetsVariable, sshPrivateKeyVariable } from "./targets";

export const DEFAULT_BACKUP_SCHEDULE = "17 3 * * *";
export const DEFAULT_RESTORE_TEST_SCHEDULE = "47 4 * * 0";

/** A cron expression (UTC) for a timed run, or "off" to switch the scheduled run off. */
const schedule = z
  .string()
  .trim()
  .refine((value) => {
    if (value === "off") return true;
    try {
      parseCron(value);
      return true;
    } catch {
      return false;
    }
  }, { error: 'must be a five-field cron expression (UTC), e.g. "17 3 * * *", or "off"' })
  .transform((value) => (value === "off" ? null : value));

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/** What deleting and reaping servers need, and nothing more. */
const serverVariables = {
  HCLOUD_TOKEN: secretString(16),
  HCLOUD_ENDPOINT: httpUrl.optional(),
  /** The deployment's name (wrangler.toml [vars]): backup servers carry it as a label. */
  EDGE_OPS_ENV: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
};
const buildServers = (values: z.output<z.ZodObject<typeof serverVariables>>) => ({
  hetzner: { token: values.HCLOUD_TOKEN, endpoint: values.HCLOUD_ENDPOINT ?? DEFAULT_HCLOUD_ENDPOINT },
  environment: values.EDGE_OPS_ENV ?? "dev",
});

export const backupServersConfig = defineCapability({ name: "backup servers", variables: serverVariables, build: buildServers });
export type BackupServersConfig = Awaited<ReturnType<typeof backupServersConfig.load>>;

/** An older version's target variables: still set means the targets were not moved to BACKUP_TARGETS. */
const removed = z.undefined({ error: "was removed: describe the targets in BACKUP_TARGETS instead (README, Backups), then delete this variable" }).optional();

export const backupsConfig = defineCapability({
  name: "backups",
  variables: {
    ...serverVariables,
    RESTIC_REPOSITORY: z.string().regex(/^s3:https?:\/\/\S+$/, { error: "must be an s3: URL (s3:https://<account>.r2.cloudflarestorage.com/<bucket>/<prefix>)" }),
    RESTIC_PASSWORD: secretString(16),
    R2_ACCESS_KEY_ID: z.string().min(8),
    R2_SECRET_ACCESS_KEY: secretString(16),
    /** With these, runners get short-lived R2 credentials scoped to the repository's bucket and prefix. */
    CLOUDFLARE_API_TOKEN: secretString(16).optional(),
    CLOUDFLARE_ACCOUNT_ID: z.string().regex(/^[0-9a-f]{32}$/, { error: "must be the 32-hex-digit account id" }).optional(),
    CLOUDFLARE_API_URL: httpUrl.optional(),
    /** Where the runner calls back; a manual run may use the request's origin instead. */
    PUBLIC_BASE_URL: httpUrl.optional(),
    BACKUP_SERVER_TYPE: z.string().min(1).optional(),
    BACKUP_LOCATION: z.string().min(1).optional(),
    /** An image id or name; default: the newest snapshot labelled role=backup-runner. */
    BACKUP_IMAGE: z.string().min(1).optional(),
    /** The environment's private network (infra prints its id): the route to the targets. */
    BACKUP_NETWORK_ID: z.coerce.number().int().positive().optional(),
    BACKUP_SSH_KEY: z.string().min(1).optional(),
    /** How long a run may take before its server is deleted and the run failed. */
    BACKUP_DEADLINE_MINUTES: z.coerce.number().positive().max(24 * 60).optional(),
    /** restic's --host: fixed, or retention would never forget anything. */
    BACKUP_HOST: z.string().regex(/^[\w.-]{1,64}$/).optional(),
    /** When the daily backup and the weekly restore test run (the Worker's one cron trigger dispatches them). */
    BACKUP_SCHEDULE: schedule.optional(),
    RESTORE_TEST_SCHEDULE: schedule.optional(),
    /** What to back up (targets.ts); unset or [] backs up nothing, and each run says so as a failed part. */
    BACKUP_TARGETS: backupTargetsVariable.optional(),
    /** The key the runner reads `path` targets with (rsync over ssh); required only by such targets. */
    BACKUP_SSH_PRIVATE_KEY: sshPrivateKeyVariable.optional(),
    BACKUP_PATHS: removed,
    BACKUP_MONGODB_URI: removed,
    BACKUP_SEAWEEDFS_ENDPOINT: removed,
    BACKUP_SEAWEEDFS_BUCKET: removed,
    // Alerts load these themselves (alerts.ts); listed here so /healthz names a malformed one.
    ROCKETCHAT_ALERT_ROOM: z.string().min(1).optional(),
    ROCKETCHAT_URL: httpUrl.optional(),
    ROCKETCHAT_USER_ID: z.string().min(1).optional(),
    ROCKETCHAT_AUTH_TOKEN: secretString(8).optional(),
  },
  build: (values) => {
    const targets = values.BACKUP_TARGETS ?? [];
    const readsPaths = targets.some((target) => target.kind === "path");
    if (readsPaths && !values.BACKUP_SSH_PRIVATE_KEY) throw new ConfigProblem("BACKUP_SSH_PRIVATE_KEY is not set (BACKUP_TARGETS has a path target, which the runner reads over ssh)");
    return {
      ...buildServers(values),
      restic: { repository: values.RESTIC_REPOSITORY, password: values.RESTIC_PASSWORD, accessKeyId: values.R2_ACCESS_KEY_ID, secretAccessKey: values.R2_SECRET_ACCESS_KEY },
      cloudflare:
        values.CLOUDFLARE_API_TOKEN && values.CLOUDFLARE_ACCOUNT_ID
          ? { apiToken: values.CLOUDFLARE_API_TOKEN, accountId: values.CLOUDFLARE_ACCOUNT_ID, apiUrl: values.CLOUDFLARE_API_URL ?? "https://api.cloudflare.com/client/v4" }
          : null,
      publicBaseUrl: values.PUBLIC_BASE_URL ?? null,
      server: {
        type: values.BACKUP_SERVER_TYPE ?? "cx23",
        location: values.BACKUP_LOCATION ?? "fsn1",
        image: values.BACKUP_IMAGE ?? null,
        networkId: values.BACKUP_NETWORK_ID ?? null,
        sshKey: values.BACKUP_SSH_KEY ?? null,
      },
      deadlineMs: Math.round((values.BACKUP_DEADLINE_MINUTES ?? 120) * 60_000),
      host: values.BACKUP_HOST ?? "edge-ops-swarm",
      targets,
      // Handed to the runner only when a target needs it.
      ssh: readsPaths && values.BACKUP_SSH_PRIVATE_KEY ? { privateKey: values.BACKUP_SSH_PRIVATE_KEY } : null,
      retention: { daily: 7, weekly: 4, monthly: 12 },
      schedules: {
        backup: values.BACKUP_SCHEDULE === undefined ? DEFAULT_BACKUP_SCHEDULE : values.BACKUP_SCHEDULE,
        restoreTest: values.RESTORE_TEST_SCHEDULE === undefined ? DEFAULT_RESTORE_TEST_SCHEDULE : values.RESTORE_TEST_SCHEDULE,
      },
    };
  },
});

export type BackupsConfig = Awaited<ReturnType<typeof backupsConfig.load>>;
