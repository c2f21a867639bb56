// `backup-image`: builds the snapshot the Worker's backup scheduler boots its self-destructing
// backup servers from. A temporary server gets restic, jq, curl, the AWS CLI (SeaweedFS's S3
// gateway), mongodump and /opt/edge-ops/backup-runner.sh; cloud-init is reset so it runs again
// on every server made from the snapshot; the server is shut down (ACPI, then waited for until it
// is off, powered off when it does not go off in time) before the snapshot, which is labelled
// role=backup-runner (the scheduler takes the newest available one). The temporary server is
// deleted whatever happens. Then the environment's runner snapshots beyond the newest two are
// deleted (one to fall back to when the new one misbehaves; a snapshot protected against deletion
// in the Hetzner console is left alone).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { HetznerAction } from "../workers/hetzner/client.ts";
import type { ApplyContext, Node } from "./apply.ts";
import { ownedSelector, ownership, resourceLabels, resourceName } from "./plan.ts";
import { BACKUP_RUNNER_ROLE, labelSelector } from "../workers/hetzner/client.ts";
import { progress } from "./progress.ts";
import type { Ssh } from "./ssh.ts";
import { waitAllReady, type SwarmContext } from "./swarm.ts";

export const BUILDER_ROLE = "backup-image-builder";
/** Runner snapshots kept per environment: the newest and the one before it. */
export const KEEP_RUNNER_SNAPSHOTS = 2;
export const RUNNER_PATH = "/opt/edge-ops/backup-runner.sh";
const RUNNER_DELIMITER = "EDGE_OPS_BACKUP_RUNNER";

/**
 * The major version of the Postgres client (pg_dump) in the image: at least the Postgres that
 * swarm-stacks/apps.yml runs (pg_dump refuses a newer server), so Debian 12's 15 is not enough and
 * it comes from PGDG's repository. Raise it with the stack's image.
 */
export const POSTGRES_CLIENT_MAJOR = 17;

/**
 * The script `bash -s` runs on the builder: packages (restic, jq, curl, the AWS CLI, mongodump,
 * pg_dump, rsync, ssh: what backup-runner.sh runs), the runner, a clean cloud-init.
 */
export function installScript(runner: string): string {
  if (runner.split("\n").includes(RUNNER_DELIMITER)) throw new Error(`the runner script contains the line ${RUNNER_DELIMITER}`);
  return [
    "set -euo pipefail",
    "export DEBIAN_FRONTEND=noninteractive",
    "apt-get update -q",
    "apt-get install -y -q --no-install-recommends restic jq curl ca-certificates gnupg awscli rsync openssh-client",
    "# mongodump: Debian does not package MongoDB's database tools; MongoDB's repository does.",
    "curl -fsSL https://pgp.mongodb.com/server-8.0.asc | gpg --dearmor --yes -o /usr/share/keyrings/mongodb-server-8.0.gpg",
    'echo "deb [signed-by=/usr/share/keyrings/mongodb-server-8.0.gpg] http://repo.mongodb.org/apt/debian $(. /etc/os-release && echo "$VERSION_CODENAME")/mongodb-org/8.0 main" > /etc/apt/sources.list.d/mongodb-org-8.0.list',
    "# pg_dump: PGDG's repository (apt.postgresql.org) has every supported major version; Debian 12 only 15.",
    "curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc | gpg --dearmor --yes -o /usr/share/keyrings/postgresql-pgdg.gpg",
    'echo "deb [signed-by=/usr/share/keyrings/postgresql-pgdg.gpg] https://apt.postgresql.org/pub/repos/apt $(. /etc/os-release && echo "$VERSION_CODENAME")-pgdg main" > /etc/apt/sources.list.d/pgdg.list',
    "apt-get update -q",
    `apt-get install -y -q --no-install-recommends mongodb-database-tools postgresql-client-${POSTGRES_CLIENT_MAJOR}`,
    "install -d -m 0755 /opt/edge-ops",
    `cat > ${RUNNER_PATH} <<'${RUNNER_DELIMITER}'`,
    runner.replace(/\n$/, ""),
    RUNNER_DELIMITER,
    `chmod 0755 ${RUNNER_PATH}`,
    "restic version && jq --version && aws --version && mongodump --version && pg_dump --version && rsync --version && ssh -V",
    "# Servers made from the snapshot are new instances: cloud-init runs their user_data again.",
    "cloud-init clean --logs",
    "truncate -s 0 /etc/machine-id",
    "apt-get clean",
    "# On disk before the shutdown, also when the guest ignores it and has to be powered off.",
    "sync",
    "",
  ].join("\n");
}

export type BackupImageContext = ApplyContext & {
  ssh: Ssh;
  swarm: SwarmContext;
  root: string;
  keyId: number;
  now: () => Date;
  /** How long the guest gets to power off after the ACPI shutdown before it is powered off; default SHUTDOWN_TIMEOUT_MS. */
  shutdownTimeoutMs?: number;
};

/** systemd gives a unit 90 s to stop by default; a guest still on after 2 minutes will not stop by itself. */
export const SHUTDOWN_TIMEOUT_MS = 120_000;

/**
 * Takes the builder down for its snapshot: `shutdown` only sends the ACPI signal (its action
 * succeeds once the signal is sent), so the status is polled until `off`; a guest that ignores
 * the signal or hangs is powered off after `shutdownTimeoutMs`.
 */
async function powerDown(context: BackupImageContext, serverId: number, name: string): Promise<void> {
  const { hetzner, resources, log } = context;
  await hetzner.waitForActions([(await resources.shutdown(serverId)).id], context.actionTimeoutMs);
  const timeoutMs = context.shutdownTimeoutMs ?? SHUTDOWN_TIMEOUT_MS;
  const report = progress(context.progress, `waiting for ${name} to power off`);
  const wait = { pollIntervalMs: context.pollIntervalMs, sleep: context.sleep, now: () => context.now().getTime(), waiting: (status: string) => report.tick(`status ${status}`) };
  if (await resources.waitForStatus(serverId, "off", { ...wait, timeoutMs })) return;
  log(`! ${name} was not off ${Math.round(timeoutMs / 1000)} s after the ACPI shutdown: powering it off`);
  await hetzner.waitForActions([(await resources.powerOff(serverId)).id], context.actionTimeoutMs);
  if (!(await resources.waitForStatus(serverId, "off", { ...wait, timeoutMs: context.actionTimeoutMs }))) throw new Error(`${name} is still not off after poweroff`);
}

/**
 * Deletes the environment's runner snapshots but the newest KEEP_RUNNER_SNAPSHOTS (`newest`, just
 * made, always among them); protected ones stay. Answers the ids deleted.
 */
export async function pruneRunnerSnapshots(context: Pick<BackupImageContext, "hetzner" | "resources" | "environment" | "log">, newest: number): Promise<number[]> {
  const { hetzner, resources, environment, log } = context;
  const snapshots = await hetzner.listImages({ type: "snapshot", labelSelector: labelSelector({ ...ownership(environment), role: BACKUP_RUNNER_ROLE }), sort: "created:desc" });
  const ordered = [...snapshots.filter((image) => image.id === newest), ...snapshots.filter((image) => image.id !== newest)];
  const deleted: number[] = [];
  for (const image of ordered.slice(KEEP_RUNNER_SNAPSHOTS)) {
    if ((image as { protection?: { delete?: boolean } }).protection?.delete === true) {
      log(`! image ${image.id} "${image.description ?? ""}" kept: protected against deletion`);
      continue;
    }
    // false: someone deleted it meanwhile, nothing to say.
    if (!(await resources.delete("images", image.id))) continue;
    deleted.push(image.id);
    log(`- image ${image.id} "${image.description ?? ""}" (older than the newest ${KEEP_RUNNER_SNAPSHOTS} runner snapshots)`);
  }
  return deleted;
}

export async function buildBackupImage(context: BackupImageContext): Promise<{ imageId: number; description: string }> {
  const { hetzner, resources, environment, log } = context;
  const stamp = context.now().toISOString().replace(/[-:]/g, "").slice(0, 13).toLowerCase();
  const name = `${resourceName(environment)}-backup-image-${stamp}`;
  const runner = readFileSync(join(context.root, "infra", "backup-runner", "backup-runner.sh"), "utf8");
  const script = installScript(runner);
  // A builder an interrupted run left behind (its deletion failed, or the CLI was killed).
  const leftovers = await hetzner.listServers({ labelSelector: `${ownedSelector(environment)},role=${BUILDER_ROLE}` });
  for (const leftover of leftovers) {
    const deletion = await hetzner.deleteServer(leftover.id);
    if (deletion) await hetzner.waitForActions([deletion.id], context.actionTimeoutMs);
    log(`- server ${leftover.name} (left by an earlier backup-image)`);
  }
  const created = await hetzner.createServer({
    name,
    server_type: environment.backup_image.server_type,
    image: environment.backup_image.image,
    location: environment.location,
    labels: resourceLabels(environment, { role: BUILDER_ROLE }),
    ssh_keys: [context.keyId],
    start_after_create: true,
  });
  log(`+ server ${name} (temporary, builds the backup image)`);
  const serverId = created.server.id;
  try {
    await hetzner.waitForActions([created.action, ...created.nextActions].map((action: HetznerAction) => action.id), context.actionTimeoutMs);
    const server = await hetzner.getServer(serverId);
    const publicIp = server?.public_net?.ipv4?.ip;
    if (!publicIp) throw new Error(`${name} has no public IPv4`);
    const builder: Node = { node: 0, name, serverId, publicIp, privateIp: "" };
    await waitAllReady(context.swarm, [builder]);
    await context.ssh.check(publicIp, "bash -s", { stdin: script });
    log(`~ ${name}: restic, mongodump, the AWS CLI and ${RUNNER_PATH} installed`);
    await powerDown(context, serverId, name);
    const description = `edge-ops backup runner ${context.now().toISOString()}`;
    const snapshot = await resources.createSnapshot(serverId, { description, labels: { ...ownership(environment), role: BACKUP_RUNNER_ROLE } });
    await hetzner.waitForActions([snapshot.action.id], context.actionTimeoutMs);
    log(`+ image ${snapshot.image.id} "${description}" (role=${BACKUP_RUNNER_ROLE})`);
    await pruneRunnerSnapshots(context, snapshot.image.id);
    return { imageId: snapshot.image.id, description };
  } finally {
    try {
      const deletion = await hetzner.deleteServer(serverId);
      if (deletion) await hetzner.waitForActions([deletion.id], context.actionTimeoutMs);
      log(`- server ${name}`);
    } catch (error) {
      // Not thrown: the build's own error (if any) is the one to report. The next run reaps it.
      log(`! could not delete ${name}: ${error instanceof Error ? error.message : String(error)}; the next backup-image or destroy deletes it`);
    }
  }
}
