// An environment's description, `infra/environments/<name>.yaml`, validated with zod. Errors name
// the field (`firewall.ssh_sources.0: ...`), so a typo is found before any Hetzner call.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { isAnywhere, parseIpv4Cidr, parseIpv6Cidr } from "./cidr.ts";
import { readCloudflareRanges, type CloudflareRanges } from "./cloudflare-ips.ts";
import { isSafePath, SHELL_SAFE, SHELL_SAFE_MESSAGES } from "./shell.ts";

/** Public ports the cloud firewall may never open: the Docker API and Swarm's own ports. */
export const FORBIDDEN_PUBLIC_PORTS = [2375, 2376, 2377, 4789, 7946] as const;

/**
 * The backup route's ports (docs/architecture.md): the stacks publish MongoDB, Postgres and the
 * SeaweedFS S3 gateway in host mode so that the backup server reaches them over the private
 * network. Swarm binds a host-mode port on every address of the node, the public one included, so
 * only the cloud firewall (which filters the public interface) keeps them off the internet: it
 * may never open them, nor the filer's own API.
 */
export const BACKUP_ROUTE_PORTS = [
  { port: 27017, service: "MongoDB" },
  { port: 5432, service: "Postgres" },
  { port: 8333, service: "SeaweedFS S3" },
  { port: 8888, service: "SeaweedFS filer" },
] as const;

/** Whether a firewall port ("22", 80, "8000-8100") covers `port`. */
export function portRangeCovers(range: string | number, port: number): boolean {
  const [from, to = from] = String(range).split("-").map(Number) as [number, number?];
  return port >= from && port <= to;
}

const contains = (outer: { base: number; prefix: number }, inner: { base: number; prefix: number }) =>
  inner.prefix >= outer.prefix && Math.floor(inner.base / 2 ** (32 - outer.prefix)) === Math.floor(outer.base / 2 ** (32 - outer.prefix));
const overlaps = (a: { base: number; prefix: number }, b: { base: number; prefix: number }) => contains(a, b) || contains(b, a);
const isPrivate = (cidr: { base: number; prefix: number }) =>
  [parseIpv4Cidr("10.0.0.0/8")!, parseIpv4Cidr("172.16.0.0/12")!, parseIpv4Cidr("192.168.0.0/16")!].some((range) => contains(range, cidr));

const cidr = z.string().refine((value) => parseIpv4Cidr(value) !== null, "must be an IPv4 CIDR such as 10.42.0.0/16 (network address, prefix ≤ 32)");
/** A source of a firewall rule: IPv4 or IPv6 CIDR, as Hetzner takes them. */
const sourceCidr = z.string().refine((value) => parseIpv4Cidr(value) !== null || parseIpv6Cidr(value) !== null, "must be an IPv4 or IPv6 CIDR (0.0.0.0/0 and ::/0 mean anywhere)");
/** An environment variable holding comma-separated CIDRs, resolved when plan or apply runs. */
const SOURCE_REFERENCE = /^\$\{([A-Z][A-Z0-9_]*)\}$/;
/**
 * Who may reach SSH: CIDRs, or `${NAME}` naming a variable with the operator's addresses
 * (dev.yaml). Never the whole internet: the nodes' root login would face every scanner.
 */
const sshSource = z
  .string()
  .refine((value) => SOURCE_REFERENCE.test(value) || parseIpv4Cidr(value) !== null || parseIpv6Cidr(value) !== null, "must be an IPv4 or IPv6 CIDR, or ${NAME} naming a variable that holds them")
  .refine((value) => !isAnywhere(value), "must not open SSH to the whole internet (0.0.0.0/0, ::/0): list your operators' and CI's addresses");
/** A name that reaches Hetzner and may reach a command on the nodes. */
const safeName = z.string().regex(SHELL_SAFE.name, SHELL_SAFE_MESSAGES.name);
const labelValue = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const variableName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, "must be an upper-case variable name");

const extraRule = z
  .object({
    description: z.string().max(255),
    protocol: z.enum(["tcp", "udp"]),
    port: z.union([z.number().int().min(1).max(65535), z.string().regex(/^\d{1,5}(-\d{1,5})?$/, "must be a port or a range such as 8000-8100")]),
    sources: z.array(sourceCidr).min(1),
  })
  .strict()
  .refine((rule) => !FORBIDDEN_PUBLIC_PORTS.some((port) => portRangeCovers(rule.port, port)), {
    message: `must not open the Docker API or Swarm ports (${FORBIDDEN_PUBLIC_PORTS.join(", ")}): they stay on the private network`,
    path: ["port"],
  })
  .refine((rule) => !BACKUP_ROUTE_PORTS.some(({ port }) => portRangeCovers(rule.port, port)), {
    message: `must not open the backup route's ports (${BACKUP_ROUTE_PORTS.map(({ port, service }) => `${port} ${service}`).join(", ")}): the backup server reaches them over the private network, and the firewall is what keeps them off the internet`,
    path: ["port"],
  });

/** An absolute host path without `..`, spaces or shell characters (it reaches scripts on the nodes). */
const hostPath = z
  .string()
  .regex(SHELL_SAFE.path, SHELL_SAFE_MESSAGES.path)
  .refine((path) => isSafePath(path), "must not contain ..");

/** An OpenSSH public key line without options: type, base64 body, optional plain comment. */
const publicKey = z
  .string()
  .trim()
  .regex(
    /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-rsa) [A-Za-z0-9+/]+={0,2}( [A-Za-z0-9._@+:=-]{1,100})?$/,
    "must be one OpenSSH public key line (type, base64 key, optional comment of letters, digits, . _ @ + : = -), without options",
  );

const stack = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]*$/, "must be a stack name (lower case, digits, - and _)"),
    /** Path of the stack file, relative to the repository. */
    file: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "must be a path inside the repository (letters, digits, . _ - and /)")
      .refine((path) => !path.split("/").includes(".."), "must not contain .."),
    /** Values for `${NAME}` in the stack file (and its configs' files). */
    variables: z.record(variableName, z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(SHELL_SAFE.variable, SHELL_SAFE_MESSAGES.variable))).default({}),
  })
  .strict();

export const environmentSchema = z
  .object({
    /** Hetzner location of all three nodes (spread across hosts by the placement group). */
    location: safeName,
    server_type: safeName,
    image: safeName.default("debian-12"),
    /** A 3-manager Swarm: Raft keeps working with one node down. */
    nodes: z.literal(3, { error: "must be 3: the Swarm runs three managers" }),
    network: z
      .object({
        ip_range: cidr,
        /** The cloud subnet the servers get their private addresses from. */
        subnet: cidr,
        /** Derived from the location when left out. */
        zone: z.enum(["eu-central", "us-east", "us-west", "ap-southeast"]).optional(),
        /** Docker's address pool for overlay networks; must not overlap the Hetzner network. */
        swarm_address_pool: cidr.default("10.128.0.0/12"),
      })
      .strict()
      .superRefine((network, context) => {
        const range = parseIpv4Cidr(network.ip_range);
        const subnet = parseIpv4Cidr(network.subnet);
        const pool = parseIpv4Cidr(network.swarm_address_pool);
        if (!range || !subnet || !pool) return;
        if (!isPrivate(range)) context.addIssue({ code: "custom", path: ["ip_range"], message: "must be a private (RFC 1918) range" });
        if (!contains(range, subnet)) context.addIssue({ code: "custom", path: ["subnet"], message: `must lie inside ip_range ${network.ip_range}` });
        if (overlaps(range, pool)) context.addIssue({ code: "custom", path: ["swarm_address_pool"], message: `must not overlap ip_range ${network.ip_range}` });
      }),
    firewall: z
      .object({
        ssh_sources: z.array(sshSource).min(1, "list the addresses that may reach SSH (your office, VPN or CI), e.g. 203.0.113.7/32, or ${INFRA_SSH_SOURCES}"),
        /**
         * HTTP and HTTPS (Traefik): `cloudflare` (default) for an origin behind Cloudflare, whose
         * published ranges (infra/cloudflare-ips.json) are then the only sources; or CIDRs.
         */
        web_sources: z.union([z.literal("cloudflare"), z.array(sourceCidr).min(1)]).default("cloudflare"),
        allow_icmp: z.boolean().default(true),
        /** Hetzner takes at most 50 rules per firewall (set_rules, checked 2026-12-06); four are the CLI's own. */
        extra_rules: z.array(extraRule).max(46, "at most 46: Hetzner allows 50 rules per firewall and SSH, HTTP, HTTPS and ICMP take four").default([]),
      })
      .strict(),
    /** Names of SSH keys already in the Hetzner project that may also log in (besides INFRA_SSH_PUBLIC_KEY). */
    ssh_keys: z.array(z.string().min(1)).default([]),
    /** One data volume per node, mounted at /mnt/data (SeaweedFS, MongoDB, Postgres). */
    volume: z
      .object({ size_gb: z.number().int().min(10).max(10240), format: z.enum(["ext4", "xfs"]).default("ext4") })
      .strict(),
    stacks: z.array(stack).default([]),
    /** The temporary server `backup-image` builds the runner snapshot on; a small disk fits every type. */
    backup_image: z
      .object({ server_type: safeName.default("cx23"), image: safeName.default("debian-12") })
      .strict()
      .default({ server_type: "cx23", image: "debian-12" }),
    /**
     * What the Worker's backups read besides the databases and SeaweedFS, which the stacks publish
     * (docs/architecture.md); `npm run infra -- backup-targets` turns it into BACKUP_TARGETS.
     */
    backup: z
      .object({
        /** Host paths read on every node over SSH as edge-ops-backup (rrsync -ro). */
        paths: z
          .array(hostPath)
          .max(20)
          .default([])
          .refine((paths) => new Set(paths).size === paths.length, "must not list a path twice"),
        /** The public half of the Worker's BACKUP_SSH_PRIVATE_KEY; installed for edge-ops-backup on every node. */
        ssh_public_key: publicKey.optional(),
        /**
         * The node whose MongoDB member mongodump reads, by a direct connection (the replica set's
         * member names resolve only on the overlay network). Node 2: a secondary while mongo1
         * (priority 2) is primary; point it at another node while node 2 is down.
         */
        mongodb_node: z.number().int().min(1).max(3).default(2),
        /** Buckets of the S3 target; empty: every bucket the backup identity may list. */
        s3_buckets: z
          .array(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name"))
          .default([]),
        /**
         * The Worker that backs this environment up: `destroy --delete-volumes` asks its admin API
         * (GET /api/backups/runs, with INFRA_ADMIN_TOKEN) for a backup that ended done in the last day.
         */
        worker_url: z
          .string()
          .regex(/^(https:\/\/[A-Za-z0-9.-]+(:\d+)?|http:\/\/(127\.0\.0\.1|localhost)(:\d+)?)\/?$/, "must be https://<host> (http only for 127.0.0.1 or localhost)")
          .optional(),
      })
      .strict()
      .default({ paths: [], mongodb_node: 2, s3_buckets: [] }),
    /** Docker secrets the stacks use: values from `secrets/<env>/swarm.env` or `INFRA_SECRET_<NAME>`. */
    secrets: z.array(z.string().regex(/^[a-z][a-z0-9_]*$/, "must be a lower-case secret name")).default([]),
    /** Extra labels on every Hetzner resource (managed-by and env are always set). */
    labels: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/, "must be a label key"), z.string().regex(labelValue, "must be a label value (≤ 63 letters, digits, . _ -)"))
      .default({})
      .refine((labels) => !("managed-by" in labels) && !("env" in labels) && !("node" in labels) && !("role" in labels), "must not set managed-by, env, node or role (the CLI sets them)"),
  })
  .strict()
  .superRefine((environment, context) => {
    const names = environment.stacks.map((entry) => entry.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) context.addIssue({ code: "custom", path: ["stacks", index, "name"], message: `stack ${name} is listed twice` });
    });
  });

type EnvironmentFile = z.infer<typeof environmentSchema>;

/** Where the firewall's 80/443 sources come from. */
export type WebSources = { from: "cloudflare"; date: string; file: string } | { from: "file" };

export type Environment = Omit<EnvironmentFile, "firewall"> & {
  name: string;
  networkZone: string;
  /** `web_sources` resolved: Cloudflare's ranges when the file says `cloudflare`. */
  firewall: Omit<EnvironmentFile["firewall"], "web_sources"> & { web_sources: string[] };
  webSources: WebSources;
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const ZONES: Record<string, string> = { fsn1: "eu-central", nbg1: "eu-central", hel1: "eu-central", ash: "us-east", hil: "us-west", sin: "ap-southeast" };

export const environmentPath = (directory: string, name: string) => join(directory, `${name}.yaml`);

export type LoadOptions = {
  /** Cloudflare's ranges (default: read from infra/cloudflare-ips.json, or `cloudflareFile`). */
  cloudflare?: CloudflareRanges & { file: string };
  cloudflareFile?: string;
};

/** Validates parsed YAML; `source` names the file in errors. */
export function parseEnvironment(name: string, document: unknown, source: string, options: LoadOptions = {}): Environment {
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(name)) throw new ConfigError(`environment name ${JSON.stringify(name)} must be lower case letters, digits and -, at most 21 characters`);
  const result = environmentSchema.safeParse(document);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`);
    throw new ConfigError(`${source} is invalid:\n${lines.join("\n")}`);
  }
  const networkZone = result.data.network.zone ?? ZONES[result.data.location];
  if (!networkZone) throw new ConfigError(`${source} is invalid:\n  network.zone: required for location ${result.data.location} (eu-central, us-east, us-west or ap-southeast)`);
  const { web_sources: web, ...firewall } = result.data.firewall;
  if (web !== "cloudflare") return { ...result.data, firewall: { ...firewall, web_sources: web }, webSources: { from: "file" }, name, networkZone };
  const ranges = options.cloudflare ?? readCloudflareRanges(options.cloudflareFile);
  return { ...result.data, firewall: { ...firewall, web_sources: [...ranges.ipv4, ...ranges.ipv6] }, webSources: { from: "cloudflare", date: ranges.date, file: ranges.file }, name, networkZone };
}

/**
 * The environment with every `${NAME}` in firewall.ssh_sources replaced by the CIDRs in that
 * variable (comma-separated): what plan and apply put into the firewall. A missing or bad value
 * throws, naming the variable.
 */
export function withOperatorAddresses(environment: Environment, env: NodeJS.ProcessEnv): Environment {
  const sources = environment.firewall.ssh_sources.flatMap((source) => {
    const variable = SOURCE_REFERENCE.exec(source)?.[1];
    if (!variable) return [source];
    const value = env[variable]?.trim();
    if (!value) throw new ConfigError(`firewall.ssh_sources names \${${variable}}, which is not set: set it to the addresses that may reach SSH, e.g. ${variable}=203.0.113.7/32 (comma-separated; your own: curl -4 https://ifconfig.me)`);
    const cidrs = value.split(",").map((entry) => entry.trim()).filter(Boolean);
    for (const cidr of cidrs) {
      if (parseIpv4Cidr(cidr) === null && parseIpv6Cidr(cidr) === null) throw new ConfigError(`${variable}: ${JSON.stringify(cidr.slice(0, 50))} is not an IPv4 or IPv6 CIDR (a single address is 203.0.113.7/32)`);
      if (isAnywhere(cidr)) throw new ConfigError(`${variable}: must not open SSH to the whole internet (${cidr})`);
    }
    return cidrs;
  });
  return { ...environment, firewall: { ...environment.firewall, ssh_sources: [...new Set(sources)] } };
}

/** Whether firewall.ssh_sources still names a variable (withOperatorAddresses not applied). */
export const hasUnresolvedSources = (environment: Environment) => environment.firewall.ssh_sources.some((source) => SOURCE_REFERENCE.test(source));

/** Loads `<directory>/<name>.yaml` (directory: infra/environments unless INFRA_ENVIRONMENTS_DIR). */
export function loadEnvironment(directory: string, name: string, options: LoadOptions = {}): Environment {
  const path = environmentPath(directory, name);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new ConfigError(`no environment ${JSON.stringify(name)}: ${path} does not exist`);
  }
  let document: unknown;
  try {
    document = parse(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseEnvironment(name, document, path, options);
}
