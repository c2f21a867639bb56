// Running the infra CLI in tests: in-process `main` with captured output, the environment pointing
// at a Hetzner fake and the fake SSH program, and environment files derived from the shipped ones.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { main } from "../../../infra/cli.ts";
import { FAKE_HCLOUD_TOKEN } from "../fakes/hetzner.ts";

export const REPOSITORY_ROOT = join(import.meta.dirname, "..", "..", "..");

/** An ed25519 public key in OpenSSH's format, random body. */
export function ed25519PublicKey(comment = "infra-test"): string {
  const type = Buffer.from("ssh-ed25519");
  const length = (value: number) => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return bytes;
  };
  const body = Buffer.concat([length(type.length), type, length(32), randomBytes(32)]);
  return `ssh-ed25519 ${body.toString("base64")} ${comment}`;
}

/**
 * A self-signed certificate and its key (PEM) for `names`, made by openssl (the stand-in for a
 * Cloudflare Origin CA certificate in tests and the bench).
 */
export function selfSignedCertificate(names: string[], days = 90): { certificate: string; privateKey: string } {
  const dir = mkdtempSync(join(tmpdir(), "tls-"));
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", String(days), "-subj", `/CN=${names[0]}`, "-addext", `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`];
    const made = spawnSync("openssl", args, { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.stderr}`);
    return { certificate: readFileSync(cert, "utf8"), privateKey: readFileSync(key, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type CliRun = { code: number; out: string; err: string };

export type InfraWorkspace = {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Writes `<name>.yaml`: the shipped environment `from`, changed by `change`. */
  environment(name: string, from: string, change?: (document: Record<string, unknown>) => void): void;
  /** Runs the CLI with its output captured, as when piped (not a terminal). */
  run(...argv: string[]): Promise<CliRun>;
  /** Runs the CLI as if its standard output were a terminal. */
  runAtTerminal(...argv: string[]): Promise<CliRun>;
};

export function infraWorkspace(options: { hetznerUrl: string; sshEnv: NodeJS.ProcessEnv; extraEnv?: NodeJS.ProcessEnv }): InfraWorkspace {
  const dir = mkdtempSync(join(tmpdir(), "infra-cli-"));
  const environments = join(dir, "environments");
  mkdirSync(environments);
  const keyPath = join(dir, "id_ed25519.pub");
  writeFileSync(keyPath, `${ed25519PublicKey()}\n`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    HCLOUD_TOKEN: FAKE_HCLOUD_TOKEN,
    HCLOUD_ENDPOINT: `${options.hetznerUrl}/v1`,
    INFRA_SSH_PUBLIC_KEY: keyPath,
    INFRA_ENVIRONMENTS_DIR: environments,
    INFRA_POLL_MS: "15",
    INFRA_ACTION_TIMEOUT_S: "20",
    INFRA_READY_TIMEOUT_S: "20",
    ...options.sshEnv,
    ...options.extraEnv,
  };
  return {
    dir,
    env,
    environment(name, from, change) {
      const document = parse(readFileSync(join(REPOSITORY_ROOT, "infra", "environments", `${from}.yaml`), "utf8")) as Record<string, unknown>;
      change?.(document);
      writeFileSync(join(environments, `${name}.yaml`), stringify(document));
    },
    run: (...argv) => runCli(argv, false),
    runAtTerminal: (...argv) => runCli(argv, true),
  };
  async function runCli(argv: string[], outIsTerminal: boolean): Promise<CliRun> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, env, { out: (line) => out.push(line), err: (line) => err.push(line), interactive: false, outIsTerminal });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }
}

/** A unique environment name (Hetzner names are unique per project; the fake may be shared). */
export const uniqueEnvironment = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;
