// Environment files: the shipped ones load, every stack they deploy renders with their variables,
// and a wrong value is refused before any Hetzner call with an error naming the field.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadEnvironment, parseEnvironment } from "../../infra/config.ts";
import { renderStack, secretVariable } from "../../infra/deploy.ts";
import { parseEnvText, EnvFileError, isGitCryptEncrypted } from "../../infra/env-file.ts";
import { REPOSITORY_ROOT } from "./support/infra.ts";

const environmentsDir = join(REPOSITORY_ROOT, "infra", "environments");
const shipped = readdirSync(environmentsDir).filter((file) => file.endsWith(".yaml")).map((file) => file.replace(/\.yaml$/, ""));

const valid = () => ({
  location: "nbg1",
  server_type: "cx23",
  nodes: 3,
  network: { ip_range: "10.42.0.0/16", subnet: "10.42.1.0/24" },
  firewall: { ssh_sources: ["0.0.0.0/0"], web_sources: ["0.0.0.0/0"] },
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
      const rendered = renderStack(text, { ...stack.variables, ...secrets }, stack.file);
      // `$${X}` is the shell's, left for the container: only our own `${X}` must be gone.
      expect(rendered.replaceAll("$$", ""), `${name}: ${stack.name}`).not.toMatch(/\$\{[A-Za-z_]/);
    }
  });

  it("example keeps to what every Hetzner project offers and names no secret it cannot have", () => {
    const example = loadEnvironment(environmentsDir, "example");
    expect(["fsn1", "nbg1", "hel1"]).toContain(example.location);
    expect(example.server_type).toBe("cx23");
    expect(example.ssh_keys).toEqual([]);
  });
});

describe("validation names the field", () => {
  it("accepts the minimal environment and fills defaults", () => {
    const environment = parseEnvironment("check", valid(), "check.yaml");
    expect(environment).toMatchObject({ image: "debian-12", networkZone: "eu-central", network: { swarm_address_pool: "10.128.0.0/12" }, stacks: [], secrets: [] });
  });

  it.each([
    ["nodes", (document: Record<string, any>) => (document.nodes = 2), /nodes: must be 3/],
    ["a CIDR", (document: Record<string, any>) => (document.network.ip_range = "10.42.0.1/16"), /network\.ip_range: must be an IPv4 CIDR/],
    ["a public range", (document: Record<string, any>) => ((document.network.ip_range = "8.8.0.0/16"), (document.network.subnet = "8.8.1.0/24")), /network\.ip_range: must be a private/],
    ["a subnet outside the range", (document: Record<string, any>) => (document.network.subnet = "10.43.1.0/24"), /network\.subnet: must lie inside ip_range/],
    ["a Swarm pool overlapping the network", (document: Record<string, any>) => (document.network.swarm_address_pool = "10.0.0.0/8"), /network\.swarm_address_pool: must not overlap/],
    ["a firewall source", (document: Record<string, any>) => (document.firewall.ssh_sources = ["anywhere"]), /firewall\.ssh_sources\.0: must be an IPv4 or IPv6 CIDR/],
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
