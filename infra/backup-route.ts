// The route from a backup server to the platform's state (docs/architecture.md): which endpoints
// the stacks publish for it, the read-only SSH user on the nodes, and `BACKUP_TARGETS` (the JSON
// the Worker hands the backup runner) built from the nodes' private addresses and the
// environment's secrets by `npm run infra -- backup-targets`.
//
// Checked 2026-12-06: Debian 12's rsync package (3.5.0+ds1-0+deb12u1, bookworm-security) ships
// /usr/bin/rrsync (python3); with DIR `/` it strips a leading slash and serves paths relative to
// `/`, and `-ro` refuses any transfer that is not the server sending. MongoDB's server selection
// spec: a direct connection (topology Single) ignores the read preference and sends
// primaryPreferred, so a secondary answers; a replica-set connection replaces the seeds by the
// members' configured names (SDAM, "me" mismatch). SeaweedFS (weed/s3api, 3.x): identity actions
// Read, Write, List, Tagging, Admin, optionally `:<bucket>`; ListBuckets lists the buckets the
// identity may List.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import type { Node } from "./apply.ts";
import type { Environment } from "./config.ts";
import { quoted as shellQuote } from "./shell.ts";
import type { Ssh } from "./ssh.ts";
import { backupTargetsVariable, type BackupTargetInput } from "../workers/backups/targets.ts";

/** The user the backup runner logs in as on every node; its key may only run `rrsync -ro /`. */
export const BACKUP_USER = "edge-ops-backup";
export const BACKUP_USER_HOME = "/var/lib/edge-ops-backup";
/** Before the key in authorized_keys: no shell, forwarding or pty; only read-only rsync from `/`. */
export const BACKUP_KEY_OPTIONS = 'restrict,command="rrsync -ro /"';
/** Docker secrets holding the backup users' passwords (created by mongo1's and Postgres's health checks). */
export const MONGO_BACKUP_SECRET = "mongo_backup_password";
export const POSTGRES_BACKUP_SECRET = "postgres_backup_password";
/** The S3 identities of the SeaweedFS gateway; the backup reads with the identity named "backup". */
export const S3_CONFIG_SECRET = "seaweedfs_s3_config";
export const S3_BACKUP_IDENTITY = "backup";
/** MongoDB user (built-in role `backup` only) and Postgres role (`pg_read_all_data` only). */
export const DATABASE_BACKUP_USER = "backup";
/** What a node answers with its SSH host key, pinned in the path targets. */
export const HOST_KEY_COMMAND = "cat /etc/ssh/ssh_host_ed25519_key.pub";


/**
 * The node side of the path targets, run by cloud-init on a new node and by `deploy` on every
 * node (so a changed key or path list converges, and a removed key is revoked). The user is not
 * root: rrsync -ro keeps it from writing, and the file permissions keep it to the named paths,
 * which it reads through ACLs (its own entry plus a default entry that new files inherit).
 */
export function backupAccessScript(environment: Environment): string {
  const { ssh_public_key: key, paths } = environment.backup;
  const authorized = `${BACKUP_USER_HOME}/.ssh/authorized_keys`;
  const lines = [
    "#!/bin/sh",
    `# ${BACKUP_USER}: read-only rsync for the Worker's backups (infra/backup-route.ts, docs/architecture.md).`,
    "set -eu",
  ];
  if (!key) {
    lines.push(
      "# No backup.ssh_public_key in the environment file: no key is accepted (one installed before is revoked).",
      `if [ -f ${authorized} ]; then : > ${authorized}; fi`,
    );
    return `${lines.join("\n")}\n`;
  }
  lines.push(
    "if ! command -v rrsync >/dev/null 2>&1 || ! command -v setfacl >/dev/null 2>&1; then",
    "  apt-get update -q",
    "  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rsync acl python3",
    "fi",
    `if ! id -u ${BACKUP_USER} >/dev/null 2>&1; then`,
    // dash, not bash: bash may run startup files before the forced command (rrsync(1), BASH SECURITY ISSUE).
    `  useradd --system --user-group --shell /bin/sh --home-dir ${BACKUP_USER_HOME} --no-create-home ${BACKUP_USER}`,
    "fi",
    "# No password: '*' is not the locked prefix '!', so sshd takes the key also without PAM.",
    `usermod --password '*' ${BACKUP_USER}`,
    "# Root owns the home and the key file: the user cannot lift its own restriction.",
    `install -d -o root -g root -m 0755 ${BACKUP_USER_HOME} ${BACKUP_USER_HOME}/.ssh`,
    `printf '%s %s\\n' ${shellQuote(BACKUP_KEY_OPTIONS)} ${shellQuote(key)} > ${authorized}.new`,
    `chmod 0644 ${authorized}.new`,
    `mv -f ${authorized}.new ${authorized}`,
  );
  if (paths.length > 0) {
    lines.push(
      "# Readable by the backup user, without changing owners or modes; files created later inherit the",
      "# default entry (one created with mode 0600 masks it until the next deploy: its part fails loudly).",
      `for path in ${paths.map(shellQuote).join(" ")}; do`,
      '  mkdir -p "$path"',
      `  setfacl -R -m u:${BACKUP_USER}:rX,d:u:${BACKUP_USER}:rX "$path"`,
      "done",
    );
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// What the stacks publish for the backup server

export type DumpKind = "mongodb" | "postgres" | "s3";
/** A service that publishes a port in host mode for the backup server, pinned to one node. */
export type DumpEndpoint = { kind: DumpKind; stack: string; service: string; node: number; port: number; database: string | null };

const portSchema = z.object({ target: z.number().int(), published: z.number().int().optional(), mode: z.string().optional() }).loose();
const stackServiceSchema = z
  .object({
    image: z.string(),
    command: z.union([z.string(), z.array(z.string())]).optional(),
    environment: z.union([z.record(z.string(), z.unknown()), z.array(z.string())]).optional(),
    // Short syntax ("8333:8333") is ingress mode: never a dump endpoint.
    ports: z.array(z.union([portSchema, z.string(), z.number()])).optional(),
    deploy: z.object({ placement: z.object({ constraints: z.array(z.string()).optional() }).loose().optional() }).loose().optional(),
  })
  .loose();
const stackFileSchema = z.object({ services: z.record(z.string(), stackServiceSchema).default({}) }).loose();

const repositoryOf = (image: string) => {
  const last = image.split("@")[0]!.split("/").pop() ?? "";
  return last.split(":")[0] ?? "";
};
const wordsOf = (command: string | string[] | undefined) => (command === undefined ? [] : typeof command === "string" ? command.split(/\s+/).filter(Boolean) : command);
const flagOf = (words: string[], name: string) => words.map((word) => new RegExp(`^-{1,2}${name.replaceAll(".", "\\.")}=(.*)$`).exec(word)?.[1]).find((value) => value !== undefined);
const environmentValue = (environment: z.infer<typeof stackServiceSchema>["environment"], key: string): string | undefined => {
  if (Array.isArray(environment)) return environment.find((entry) => entry.startsWith(`${key}=`))?.slice(key.length + 1);
  const value = environment?.[key];
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
};

/** The dump endpoints of the environment's stacks, read from the stack files (unrendered). */
export function dumpEndpoints(root: string, environment: Environment): DumpEndpoint[] {
  const endpoints: DumpEndpoint[] = [];
  for (const stack of environment.stacks) {
    const parsed = stackFileSchema.safeParse(parse(readFileSync(join(root, stack.file), "utf8")));
    if (!parsed.success) throw new Error(`${stack.file}: not a stack file this CLI can read (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`);
    for (const [service, definition] of Object.entries(parsed.data.services)) {
      const repository = repositoryOf(definition.image);
      const words = wordsOf(definition.command);
      const kindOf = (target: number): DumpKind | null => {
        if (repository === "mongo" && target === 27017) return "mongodb";
        if (repository === "postgres" && target === 5432) return "postgres";
        const gateway = words[0] === "filer" && words.some((word) => /^-{1,2}s3(=true)?$/.test(word));
        if (repository === "seaweedfs" && gateway && target === Number(flagOf(words, "s3.port") ?? 8333)) return "s3";
        return null;
      };
      for (const port of definition.ports ?? []) {
        if (typeof port !== "object" || port.mode !== "host") continue;
        const kind = kindOf(port.target);
        if (kind === null) continue;
        const pinned = (definition.deploy?.placement?.constraints ?? []).map((constraint) => /^node\.labels\.node\s*==\s*(\d+)$/.exec(constraint.trim())?.[1]).find((node) => node !== undefined);
        if (pinned === undefined) throw new Error(`${stack.file}: ${service} publishes ${port.target} for the backups but is not pinned to a node (node.labels.node == N), so no address reaches it`);
        const database = kind === "postgres" ? (environmentValue(definition.environment, "POSTGRES_DB") ?? environmentValue(definition.environment, "POSTGRES_USER") ?? "postgres") : null;
        endpoints.push({ kind, stack: stack.name, service, node: Number(pinned), port: port.published ?? port.target, database });
      }
    }
  }
  const order: DumpKind[] = ["mongodb", "postgres", "s3"];
  return endpoints.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
}

/** Path targets need the key the nodes accept: refused before any call when the file lacks it. */
export function checkBackupSettings(environment: Environment): void {
  if (environment.backup.paths.length > 0 && !environment.backup.ssh_public_key) {
    throw new Error("backup.ssh_public_key is not set, but backup.paths names host paths: set it to the public half of the Worker's BACKUP_SSH_PRIVATE_KEY and deploy, or the runner cannot log in");
  }
}

/** The secrets BACKUP_TARGETS needs for these endpoints; each must be listed in the environment. */
export function backupSecretNames(environment: Environment, endpoints: DumpEndpoint[]): string[] {
  const needed = [
    ...(endpoints.some((endpoint) => endpoint.kind === "mongodb") ? [MONGO_BACKUP_SECRET] : []),
    ...(endpoints.some((endpoint) => endpoint.kind === "postgres") ? [POSTGRES_BACKUP_SECRET] : []),
    ...(endpoints.some((endpoint) => endpoint.kind === "s3") ? [S3_CONFIG_SECRET] : []),
  ];
  const unlisted = needed.filter((name) => !environment.secrets.includes(name));
  if (unlisted.length > 0) throw new Error(`secrets: the stacks publish a backup endpoint that needs ${unlisted.join(", ")}, which the environment file does not list`);
  return needed;
}

// ---------------------------------------------------------------------------------------------
// BACKUP_TARGETS

// The targets are checked with the Worker's own schema (workers/backups/targets.ts), so what this
// prints is what the Worker accepts.
export type BackupTarget = BackupTargetInput;

/** The gateway's identities file as SeaweedFS reads it (`-s3.config`). */
const seaweedIdentitiesSchema = z
  .object({
    identities: z.array(
      z
        .object({
          name: z.string(),
          credentials: z.array(z.object({ accessKey: z.string().min(1), secretKey: z.string().min(1) }).loose()).default([]),
          actions: z.array(z.string()).default([]),
        })
        .loose(),
    ),
  })
  .loose();

/** The key of the read-only identity "backup": only Read and List (optionally per bucket). */
export function s3BackupCredentials(config: string): { accessKeyId: string; secretAccessKey: string } {
  let document: unknown;
  try {
    document = JSON.parse(config);
  } catch {
    throw new Error(`${S3_CONFIG_SECRET} is not JSON`);
  }
  const parsed = seaweedIdentitiesSchema.safeParse(document);
  if (!parsed.success) throw new Error(`${S3_CONFIG_SECRET} is not a SeaweedFS identities file (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`);
  const identity = parsed.data.identities.find((candidate) => candidate.name === S3_BACKUP_IDENTITY);
  const credentials = identity?.credentials[0];
  if (!identity || !credentials) throw new Error(`${S3_CONFIG_SECRET} has no identity named "${S3_BACKUP_IDENTITY}" with credentials: add one with the actions ["Read", "List"] (swarm-stacks/README.md)`);
  const writes = identity.actions.filter((action) => !/^(Read|List)(:[^:]+)?$/.test(action));
  if (identity.actions.length === 0 || writes.length > 0) {
    throw new Error(`${S3_CONFIG_SECRET}: the identity "${S3_BACKUP_IDENTITY}" must have only Read and List actions${writes.length > 0 ? ` (it has ${writes.join(", ")})` : ""}: the key the backup server holds must not change files`);
  }
  return { accessKeyId: credentials.accessKey, secretAccessKey: credentials.secretKey };
}

export type TargetInput = {
  environment: Environment;
  endpoints: DumpEndpoint[];
  /** The environment's nodes with their addresses in its network. */
  nodes: Node[];
  /** Secret values by name (backupSecretNames). */
  secrets: ReadonlyMap<string, string>;
  /** Each node's SSH host key ("ssh-ed25519 AAAA…"), null when it could not be read. */
  hostKeys: ReadonlyMap<number, string | null>;
};

/** BACKUP_TARGETS for the environment, in the order the runner reports them. */
export function buildBackupTargets(input: TargetInput): BackupTarget[] {
  const { environment, endpoints, nodes, secrets } = input;
  const addressOf = (node: number) => {
    const found = nodes.find((candidate) => candidate.node === node);
    if (!found) throw new Error(`node ${node} has no server in ${environment.name} (run apply)`);
    return found.privateIp;
  };
  const secret = (name: string) => {
    const value = secrets.get(name);
    if (value === undefined || value === "") throw new Error(`no value for the docker secret ${name}`);
    return value;
  };
  const targets: BackupTarget[] = [];

  const members = endpoints.filter((endpoint) => endpoint.kind === "mongodb");
  if (members.length > 0) {
    const member = members.find((endpoint) => endpoint.node === environment.backup.mongodb_node);
    if (!member) throw new Error(`backup.mongodb_node: no MongoDB member publishes its port on node ${environment.backup.mongodb_node} (members on nodes ${members.map((endpoint) => endpoint.node).join(", ")})`);
    // A direct connection: the replica set names its members mongo1..3, which resolve only on the
    // overlay network, so a replica-set URI would swap these addresses for unresolvable names.
    const password = encodeURIComponent(secret(MONGO_BACKUP_SECRET));
    targets.push({ name: "mongodb", kind: "mongodb", uri: `mongodb://${DATABASE_BACKUP_USER}:${password}@${addressOf(member.node)}:${member.port}/?directConnection=true&authSource=admin` });
  }
  for (const endpoint of endpoints.filter((candidate) => candidate.kind === "postgres")) {
    const database = endpoint.database ?? "postgres";
    const name = `${database.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+/, "").slice(0, 30) || endpoint.service}-postgres`;
    targets.push({ name, kind: "postgres", host: addressOf(endpoint.node), port: endpoint.port, database, user: DATABASE_BACKUP_USER, password: secret(POSTGRES_BACKUP_SECRET) });
  }
  for (const endpoint of endpoints.filter((candidate) => candidate.kind === "s3")) {
    const buckets = environment.backup.s3_buckets;
    targets.push({
      name: "seaweedfs",
      kind: "s3",
      endpoint: `http://${addressOf(endpoint.node)}:${endpoint.port}`,
      ...(buckets.length > 0 ? { buckets } : {}),
      ...s3BackupCredentials(secret(S3_CONFIG_SECRET)),
      region: "us-east-1",
    });
  }
  if (environment.backup.paths.length > 0) {
    checkBackupSettings(environment);
    for (const node of [...nodes].sort((a, b) => a.node - b.node)) {
      const hostKey = input.hostKeys.get(node.node) ?? null;
      targets.push({ name: `node${node.node}-host`, kind: "path", host: node.privateIp, user: BACKUP_USER, port: 22, paths: environment.backup.paths, ...(hostKey ? { hostKey } : {}) });
    }
  }
  const checked = backupTargetsVariable.safeParse(JSON.stringify(targets));
  if (!checked.success) throw new Error(`the backup targets are invalid: ${checked.error.issues.map((issue) => issue.message).join("; ")}`);
  // As built, not as parsed: the Worker fills in the defaults itself.
  return targets;
}

/** Each node's ed25519 host key over the CLI's SSH; null (and a line in `log`) when unreadable. */
export async function readHostKeys(ssh: Ssh, nodes: Node[], log: (line: string) => void): Promise<Map<number, string | null>> {
  const entries = await Promise.all(
    nodes.map(async (node): Promise<[number, string | null]> => {
      const result = await ssh.run(node.publicIp, HOST_KEY_COMMAND);
      const key = result.exitCode === 0 ? /^(ssh-ed25519 [A-Za-z0-9+/]+={0,2})(\s|$)/.exec(result.stdout.trim())?.[1] : undefined;
      if (!key) log(`! ${node.name}: could not read its SSH host key (exit ${result.exitCode}): its path target has no hostKey, so the runner trusts the first key it sees`);
      return [node.node, key ?? null];
    }),
  );
  return new Map(entries);
}

/** The line apply and status print: the network the Worker's backup servers are attached to. */
export function backupNetworkLine(environment: Environment, network: { id: number; name: string } | null): string {
  if (!network) return "Backups: no network yet (run apply); the Worker's BACKUP_NETWORK_ID is its id.";
  return `Backups: BACKUP_NETWORK_ID=${network.id} (network ${network.name}, ${environment.networkZone}: BACKUP_LOCATION must be a location of that zone, e.g. ${environment.location}).`;
}
