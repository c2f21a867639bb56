// `npm run infra -- <plan|apply|destroy|status|deploy|backup-image|backup-targets> --env <name> [--yes]`
// `npm run infra -- cloudflare-ips`
//
// Provisions the environment's 3-manager Docker Swarm on Hetzner Cloud without Terraform: labelled
// resources are the state. Exit codes: 0 done (plan: no changes; status: healthy), 2 plan has
// changes / status degraded, 1 error. docs/swarm.md is the operator's guide.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_HCLOUD_ENDPOINT } from "../workers/hetzner/client.ts";
import { applyResources, nodeOf, type ApplyContext } from "./apply.ts";
import { recentDoneBackup } from "./backup-check.ts";
import { buildBackupImage } from "./backup-image.ts";
import { backupNetworkLine, backupSecretNames, buildBackupTargets, checkBackupSettings, dumpEndpoints, readHostKeys } from "./backup-route.ts";
import { DEFAULT_CLOUDFLARE_IPS_FILE, refreshCloudflareRanges, shownPath } from "./cloudflare-ips.ts";
import { loadEnvironment, withOperatorAddresses, type Environment } from "./config.ts";
import { deployStacks, prepareDeploy, resolveSecrets } from "./deploy.ts";
import { destroy, listLabelled } from "./destroy.ts";
import { HcloudResources, InfraHetznerClient } from "./hcloud.ts";
import { formatPlan, observe, ownedSelector, plan, planHeader, resourceLabels, resourceName, sshFingerprint, SWARM_NODE_ROLE } from "./plan.ts";
import type { ProgressOptions } from "./progress.ts";
import { processIo, runIfEntryPoint, UsageError, type Io } from "./cli-io.ts";
import { Ssh } from "./ssh.ts";
import { status } from "./status.ts";
import { bootstrapSwarm, findManager, type SwarmContext } from "./swarm.ts";

const COMMANDS = ["plan", "apply", "destroy", "status", "deploy", "backup-image", "backup-targets", "cloudflare-ips"] as const;
type Command = (typeof COMMANDS)[number];

const USAGE = `usage: npm run infra -- <${COMMANDS.filter((command) => command !== "cloudflare-ips").join("|")}> --env <name> [--yes]
       npm run infra -- destroy --env <name> [--yes] [--delete-volumes [--force]]
       npm run infra -- cloudflare-ips

  plan          show the Hetzner changes apply would make (exit 0 none, 2 pending, 1 error)
  apply         create or fix the resources (firewall rules, labels, power), bootstrap the Swarm over
                SSH and remove Swarm nodes whose server is gone; lists the drift it leaves to a person
  destroy       delete every resource labelled managed-by=edge-ops,env=<name> but the data volumes;
                --delete-volumes deletes them too, once the Worker reports a backup that ended done in
                the last 24 h (backup.worker_url, INFRA_ADMIN_TOKEN), or without that with --force
  status        servers, Swarm nodes and stack health (exit 0 healthy, 2 degraded)
  deploy        create the docker secrets and configs, docker stack deploy each configured stack, then
                remove the docker secrets and configs of ours no service uses any more
  backup-image  build the backup-runner snapshot the Worker's backups boot from (keeps the newest two)
  backup-targets  print the environment's BACKUP_TARGETS JSON (with passwords: only into a pipe),
                e.g. npm run -s infra -- backup-targets --env prod | npx wrangler secret put BACKUP_TARGETS --env production
  cloudflare-ips  fetch Cloudflare's published ranges (the firewall's 80/443 sources) into
                infra/cloudflare-ips.json; the next plan shows the firewall update

environment: HCLOUD_TOKEN (required), HCLOUD_ENDPOINT, INFRA_SSH, INFRA_SSH_PUBLIC_KEY,
             INFRA_ENVIRONMENTS_DIR, INFRA_POLL_MS, INFRA_ACTION_TIMEOUT_S, INFRA_READY_TIMEOUT_S,
             INFRA_PROGRESS_S (progress lines while waiting, default 5), INFRA_ADMIN_TOKEN (destroy
             --delete-volumes), INFRA_CLOUDFLARE_IPS_FILE, INFRA_CLOUDFLARE_IPS_URL`;


const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, options: { zero?: boolean } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !options.zero)) throw new UsageError(`${name} must be a ${options.zero ? "non-negative" : "positive"} number`);
  return value;
}

function readPublicKey(env: NodeJS.ProcessEnv): { publicKey: string; fingerprint: string } {
  const path = env.INFRA_SSH_PUBLIC_KEY || join(homedir(), ".ssh", "id_ed25519.pub");
  let publicKey: string;
  try {
    publicKey = readFileSync(path, "utf8").trim();
  } catch {
    throw new UsageError(`INFRA_SSH_PUBLIC_KEY: cannot read ${path} (the public key servers trust; create one with ssh-keygen -t ed25519)`);
  }
  return { publicKey, fingerprint: sshFingerprint(publicKey) };
}

async function confirm(question: string, expected: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await prompt.question(question)).trim() === expected;
  } finally {
    prompt.close();
  }
}

/** Refuses without --yes unless a person at a terminal types the environment's name. */
async function approved(io: Io, command: string, environment: Environment, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!io.interactive) throw new UsageError(`${command} changes ${environment.name} and needs --yes when not run from a terminal`);
  return confirm(`Type ${environment.name} to ${command}: `, environment.name);
}

type Runtime = {
  environment: Environment;
  hetzner: InfraHetznerClient;
  resources: HcloudResources;
  ssh: Ssh;
  swarm: SwarmContext;
  apply: Omit<ApplyContext, "publicKey" | "fingerprint">;
};

function runtime(environment: Environment, env: NodeJS.ProcessEnv, out: (line: string) => void): Runtime {
  const token = env.HCLOUD_TOKEN;
  if (!token) throw new UsageError("HCLOUD_TOKEN is not set (a read/write API token of the Hetzner project)");
  const pollIntervalMs = positiveNumber(env, "INFRA_POLL_MS", 3000);
  const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
  const progress: ProgressOptions = { log: out, everyMs: positiveNumber(env, "INFRA_PROGRESS_S", 5, { zero: true }) * 1000 };
  const hetzner = new InfraHetznerClient({ token, endpoint: env.HCLOUD_ENDPOINT || DEFAULT_HCLOUD_ENDPOINT, pollIntervalMs, sleep }, progress);
  const resources = new HcloudResources(hetzner);
  const ssh = new Ssh({ program: env.INFRA_SSH || "ssh", env });
  const swarm: SwarmContext = { ssh, environment, log: out, readyTimeoutMs: positiveNumber(env, "INFRA_READY_TIMEOUT_S", 900) * 1000, pollIntervalMs, sleep, progress };
  const apply = { hetzner, resources, environment, log: out, actionTimeoutMs: positiveNumber(env, "INFRA_ACTION_TIMEOUT_S", 600) * 1000, pollIntervalMs, sleep, progress };
  return { environment, hetzner, resources, ssh, swarm, apply };
}

async function swarmNodes(run: Runtime) {
  const servers = await run.hetzner.listServers({ labelSelector: `${ownedSelector(run.environment)},role=${SWARM_NODE_ROLE}` });
  return servers.sort((a, b) => Number(a.labels.node) - Number(b.labels.node)).map((server) => nodeOf(server, null));
}

function summary(run: Runtime): string {
  const { remaining, limit } = run.hetzner.rateLimit;
  const budget = remaining !== null && limit !== null ? ` (${remaining} of ${limit} left this hour)` : "";
  const { answered } = run.hetzner;
  const failed = run.hetzner.unanswered > 0 ? `, ${run.hetzner.unanswered} got no answer` : "";
  return `Hetzner API: ${answered} request${answered === 1 ? "" : "s"} answered${failed}${budget}; remote commands: ${run.ssh.commands}.`;
}

const BACKUP_TARGETS_PIPE = "npm run -s infra -- backup-targets --env <name> | npx wrangler secret put BACKUP_TARGETS --env <worker env>";

type Flags = { yes: boolean; deleteVolumes: boolean; force: boolean };

async function execute(io: Io, command: Exclude<Command, "cloudflare-ips">, loaded: Environment, flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  const { yes } = flags;
  // The firewall's SSH sources may name a variable with the operator's addresses (dev.yaml).
  const environment = command === "plan" || command === "apply" ? withOperatorAddresses(loaded, env) : loaded;
  if (command === "backup-targets" && io.outIsTerminal !== false) {
    throw new Error(`backup-targets prints the backup users' passwords and keys, so it writes only into a pipe, never to a terminal: ${BACKUP_TARGETS_PIPE}`);
  }
  // backup-targets' stdout is the JSON alone: its progress and summary go to stderr.
  const out = command === "backup-targets" ? io.err : io.out;
  const run = runtime(environment, env, out);
  try {
    switch (command) {
      case "plan": {
        const { fingerprint } = readPublicKey(env);
        planHeader(environment, new Date()).forEach((line) => out(line));
        const changes = plan(environment, await observe(run.hetzner, run.resources, environment, fingerprint));
        formatPlan(changes).forEach((line) => out(line));
        return changes.length === 0 ? 0 : 2;
      }
      case "apply": {
        const { publicKey, fingerprint } = readPublicKey(env);
        planHeader(environment, new Date()).forEach((line) => out(line));
        const observed = await observe(run.hetzner, run.resources, environment, fingerprint);
        const changes = plan(environment, observed);
        formatPlan(changes).forEach((line) => out(line));
        if (changes.some((change) => change.op !== "manual") && !(await approved(io, "apply", environment, yes))) return 1;
        const { nodes, network } = await applyResources({ ...run.apply, publicKey, fingerprint }, observed);
        const swarm = await bootstrapSwarm(run.swarm, nodes);
        const done = [
          ...(swarm.initialized ? ["initialised"] : []),
          ...(swarm.joined.length > 0 ? [`${swarm.joined.length} joined`] : []),
          ...(swarm.labelled.length > 0 ? [`${swarm.labelled.length} labelled`] : []),
          ...(swarm.removed.length > 0 ? [`${swarm.removed.length} stale removed`] : []),
        ];
        out(`Swarm: ${done.length > 0 ? done.join(", ") : "no changes"} (${nodes.length} managers${swarm.kept.length > 0 ? `; ${swarm.kept.length} stale node${swarm.kept.length > 1 ? "s" : ""} left, see ! above` : ""}).`);
        out(backupNetworkLine(environment, network));
        const manual = changes.filter((change) => change.op === "manual");
        if (manual.length > 0 || swarm.kept.length > 0) {
          out("");
          out("Left for a person (apply does not touch these):");
          for (const change of manual) out(`  ! ${change.kind} ${change.name}: ${change.details.join("; ")}`);
          for (const host of swarm.kept) out(`  ! swarm node ${host}: see above`);
          io.err(`error: ${manual.length + swarm.kept.length} difference${manual.length + swarm.kept.length > 1 ? "s" : ""} need a person (listed above)`);
          return 1;
        }
        return 0;
      }
      case "destroy": {
        if (flags.force && !flags.deleteVolumes) throw new UsageError("--force only skips the backup check of --delete-volumes");
        if (flags.deleteVolumes) {
          if (flags.force) out("! --force: the data volumes are deleted without checking for a recent backup");
          else {
            const workerUrl = environment.backup.worker_url;
            const token = env.INFRA_ADMIN_TOKEN;
            if (!workerUrl || !token) {
              throw new Error(
                `destroy --delete-volumes first checks that the Worker finished a backup of ${environment.name} in the last 24 h: set ${workerUrl ? "" : "backup.worker_url in the environment file"}${!workerUrl && !token ? " and " : ""}${token ? "" : "INFRA_ADMIN_TOKEN (the Worker's ADMIN_TOKEN)"}, or pass --force to delete the data without that check`,
              );
            }
            const evidence = await recentDoneBackup({ workerUrl, token, now: new Date() });
            if (!evidence.ok) throw new Error(`refusing to delete the data volumes: ${evidence.reason}. Run a backup (POST /api/backups/run) and wait for it to end done, or pass --force`);
            out(`Backup: run ${evidence.run.id} ended done at ${evidence.finishedAt.toISOString()}.`);
          }
        }
        const targets = await listLabelled(run.hetzner, run.resources, environment);
        if (targets.length === 0) {
          out(`Nothing labelled managed-by=edge-ops,env=${environment.name}.`);
          return 0;
        }
        const kept = flags.deleteVolumes ? [] : targets.filter((target) => target.kind === "volume");
        targets.filter((target) => !kept.includes(target)).forEach((target) => out(`- ${target.kind} ${target.name}`));
        kept.forEach((target) => out(`  keep ${target.kind} ${target.name} (data; --delete-volumes deletes it)`));
        if (targets.length === kept.length) {
          out(`Nothing to destroy but the data volumes of ${environment.name}: --delete-volumes deletes them.`);
          return 0;
        }
        if (!(await approved(io, "destroy", environment, yes))) return 1;
        const left = await destroy(run.apply, targets, { deleteVolumes: flags.deleteVolumes });
        if (left.length > 0) {
          io.err(`error: still labelled after destroy: ${left.map((item) => `${item.kind} ${item.name}`).join(", ")}`);
          return 1;
        }
        out(
          kept.length > 0
            ? `Destroyed: only the ${kept.length} data volume${kept.length > 1 ? "s" : ""} of ${environment.name} remain${kept.length > 1 ? "" : "s"} (labelled: apply attaches them to new servers; destroy --delete-volumes deletes them).`
            : `Destroyed: nothing labelled managed-by=edge-ops,env=${environment.name} remains.`,
        );
        return 0;
      }
      case "status": {
        const [servers, networks] = await Promise.all([run.hetzner.listServers({ labelSelector: ownedSelector(environment) }), run.resources.listNetworks(ownedSelector(environment))]);
        const network = networks.length === 1 ? networks[0]! : null;
        const nodes = servers.filter((server) => server.labels.role === SWARM_NODE_ROLE).sort((a, b) => Number(a.labels.node) - Number(b.labels.node)).map((server) => nodeOf(server, network?.id ?? null));
        const report = await status(run.swarm, servers, nodes, network);
        report.lines.forEach((line) => out(line));
        return report.healthy ? 0 : 2;
      }
      case "deploy": {
        const secrets = resolveSecrets(repositoryRoot, environment, env);
        // Rendered and checked first: nothing reaches a node when a stack, path or certificate is wrong.
        const context = { ...run.swarm, root: repositoryRoot, secrets };
        const prepared = prepareDeploy(context);
        const nodes = await swarmNodes(run);
        const manager = await findManager(run.swarm, nodes);
        const result = await deployStacks(context, manager, nodes, prepared);
        out(
          `Deployed ${result.stacks.join(", ") || "no stacks"} from ${manager.name}; ${result.secretsCreated.length} new docker secrets, ${result.configsCreated.length} new docker configs; ` +
            `${result.secretsRemoved.length} unused secrets and ${result.configsRemoved.length} unused configs removed.`,
        );
        return 0;
      }
      case "backup-image": {
        const { publicKey, fingerprint } = readPublicKey(env);
        const observed = await observe(run.hetzner, run.resources, environment, fingerprint);
        const key =
          observed.deployKey ?? (await run.resources.createSshKey({ name: `${resourceName(environment)}-deploy`, public_key: publicKey, labels: resourceLabels(environment) }));
        const image = await buildBackupImage({ ...run.apply, publicKey, fingerprint, ssh: run.ssh, swarm: run.swarm, root: repositoryRoot, keyId: key.id, now: () => new Date() });
        out(`Backup image ${image.imageId} ready: the Worker's backups use the newest snapshot labelled role=backup-runner (the one before it is kept to fall back to).`);
        return 0;
      }
      case "backup-targets": {
        // Everything read from files first: a missing secret or key fails before any call.
        checkBackupSettings(environment);
        const endpoints = dumpEndpoints(repositoryRoot, environment);
        const secrets = new Map(resolveSecrets(repositoryRoot, environment, env, backupSecretNames(environment, endpoints)).map((secret) => [secret.name, secret.value]));
        const [networks, servers] = await Promise.all([
          run.resources.listNetworks(ownedSelector(environment)),
          run.hetzner.listServers({ labelSelector: `${ownedSelector(environment)},role=${SWARM_NODE_ROLE}` }),
        ]);
        if (networks.length !== 1) throw new Error(`${networks.length} networks carry this environment's labels: run apply (or delete the extra one by hand)`);
        const nodes = servers.sort((a, b) => Number(a.labels.node) - Number(b.labels.node)).map((server) => nodeOf(server, networks[0]!.id));
        const hostKeys = environment.backup.paths.length > 0 ? await readHostKeys(run.ssh, nodes, out) : new Map<number, string | null>();
        const targets = buildBackupTargets({ environment, endpoints, nodes, secrets, hostKeys });
        if (targets.length === 0) out("! no backup targets: the stacks publish no dump endpoint and backup.paths is empty (a run backs up nothing and fails saying so)");
        io.out(JSON.stringify(targets));
        out(`BACKUP_TARGETS written to stdout: ${targets.map((target) => target.name).join(", ") || "no targets"}.`);
        out(backupNetworkLine(environment, networks[0]!));
        return 0;
      }
    }
  } finally {
    await run.hetzner.settled();
    out(summary(run));
  }
}

/** `cloudflare-ips`: Cloudflare's two lists into the data file (INFRA_CLOUDFLARE_IPS_URL, _FILE for tests). */
async function cloudflareIps(io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const file = env.INFRA_CLOUDFLARE_IPS_FILE ? resolve(env.INFRA_CLOUDFLARE_IPS_FILE) : DEFAULT_CLOUDFLARE_IPS_FILE;
  const result = await refreshCloudflareRanges({ base: env.INFRA_CLOUDFLARE_IPS_URL || undefined, file, now: new Date() });
  for (const range of result.added) io.out(`+ ${range}`);
  for (const range of result.removed) io.out(`- ${range}`);
  const changed = result.added.length + result.removed.length;
  io.out(
    `Cloudflare's ranges: ${result.ranges.ipv4.length} IPv4, ${result.ranges.ipv6.length} IPv6 from ${result.ranges.sources.ipv4} and ${result.ranges.sources.ipv6}, written to ${shownPath(repositoryRoot, file)} (${result.ranges.date}). ` +
      (changed > 0 ? `${changed} changed: plan shows the firewall update, apply makes it.` : "Unchanged."),
  );
  return 0;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = processIo): Promise<number> {
  const out = io.out;
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          env: { type: "string" },
          yes: { type: "boolean", default: false },
          "delete-volumes": { type: "boolean", default: false },
          force: { type: "boolean", default: false },
          help: { type: "boolean", short: "h", default: false },
        },
      });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const { positionals, values } = parsed;
    if (values.help) {
      out(USAGE);
      return 0;
    }
    const [command, ...extra] = positionals;
    if (!command || !(COMMANDS as readonly string[]).includes(command) || extra.length > 0) throw new UsageError(`expected one command of ${COMMANDS.join(", ")}`);
    if ((values["delete-volumes"] || values.force) && command !== "destroy") throw new UsageError("--delete-volumes and --force belong to destroy");
    if (command === "cloudflare-ips") {
      if (values.env) throw new UsageError("cloudflare-ips takes no --env: the ranges are the same for every environment");
      return await cloudflareIps(io, env);
    }
    if (!values.env) throw new UsageError("--env <name> is required (a file in infra/environments/)");
    const root = env.INFRA_ENVIRONMENTS_DIR ? resolve(env.INFRA_ENVIRONMENTS_DIR) : join(repositoryRoot, "infra", "environments");
    const environment = loadEnvironment(root, values.env, { cloudflareFile: env.INFRA_CLOUDFLARE_IPS_FILE ? resolve(env.INFRA_CLOUDFLARE_IPS_FILE) : undefined });
    return await execute(io, command as Exclude<Command, "cloudflare-ips">, environment, { yes: values.yes, deleteVolumes: values["delete-volumes"], force: values.force }, env);
  } catch (error) {
    if (error instanceof UsageError) io.err(`error: ${error.message}\n\n${USAGE}`);
    else io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

await runIfEntryPoint(import.meta.url, main);
