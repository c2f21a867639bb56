// `deploy`: the environment's docker secrets first, then the stacks' docker configs, then each
// stack file, rendered here and sent on standard input to `docker stack deploy -c - <stack>` on a
// manager. Values travel only on stdin: never on a command line, in a log line or in the rendered
// stack file.
//
// Docker configs: `docker stack deploy -c -` reads the stack from stdin, so a config's `file:`
// would be resolved on the manager, where the repository is not (docker/cli v29.7
// cli/compose/loader `loadFileObjectConfig`; the v3 schema has no inline `content:`). A config is
// declared external instead, named by a variable the CLI sets, with `x-file:` pointing at the file
// next to the stack file; the CLI creates it from stdin like a secret (checked against docker/cli
// v29.7.2 and swarmkit manager/controlapi/config.go, 2026-12-06: a config cannot change, only its
// labels; `MaxConfigSize` 1000 KiB).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import type { Node } from "./apply.ts";
import { BACKUP_USER, backupAccessScript } from "./backup-route.ts";
import type { Environment } from "./config.ts";
import { readEnvFile } from "./env-file.ts";
import type { SwarmContext } from "./swarm.ts";

/** The variable a stack file names a secret by: `mongo_root_password` → `MONGO_ROOT_PASSWORD_SECRET`. */
export const secretVariable = (name: string) => `${name.toUpperCase()}_SECRET`;
/** Where a value may come from besides the secrets file: `INFRA_SECRET_MONGO_ROOT_PASSWORD`. */
export const secretEnvironmentVariable = (name: string) => `INFRA_SECRET_${name.toUpperCase()}`;
export const secretsFile = (root: string, environment: Environment) => join(root, "secrets", environment.name, "swarm.env");

export type SwarmSecret = { name: string; dockerName: string; value: string };

/**
 * Docker secrets cannot change: a new value is a new secret. The name carries a digest of the
 * value so a changed value deploys as a new secret and an unchanged one is left alone. Only
 * someone who can already list the Swarm's secrets (root on a manager, who can read them) sees it.
 */
export const dockerSecretName = (name: string, value: string) => `${name}_${createHash("sha256").update(`${name}\0${value}`).digest("hex").slice(0, 12)}`;

/** The values of `names` (default: every secret the environment lists); a missing one throws, naming where to set it. */
export function resolveSecrets(root: string, environment: Environment, env: NodeJS.ProcessEnv, names: readonly string[] = environment.secrets): SwarmSecret[] {
  const path = secretsFile(root, environment);
  const file = names.length > 0 ? readEnvFile(path) : null;
  const missing: string[] = [];
  const secrets = names.flatMap((name) => {
    const value = env[secretEnvironmentVariable(name)] ?? file?.get(name.toUpperCase()) ?? file?.get(name);
    if (value === undefined || value === "") {
      missing.push(name);
      return [];
    }
    return [{ name, dockerName: dockerSecretName(name, value), value }];
  });
  if (missing.length > 0) {
    throw new Error(`no value for the docker secret${missing.length > 1 ? "s" : ""} ${missing.join(", ")}: set ${missing.map((name) => name.toUpperCase()).join(", ")} in ${path} or ${missing.map(secretEnvironmentVariable).join(", ")}`);
  }
  return secrets;
}

/**
 * Replaces `${NAME}`, `${NAME:?message}`, `${NAME:-default}` with the environment's values. `$$`
 * stays (docker turns it into `$`); a `$` in a value is written `$$` so the daemon side does not
 * interpolate again.
 */
export function renderStack(text: string, variables: Record<string, string>, source: string): string {
  const missing = new Set<string>();
  const rendered = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}/g, (match, name: string | undefined, operator: string | undefined, argument: string | undefined) => {
    if (name === undefined) return match;
    const value = variables[name];
    const empty = value === undefined || (operator?.startsWith(":") === true && value === "");
    if (empty && (operator === ":-" || operator === "-")) return (argument ?? "").replaceAll("$", () => "$$");
    if (value === undefined || empty) {
      missing.add(name);
      return match;
    }
    return value.replaceAll("$", () => "$$");
  });
  if (missing.size > 0) throw new Error(`${source} needs ${[...missing].join(", ")}: set ${missing.size > 1 ? "them" : "it"} under the stack's variables (or list the secret) in the environment file`);
  return rendered;
}

/** The variable a stack file names a config by: `prometheus_yml` → `PROMETHEUS_YML_CONFIG`. */
export const configVariable = (key: string) => `${key.toUpperCase()}_CONFIG`;
/** Docker configs are immutable like secrets: the same versioned name, `<key>_<12 hex of sha256(key, content)>`. */
export const dockerConfigName = (key: string, content: string) => dockerSecretName(key, content);
/** swarmkit's MaxConfigSize: a config's data must be shorter. */
export const MAX_CONFIG_BYTES = 1000 * 1024;

export type SwarmConfig = { key: string; stack: string; file: string; dockerName: string; content: string };

/**
 * Fills `${NAME}`, `${NAME:?message}`, `${NAME:-default}` (upper-case names only) in a config
 * file with the stack's variables. Nothing else changes: a config is not a compose file, so `$$`
 * stays `$$`, and `$labels`, `{{ $value }}` or a dashboard's `$__rate_interval` are left alone.
 */
export function renderConfig(text: string, variables: Record<string, string>, source: string): string {
  const missing = new Set<string>();
  const rendered = text.replace(/\$\{([A-Z][A-Z0-9_]*)(?:(:?[?-])([^}]*))?\}/g, (match, name: string, operator: string | undefined, argument: string | undefined) => {
    const value = variables[name];
    const empty = value === undefined || (operator?.startsWith(":") === true && value === "");
    if (empty && (operator === ":-" || operator === "-")) return argument ?? "";
    if (value === undefined || empty) {
      missing.add(name);
      return match;
    }
    return value;
  });
  if (missing.size > 0) throw new Error(`${source} needs ${[...missing].join(", ")}: set ${missing.size > 1 ? "them" : "it"} under the stack's variables in the environment file`);
  return rendered;
}

const configDeclarationSchema = z.object({ external: z.literal(true), name: z.string(), "x-file": z.string().min(1) });

/**
 * The docker configs a stack file declares, read from the files their `x-file:` names (relative to
 * the stack file, inside the repository) and rendered with the stack's variables. A declaration
 * without `x-file`, a missing file or one over swarmkit's limit throws, naming it.
 */
export function stackConfigs(root: string, stack: { name: string; file: string; variables: Record<string, string> }): SwarmConfig[] {
  const stackPath = join(root, stack.file);
  const document = parse(readFileSync(stackPath, "utf8")) as { configs?: Record<string, unknown> } | null;
  return Object.entries(document?.configs ?? {}).map(([key, declaration]) => {
    const parsed = configDeclarationSchema.safeParse(declaration);
    if (!parsed.success) throw new Error(`${stack.file}: config ${key} must be external: true with name: \${${configVariable(key)}} and x-file: <file next to the stack file>`);
    const path = join(dirname(stackPath), parsed.data["x-file"]);
    const file = relative(root, path);
    if (file.startsWith("..")) throw new Error(`${stack.file}: config ${key} reads ${parsed.data["x-file"]}, outside the repository`);
    const content = renderConfig(readFileSync(path, "utf8"), stack.variables, file);
    if (Buffer.byteLength(content) >= MAX_CONFIG_BYTES) throw new Error(`${file}: ${Buffer.byteLength(content)} bytes; a docker config must be under ${MAX_CONFIG_BYTES}`);
    if (content.length === 0) throw new Error(`${file} is empty; a docker config cannot be`);
    return { key, stack: stack.name, file, dockerName: dockerConfigName(key, content), content };
  });
}

/** Where the data volume is mounted on every node (cloud-init's udev rule). */
export const DATA_MOUNT = "/mnt/data";

/**
 * Host directories under /mnt/data that the stack's services bind-mount: Swarm does not create a
 * bind mount's source, so deploy makes them first (on every node: a service pinned to node 2
 * finds its directory there).
 */
export function dataDirectories(stackText: string): string[] {
  const document = parse(stackText) as { services?: Record<string, { volumes?: unknown[] } | null> } | null;
  const directories = new Set<string>();
  for (const service of Object.values(document?.services ?? {})) {
    for (const volume of service?.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : (volume as { type?: unknown; source?: unknown }).type === "bind" ? (volume as { source?: unknown }).source : undefined;
      if (typeof source === "string" && source.startsWith(`${DATA_MOUNT}/`)) directories.add(source);
    }
  }
  return [...directories].sort();
}

export type DeployResult = { secretsCreated: string[]; configsCreated: string[]; stacks: string[] };

export async function deployStacks(context: SwarmContext & { root: string; secrets: SwarmSecret[] }, manager: Node, nodes: Node[]): Promise<DeployResult> {
  const { ssh, environment, log } = context;
  const result: DeployResult = { secretsCreated: [], configsCreated: [], stacks: [] };
  // Render every stack and config before touching the Swarm: a missing variable stops the deploy early.
  const secretNames = Object.fromEntries(context.secrets.map((secret) => [secretVariable(secret.name), secret.dockerName]));
  const configs: SwarmConfig[] = [];
  const stacks = environment.stacks.map((stack) => {
    const path = join(context.root, stack.file);
    const stackConfigList = stackConfigs(context.root, stack);
    configs.push(...stackConfigList);
    const configNames = Object.fromEntries(stackConfigList.map((config) => [configVariable(config.key), config.dockerName]));
    return { name: stack.name, text: renderStack(readFileSync(path, "utf8"), { ...stack.variables, ...secretNames, ...configNames }, stack.file) };
  });

  const directories = [...new Set(stacks.flatMap((stack) => dataDirectories(stack.text)))].sort();
  if (directories.length > 0) {
    // Only on the mounted volume: without it the data would land on the server's root disk.
    await Promise.all(
      nodes.map(async (node) => {
        const mounted = await ssh.run(node.publicIp, `mountpoint -q ${DATA_MOUNT}`);
        if (mounted.exitCode !== 0) throw new Error(`${node.name}: no data volume mounted at ${DATA_MOUNT} (exit ${mounted.exitCode}); check the volume is attached (plan) and the node's udev rule`);
        await ssh.check(node.publicIp, `mkdir -p ${directories.join(" ")}`);
      }),
    );
  }
  // The backup route's SSH side (docs/architecture.md) on every node, also for an environment
  // without backup paths or key: a key removed from the file is revoked on the nodes.
  const access = backupAccessScript(environment);
  await Promise.all(nodes.map((node) => ssh.check(node.publicIp, "bash -s", { stdin: access })));
  const { ssh_public_key: backupKey, paths: backupPaths } = environment.backup;
  log(`~ ${BACKUP_USER} on ${nodes.length} nodes: ${backupKey ? `read-only rsync${backupPaths.length > 0 ? ` of ${backupPaths.join(", ")}` : ""}` : "no key accepted (backup.ssh_public_key unset)"}`);
  const existing = new Set((await ssh.check(manager.publicIp, "docker secret ls --format '{{.Name}}'")).split("\n").map((line) => line.trim()));
  for (const secret of context.secrets) {
    if (existing.has(secret.dockerName)) continue;
    await ssh.check(manager.publicIp, `docker secret create --label managed-by=edge-ops --label edge-ops.secret=${secret.name} ${secret.dockerName} -`, { stdin: secret.value });
    log(`+ docker secret ${secret.dockerName}`);
    result.secretsCreated.push(secret.dockerName);
  }
  if (configs.length > 0) {
    const existingConfigs = new Set((await ssh.check(manager.publicIp, "docker config ls --format '{{.Name}}'")).split("\n").map((line) => line.trim()));
    for (const config of configs) {
      if (existingConfigs.has(config.dockerName)) continue;
      existingConfigs.add(config.dockerName);
      await ssh.check(manager.publicIp, `docker config create --label managed-by=edge-ops --label edge-ops.config=${config.key} ${config.dockerName} -`, { stdin: config.content });
      log(`+ docker config ${config.dockerName} (${config.file})`);
      result.configsCreated.push(config.dockerName);
    }
  }
  for (const stack of stacks) {
    await ssh.check(manager.publicIp, `docker stack deploy --prune --with-registry-auth --detach=false -c - ${stack.name}`, { stdin: stack.text });
    log(`~ stack ${stack.name} deployed`);
    result.stacks.push(stack.name);
  }
  return result;
}
