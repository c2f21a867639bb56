// The Docker Swarm stack files (swarm-stacks/*.yml) hold the rules every stack must keep: health
// checks, memory limits, spread placement, docker secrets and configs created by the CLI only,
// pinned images, listed variables, encrypted overlay networks at Hetzner's MTU, logs the log
// shipper can label, nothing published but Traefik's 80/443 and the backup route's dump ports
// (host mode, never opened by an environment's firewall). There is no Docker here, so each file is
// parsed with `yaml` (as YAML 1.1, like Docker's parser) and checked by the functions below; the
// last block feeds them broken stacks to show that each rule can fail. The monitoring stack's own
// files (Prometheus, rules, Grafana) are checked in monitoring-stack.test.ts.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { POSTGRES_CLIENT_MAJOR } from "../../infra/backup-image.ts";
import { dumpEndpoints, MONGO_BACKUP_SECRET, POSTGRES_BACKUP_SECRET, S3_CONFIG_SECRET } from "../../infra/backup-route.ts";
import { BACKUP_ROUTE_PORTS, loadEnvironment, portRangeCovers, withOperatorAddresses } from "../../infra/config.ts";
import { configVariable } from "../../infra/deploy.ts";
import { desiredRules } from "../../infra/plan.ts";
import type { FirewallRule } from "../../infra/hcloud.ts";

// ---------------------------------------------------------------------------------------------
// The compose subset these stacks may use. Strict objects: a key that `docker stack deploy`
// ignores (restart, depends_on, container_name, network_mode, pid, security_opt, shm_size…) or a
// typo is an error, not a silently dropped setting.

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const keyValues = z.union([z.record(z.string(), scalar), z.array(z.string())]);
const stringOrList = z.union([z.string(), z.array(z.string())]);

const healthcheckSchema = z.strictObject({
  test: stringOrList.optional(),
  disable: z.boolean().optional(),
  interval: z.string().optional(),
  timeout: z.string().optional(),
  retries: z.number().optional(),
  start_period: z.string().optional(),
  start_interval: z.string().optional(),
});

const resourceSchema = z.strictObject({ cpus: z.string().optional(), memory: z.string().optional(), pids: z.number().optional() }).nullish();

const deploySchema = z.strictObject({
  mode: z.enum(["global", "replicated"]).optional(),
  replicas: z.number().int().optional(),
  endpoint_mode: z.enum(["vip", "dnsrr"]).optional(),
  placement: z
    .strictObject({
      constraints: z.array(z.string()).optional(),
      preferences: z.array(z.unknown()).optional(),
      max_replicas_per_node: z.number().int().optional(),
    })
    .optional(),
  resources: z.strictObject({ limits: resourceSchema, reservations: resourceSchema }).optional(),
  labels: keyValues.optional(),
  restart_policy: z.record(z.string(), scalar).optional(),
  update_config: z.record(z.string(), scalar).optional(),
  rollback_config: z.record(z.string(), scalar).optional(),
});

const portSchema = z.strictObject({
  target: z.number().int(),
  published: z.number().int().optional(),
  protocol: z.enum(["tcp", "udp"]).optional(),
  mode: z.enum(["host", "ingress"]).optional(),
});

const volumeMountSchema = z.union([
  z.string(),
  z.strictObject({
    type: z.enum(["bind", "volume", "tmpfs"]),
    source: z.string().optional(),
    target: z.string(),
    read_only: z.boolean().optional(),
    bind: z.strictObject({ propagation: z.string().optional() }).optional(),
    volume: z.strictObject({ nocopy: z.boolean().optional() }).optional(),
    tmpfs: z.strictObject({ size: z.number().int().optional() }).optional(),
  }),
]);

const serviceSecretSchema = z.union([
  z.string(),
  z.strictObject({
    source: z.string(),
    target: z.string().optional(),
    uid: z.string().optional(),
    gid: z.string().optional(),
    mode: z.number().int().optional(),
  }),
]);

const serviceSchema = z.strictObject({
  image: z.string(),
  configs: z.array(serviceSecretSchema).optional(),
  command: stringOrList.optional(),
  entrypoint: stringOrList.optional(),
  environment: keyValues.optional(),
  healthcheck: healthcheckSchema.optional(),
  deploy: deploySchema.optional(),
  networks: z.union([z.array(z.string()), z.record(z.string(), z.strictObject({ aliases: z.array(z.string()).optional() }).nullable())]).optional(),
  secrets: z.array(serviceSecretSchema).optional(),
  ports: z.array(portSchema).optional(),
  volumes: z.array(volumeMountSchema).optional(),
  hostname: z.string().optional(),
  cap_add: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
  user: z.string().optional(),
  working_dir: z.string().optional(),
  stop_grace_period: z.string().optional(),
  stop_signal: z.string().optional(),
  logging: z.strictObject({ driver: z.string(), options: z.record(z.string(), z.string()).optional() }).optional(),
  ulimits: z.record(z.string(), z.unknown()).optional(),
  sysctls: keyValues.optional(),
  init: z.boolean().optional(),
  read_only: z.boolean().optional(),
  labels: keyValues.optional(),
});

const networkSchema = z
  .strictObject({
    name: z.string().optional(),
    driver: z.string().optional(),
    driver_opts: z.record(z.string(), z.string()).optional(),
    attachable: z.boolean().optional(),
    internal: z.boolean().optional(),
    external: z.boolean().optional(),
    labels: keyValues.optional(),
  })
  .nullable();

const composeSchema = z.strictObject({
  version: z.string(),
  services: z.record(z.string(), serviceSchema),
  networks: z.record(z.string(), networkSchema).optional(),
  volumes: z.record(z.string(), z.strictObject({ driver: z.string().optional(), external: z.boolean().optional(), name: z.string().optional() }).nullable()).optional(),
  secrets: z.record(z.string(), z.strictObject({ external: z.boolean().optional(), name: z.string().optional(), file: z.string().optional() })).optional(),
  // `x-file`: the file next to the stack file the infra CLI creates the config from (infra/deploy.ts).
  configs: z
    .record(z.string(), z.strictObject({ external: z.boolean().optional(), name: z.string().optional(), file: z.string().optional(), "x-file": z.string().optional() }))
    .optional(),
});

type Compose = z.infer<typeof composeSchema>;
type Service = z.infer<typeof serviceSchema>;

interface Stack {
  /** Stack name: the file's name without .yml, as `docker stack deploy -c - <name>` gets it. */
  name: string;
  file: string;
  text: string;
  compose: Compose;
}

/** A rule: the problems it finds in one stack (all stacks given for cross-stack references). */
type Check = (stack: Stack, all: readonly Stack[]) => string[];

class StackLoadError extends Error {}

/** Parses a stack file; YAML errors or warnings and schema violations throw, naming the path. */
function loadStack(file: string, text: string): Stack {
  const document = parseDocument(text, { version: "1.1", prettyErrors: true, uniqueKeys: true });
  const yamlProblems = [...document.errors, ...document.warnings].map((problem) => problem.message);
  if (yamlProblems.length > 0) throw new StackLoadError(`${file}: ${yamlProblems.join("; ")}`);
  const raw: unknown = document.toJS();
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new StackLoadError(`${file}: not a mapping`);
  // Top-level x- keys are compose extension fields (YAML anchors live there).
  const entries = Object.entries(raw).filter(([key]) => !key.startsWith("x-"));
  const result = composeSchema.safeParse(Object.fromEntries(entries));
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join(".") || "(top level)"}: ${issue.message}`);
    throw new StackLoadError(`${file}:\n  ${issues.join("\n  ")}`);
  }
  return { name: basename(file, ".yml"), file, text, compose: result.data };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const toStringMap = (values: z.infer<typeof keyValues> | undefined): Map<string, string | null> => {
  const map = new Map<string, string | null>();
  if (Array.isArray(values)) {
    for (const entry of values) {
      const equals = entry.indexOf("=");
      map.set(equals === -1 ? entry : entry.slice(0, equals), equals === -1 ? null : entry.slice(equals + 1));
    }
  } else if (values) {
    for (const [key, value] of Object.entries(values)) map.set(key, value === null ? null : String(value));
  }
  return map;
};

const environmentOf = (service: Service) => toStringMap(service.environment);
const deployLabelsOf = (service: Service) => toStringMap(service.deploy?.labels);
const services = (stack: Stack) => Object.entries(stack.compose.services);
const networkKeysOf = (service: Service) => (Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {}));
const secretRefsOf = (service: Service) =>
  (service.secrets ?? []).map((secret) => (typeof secret === "string" ? { source: secret, target: secret, mode: undefined } : { source: secret.source, target: secret.target ?? secret.source, mode: secret.mode }));
const configRefsOf = (service: Service) => (service.configs ?? []).map((config) => (typeof config === "string" ? { source: config, target: `/${config}` } : { source: config.source, target: config.target ?? `/${config.source}` }));

/** The files a stack's configs are made from (`x-file`, relative to swarm-stacks/), read; null when missing. */
const configFilesOf = (stack: Stack) =>
  Object.entries(stack.compose.configs ?? {}).map(([key, config]) => {
    const path = config["x-file"] === undefined ? null : join(stacksDir, config["x-file"]);
    return { key, path, text: path !== null && existsSync(path) ? readFileSync(path, "utf8") : null };
  });

/** Named volumes a service mounts (not bind mounts, not tmpfs). */
const namedVolumesOf = (service: Service) =>
  (service.volumes ?? []).flatMap((volume) => {
    if (typeof volume === "string") return volume.startsWith("/") ? [] : [volume.split(":")[0] ?? ""];
    return volume.type === "volume" && volume.source !== undefined ? [volume.source] : [];
  });

/** Entrypoint then command, split into words (shell scripts stay approximate; enough to search). */
const argsOf = (service: Service): string[] =>
  [service.entrypoint, service.command].flatMap((part) => (part === undefined ? [] : typeof part === "string" ? part.split(/\s+/) : part)).filter((word) => word !== "");

/** `-name=value` / `--name=value` / `--name value` of a service's arguments; lower-cased names. */
function flagsOf(service: Service): Map<string, string> {
  const flags = new Map<string, string>();
  const args = argsOf(service);
  args.forEach((arg, index) => {
    const match = /^--?([A-Za-z][\w.-]*)(?:=(.*))?$/.exec(arg);
    if (!match?.[1]) return;
    const next = args[index + 1];
    flags.set(match[1].toLowerCase(), match[2] ?? (next !== undefined && !next.startsWith("-") ? next : "true"));
  });
  return flags;
}

const scriptOf = (service: Service) => [service.entrypoint, service.command].flat().filter((part) => part !== undefined).join("\n");

/** Repository (last path segment, without tag) and tag of an image reference. */
function imageParts(image: string): { repository: string; path: string; tag: string | null } {
  const withoutDigest = image.split("@")[0] ?? image;
  const slash = withoutDigest.lastIndexOf("/");
  const last = withoutDigest.slice(slash + 1);
  const colon = last.indexOf(":");
  const repository = colon === -1 ? last : last.slice(0, colon);
  return { repository, path: withoutDigest.slice(0, slash + 1) + repository, tag: colon === -1 ? null : last.slice(colon + 1) };
}

const servicesWithImage = (all: readonly Stack[], repository: string) =>
  all.flatMap((stack) => services(stack).filter(([, service]) => imageParts(service.image).repository === repository).map(([name, service]) => ({ stack, name, service })));

/** Go duration as Docker takes it (1m30s, 500ms…), in milliseconds; null when malformed. */
function durationMs(text: string | undefined): number | null {
  if (text === undefined || !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return null;
  const factors: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(match[1]) * (factors[match[2] ?? ""] ?? Number.NaN);
  return total;
}

/** Compose byte value (64M, 1.5g, 512mb, 1024k, 100b) in bytes; null when malformed. */
function bytes(text: string | undefined): number | null {
  const match = text === undefined ? null : /^(\d+(?:\.\d+)?)([bkmg])?b?$/i.exec(text);
  if (!match) return null;
  const unit = (match[2] ?? "b").toLowerCase();
  return Number(match[1]) * 1024 ** ["b", "k", "m", "g"].indexOf(unit);
}

/** Node a service is pinned to by `node.labels.node == N`, or null. */
const pinnedNode = (service: Service) =>
  (service.deploy?.placement?.constraints ?? []).map((constraint) => /^node\.labels\.node\s*==\s*([123])$/.exec(constraint.trim())?.[1]).find((node) => node !== undefined) ?? null;

/** Host bind mounts of a service: [source, target, read-only]. Short syntax counts too. */
function bindMountsOf(service: Service): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).flatMap((volume) => {
    if (typeof volume === "string") {
      const [source = "", target = "", mode = ""] = volume.split(":");
      return source.startsWith("/") ? [{ source, target, readOnly: mode.split(",").includes("ro") }] : [];
    }
    return volume.type === "bind" ? [{ source: volume.source ?? "", target: volume.target, readOnly: volume.read_only === true }] : [];
  });
}

/** Docker's name for a stack's network key: its `name:` or `<stack>_<key>`. */
const networkName = (stack: Stack, key: string) => stack.compose.networks?.[key]?.name ?? `${stack.name}_${key}`;

/** Every string value of a parsed document (Docker interpolates values, never keys). */
function* stringValues(value: unknown): Generator<string> {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) for (const item of value) yield* stringValues(item);
  else if (typeof value === "object" && value !== null) for (const item of Object.values(value)) yield* stringValues(item);
}

/** Names listed under `# Variables:` in the header comment, up to the next bare `#` line. */
function headerVariables(text: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => /^#\s*Variables\b/.test(line));
  if (start === -1) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^#\s{2,}([A-Z][A-Z0-9_]*)\s/.exec(line);
    if (!match?.[1]) break;
    names.push(match[1]);
  }
  return names;
}

const traefikOf = (all: readonly Stack[]) => servicesWithImage(all, "traefik");

// ---------------------------------------------------------------------------------------------
// Rules for every stack

const checkVersion: Check = (stack) => {
  const match = /^3\.(\d+)$/.exec(stack.compose.version);
  // max_replicas_per_node needs compose file format 3.8.
  return match && Number(match[1]) >= 8 ? [] : [`version ${stack.compose.version}: must be "3.8" or later 3.x (docker stack deploy)`];
};

const checkVariables: Check = (stack) => {
  const problems: string[] = [];
  const listed = headerVariables(stack.text);
  if (listed.length === 0) problems.push("no variables listed under '# Variables:' in the header comment");
  const used = new Set<string>();
  const raw: unknown = parseDocument(stack.text, { version: "1.1" }).toJS();
  for (const value of stringValues(raw)) {
    for (const match of value.matchAll(/\$(\$|\{([^}]*)\}?|.?)/g)) {
      if (match[1] === "$") continue;
      const inner = match[2];
      // ${NAME:-default}: an optional variable (its header line says what leaving it out means).
      const variable = inner === undefined ? null : /^([A-Z][A-Z0-9_]*)(:\?[^}]*|:-[^}]*)?$/.exec(inner);
      if (!variable?.[1] || !match[0].endsWith("}")) {
        problems.push(`${JSON.stringify(match[0])} in ${JSON.stringify(value.slice(0, 60))}: use \${NAME}, \${NAME:?message} or \${NAME:-default}, and $$ for a literal $`);
        continue;
      }
      used.add(variable[1]);
    }
  }
  // The infra CLI renders ${NAME} over the raw text, comments included (infra/deploy.ts renderStack),
  // and upper-case ${NAME} in the files its configs are made from (renderConfig).
  for (const match of stack.text.matchAll(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[?-][^}]*)?\}/g)) if (match[1]) used.add(match[1]);
  for (const { text } of configFilesOf(stack)) for (const match of (text ?? "").matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::?[?-][^}]*)?\}/g)) if (match[1]) used.add(match[1]);
  for (const name of used) if (!listed.includes(name)) problems.push(`variable ${name} is used but not listed in the header comment`);
  for (const name of listed) if (!used.has(name)) problems.push(`variable ${name} is listed in the header comment but never used`);
  return problems;
};

const checkImages: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const { tag } = imageParts(service.image);
    if (tag === null) return [`${name}: image ${service.image} has no tag`];
    return /^v?\d+\.\d+(\.\d+)?([-+._][\w.-]+)?$/.test(tag) ? [] : [`${name}: image ${service.image} is not pinned to a version tag (major.minor at least)`];
  });

const checkHealthchecks: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const check = service.healthcheck;
    if (!check) return [`${name}: no healthcheck`];
    const problems: string[] = [];
    const test = typeof check.test === "string" ? ["CMD-SHELL", check.test] : check.test;
    if (check.disable === true) problems.push(`${name}: healthcheck is disabled`);
    if (!test || test.length < 2 || !["CMD", "CMD-SHELL"].includes(test[0] ?? "") || test.slice(1).every((word) => word.trim() === "")) {
      problems.push(`${name}: healthcheck.test must be CMD or CMD-SHELL with a command`);
    }
    const durations = { interval: durationMs(check.interval), timeout: durationMs(check.timeout), start_period: durationMs(check.start_period) };
    for (const [key, value] of Object.entries(durations)) if (value === null || value <= 0) problems.push(`${name}: healthcheck.${key} missing or not a duration`);
    if (check.retries === undefined || !Number.isInteger(check.retries) || check.retries < 1) problems.push(`${name}: healthcheck.retries missing`);
    if (durations.interval !== null && durations.timeout !== null && durations.timeout > durations.interval) problems.push(`${name}: healthcheck.timeout longer than its interval`);
    return problems;
  });

const checkMemory: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const limit = bytes(service.deploy?.resources?.limits?.memory ?? undefined);
    const reservationText = service.deploy?.resources?.reservations?.memory ?? undefined;
    const reservation = bytes(reservationText);
    if (limit === null || limit <= 0) return [`${name}: deploy.resources.limits.memory missing or malformed`];
    if (reservationText !== undefined && (reservation === null || reservation > limit)) return [`${name}: memory reservation ${reservationText} malformed or above the limit`];
    return [];
  });

const checkPlacement: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const deploy = service.deploy;
    const global = deploy?.mode === "global";
    const node = pinnedNode(service);
    const perNode = deploy?.placement?.max_replicas_per_node;
    const problems: string[] = [];
    if (!global && node === null && !(perNode !== undefined && perNode >= 1)) {
      problems.push(`${name}: not spread: needs deploy.mode global, placement.max_replicas_per_node or a node.labels.node == N constraint`);
    }
    if (node !== null && (deploy?.replicas ?? 1) !== 1) problems.push(`${name}: pinned to node ${node} with ${deploy?.replicas} replicas`);
    const dataMount = bindMountsOf(service).find((mount) => mount.source.startsWith("/mnt/data/"));
    if (dataMount && !global && node === null) problems.push(`${name}: keeps data in ${dataMount.source} but may move between nodes (pin it with node.labels.node == N)`);
    // A named volume lives on the node the task ran on: a task that moves starts empty.
    const [volume] = namedVolumesOf(service);
    if (volume !== undefined && !global && node === null) problems.push(`${name}: keeps data in the volume ${volume} but may move between nodes (pin it with node.labels.node == N)`);
    return problems;
  });

const checkSecrets: Check = (stack) => {
  const problems: string[] = [];
  const declared = stack.compose.secrets ?? {};
  for (const [key, secret] of Object.entries(declared)) {
    if (secret.external !== true) problems.push(`secret ${key}: must be external: true (created by the infra CLI)`);
    if (secret.file !== undefined) problems.push(`secret ${key}: must not come from a file`);
    // The infra CLI sets <NAME>_SECRET to the versioned docker name of the secret <name>.
    const variable = `${key.toUpperCase()}_SECRET`;
    if (!secret.name || !new RegExp(`^\\$\\{${variable}(:\\?[^}]*)?\\}$`).test(secret.name)) problems.push(`secret ${key}: name must be \${${variable}} (the CLI's versioned docker name)`);
  }
  const used = new Set<string>();
  for (const [name, service] of services(stack)) {
    for (const ref of secretRefsOf(service)) {
      used.add(ref.source);
      if (!(ref.source in declared)) problems.push(`${name}: secret ${ref.source} is not declared at the top level`);
    }
  }
  for (const key of Object.keys(declared)) if (!used.has(key)) problems.push(`secret ${key}: declared but no service uses it`);
  return problems;
};

const checkConfigs: Check = (stack) => {
  const problems: string[] = [];
  const declared = stack.compose.configs ?? {};
  const files = new Map(configFilesOf(stack).map((file) => [file.key, file]));
  for (const [key, config] of Object.entries(declared)) {
    // `docker stack deploy -c -` would look for a `file:` on the manager, and a config cannot change.
    if (config.external !== true || config.file !== undefined) problems.push(`config ${key}: must be external: true (created by the infra CLI), not from a file`);
    const variable = configVariable(key);
    if (!config.name || !new RegExp(`^\\$\\{${variable}(:\\?[^}]*)?\\}$`).test(config.name)) problems.push(`config ${key}: name must be \${${variable}} (the CLI's versioned docker name)`);
    const file = files.get(key);
    if (config["x-file"] === undefined) problems.push(`config ${key}: no x-file (the file under swarm-stacks/ the CLI creates it from)`);
    else if (file?.text === null || file?.text === undefined) problems.push(`config ${key}: x-file ${config["x-file"]} does not exist`);
    else if (file.text.trim() === "") problems.push(`config ${key}: x-file ${config["x-file"]} is empty`);
  }
  const used = new Set<string>();
  for (const [name, service] of services(stack)) {
    for (const ref of configRefsOf(service)) {
      used.add(ref.source);
      if (!(ref.source in declared)) problems.push(`${name}: config ${ref.source} is not declared at the top level`);
    }
  }
  for (const key of Object.keys(declared)) if (!used.has(key)) problems.push(`config ${key}: declared but no service uses it`);
  return problems;
};

/** Docker labels every log line carries (the json-file `labels` option); Alloy reads them (monitoring/config.alloy). */
const LOG_LABELS = ["com.docker.stack.namespace", "com.docker.swarm.service.name"];

const checkLogging: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const logging = service.logging;
    if (logging?.driver !== "json-file") return [`${name}: logging.driver must be json-file (the log shipper reads those files)`];
    const problems: string[] = [];
    if (!logging.options?.["max-size"] || !logging.options["max-file"]) problems.push(`${name}: logging needs max-size and max-file (rotation)`);
    const labels = (logging.options?.["labels"] ?? "").split(",").map((label) => label.trim());
    for (const label of LOG_LABELS) if (!labels.includes(label)) problems.push(`${name}: logging.options.labels must include ${label} (Loki's stack and service labels)`);
    return problems;
  });

const checkEnvironment: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const problems: string[] = [];
    const mounted = new Set(secretRefsOf(service).map((ref) => `/run/secrets/${ref.target}`));
    for (const [key, value] of environmentOf(service)) {
      if (/PASS|SECRET|TOKEN|KEY/i.test(key) && !key.endsWith("_FILE")) problems.push(`${name}: environment ${key} looks like a secret: pass it as ${key}_FILE=/run/secrets/…`);
      if (key.endsWith("_FILE") && /PASS|SECRET|TOKEN|KEY/i.test(key) && (value === null || !mounted.has(value))) {
        problems.push(`${name}: environment ${key} must point at a docker secret the service mounts (/run/secrets/…)`);
      }
      if (value !== null && /:\/\/[^/\s:@]+:[^/\s@]+@/.test(value)) problems.push(`${name}: environment ${key} holds a URL with credentials`);
    }
    return problems;
  });

const checkNetworks: Check = (stack, all) => {
  const problems: string[] = [];
  const declared = stack.compose.networks ?? {};
  for (const [key, network] of Object.entries(declared)) {
    if (network?.external === true) {
      const name = network.name;
      const creator = all.find((other) => other !== stack && Object.entries(other.compose.networks ?? {}).some(([otherKey, definition]) => definition?.external !== true && networkName(other, otherKey) === name));
      if (!name) problems.push(`network ${key}: external networks need a fixed name:`);
      else if (!creator) problems.push(`network ${key}: external network ${name} is created by no stack file`);
      continue;
    }
    if (network?.driver !== "overlay") problems.push(`network ${key}: driver must be overlay`);
    if (network?.driver_opts?.["com.docker.network.driver.mtu"] !== "1450") problems.push(`network ${key}: driver_opts com.docker.network.driver.mtu must be "1450" (Hetzner private network)`);
    const encrypted = network?.driver_opts?.["encrypted"];
    if (encrypted !== "" && encrypted !== "true") problems.push(`network ${key}: must be encrypted (driver_opts encrypted: ""): its traffic crosses nodes`);
  }
  const joined = new Set<string>();
  for (const [name, service] of services(stack)) {
    for (const key of networkKeysOf(service)) {
      joined.add(key);
      if (!(key in declared)) problems.push(`${name}: network ${key} is not declared at the top level`);
    }
  }
  for (const key of Object.keys(declared)) if (!joined.has(key)) problems.push(`network ${key}: declared but no service joins it`);
  return problems;
};

/** The port a stateful service publishes for the backup server (docs/architecture.md), or null. */
function dumpPortOf(service: Service): number | null {
  const { repository } = imageParts(service.image);
  if (repository === "mongo") return 27017;
  if (repository === "postgres") return 5432;
  const flags = flagsOf(service);
  if (repository === "seaweedfs" && argsOf(service)[0] === "filer" && flags.get("s3") === "true") return Number(flags.get("s3.port") ?? 8333);
  return null;
}

const checkPorts: Check = (stack) => {
  const problems = services(stack).flatMap(([name, service]) =>
    (service.ports ?? []).flatMap((port) => {
      const published = port.published ?? port.target;
      const portProblems: string[] = [];
      if (imageParts(service.image).repository === "traefik") {
        if (published !== 80 && published !== 443) portProblems.push(`${name}: publishes ${published}; Traefik publishes only 80 and 443`);
      } else {
        const dump = dumpPortOf(service);
        if (dump === null || port.target !== dump) {
          return [`${name}: publishes port ${published}; only Traefik (80, 443) and the backup route's dump ports (MongoDB 27017, Postgres 5432, the SeaweedFS S3 gateway) are published`];
        }
        if (published !== dump) portProblems.push(`${name}: publishes its dump port ${dump} as ${published}; the backup targets reach it on ${dump}`);
        if (pinnedNode(service) === null) portProblems.push(`${name}: publishes dump port ${dump} but is not pinned to a node (node.labels.node == N): no address would reach it`);
      }
      // Ingress would publish it on every node through the routing mesh; host binds it where the task runs.
      if (port.mode !== "host") portProblems.push(`${name}: port ${published} must use mode: host`);
      return portProblems;
    }),
  );
  if (/\b237[56]\b/.test(stack.text)) problems.push("mentions the Docker API port 2375/2376");
  return problems;
};

/** Host paths a container may see besides /mnt/data, always read-only. */
const READ_ONLY_HOST_PATHS = new Set(["/", "/proc", "/sys", "/etc/os-release", "/etc/passwd", "/etc/group", "/etc/localtime", "/var/run/docker.sock", "/var/lib/docker/containers"]);

const checkMounts: Check = (stack) =>
  services(stack).flatMap(([name, service]) => {
    const problems: string[] = [];
    for (const mount of bindMountsOf(service)) {
      if (mount.source.startsWith("/mnt/data/")) continue;
      if (!READ_ONLY_HOST_PATHS.has(mount.source)) problems.push(`${name}: bind mount ${mount.source} is neither under /mnt/data/ nor an allowed read-only host path`);
      else if (!mount.readOnly) problems.push(`${name}: bind mount ${mount.source} must be read-only`);
      if (mount.source === "/var/run/docker.sock" && imageParts(service.image).repository !== "traefik") problems.push(`${name}: only Traefik may see the Docker socket`);
      if (mount.source === "/var/lib/docker/containers" && imageParts(service.image).repository !== "alloy") problems.push(`${name}: only the log shipper (Alloy) may read the containers' logs`);
    }
    for (const volume of service.volumes ?? []) {
      const named = typeof volume === "string" ? (volume.startsWith("/") ? null : volume.split(":")[0]) : volume.type === "volume" ? volume.source : null;
      if (named && !(named in (stack.compose.volumes ?? {}))) problems.push(`${name}: volume ${named} is not declared at the top level`);
    }
    return problems;
  });

const checkRouting: Check = (stack, all) => {
  const problems: string[] = [];
  const traefik = traefikOf(all)[0];
  const traefikFlags = traefik ? flagsOf(traefik.service) : new Map<string, string>();
  const traefikNetworks = new Set(traefik ? networkKeysOf(traefik.service).map((key) => networkName(traefik.stack, key)) : []);
  for (const [name, service] of services(stack)) {
    if ([...toStringMap(service.labels).keys()].some((key) => key.startsWith("traefik."))) problems.push(`${name}: Traefik labels belong in deploy.labels (the Swarm provider reads services)`);
    const labels = deployLabelsOf(service);
    if (![...labels.keys()].some((key) => key.startsWith("traefik."))) continue;
    if (labels.get("traefik.enable") !== "true") problems.push(`${name}: routed service needs traefik.enable=true`);
    if (!traefik) problems.push(`${name}: routed, but no stack runs Traefik`);
    const routers = [...labels.keys()].map((key) => /^traefik\.http\.routers\.([^.]+)\.rule$/.exec(key)?.[1]).filter((router) => router !== undefined);
    const lbServices = [...labels.keys()].map((key) => /^traefik\.http\.services\.([^.]+)\.loadbalancer\.server\.port$/.exec(key)?.[1]).filter((lb) => lb !== undefined);
    if (routers.length === 0) problems.push(`${name}: no traefik.http.routers.<name>.rule`);
    if (lbServices.length === 0) problems.push(`${name}: no traefik.http.services.<name>.loadbalancer.server.port`);
    for (const lb of lbServices) if (!/^\d{1,5}$/.test(labels.get(`traefik.http.services.${lb}.loadbalancer.server.port`) ?? "")) problems.push(`${name}: loadbalancer port of ${lb} is not a port number`);
    for (const router of routers) {
      const rule = labels.get(`traefik.http.routers.${router}.rule`) ?? "";
      if (!/Host\(`\$\{[A-Z][A-Z0-9_]*(:\?[^}]*)?\}`\)/.test(rule)) problems.push(`${name}: router ${router} rule must be Host(\`\${VARIABLE}\`), got ${rule}`);
      // TLS comes from the websecure entrypoint (one certificate for every node, or Let's Encrypt
      // when configured there): a router's own tls section would replace it (Traefik v3
      // pkg/server/aggregator.go applyModel keeps the entrypoint's TLS only for a router without one).
      const ownTls = [...labels.keys()].filter((key) => key === `traefik.http.routers.${router}.tls` || key.startsWith(`traefik.http.routers.${router}.tls.`));
      if (ownTls.length > 0) problems.push(`${name}: router ${router} sets ${ownTls.join(", ")}: TLS comes from the websecure entrypoint, a router's own tls section drops it`);
      if (traefik && traefikFlags.get("entrypoints.websecure.http.tls") !== "true") problems.push(`${name}: router ${router} relies on Traefik's websecure entrypoint for TLS, which does not set http.tls=true`);
      const entrypoints = labels.get(`traefik.http.routers.${router}.entrypoints`);
      if (entrypoints !== "websecure") problems.push(`${name}: router ${router} must listen on websecure only (entrypoints: websecure)`);
      const target = labels.get(`traefik.http.routers.${router}.service`);
      if (target !== undefined && (target === null || !lbServices.includes(target))) problems.push(`${name}: router ${router} points at service ${target}, which has no loadbalancer port`);
    }
    const via = labels.get("traefik.swarm.network") ?? traefikFlags.get("providers.swarm.network");
    const joined = new Set(networkKeysOf(service).map((key) => networkName(stack, key)));
    if (!via) problems.push(`${name}: no traefik.swarm.network label (and Traefik has no default network)`);
    else {
      if (!joined.has(via)) problems.push(`${name}: Traefik reaches it over ${via}, a network it does not join`);
      if (traefik && !traefikNetworks.has(via)) problems.push(`${name}: Traefik does not join ${via}`);
    }
  }
  return problems;
};

const RULES: Record<string, Check> = {
  "uses compose file format 3.8 or later": checkVersion,
  "lists every variable it uses in its header, and escapes literal dollars": checkVariables,
  "pins every image to a version tag": checkImages,
  "gives every service a health check with test, interval, timeout, retries and start_period": checkHealthchecks,
  "limits every service's memory": checkMemory,
  "spreads or pins every service, and pins services that keep data on a node": checkPlacement,
  "takes secrets only from external docker secrets named by variables": checkSecrets,
  "takes configs only from external docker configs named by variables, made from files next to it": checkConfigs,
  "logs to rotated json-file logs labelled with stack and service": checkLogging,
  "keeps secret values out of environment (…_FILE=/run/secrets/… only)": checkEnvironment,
  "uses encrypted overlay networks with MTU 1450, declared and joined": checkNetworks,
  "publishes nothing but Traefik's 80 and 443 and the backup route's dump ports, in host mode": checkPorts,
  "mounts host paths only under /mnt/data, or read-only system paths": checkMounts,
  "routes through Traefik with Host(${VAR}) on websecure, TLS from the entrypoint, and a load-balancer port": checkRouting,
};

// ---------------------------------------------------------------------------------------------
// The stack files

const stacksDir = fileURLToPath(new URL("../../swarm-stacks/", import.meta.url));
const stackFiles = readdirSync(stacksDir).filter((file) => file.endsWith(".yml")).sort();
const loaded = stackFiles.map((file) => {
  const text = readFileSync(join(stacksDir, file), "utf8");
  try {
    return { file, stack: loadStack(file, text), error: null };
  } catch (error) {
    if (!(error instanceof StackLoadError)) throw error;
    return { file, stack: null, error: error.message };
  }
});
const stacks = loaded.flatMap((entry) => (entry.stack ? [entry.stack] : []));

const stackNamed = (name: string) => {
  const stack = stacks.find((candidate) => candidate.name === name);
  if (!stack) throw new Error(`swarm-stacks/${name}.yml is missing or did not load`);
  return stack;
};

it("has the core, apps and monitoring stacks", () => {
  expect(stackFiles).toEqual(expect.arrayContaining(["core.yml", "apps.yml", "monitoring.yml"]));
});

for (const entry of loaded) {
  describe(`swarm-stacks/${entry.file}`, () => {
    it("parses as YAML without errors or warnings and fits the Swarm compose schema", () => {
      expect(entry.error).toBeNull();
    });
    for (const [title, check] of Object.entries(RULES)) {
      it(title, () => {
        if (!entry.stack) throw new Error(entry.error ?? "did not load");
        expect(check(entry.stack, stacks)).toEqual([]);
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Services with rules of their own

describe("Traefik", () => {
  const only = () => {
    const found = traefikOf(stacks);
    expect(found.map(({ stack, name }) => `${stack.name}/${name}`)).toEqual(["core/traefik"]);
    const [traefik] = found;
    if (!traefik) throw new Error("no Traefik");
    return traefik;
  };

  it("is v3.6.1 or later", () => {
    const { tag } = imageParts(only().service.image);
    const version = /^v(\d+)\.(\d+)\.(\d+)$/.exec(tag ?? "")?.slice(1).map(Number);
    expect(version, `tag ${tag}`).toBeDefined();
    const [major = 0, minor = 0, patch = 0] = version ?? [];
    expect(major === 3 && (minor > 6 || (minor === 6 && patch >= 1)), `tag ${tag}`).toBe(true);
  });

  it("uses the Swarm provider on the read-only Docker socket, exposing only labelled services", () => {
    const { service } = only();
    const flags = flagsOf(service);
    expect(flags.get("providers.swarm")).toBe("true");
    expect(flags.get("providers.swarm.exposedbydefault")).toBe("false");
    expect(flags.get("providers.swarm.endpoint")).toBe("unix:///var/run/docker.sock");
    expect(flags.has("providers.docker")).toBe(false);
    expect(bindMountsOf(service)).toContainEqual({ source: "/var/run/docker.sock", target: "/var/run/docker.sock", readOnly: true });
  });

  it("redirects web :80 to websecure :443, where every replica serves the certificate of the docker secrets", () => {
    const { service, stack } = only();
    const flags = flagsOf(service);
    expect(flags.get("entrypoints.web.address")).toBe(":80");
    expect(flags.get("entrypoints.websecure.address")).toBe(":443");
    expect(flags.get("entrypoints.web.http.redirections.entrypoint.to")).toBe("websecure");
    expect(flags.get("entrypoints.web.http.redirections.entrypoint.scheme")).toBe("https");
    expect(flags.get("entrypoints.websecure.http.tls")).toBe("true");
    // The default certificate of the TLS store, from the file provider's config and two secrets.
    const dynamic = flags.get("providers.file.filename");
    const tlsConfig = configRefsOf(service).find((ref) => ref.target === dynamic);
    expect(tlsConfig?.source).toBe("traefik_tls");
    const file = configFilesOf(stack).find((entry) => entry.key === "traefik_tls")!;
    const store = (parseDocument(file.text ?? "").toJS() as { tls: { stores: { default: { defaultCertificate: { certFile: string; keyFile: string } } } } }).tls.stores.default.defaultCertificate;
    const secrets = new Map(secretRefsOf(service).map((ref) => [`/run/secrets/${ref.target}`, ref.source]));
    expect(secrets.get(store.certFile)).toBe("tls_certificate");
    expect(secrets.get(store.keyFile)).toBe("tls_private_key");
  });

  it("asks Let's Encrypt only when TLS_CERT_RESOLVER says so (a single-node Swarm), with ${ACME_EMAIL}", () => {
    const flags = flagsOf(only().service);
    // Empty by default: no router asks for a certificate; "le" turns the resolver on for all of them.
    expect(flags.get("entrypoints.websecure.http.tls.certresolver")).toBe("${TLS_CERT_RESOLVER:-}");
    expect(flags.get("certificatesresolvers.le.acme.email")).toMatch(/^\$\{ACME_EMAIL(:-[^}]*)?\}$/);
    expect(flags.get("certificatesresolvers.le.acme.tlschallenge") === "true" || flags.has("certificatesresolvers.le.acme.httpchallenge.entrypoint")).toBe(true);
    expect(flags.get("certificatesresolvers.le.acme.storage")).toMatch(/^\//);
  });

  it("runs on every manager and publishes 80 and 443 in host mode", () => {
    const { service } = only();
    expect(service.deploy?.mode).toBe("global");
    expect(service.deploy?.placement?.constraints).toContain("node.role == manager");
    expect(service.ports?.map((port) => [port.published, port.target, port.mode])).toEqual([
      [80, 80, "host"],
      [443, 443, "host"],
    ]);
  });
});

describe("SeaweedFS", () => {
  const seaweed = () => servicesWithImage(stacks, "seaweedfs");
  const role = (name: string) => seaweed().filter(({ service }) => argsOf(service)[0] === name);

  /** Copies a replication code xyz keeps: the original plus x + y + z. */
  const copies = (code: string) => 1 + [...code].reduce((sum, digit) => sum + Number(digit), 0);

  it("runs exactly three masters, one per node, each peering with all three", () => {
    const masters = role("master");
    expect(masters.map(({ name }) => name).sort()).toEqual(["master1", "master2", "master3"]);
    expect(masters.map(({ service }) => pinnedNode(service)).sort()).toEqual(["1", "2", "3"]);
    const addresses = masters.map(({ service }) => `${flagsOf(service).get("ip")}:${flagsOf(service).get("port")}`);
    expect(addresses.sort()).toEqual(masters.map(({ name }) => `${name}:9333`).sort());
    for (const { service } of masters) expect(flagsOf(service).get("peers")?.split(",").sort()).toEqual(addresses.sort());
  });

  it("keeps two copies of every file on different volume servers (replication 001 in a flat cluster)", () => {
    const volumes = role("volume");
    for (const { name, service } of role("master")) {
      const replication = flagsOf(service).get("defaultreplication") ?? "";
      expect(replication, name).toMatch(/^\d{3}$/);
      expect(copies(replication), `${name}: -defaultReplication=${replication}`).toBe(2);
      // x copies in other data centers and y on other racks need volume servers that declare them.
      const [dataCenters = 0, racks = 0] = [...replication].map(Number);
      const declared = (flag: string) => new Set(volumes.map(({ service: volume }) => flagsOf(volume).get(flag) ?? "default")).size;
      expect(declared("datacenter"), `${name}: -defaultReplication=${replication} needs more data centers`).toBeGreaterThan(dataCenters);
      expect(declared("rack"), `${name}: -defaultReplication=${replication} needs more racks`).toBeGreaterThan(racks);
    }
    const nodes = volumes.map(({ service }) => (service.deploy?.mode === "global" ? "global" : pinnedNode(service)));
    expect(nodes.includes("global") || new Set(nodes).size >= 2, "volume servers on at least two nodes").toBe(true);
  });

  it("stores volume data under /mnt/data and registers the volume servers with all masters", () => {
    const masters = role("master").map(({ name }) => `${name}:9333`).sort();
    const volumes = role("volume");
    expect(volumes.length).toBeGreaterThanOrEqual(2);
    for (const { name, service } of volumes) {
      expect(bindMountsOf(service).find((mount) => mount.target === "/data")?.source, name).toMatch(/^\/mnt\/data\//);
      expect(flagsOf(service).get("mserver")?.split(",").sort(), name).toEqual(masters);
    }
  });

  it("runs a filer with the S3 gateway, configured from a docker secret", () => {
    const filers = role("filer");
    expect(filers).toHaveLength(1);
    const [filer] = filers;
    if (!filer) return;
    const flags = flagsOf(filer.service);
    expect(flags.get("s3")).toBe("true");
    expect(flags.get("s3.config")).toMatch(/^\/run\/secrets\//);
    expect(secretRefsOf(filer.service).map((ref) => `/run/secrets/${ref.target}`)).toContain(flags.get("s3.config"));
    expect(deployLabelsOf(filer.service).get(`traefik.http.services.s3.loadbalancer.server.port`)).toBe(flags.get("s3.port") ?? "8333");
  });
});

describe("MongoDB and Rocket.Chat", () => {
  const members = () => servicesWithImage(stacks, "mongo");

  it("runs a three-member replica set rs0 with key-file auth, one member per node, data in /mnt/data/mongo", () => {
    const found = members();
    expect(found.map(({ name }) => name).sort()).toEqual(["mongo1", "mongo2", "mongo3"]);
    expect(found.map(({ service }) => pinnedNode(service)).sort()).toEqual(["1", "2", "3"]);
    for (const { name, service } of found) {
      const flags = flagsOf(service);
      expect(flags.get("replset"), name).toBe("rs0");
      const keyFile = flags.get("keyfile") ?? "";
      const keyRef = secretRefsOf(service).find((ref) => `/run/secrets/${ref.target}` === keyFile);
      expect(keyRef, `${name}: --keyFile ${keyFile} from a docker secret`).toBeDefined();
      expect(keyRef?.mode, `${name}: key file mode 0400`).toBe(0o400);
      expect(environmentOf(service).get("MONGO_INITDB_ROOT_PASSWORD_FILE"), name).toMatch(/^\/run\/secrets\//);
      expect(bindMountsOf(service).find((mount) => mount.target === "/data/db")?.source, name).toBe("/mnt/data/mongo");
    }
  });

  it("initiates the replica set with all three members from a health check", () => {
    const initiating = members().filter(({ service }) => JSON.stringify(service.healthcheck?.test ?? "").includes("rs.initiate("));
    expect(initiating).toHaveLength(1);
    const test = JSON.stringify(initiating[0]?.service.healthcheck?.test ?? "");
    expect(test).toContain("_id: 'rs0'");
    for (const { name } of members()) expect(test).toContain(`host: '${name}:27017'`);
  });

  it("gives Rocket.Chat a MONGO_URL naming the replica set, built from a docker secret, and no oplog URL", () => {
    const [rocketchat, ...others] = servicesWithImage(stacks, "rocket.chat");
    expect(others).toHaveLength(0);
    if (!rocketchat) throw new Error("no Rocket.Chat service");
    const { service } = rocketchat;
    const environment = environmentOf(service);
    expect(environment.has("MONGO_URL")).toBe(false);
    expect(environment.has("MONGO_OPLOG_URL")).toBe(false);
    const script = scriptOf(service);
    const url = /mongodb:\/\/[^\s"']+/.exec(script)?.[0] ?? "";
    expect(url).toContain("replicaSet=rs0");
    for (const { name } of members()) expect(url).toContain(`${name}:27017`);
    const secretPath = /\/run\/secrets\/([\w.-]+)/.exec(script)?.[1];
    expect(secretRefsOf(service).map((ref) => ref.target)).toContain(secretPath);
    expect(script).toMatch(/export MONGO_URL=/);
    expect(script).toMatch(/exec docker-entrypoint\.sh node main\.js/);
    const mongoNetworks = new Set(members().flatMap(({ stack, service: member }) => networkKeysOf(member).map((key) => networkName(stack, key))));
    expect(networkKeysOf(service).some((key) => mongoNetworks.has(networkName(rocketchat.stack, key)))).toBe(true);
  });
});

describe("Keycloak", () => {
  const keycloak = () => {
    const [found, ...others] = servicesWithImage(stacks, "keycloak");
    expect(others).toHaveLength(0);
    if (!found) throw new Error("no Keycloak service");
    return found;
  };

  it("runs Keycloak 26 behind Traefik with health on the management port", () => {
    const { service } = keycloak();
    expect(imageParts(service.image)).toMatchObject({ path: "quay.io/keycloak/keycloak", tag: expect.stringMatching(/^26\.\d+\.\d+$/) });
    const environment = environmentOf(service);
    expect(environment.get("KC_DB")).toBe("postgres");
    expect(environment.get("KC_PROXY_HEADERS")).toBe("xforwarded");
    expect(environment.get("KC_HTTP_ENABLED")).toBe("true");
    expect(environment.get("KC_HEALTH_ENABLED")).toBe("true");
    expect(environment.get("KC_HOSTNAME")).toMatch(/^https:\/\/\$\{KEYCLOAK_HOST(:\?[^}]*)?\}$/);
    expect(JSON.stringify(service.healthcheck?.test)).toContain("127.0.0.1/9000");
    expect(deployLabelsOf(service).get("traefik.http.services.keycloak.loadbalancer.server.port")).toBe("8080");
  });

  it("reads the database password from a docker secret through an entrypoint wrapper", () => {
    const { service } = keycloak();
    expect(environmentOf(service).has("KC_DB_PASSWORD")).toBe(false);
    const script = scriptOf(service);
    const mounted = secretRefsOf(service).map((ref) => `/run/secrets/${ref.target}`);
    expect(script).toMatch(/KC_DB_PASSWORD="\$\$\(< \/run\/secrets\/[\w.-]+\)"/);
    for (const path of script.match(/\/run\/secrets\/[\w.-]+/g) ?? []) expect(mounted).toContain(path);
    expect(script).toMatch(/export KC_DB_PASSWORD/);
    expect(script).toContain('exec /opt/keycloak/bin/kc.sh "$$@"');
    expect(service.command).toEqual(["start"]);
  });

  it("has a Postgres pinned to one node with its data in /mnt/data/postgres and its password from a secret", () => {
    const { stack, service } = keycloak();
    const dbHost = /^jdbc:postgresql:\/\/([\w-]+):5432\//.exec(environmentOf(service).get("KC_DB_URL") ?? "")?.[1] ?? "";
    const postgres = stack.compose.services[dbHost];
    if (!postgres) throw new Error(`KC_DB_URL names ${dbHost}, not a service of ${stack.file}`);
    expect(imageParts(postgres.image).repository).toBe("postgres");
    expect(pinnedNode(postgres)).not.toBeNull();
    expect(bindMountsOf(postgres).map((mount) => mount.source)).toContain("/mnt/data/postgres");
    const passwordFile = environmentOf(postgres).get("POSTGRES_PASSWORD_FILE");
    expect(secretRefsOf(postgres).map((ref) => `/run/secrets/${ref.target}`)).toContain(passwordFile);
    expect(secretRefsOf(service).map((ref) => `/run/secrets/${ref.target}`)).toContain(passwordFile);
    expect(networkKeysOf(service).filter((key) => networkKeysOf(postgres).includes(key))).not.toEqual([]);
  });
});

describe("Netdata", () => {
  it("runs on every node, unrouted, with /proc and /sys read-only", () => {
    const found = servicesWithImage(stacks, "netdata");
    expect(found).toHaveLength(1);
    const [netdata] = found;
    if (!netdata) return;
    expect(netdata.service.deploy?.mode).toBe("global");
    expect([...deployLabelsOf(netdata.service).keys()].filter((key) => key.startsWith("traefik."))).toEqual([]);
    expect(netdata.service.ports ?? []).toEqual([]);
    const mounts = bindMountsOf(netdata.service);
    expect(mounts).toContainEqual({ source: "/proc", target: "/host/proc", readOnly: true });
    expect(mounts).toContainEqual({ source: "/sys", target: "/host/sys", readOnly: true });
  });
});

describe("the backup route (docs/architecture.md)", () => {
  const environmentsDir = fileURLToPath(new URL("../../infra/environments/", import.meta.url));
  const shippedEnvironments = readdirSync(environmentsDir).filter((file) => file.endsWith(".yaml")).map((file) => file.replace(/\.yaml$/, ""));
  const hostPort = (port: number) => ({ target: port, published: port, protocol: "tcp", mode: "host" });

  it("publishes each stateful service's dump port in host mode, on the node it is pinned to", () => {
    const mongo = servicesWithImage(stacks, "mongo");
    expect(mongo.map(({ name }) => name).sort()).toEqual(["mongo1", "mongo2", "mongo3"]);
    for (const { name, service } of mongo) {
      expect(service.ports, name).toEqual([hostPort(27017)]);
      expect(pinnedNode(service), name).not.toBeNull();
    }
    const [postgres, ...otherPostgres] = servicesWithImage(stacks, "postgres");
    expect(otherPostgres).toEqual([]);
    expect(postgres?.service.ports).toEqual([hostPort(5432)]);
    expect(pinnedNode(postgres!.service)).not.toBeNull();
    const filers = servicesWithImage(stacks, "seaweedfs").filter(({ service }) => argsOf(service)[0] === "filer");
    expect(filers.map(({ service }) => service.ports)).toEqual([[hostPort(Number(flagsOf(filers[0]!.service).get("s3.port")))]]);
    // Nothing else publishes: masters, volume servers, the filer's API, Netdata, the apps.
    const publishing = stacks.flatMap((stack) => services(stack).filter(([, service]) => (service.ports ?? []).length > 0).map(([name]) => name));
    expect(publishing.sort()).toEqual(["filer", "mongo1", "mongo2", "mongo3", "postgres", "traefik"]);
  });

  it("is what infra's backup-targets reads from the stack files", () => {
    const environment = loadEnvironment(environmentsDir, "example");
    const endpoints = dumpEndpoints(fileURLToPath(new URL("../../", import.meta.url)), environment);
    expect(endpoints.map((endpoint) => `${endpoint.kind} ${endpoint.stack}/${endpoint.service} node ${endpoint.node}:${endpoint.port}`)).toEqual([
      "mongodb apps/mongo1 node 1:27017",
      "mongodb apps/mongo2 node 2:27017",
      "mongodb apps/mongo3 node 3:27017",
      "postgres apps/postgres node 3:5432",
      "s3 core/filer node 1:8333",
    ]);
    expect(endpoints.find((endpoint) => endpoint.kind === "postgres")?.database).toBe("keycloak");
  });

  /** The rules of a firewall that let `port` in over TCP. */
  const opening = (rules: FirewallRule[], port: number) => rules.filter((rule) => rule.direction === "in" && rule.protocol === "tcp" && typeof rule.port === "string" && portRangeCovers(rule.port, port));

  it("is never opened by an environment's firewall: no shipped file opens a published port but Traefik's, nor the filer's API", () => {
    const dumpPorts = new Set(stacks.flatMap((stack) => services(stack).flatMap(([, service]) => (service.ports ?? []).map((port) => port.published ?? port.target))));
    for (const web of [80, 443]) dumpPorts.delete(web);
    expect([...dumpPorts].sort()).toEqual([27017, 5432, 8333].sort());
    // infra refuses a rule over any of these (infra-config.test.ts); the filer's own API is among them.
    expect(BACKUP_ROUTE_PORTS.map(({ port }) => port).sort()).toEqual([...dumpPorts, 8888].sort());
    expect(shippedEnvironments).toEqual(expect.arrayContaining(["dev", "staging", "prod", "example"]));
    for (const name of shippedEnvironments) {
      const rules = desiredRules(withOperatorAddresses(loadEnvironment(environmentsDir, name), { INFRA_SSH_SOURCES: "203.0.113.7/32" }));
      for (const port of [...dumpPorts, 8888]) expect(opening(rules, port), `${name}: port ${port}`).toEqual([]);
      expect(opening(rules, 443).length, `${name}: the check sees the rules`).toBeGreaterThan(0);
    }
    // The check can fail: a rule whose range covers a dump port.
    const wide: FirewallRule = { direction: "in", protocol: "tcp", port: "5000-6000", source_ips: ["0.0.0.0/0"], destination_ips: [], description: "wide" };
    expect(opening([wide], 5432)).toEqual([wide]);
  });

  it("gives the backup read-only database users from docker secrets, created idempotently", () => {
    const apps = stackNamed("apps");
    const mongo1 = apps.compose.services["mongo1"]!;
    const mongoCheck = JSON.stringify(mongo1.healthcheck?.test);
    expect(secretRefsOf(mongo1).map((ref) => ref.target)).toContain(MONGO_BACKUP_SECRET);
    expect(mongoCheck).toContain(`fs.readFileSync('/run/secrets/${MONGO_BACKUP_SECRET}', 'utf8').trim()`);
    expect(mongoCheck).toContain("admin.getUser('backup') === null");
    expect(mongoCheck).toContain("admin.createUser(Object.assign({ user: 'backup' }, backup))");
    expect(mongoCheck).toContain("admin.updateUser('backup', backup)");
    // The built-in role backup, and nothing else.
    expect(/roles: \[ \{ role: 'backup', db: 'admin' \} \]/.test(mongoCheck)).toBe(true);

    const postgres = apps.compose.services["postgres"]!;
    const [shell, script = ""] = postgres.healthcheck?.test as string[];
    expect(shell).toBe("CMD-SHELL");
    expect(secretRefsOf(postgres).map((ref) => ref.target)).toContain(POSTGRES_BACKUP_SECRET);
    // psql reads the password itself: it is on no command line and in no environment.
    expect(script).toContain(`\\set password \`cat /run/secrets/${POSTGRES_BACKUP_SECRET}\``);
    expect(script).toContain("PASSWORD :'password'");
    expect(script).not.toMatch(/PGPASSWORD|-c ['"]ALTER/);
    expect(script).toContain("SET log_min_error_statement = panic;");
    expect(script).toContain("NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS");
    expect(script.match(/GRANT [^;]+;/g)).toEqual(["GRANT pg_read_all_data TO backup;"]);
    // Once per container, and pg_isready has the last word.
    expect(script).toContain("[ ! -e /tmp/edge-ops-backup-role ]");
    expect(script.trimEnd().split("\n").at(-1)).toBe("pg_isready -h 127.0.0.1 -U keycloak -d keycloak");

    const filer = servicesWithImage(stacks, "seaweedfs").find(({ service }) => argsOf(service)[0] === "filer")!;
    expect(secretRefsOf(filer.service).map((ref) => ref.target)).toContain(S3_CONFIG_SECRET);
  });

  it("is dumped by a pg_dump at least as new as the Postgres it runs (pg_dump refuses a newer server)", () => {
    const [postgres] = servicesWithImage(stacks, "postgres");
    const major = Number(/^(\d+)/.exec(imageParts(postgres!.service.image).tag ?? "")?.[1]);
    expect(major).toBeGreaterThan(0);
    expect(POSTGRES_CLIENT_MAJOR).toBeGreaterThanOrEqual(major);
  });

  it("rejects a dump port in ingress mode, on another number, a port the service does not own, or a host address", () => {
    const apps = stackNamed("apps");
    const problemsOf = (from: string, to: string) => {
      if (!apps.text.includes(from)) throw new Error(`test bug: ${JSON.stringify(from)} is not in apps.yml`);
      return checkPorts(loadStack("apps.yml", apps.text.replace(from, to)), stacks).join("\n");
    };
    const mongo1Port = "      - target: 27017\n        published: 27017\n        protocol: tcp\n        mode: host";
    expect(problemsOf(mongo1Port, mongo1Port.replace("mode: host", "mode: ingress"))).toContain("mongo1: port 27017 must use mode: host");
    expect(problemsOf(mongo1Port, mongo1Port.replace("published: 27017", "published: 27018"))).toContain("mongo1: publishes its dump port 27017 as 27018");
    expect(problemsOf(mongo1Port, mongo1Port.replaceAll("27017", "28017"))).toContain("mongo1: publishes port 28017; only Traefik");
    const pinnedPostgres = "          - node.labels.node == 3\n      resources:\n        limits:\n          memory: 1G";
    expect(problemsOf(pinnedPostgres, pinnedPostgres.replace("node.labels.node == 3", "node.role == manager"))).toContain(
      "postgres: publishes dump port 5432 but is not pinned to a node",
    );
    // Swarm ignores a host address on a published port (the Engine API's EndpointPortConfig has
    // none): the schema refuses one rather than let it look like a restriction.
    expect(() => loadStack("apps.yml", apps.text.replace(mongo1Port, `${mongo1Port}\n        host_ip: 10.42.1.2`))).toThrow(/Unrecognized key: "host_ip"/);
  });
});

describe("stacks across files", () => {
  it("create the network apps joins as external under a fixed name (core's edge-public)", () => {
    const core = stackNamed("core");
    const apps = stackNamed("apps");
    expect(networkName(core, "public")).toBe("edge-public");
    expect(apps.compose.networks?.["public"]).toEqual({ external: true, name: "edge-public" });
    expect(stackNamed("monitoring").compose.networks?.["public"]).toEqual({ external: true, name: "edge-public" });
  });

  it("are deployed by every shipped environment, core first, with every variable and secret they need", () => {
    const environmentsDir = fileURLToPath(new URL("../../infra/environments/", import.meta.url));
    const shipped = readdirSync(environmentsDir).filter((file) => file.endsWith(".yaml")).map((file) => file.replace(/\.yaml$/, ""));
    for (const name of shipped) {
      const environment = loadEnvironment(environmentsDir, name);
      expect(environment.stacks.map((entry) => entry.file), name).toEqual(["swarm-stacks/core.yml", "swarm-stacks/apps.yml", "swarm-stacks/monitoring.yml"]);
      for (const entry of environment.stacks) {
        const stack = stacks.find((candidate) => `swarm-stacks/${candidate.file}` === entry.file)!;
        // The CLI sets <NAME>_SECRET and <KEY>_CONFIG; the environment file gives the rest, those
        // with a default (${NAME:-…}) only when it wants something else.
        const listed = headerVariables(stack.text).filter((variable) => !/_(SECRET|CONFIG)$/.test(variable));
        const optional = new Set([...stack.text.matchAll(/\$\{([A-Z][A-Z0-9_]*):-[^}]*\}/g)].map((match) => match[1]!));
        expect(Object.keys(entry.variables).filter((variable) => !optional.has(variable)).sort(), `${name}: ${entry.name}`).toEqual(listed.filter((variable) => !optional.has(variable)).sort());
        for (const variable of Object.keys(entry.variables)) expect(listed, `${name}: ${entry.name} sets ${variable}`).toContain(variable);
        for (const secret of Object.keys(stack.compose.secrets ?? {})) expect(environment.secrets, `${name}: ${entry.name} needs ${secret}`).toContain(secret);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The rules can fail: a stack that passes every rule, then one change at a time that one rule
// must reject, naming what is wrong.

const COMPLIANT = `# Variables:
#   APP_HOST                 public host name
#   APP_DB_PASSWORD_SECRET   docker name of the secret app_db_password
#   APP_CONF_CONFIG          docker name of the config app_conf
#   WORKER_HOST              used in the config's file (monitoring/prometheus.yml)
#
version: "3.9"
services:
  app:
    image: example/app:1.2.3
    environment:
      APP_DB_PASSWORD_FILE: /run/secrets/app_db_password
      GREETING: "costs $$5"
    secrets:
      - app_db_password
    configs:
      - source: app_conf
        target: /etc/app/app.yml
    volumes:
      - type: tmpfs
        target: /tmp
    logging:
      driver: json-file
      options:
        max-size: "10m"
        max-file: "3"
        labels: "com.docker.stack.namespace,com.docker.swarm.service.name"
    networks:
      - public
      - backend
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
      timeout: 5s
      retries: 3
      start_period: 10s
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
      resources:
        limits:
          memory: 128M
        reservations:
          memory: 64M
      labels:
        traefik.enable: "true"
        traefik.swarm.network: edge-public
        traefik.http.routers.app.rule: "Host(\`\${APP_HOST:?APP_HOST is required}\`)"
        traefik.http.routers.app.entrypoints: websecure
        traefik.http.services.app.loadbalancer.server.port: "8080"
networks:
  public:
    external: true
    name: edge-public
  backend:
    driver: overlay
    driver_opts:
      com.docker.network.driver.mtu: "1450"
      encrypted: ""
secrets:
  app_db_password:
    external: true
    name: \${APP_DB_PASSWORD_SECRET:?APP_DB_PASSWORD_SECRET is required}
configs:
  app_conf:
    external: true
    name: \${APP_CONF_CONFIG:?APP_CONF_CONFIG is required}
    x-file: monitoring/prometheus.yml
`;

const variant = (replacements: [string, string][]) =>
  replacements.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`test bug: ${JSON.stringify(from)} is not in the compliant stack`);
    return text.replace(from, to);
  }, COMPLIANT);

const BROKEN: { rule: Check; change: string; text: string; mentions: string }[] = [
  { rule: checkMemory, change: "no memory limit", text: variant([["          memory: 128M", '          cpus: "0.5"']]), mentions: "app: deploy.resources.limits.memory" },
  { rule: checkMemory, change: "reservation above the limit", text: variant([["          memory: 64M", "          memory: 1G"]]), mentions: "app: memory reservation" },
  { rule: checkImages, change: "image :latest", text: variant([["example/app:1.2.3", "example/app:latest"]]), mentions: "app: image example/app:latest" },
  { rule: checkImages, change: "untagged image", text: variant([["example/app:1.2.3", "example/app"]]), mentions: "app: image example/app has no tag" },
  { rule: checkEnvironment, change: "password literal in environment", text: variant([["APP_DB_PASSWORD_FILE: /run/secrets/app_db_password", "APP_DB_PASSWORD: hunter2"]]), mentions: "app: environment APP_DB_PASSWORD" },
  { rule: checkEnvironment, change: "credentials in a URL", text: variant([["GREETING: \"costs $$5\"", "DATABASE_URL: postgres://app:hunter2@db/app"]]), mentions: "app: environment DATABASE_URL" },
  { rule: checkEnvironment, change: "_FILE outside the mounted secrets", text: variant([["APP_DB_PASSWORD_FILE: /run/secrets/app_db_password", "APP_DB_PASSWORD_FILE: /etc/app/password"]]), mentions: "app: environment APP_DB_PASSWORD_FILE" },
  { rule: checkHealthchecks, change: "health check disabled", text: variant([['      test: ["CMD", "true"]', "      disable: true"]]), mentions: "app: healthcheck is disabled" },
  { rule: checkHealthchecks, change: "no start_period", text: variant([["      start_period: 10s\n", ""]]), mentions: "app: healthcheck.start_period" },
  { rule: checkPlacement, change: "no spread", text: variant([["        max_replicas_per_node: 1", "        constraints: [node.role == manager]"]]), mentions: "app: not spread" },
  { rule: checkSecrets, change: "secret from a file", text: variant([["    external: true\n    name: ${APP_DB", "    file: ./password.txt\n    name: ${APP_DB"]]), mentions: "secret app_db_password: must be external" },
  { rule: checkSecrets, change: "secret named by a variable the CLI does not set", text: variant([["name: ${APP_DB_PASSWORD_SECRET:?APP_DB_PASSWORD_SECRET is required}", "name: app_db_password_v1"]]), mentions: "secret app_db_password: name must be ${APP_DB_PASSWORD_SECRET}" },
  { rule: checkSecrets, change: "undeclared secret", text: variant([["      - app_db_password", "      - app_db_password\n      - api_token"]]), mentions: "app: secret api_token is not declared" },
  { rule: checkNetworks, change: "unencrypted network", text: variant([['      encrypted: ""\n', ""]]), mentions: "network backend: must be encrypted" },
  { rule: checkNetworks, change: "default MTU", text: variant([['      com.docker.network.driver.mtu: "1450"\n', '      com.docker.network.driver.mtu: "1500"\n']]), mentions: "network backend: driver_opts com.docker.network.driver.mtu" },
  { rule: checkNetworks, change: "undeclared network", text: variant([["      - backend", "      - backend\n      - frontend"]]), mentions: "app: network frontend is not declared" },
  { rule: checkPorts, change: "published port", text: variant([["    networks:\n      - public", "    ports:\n      - target: 2375\n        published: 2375\n    networks:\n      - public"]]), mentions: "app: publishes port 2375" },
  { rule: checkVariables, change: "unlisted variable", text: variant([["#   APP_HOST                 public host name\n", ""]]), mentions: "variable APP_HOST is used but not listed" },
  { rule: checkVariables, change: "bare dollar", text: variant([["costs $$5", "costs $5"]]), mentions: '"$5"' },
  { rule: checkRouting, change: "no load-balancer port", text: variant([['        traefik.http.services.app.loadbalancer.server.port: "8080"\n', ""]]), mentions: "app: no traefik.http.services.<name>.loadbalancer.server.port" },
  { rule: checkRouting, change: "literal host name", text: variant([["Host(`${APP_HOST:?APP_HOST is required}`)", "Host(`app.example.com`)"]]), mentions: "app: router app rule must be Host" },
  {
    rule: checkRouting,
    change: "a router with its own tls section",
    text: variant([["        traefik.http.routers.app.entrypoints: websecure\n", "        traefik.http.routers.app.entrypoints: websecure\n        traefik.http.routers.app.tls.certresolver: le\n"]]),
    mentions: "app: router app sets traefik.http.routers.app.tls.certresolver: TLS comes from the websecure entrypoint",
  },
  { rule: checkRouting, change: "a router on every entrypoint", text: variant([["        traefik.http.routers.app.entrypoints: websecure\n", ""]]), mentions: "app: router app must listen on websecure only" },
  { rule: checkVariables, change: "a variable with an alternative value", text: variant([["Host(`${APP_HOST:?APP_HOST is required}`)", "Host(`${APP_HOST:+x}`)"]]), mentions: '"${APP_HOST:+x}"' },
  { rule: checkConfigs, change: "config from a file", text: variant([["    external: true\n    name: ${APP_CONF", "    file: ./app.yml\n    name: ${APP_CONF"]]), mentions: "config app_conf: must be external: true" },
  { rule: checkConfigs, change: "config named by a literal", text: variant([["name: ${APP_CONF_CONFIG:?APP_CONF_CONFIG is required}", "name: app_conf_v1"]]), mentions: "config app_conf: name must be ${APP_CONF_CONFIG}" },
  { rule: checkConfigs, change: "config from a file that is not there", text: variant([["x-file: monitoring/prometheus.yml", "x-file: monitoring/nowhere.yml"]]), mentions: "config app_conf: x-file monitoring/nowhere.yml does not exist" },
  { rule: checkConfigs, change: "undeclared config", text: variant([["        target: /etc/app/app.yml", "        target: /etc/app/app.yml\n      - other_conf"]]), mentions: "app: config other_conf is not declared" },
  { rule: checkVariables, change: "a config file's variable not listed", text: variant([["#   WORKER_HOST              used in the config's file (monitoring/prometheus.yml)\n", ""]]), mentions: "variable WORKER_HOST is used but not listed" },
  { rule: checkLogging, change: "logs without the Swarm labels", text: variant([['        labels: "com.docker.stack.namespace,com.docker.swarm.service.name"\n', ""]]), mentions: "app: logging.options.labels must include com.docker.stack.namespace" },
  { rule: checkLogging, change: "another log driver", text: variant([["      driver: json-file", "      driver: journald"]]), mentions: "app: logging.driver must be json-file" },
  { rule: checkPlacement, change: "named volume on a service that moves", text: variant([["      - type: tmpfs\n        target: /tmp", "      - app_data:/var/lib/app"], ["networks:\n  public:\n    external", "volumes:\n  app_data:\nnetworks:\n  public:\n    external"]]), mentions: "app: keeps data in the volume app_data but may move" },
  { rule: checkMounts, change: "containers' logs read by another service", text: variant([["      - type: tmpfs\n        target: /tmp", "      - type: bind\n        source: /var/lib/docker/containers\n        target: /logs\n        read_only: true"]]), mentions: "app: only the log shipper (Alloy) may read the containers' logs" },
  { rule: checkMounts, change: "writable host path", text: variant([["      - type: tmpfs\n        target: /tmp", "      - type: tmpfs\n        target: /tmp\n      - /etc:/host/etc"]]), mentions: "app: bind mount /etc" },
];

describe("the rules reject broken stacks", () => {
  it("accept the compliant example", () => {
    const stack = loadStack("example.yml", COMPLIANT);
    for (const [title, check] of Object.entries(RULES)) expect(check(stack, [...stacks, stack]), title).toEqual([]);
  });

  for (const { rule, change, text, mentions } of BROKEN) {
    it(`reject ${change}`, () => {
      const stack = loadStack("example.yml", text);
      const problems = rule(stack, [...stacks, stack]);
      expect(problems.some((problem) => problem.includes(mentions)), problems.join("\n") || "(no problem found)").toBe(true);
    });
  }

  it("reject a key that docker stack deploy would ignore", () => {
    expect(() => loadStack("example.yml", variant([["    image: example/app:1.2.3", "    image: example/app:1.2.3\n    restart: always"]]))).toThrow(/services\.app: Unrecognized key: "restart"/);
  });

  it("reject YAML with a duplicated key", () => {
    expect(() => loadStack("example.yml", variant([["    image: example/app:1.2.3", "    image: example/app:1.2.3\n    image: example/app:1.2.4"]]))).toThrow(StackLoadError);
  });
});
