// `deploy`: the environment's docker secrets first, then the stacks' docker configs, then each
// stack file, rendered here and sent on standard input to `docker stack deploy -c - <stack>` on a
// manager; then the docker secrets and configs of ours (label managed-by=edge-ops) that no service
// uses any more are removed (a changed value leaves its old version behind otherwise). Values
// travel only on stdin: never on a command line, in a log line or in the rendered stack file.
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
import { isSafePath, raw, sh, SHELL_SAFE } from "./shell.ts";
import type { SwarmContext } from "./swarm.ts";
import { checkCertificatePair, TLS_CERTIFICATE_SECRET, TLS_PRIVATE_KEY_SECRET } from "./tls.ts";

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
 * Fills `${NAME}`, `${NAME:?message}`, `${NAME:-default}` (and their forms without the colon)
 * from `variables`; the names `pattern` captures in its first group that have no value throw
 * together. A match without a name (the stack pattern's `$$`) stays as it is.
 */
function substitute(text: string, variables: Record<string, string>, source: string, options: { pattern: RegExp; escapeDollars: boolean; hint: string }): string {
  const missing = new Set<string>();
  const escape = (value: string) => (options.escapeDollars ? value.replaceAll("$", () => "$$") : value);
  const rendered = text.replace(options.pattern, (match, name: string | undefined, operator: string | undefined, argument: string | undefined) => {
    if (name === undefined) return match;
    const value = variables[name];
    const empty = value === undefined || (operator?.startsWith(":") === true && value === "");
    if (empty && (operator === ":-" || operator === "-")) return escape(argument ?? "");
    if (value === undefined || empty) {
      missing.add(name);
      return match;
    }
    return escape(value);
  });
  if (missing.size > 0) throw new Error(`${source} needs ${[...missing].join(", ")}: set ${missing.size > 1 ? "them" : "it"} under the stack's variables${options.hint} in the environment file`);
  return rendered;
}

/**
 * Replaces `${NAME}`, `${NAME:?message}`, `${NAME:-default}` with the environment's values. `$$`
 * stays (docker turns it into `$`); a `$` in a value is written `$$` so the daemon side does not
 * interpolate again.
 */
export function renderStack(text: string, variables: Record<string, string>, source: string): string {
  return substitute(text, variables, source, { pattern: /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}/g, escapeDollars: true, hint: " (or list the secret)" });
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
  return substitute(text, variables, source, { pattern: /\$\{([A-Z][A-Z0-9_]*)(?:(:?[?-])([^}]*))?\}/g, escapeDollars: false, hint: "" });
}

const configDeclarationSchema = z.object({ external: z.literal(true), name: z.string(), "x-file": z.string().min(1) });

/**
 * The docker configs a stack file declares, read from the files their `x-file:` names (relative to
 * the stack file, inside the repository) and rendered with the stack's variables. A declaration
 * without `x-file`, a missing file or one over swarmkit's limit throws, naming it. `stackText` is
 * the stack file's text when the caller has read it already.
 */
export function stackConfigs(root: string, stack: { name: string; file: string; variables: Record<string, string> }, stackText?: string): SwarmConfig[] {
  const stackPath = join(root, stack.file);
  const document = parse(stackText ?? readFileSync(stackPath, "utf8")) as { configs?: Record<string, unknown> } | null;
  return Object.entries(document?.configs ?? {}).map(([key, declaration]) => {
    // The key becomes part of a docker name and a label on the manager's command line.
    if (!SHELL_SAFE.name.test(key)) throw new Error(`${stack.file}: config key ${JSON.stringify(key)} must be letters, digits, . _ and -`);
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

export type DeployResult = { secretsCreated: string[]; configsCreated: string[]; stacks: string[]; secretsRemoved: string[]; configsRemoved: string[] };

/** The docker names of ours (label managed-by=edge-ops) of one kind. */
const ownedCommand = (kind: "secret" | "config") => sh`docker ${kind} ls --filter label=managed-by=edge-ops --format ${raw("'{{.Name}}'")}`;
/** Per service, the docker secrets and configs its spec names (what `docker secret rm` refuses to remove). */
export const SERVICE_REFERENCES_FORMAT = "'[{{json .Spec.TaskTemplate.ContainerSpec.Secrets}},{{json .Spec.TaskTemplate.ContainerSpec.Configs}}]'";

const referencesSchema = z.tuple([
  z.array(z.object({ SecretName: z.string() }).loose()).nullable(),
  z.array(z.object({ ConfigName: z.string() }).loose()).nullable(),
]);

/** The secret and config names any service of the Swarm uses (docker service inspect on every service). */
export async function referencedByServices(context: SwarmContext, manager: Node): Promise<{ secrets: Set<string>; configs: Set<string> }> {
  const ids = (await context.ssh.check(manager.publicIp, "docker service ls --quiet")).split("\n").map((line) => line.trim()).filter(Boolean);
  const secrets = new Set<string>();
  const configs = new Set<string>();
  if (ids.length === 0) return { secrets, configs };
  for (const id of ids) if (!/^[a-z0-9]+$/.test(id)) throw new Error(`docker service ls answered an unexpected service id ${JSON.stringify(id.slice(0, 40))}`);
  const output = await context.ssh.check(manager.publicIp, sh`docker service inspect ${raw(`--format ${SERVICE_REFERENCES_FORMAT}`)} ${ids}`);
  for (const line of output.split("\n").filter((entry) => entry.trim())) {
    const parsed = referencesSchema.safeParse(JSON.parse(line));
    if (!parsed.success) throw new Error(`docker service inspect answered a line this CLI cannot read: ${parsed.error.issues[0]?.message}`);
    for (const ref of parsed.data[0] ?? []) secrets.add(ref.SecretName);
    for (const ref of parsed.data[1] ?? []) configs.add(ref.ConfigName);
  }
  return { secrets, configs };
}

/**
 * Removes the docker secrets and configs of ours that neither this deploy wants nor any service
 * uses. One still in use (a service outside the environment's stacks, an update in flight) is
 * kept: the daemon refuses it, and the next deploy tries again.
 */
export async function removeUnused(context: SwarmContext, manager: Node, wanted: { secrets: Set<string>; configs: Set<string> }): Promise<{ secrets: string[]; configs: string[] }> {
  const used = await referencedByServices(context, manager);
  const removed = { secrets: [] as string[], configs: [] as string[] };
  for (const kind of ["secret", "config"] as const) {
    const owned = (await context.ssh.check(manager.publicIp, ownedCommand(kind))).split("\n").map((line) => line.trim()).filter(Boolean);
    const keep = kind === "secret" ? wanted.secrets : wanted.configs;
    const inUse = kind === "secret" ? used.secrets : used.configs;
    for (const name of owned.filter((candidate) => !keep.has(candidate) && !inUse.has(candidate))) {
      if (!SHELL_SAFE.name.test(name)) continue;
      const result = await context.ssh.run(manager.publicIp, sh`docker ${kind} rm ${name}`);
      if (result.exitCode === 0) {
        context.log(`- docker ${kind} ${name} (no service uses it)`);
        (kind === "secret" ? removed.secrets : removed.configs).push(name);
      } else {
        context.log(`! docker ${kind} ${name} kept: ${result.stderr.trim().split("\n").at(-1)?.replace(/^Error response from daemon: (rpc error: code = \w+ desc = )?/, "") ?? `exit ${result.exitCode}`}`);
      }
    }
  }
  return removed;
}

/** Bind-mount sources under /mnt/data, refused unless each is a plain path (they reach `mkdir` on every node). */
function checkedDirectories(stacks: { name: string; text: string }[]): string[] {
  const directories = new Set<string>();
  for (const stack of stacks) {
    for (const directory of dataDirectories(stack.text)) {
      if (!isSafePath(directory)) throw new Error(`stack ${stack.name}: the bind-mount source ${JSON.stringify(directory.slice(0, 80))} must be a path of letters, digits, . _ - and / (check the stack's variables)`);
      directories.add(directory);
    }
  }
  return [...directories].sort();
}

/** The hosts Traefik routes (Host(`…`) in the rendered stacks): the names the certificate must cover. */
export const routedHosts = (stackTexts: string[]) => [...new Set(stackTexts.flatMap((text) => [...text.matchAll(/Host\(`([^`]+)`\)/g)].map((match) => match[1]!)))].sort();

export type DeployContext = SwarmContext & { root: string; secrets: SwarmSecret[] };
/** What deploy sends, rendered and checked before any remote command. */
export type PreparedDeploy = { stacks: { name: string; text: string }[]; configs: SwarmConfig[]; directories: string[] };

/**
 * Renders every stack and config and checks them (bind-mount sources, the certificate pair)
 * without touching the Swarm: a missing variable, a bad path or a wrong certificate stops the
 * deploy before its first remote command.
 */
export function prepareDeploy(context: DeployContext): PreparedDeploy {
  const { environment, log } = context;
  const secretNames = Object.fromEntries(context.secrets.map((secret) => [secretVariable(secret.name), secret.dockerName]));
  const configs: SwarmConfig[] = [];
  const stacks = environment.stacks.map((stack) => {
    const text = readFileSync(join(context.root, stack.file), "utf8");
    const stackConfigList = stackConfigs(context.root, stack, text);
    configs.push(...stackConfigList);
    const configNames = Object.fromEntries(stackConfigList.map((config) => [configVariable(config.key), config.dockerName]));
    return { name: stack.name, text: renderStack(text, { ...stack.variables, ...secretNames, ...configNames }, stack.file) };
  });
  const directories = checkedDirectories(stacks);
  // The certificate every Traefik serves: a wrong pair would take HTTPS down on all nodes at once.
  const certificate = context.secrets.find((secret) => secret.name === TLS_CERTIFICATE_SECRET);
  const privateKey = context.secrets.find((secret) => secret.name === TLS_PRIVATE_KEY_SECRET);
  if (certificate && privateKey) {
    const { summary, notes } = checkCertificatePair(certificate.value, privateKey.value, new Date(), routedHosts(stacks.map((stack) => stack.text)));
    log(`~ ${TLS_CERTIFICATE_SECRET}: ${summary.names.join(", ") || summary.subject}, issued by ${summary.issuer}, valid until ${summary.validTo.toISOString().slice(0, 10)}`);
    notes.forEach((note) => log(note));
  } else if (certificate || privateKey) {
    throw new Error(`secrets: ${TLS_CERTIFICATE_SECRET} and ${TLS_PRIVATE_KEY_SECRET} go together; the environment lists only ${certificate ? TLS_CERTIFICATE_SECRET : TLS_PRIVATE_KEY_SECRET}`);
  }
  return { stacks, configs, directories };
}

export async function deployStacks(context: DeployContext, manager: Node, nodes: Node[], prepared: PreparedDeploy): Promise<DeployResult> {
  const { ssh, environment, log } = context;
  const result: DeployResult = { secretsCreated: [], configsCreated: [], stacks: [], secretsRemoved: [], configsRemoved: [] };
  const { stacks, configs, directories } = prepared;
  if (directories.length > 0) {
    // Only on the mounted volume: without it the data would land on the server's root disk.
    await Promise.all(
      nodes.map(async (node) => {
        const mounted = await ssh.run(node.publicIp, sh`mountpoint -q ${DATA_MOUNT}`);
        if (mounted.exitCode !== 0) throw new Error(`${node.name}: no data volume mounted at ${DATA_MOUNT} (exit ${mounted.exitCode}); check the volume is attached (plan) and the node's udev rule`);
        await ssh.check(node.publicIp, sh`mkdir -p ${directories}`);
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
    await ssh.check(manager.publicIp, sh`docker secret create --label managed-by=edge-ops --label ${`edge-ops.secret=${secret.name}`} ${secret.dockerName} -`, { stdin: secret.value });
    log(`+ docker secret ${secret.dockerName}`);
    result.secretsCreated.push(secret.dockerName);
  }
  if (configs.length > 0) {
    const existingConfigs = new Set((await ssh.check(manager.publicIp, "docker config ls --format '{{.Name}}'")).split("\n").map((line) => line.trim()));
    for (const config of configs) {
      if (existingConfigs.has(config.dockerName)) continue;
      existingConfigs.add(config.dockerName);
      await ssh.check(manager.publicIp, sh`docker config create --label managed-by=edge-ops --label ${`edge-ops.config=${config.key}`} ${config.dockerName} -`, { stdin: config.content });
      log(`+ docker config ${config.dockerName} (${config.file})`);
      result.configsCreated.push(config.dockerName);
    }
  }
  for (const stack of stacks) {
    await ssh.check(manager.publicIp, sh`docker stack deploy --prune --with-registry-auth --detach=false -c - ${stack.name}`, { stdin: stack.text });
    log(`~ stack ${stack.name} deployed`);
    result.stacks.push(stack.name);
  }
  // --detach=false waited for the services to converge: old versions are no longer in their specs.
  const removed = await removeUnused(context, manager, { secrets: new Set(context.secrets.map((secret) => secret.dockerName)), configs: new Set(configs.map((config) => config.dockerName)) });
  result.secretsRemoved = removed.secrets;
  result.configsRemoved = removed.configs;
  return result;
}
