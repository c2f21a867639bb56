// Environment files: the shipped ones load, every stack they deploy renders with their variables,
// and a wrong value is refused before any Hetzner call with an error naming the field (a shell
// metacharacter in anything that reaches a command on the nodes, SSH open to the world, a
// variable with the operator's addresses that is unset); the firewall's web sources are
// Cloudflare's ranges by default; the backup route's node script and S3 identity check.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { backupAccessScript, s3BackupCredentials } from "../../infra/backup-route.ts";
import { readCloudflareRanges } from "../../infra/cloudflare-ips.ts";
import { ConfigError, loadEnvironment, parseEnvironment, withOperatorAddresses } from "../../infra/config.ts";
import { desiredRules } from "../../infra/plan.ts";
import { configVariable, renderStack, secretVariable, stackConfigs } from "../../infra/deploy.ts";
import { parseEnvText, EnvFileError, isGitCryptEncrypted } from "../../infra/env-file.ts";
import { ed25519PublicKey, REPOSITORY_ROOT } from "./support/infra.ts";

const environmentsDir = join(REPOSITORY_ROOT, "infra", "environments");
const shipped = readdirSync(environmentsDir).filter((file) => file.endsWith(".yaml")).map((file) => file.replace(/\.yaml$/, ""));

const valid = () => ({
  location: "nbg1",
  server_type: "cx23",
  nodes: 3,
  network: { ip_range: "10.42.0.0/16", subnet: "10.42.1.0/24" },
  firewall: { ssh_sources: ["198.51.100.0/24"], web_sources: ["0.0.0.0/0"] },
  volume: { size_gb: 20 },
});

function errorOf(document: unknown): string {
  try {
    parseEnvironment("check", document, "check.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("the environment was accepted");
}

describe("shipped environments", () => {
  it("ships dev, staging, prod and example", () => {
    expect(shipped).toEqual(expect.arrayContaining(["dev", "staging", "prod", "example"]));
  });

  it.each(shipped)("%s loads, and each of its stacks renders with its variables and secrets", (name) => {
    const environment = loadEnvironment(environmentsDir, name);
    expect(environment.name).toBe(name);
    const secrets = Object.fromEntries(environment.secrets.map((secret) => [secretVariable(secret), `${secret}_0123456789ab`]));
    for (const stack of environment.stacks) {
      const text = readFileSync(join(REPOSITORY_ROOT, stack.file), "utf8");
      const configs = Object.fromEntries(stackConfigs(REPOSITORY_ROOT, stack).map((config) => [configVariable(config.key), config.dockerName]));
      const rendered = renderStack(text, { ...stack.variables, ...secrets, ...configs }, stack.file);
      // `$${X}` is the shell's, left for the container: only our own `${X}` must be gone.
      expect(rendered.replaceAll("$$", ""), `${name}: ${stack.name}`).not.toMatch(/\$\{[A-Za-z_]/);
    }
  });

  it.each(shipped)("%s backs up /opt/core and /opt/apps and lists the backup users' secrets", (name) => {
    const environment = loadEnvironment(environmentsDir, name);
    expect(environment.backup).toMatchObject({ paths: ["/opt/core", "/opt/apps"], mongodb_node: 2, s3_buckets: [] });
    expect(environment.secrets).toEqual(expect.arrayContaining(["mongo_backup_password", "postgres_backup_password", "seaweedfs_s3_config"]));
  });

  it("example keeps to what every Hetzner project offers and names no secret it cannot have", () => {
    const example = loadEnvironment(environmentsDir, "example");
    expect(["fsn1", "nbg1", "hel1"]).toContain(example.location);
    expect(example.server_type).toBe("cx23");
    expect(example.ssh_keys).toEqual([]);
  });

  it.each(shipped)("%s opens 80/443 to Cloudflare's published ranges only, and SSH to no one by default", (name) => {
    const environment = loadEnvironment(environmentsDir, name);
    const cloudflare = readCloudflareRanges();
    expect(environment.webSources).toMatchObject({ from: "cloudflare", date: cloudflare.date });
    expect(environment.firewall.web_sources).toEqual([...cloudflare.ipv4, ...cloudflare.ipv6]);
    expect(environment.firewall.ssh_sources.every((source) => !source.endsWith("/0"))).toBe(true);
    expect(environment.secrets).toEqual(expect.arrayContaining(["tls_certificate", "tls_private_key"]));
  });

  it("dev asks for the operator's addresses (INFRA_SSH_SOURCES); example, staging and prod list explicit ones", () => {
    const dev = loadEnvironment(environmentsDir, "dev");
    expect(dev.firewall.ssh_sources).toEqual(["${INFRA_SSH_SOURCES}"]);
    expect(() => desiredRules(dev)).toThrow(ConfigError);
    expect(() => withOperatorAddresses(dev, {})).toThrow("firewall.ssh_sources names ${INFRA_SSH_SOURCES}, which is not set");
    expect(() => withOperatorAddresses(dev, { INFRA_SSH_SOURCES: "::/0" })).toThrow("INFRA_SSH_SOURCES: must not open SSH to the whole internet (::/0)");
    expect(() => withOperatorAddresses(dev, { INFRA_SSH_SOURCES: "203.0.113.7" })).toThrow('INFRA_SSH_SOURCES: "203.0.113.7" is not an IPv4 or IPv6 CIDR');
    const resolved = withOperatorAddresses(dev, { INFRA_SSH_SOURCES: "203.0.113.7/32,2001:db8::7/128" });
    expect(desiredRules(resolved).find((rule) => rule.port === "22")?.source_ips).toEqual(["2001:db8::7/128", "203.0.113.7/32"]);
    for (const name of ["example", "staging", "prod"]) {
      const environment = loadEnvironment(environmentsDir, name);
      expect(withOperatorAddresses(environment, {}).firewall.ssh_sources, name).toEqual(["198.51.100.0/24", "2001:db8:100::/48"]);
    }
  });
});

describe("validation names the field", () => {
  it("accepts the minimal environment and fills defaults", () => {
    const environment = parseEnvironment("check", valid(), "check.yaml");
    expect(environment).toMatchObject({ image: "debian-12", networkZone: "eu-central", network: { swarm_address_pool: "10.128.0.0/12" }, stacks: [], secrets: [] });
    expect(environment.backup).toEqual({ paths: [], mongodb_node: 2, s3_buckets: [] });
  });

  it.each([
    ["nodes", (document: Record<string, any>) => (document.nodes = 2), /nodes: must be 3/],
    ["a CIDR", (document: Record<string, any>) => (document.network.ip_range = "10.42.0.1/16"), /network\.ip_range: must be an IPv4 CIDR/],
    ["a public range", (document: Record<string, any>) => ((document.network.ip_range = "8.8.0.0/16"), (document.network.subnet = "8.8.1.0/24")), /network\.ip_range: must be a private/],
    ["a subnet outside the range", (document: Record<string, any>) => (document.network.subnet = "10.43.1.0/24"), /network\.subnet: must lie inside ip_range/],
    ["a Swarm pool overlapping the network", (document: Record<string, any>) => (document.network.swarm_address_pool = "10.0.0.0/8"), /network\.swarm_address_pool: must not overlap/],
    ["a firewall source", (document: Record<string, any>) => (document.firewall.ssh_sources = ["anywhere"]), /firewall\.ssh_sources\.0: must be an IPv4 or IPv6 CIDR/],
    ["SSH open to the world (IPv4)", (document: Record<string, any>) => (document.firewall.ssh_sources = ["198.51.100.0/24", "0.0.0.0/0"]), /firewall\.ssh_sources\.1: must not open SSH to the whole internet/],
    ["SSH open to the world (IPv6)", (document: Record<string, any>) => (document.firewall.ssh_sources = ["::/0"]), /firewall\.ssh_sources\.0: must not open SSH to the whole internet/],
    ["no SSH source", (document: Record<string, any>) => (document.firewall.ssh_sources = []), /firewall\.ssh_sources: list the addresses that may reach SSH/],
    ["a web source that is neither cloudflare nor CIDRs", (document: Record<string, any>) => (document.firewall.web_sources = "cloudfront"), /firewall\.web_sources/],
    ["a malformed IPv6 source", (document: Record<string, any>) => (document.firewall.web_sources = ["2001:db8:::1/64"]), /firewall\.web_sources\.0: must be an IPv4 or IPv6 CIDR/],
    ["a shell metacharacter in a backup path", (document: Record<string, any>) => (document.backup = { paths: ["/mnt/data/x;$(touch /tmp/pwned)"] }), /backup\.paths\.0: must be an absolute path/],
    ["a space in a backup path", (document: Record<string, any>) => (document.backup = { paths: ["/mnt/data/x y"] }), /backup\.paths\.0: must be an absolute path/],
    [
      "a shell metacharacter in a stack variable",
      (document: Record<string, any>) => (document.stacks = [{ name: "core", file: "swarm-stacks/core.yml", variables: { S3_HOST: "s3.example.com;reboot" } }]),
      /stacks\.0\.variables\.S3_HOST: must be letters, digits and @ % \+ = : , \. \/ _ - only/,
    ],
    ["a newline in a stack variable", (document: Record<string, any>) => (document.stacks = [{ name: "core", file: "swarm-stacks/core.yml", variables: { S3_HOST: "a\nb: c" } }]), /stacks\.0\.variables\.S3_HOST/],
    ["a stack file outside the repository", (document: Record<string, any>) => (document.stacks = [{ name: "core", file: "../core.yml" }]), /stacks\.0\.file: must not contain \.\./],
    ["a stack file with a space", (document: Record<string, any>) => (document.stacks = [{ name: "core", file: "swarm stacks/core.yml" }]), /stacks\.0\.file: must be a path inside the repository/],
    ["a location with a shell character", (document: Record<string, any>) => (document.location = "nbg1;ls"), /location: must be letters, digits, \. _ and -/],
    ["a worker URL over plain http", (document: Record<string, any>) => (document.backup = { worker_url: "http://edge.example.com" }), /backup\.worker_url: must be https:\/\/<host>/],
    [
      "the Docker API port",
      (document: Record<string, any>) => (document.firewall.extra_rules = [{ description: "docker", protocol: "tcp", port: 2376, sources: ["0.0.0.0/0"] }]),
      /firewall\.extra_rules\.0\.port: must not open the Docker API or Swarm ports/,
    ],
    [
      "a range covering Swarm's gossip port",
      (document: Record<string, any>) => (document.firewall.extra_rules = [{ description: "range", protocol: "udp", port: "7000-8000", sources: ["0.0.0.0/0"] }]),
      /firewall\.extra_rules\.0\.port: must not open/,
    ],
    [
      "MongoDB's port",
      (document: Record<string, any>) => (document.firewall.extra_rules = [{ description: "mongo", protocol: "tcp", port: 27017, sources: ["10.0.0.0/8"] }]),
      /firewall\.extra_rules\.0\.port: must not open the backup route's ports \(27017 MongoDB, 5432 Postgres, 8333 SeaweedFS S3, 8888 SeaweedFS filer\)/,
    ],
    [
      "a range covering Postgres's port",
      (document: Record<string, any>) => (document.firewall.extra_rules = [{ description: "ok", protocol: "tcp", port: 8000, sources: ["0.0.0.0/0"] }, { description: "range", protocol: "tcp", port: "5000-6000", sources: ["0.0.0.0/0"] }]),
      /firewall\.extra_rules\.1\.port: must not open the backup route's ports/,
    ],
    ["the S3 gateway's port as a string", (document: Record<string, any>) => (document.firewall.extra_rules = [{ description: "s3", protocol: "tcp", port: "8333", sources: ["0.0.0.0/0"] }]), /firewall\.extra_rules\.0\.port: must not open the backup route's ports/],
    [
      "more rules than a Hetzner firewall holds",
      (document: Record<string, any>) => (document.firewall.extra_rules = Array.from({ length: 47 }, (_, index) => ({ description: `r${index}`, protocol: "tcp", port: 10000 + index, sources: ["198.51.100.0/24"] }))),
      /firewall\.extra_rules: at most 46: Hetzner allows 50 rules per firewall/,
    ],
    ["the filer's API", (document: Record<string, any>) => (document.firewall.extra_rules = [{ description: "filer", protocol: "tcp", port: "8800-8900", sources: ["0.0.0.0/0"] }]), /firewall\.extra_rules\.0\.port: must not open the backup route's ports/],
    ["a relative backup path", (document: Record<string, any>) => (document.backup = { paths: ["opt/core"] }), /backup\.paths\.0: must be an absolute path/],
    ["a backup path with ..", (document: Record<string, any>) => (document.backup = { paths: ["/opt/../etc"] }), /backup\.paths\.0: must not contain \.\./],
    ["a backup path with a quote", (document: Record<string, any>) => (document.backup = { paths: ["/opt/it's"] }), /backup\.paths\.0: must be an absolute path/],
    ["a backup path twice", (document: Record<string, any>) => (document.backup = { paths: ["/opt/core", "/opt/core"] }), /backup\.paths: must not list a path twice/],
    ["a backup key with options", (document: Record<string, any>) => (document.backup = { ssh_public_key: `command="sh" ${ed25519PublicKey()}` }), /backup\.ssh_public_key: must be one OpenSSH public key line/],
    ["a backup key with a quote in its comment", (document: Record<string, any>) => (document.backup = { ssh_public_key: ed25519PublicKey("it's") }), /backup\.ssh_public_key: must be one OpenSSH public key line/],
    ["a MongoDB node", (document: Record<string, any>) => (document.backup = { mongodb_node: 4 }), /backup\.mongodb_node/],
    ["an S3 bucket", (document: Record<string, any>) => (document.backup = { s3_buckets: ["Uploads"] }), /backup\.s3_buckets\.0: must be an S3 bucket name/],
    ["an unknown backup key", (document: Record<string, any>) => (document.backup = { path: ["/opt/core"] }), /backup: Unrecognized key: "path"/],
    ["an unknown key", (document: Record<string, any>) => (document.sever_type = "cx23"), /\(top level\): Unrecognized key: "sever_type"/],
    ["a volume size", (document: Record<string, any>) => (document.volume.size_gb = 5), /volume\.size_gb/],
    ["a reserved label", (document: Record<string, any>) => (document.labels = { env: "x" }), /labels: must not set managed-by, env, node or role/],
    ["a stack listed twice", (document: Record<string, any>) => (document.stacks = [{ name: "core", file: "a.yml" }, { name: "core", file: "b.yml" }]), /stacks\.1\.name: stack core is listed twice/],
    ["a secret name", (document: Record<string, any>) => (document.secrets = ["Mongo-Password"]), /secrets\.0: must be a lower-case secret name/],
  ])("refuses %s", (_, change, message) => {
    const document: Record<string, any> = valid();
    change(document);
    expect(errorOf(document)).toMatch(message);
  });

  it("needs a zone for a location it does not know", () => {
    expect(errorOf({ ...valid(), location: "fsn9" })).toMatch(/network\.zone: required for location fsn9/);
  });

  it("names a missing environment file", () => {
    expect(() => loadEnvironment(environmentsDir, "nope")).toThrow(/no environment "nope": .*nope\.yaml does not exist/);
  });
});

describe("stack rendering", () => {
  it("fills variables and defaults, keeps $$, escapes a $ in a value, and names what is missing", () => {
    expect(renderStack("a: ${A}\nb: ${B:-fallback}\nc: $${NOT_OURS}\nd: ${D:?set D}", { A: "x$y", D: "d" }, "s.yml")).toBe("a: x$$y\nb: fallback\nc: $${NOT_OURS}\nd: d");
    expect(() => renderStack("a: ${A}\nb: ${B:?needed}", {}, "s.yml")).toThrow("s.yml needs A, B");
  });
});

describe("env files", () => {
  it("parses KEY=VALUE with comments, quotes and export", () => {
    const values = parseEnvText('# comment\nexport A=1\nB="two words"\nC=\'x # y\'\nD=plain # trailing\n\n', "f.env");
    expect(Object.fromEntries(values)).toEqual({ A: "1", B: "two words", C: "x # y", D: "plain" });
  });

  it("names the line of a bad entry without quoting it", () => {
    expect(() => parseEnvText("A=1\nnot an entry s3cret\n", "f.env")).toThrow(EnvFileError);
    expect(() => parseEnvText("A=1\nnot an entry s3cret\n", "f.env")).toThrow(/^f\.env:2: expected KEY=VALUE$/);
  });

  it("recognises git-crypt's header", () => {
    expect(isGitCryptEncrypted(Buffer.from("\0GITCRYPT\0\x01\x02"))).toBe(true);
    expect(isGitCryptEncrypted(Buffer.from("A=1\n"))).toBe(false);
  });
});

describe("the backup route's node script", () => {
  const environment = (backup: Record<string, unknown>) => parseEnvironment("check", { ...valid(), backup }, "check.yaml");
  const parses = (script: string) => spawnSync("sh", ["-n"], { input: script }).status;

  it("installs the key for edge-ops-backup, restricted to read-only rsync, and makes the paths readable", () => {
    const key = ed25519PublicKey("edge-ops-backup");
    const script = backupAccessScript(environment({ ssh_public_key: key, paths: ["/opt/core", "/srv/app-data"] }));
    expect(parses(script)).toBe(0);
    expect(script).toContain(`printf '%s %s\\n' 'restrict,command="rrsync -ro /"' '${key}' > /var/lib/edge-ops-backup/.ssh/authorized_keys.new`);
    expect(script).toContain("--shell /bin/sh");
    expect(script).toContain("usermod --password '*' edge-ops-backup");
    expect(script).toContain("for path in '/opt/core' '/srv/app-data'; do");
    expect(script).not.toMatch(/sudo|NOPASSWD|usermod -aG|--groups/);
  });

  it("accepts no key (and revokes one installed before) when the environment has none", () => {
    const script = backupAccessScript(environment({ paths: ["/opt/core"] }));
    expect(parses(script)).toBe(0);
    expect(script).toContain("if [ -f /var/lib/edge-ops-backup/.ssh/authorized_keys ]; then : > /var/lib/edge-ops-backup/.ssh/authorized_keys; fi");
    expect(script).not.toContain("rrsync");
    expect(script).not.toContain("setfacl");
  });
});

describe("the S3 backup identity (seaweedfs_s3_config)", () => {
  const config = (identities: unknown[]) => JSON.stringify({ identities });
  const backup = (actions: string[], credentials = [{ accessKey: "AK", secretKey: "SK-secret" }]) => ({ name: "backup", credentials, actions });

  it("takes the first key of the identity named backup when it may only read and list", () => {
    expect(s3BackupCredentials(config([{ name: "app", credentials: [{ accessKey: "A", secretKey: "S" }], actions: ["Admin"] }, backup(["Read", "List"])]))).toEqual({ accessKeyId: "AK", secretAccessKey: "SK-secret" });
    expect(s3BackupCredentials(config([backup(["Read:uploads", "List:uploads"])]))).toEqual({ accessKeyId: "AK", secretAccessKey: "SK-secret" });
  });

  it.each([
    ["no backup identity", config([{ name: "app", credentials: [{ accessKey: "A", secretKey: "S" }], actions: ["Admin"] }]), 'has no identity named "backup" with credentials'],
    ["no credentials", config([backup(["Read", "List"], [])]), 'has no identity named "backup" with credentials'],
    ["a write action", config([backup(["Read", "List", "Write"])]), 'must have only Read and List actions (it has Write)'],
    ["admin", config([backup(["Admin"])]), "(it has Admin)"],
    ["no actions", config([backup([])]), "must have only Read and List actions"],
    ["not JSON", "{identities", "seaweedfs_s3_config is not JSON"],
    ["another shape", JSON.stringify({ users: [] }), "seaweedfs_s3_config is not a SeaweedFS identities file"],
  ])("refuses %s, without quoting the secret", (_, text, message) => {
    expect(() => s3BackupCredentials(text)).toThrow(message);
    try {
      s3BackupCredentials(text);
    } catch (error) {
      expect((error as Error).message).not.toContain("SK-secret");
    }
  });
});
