// What the backup runner's Node tests share: backup-runner.test.ts runs the runner script
// (infra/backup-runner/backup-runner.sh) against a fake control plane, backup-e2e.test.ts against
// the Worker under `wrangler dev`. Both run it for real (bash, curl, jq, restic, rsync, the AWS
// CLI) with mongodump, pg_dump, ssh and the power-off command as stand-ins first on PATH, and
// restic, aws, rsync and curl as wrappers that record the call and exec the real program. Every
// recorded call says which secrets were in its arguments (none may be), its environment and the
// files it was handed. restic's repository may live on s3rver (an S3-compatible server from the
// npm registry) served over TLS with a throwaway certificate.
//
// Checked here (2026-12-06): s3rver 3.7.1 (lib/middleware/authentication.js) accepts unsigned
// requests and, for V4-signed ones, checks only that the access key id is registered (its
// DUMMY_ACCOUNT registry); over plain HTTP restic 0.14.0 sends aws-chunked bodies that s3rver
// stores undecoded (the repository's config object starts "9b;chunk-signature=", and the next
// restic command cannot read it), hence TLS. restic 0.14's only way to a CA file is --cacert
// (`restic --help`; the RESTIC_CACERT variable came later), so the runner passes RESTIC_CACERT
// as --cacert; the AWS CLI (Debian's 2.9.19, and 1.45) reads AWS_CA_BUNDLE.
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ExpectStatic } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

export const RUNNER_SCRIPT = fileURLToPath(new URL("../../../infra/backup-runner/backup-runner.sh", import.meta.url));
/** restic's --host, as the Worker hands it over by default (BACKUP_HOST). */
export const RUNNER_HOST = "edge-ops-swarm";
export const execFileAsync = promisify(execFile);

export function which(command: string): string | undefined {
  const found = spawnSync("sh", ["-c", 'command -v "$1"', "sh", command], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** Which of these programs are not on PATH. */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((tool) => which(tool) === undefined);
}

// Debian's AWS CLI when it is there: the one the backup image installs.
export const REAL = {
  restic: which("restic") ?? "restic",
  aws: existsSync("/usr/bin/aws") ? "/usr/bin/aws" : (which("aws") ?? "aws"),
  rsync: which("rsync") ?? "rsync",
  curl: which("curl") ?? "curl",
};

export type OnFinished = (fn: () => void | Promise<void>) => void;

// --- S3 (s3rver) -----------------------------------------------------------------------------

// s3rver has no type declarations: the part of its surface the suites use.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  key?: Buffer;
  cert?: Buffer;
  configureBuckets?: { name: string }[];
}) => S3rverInstance;
interface S3rverAccount {
  createKeyPair(accessKeyId: string, secretAccessKey: string): void;
}
const requireCjs = createRequire(import.meta.url);
const S3rver = requireCjs("s3rver") as S3rverConstructor;
// V4-signed requests are let through for any access key id registered here (see the header).
const s3rverAccount = (requireCjs("s3rver/lib/models/account.js") as { DUMMY_ACCOUNT: S3rverAccount }).DUMMY_ACCOUNT;

/** Lets s3rver accept requests signed with this key id. */
export function registerS3Key(accessKeyId: string, secretAccessKey: string): void {
  s3rverAccount.createKeyPair(accessKeyId, secretAccessKey);
}

/** A throwaway certificate for 127.0.0.1 and its key: restic and the AWS CLI trust it as their CA file. */
export interface TlsFiles {
  certPath: string;
  keyPath: string;
}

export async function makeTlsCertificate(dir: string): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true });
  const files = { certPath: join(dir, "cert.pem"), keyPath: join(dir, "key.pem") };
  await execFileAsync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", files.keyPath, "-out", files.certPath, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  return files;
}

export interface S3 {
  url: string;
  close(): Promise<void>;
}

/** s3rver on 127.0.0.1, over TLS with `tls`, closed when `onFinished` says so. */
export async function startS3(onFinished: OnFinished, directory: string, options: { tls?: TlsFiles; buckets?: string[] } = {}): Promise<S3> {
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    ...(options.tls ? { key: readFileSync(options.tls.keyPath), cert: readFileSync(options.tls.certPath) } : {}),
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  const { port } = await server.run();
  const close = () => server.close();
  onFinished(close);
  return { url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`, close };
}

/** An unsigned request (s3rver lets those through): puts buckets and objects in place. */
function s3Put(baseUrl: string, path: string, body: string, tls: TlsFiles | undefined): Promise<void> {
  const url = new URL(path, baseUrl);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: "PUT", ...(url.protocol === "https:" && tls ? { ca: readFileSync(tls.certPath) } : {}) }, (res) => {
      res.resume();
      res.on("end", () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`PUT ${path}: HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Creates a bucket with these objects; `tls` is the certificate an https server uses. */
export async function putBucket(baseUrl: string, bucket: string, objects: Record<string, string>, tls?: TlsFiles): Promise<void> {
  await s3Put(baseUrl, `/${bucket}`, "", tls);
  for (const [key, body] of Object.entries(objects)) await s3Put(baseUrl, `/${bucket}/${key}`, body, tls);
}

// --- Recorded calls --------------------------------------------------------------------------

export const Call = z.object({
  tool: z.string(),
  argv: z.array(z.string()),
  envNames: z.array(z.string()),
  /** Variable name → labels of the secrets its value holds. */
  envSecrets: z.record(z.string(), z.array(z.string())),
  files: z.array(z.object({ path: z.string(), mode: z.string(), secrets: z.array(z.string()), content: z.string().optional() })),
});
export type Call = z.infer<typeof Call>;

// Runs before each stand-in and wrapper: argv as given, the environment and the files named in
// argv reduced to the labels of the secrets they hold (no secret value is written).
const RECORDER = `import { appendFileSync, readFileSync, statSync } from "node:fs";
const [tool, ...argv] = process.argv.slice(2);
const secrets = JSON.parse(readFileSync(process.env.STUB_SECRETS_FILE, "utf8"));
const labelsIn = (text) => Object.entries(secrets).filter(([, value]) => value !== "" && text.includes(value)).map(([label]) => label);
const envSecrets = {};
for (const [name, value] of Object.entries(process.env)) {
  const labels = labelsIn(value ?? "");
  if (labels.length > 0) envSecrets[name] = labels;
}
const files = [];
for (const arg of argv) {
  for (const path of arg.includes("=") ? [arg, arg.slice(arg.indexOf("=") + 1)] : [arg]) {
    try {
      const stat = statSync(path);
      if (!stat.isFile()) continue;
      const text = readFileSync(path, "utf8");
      const found = labelsIn(text);
      files.push({ path, mode: (stat.mode & 0o777).toString(8), secrets: found, ...(found.length === 0 && text.length < 4096 ? { content: text } : {}) });
    } catch {}
  }
}
appendFileSync(process.env.STUB_LOG_DIR + "/calls.jsonl", JSON.stringify({ tool, argv, envNames: Object.keys(process.env), envSecrets, files }) + "\\n");
`;

function stubs(recorder: string): Record<string, string> {
  const record = (tool: string) => `"${process.execPath}" "${recorder}" ${tool} "$@"`;
  return {
    // mongodump --config=<yaml with uri> --oplog --archive=<file> --gzip
    mongodump: `#!/usr/bin/env bash
${record("mongodump")}
for arg in "$@"; do
  case $arg in --archive=*) archive=\${arg#--archive=} ;; --config=*) config=\${arg#--config=} ;; esac
done
[[ -n \${FAKE_MONGODUMP_SLEEP:-} ]] && exec sleep "$FAKE_MONGODUMP_SLEEP"
printf 'fake mongodump archive of the replica set\\n' >"$archive"
if [[ \${FAKE_MONGODUMP_EXIT:-0} != 0 ]]; then
  # As a driver may: the connection string, password included, in the error text.
  printf 'Failed: can not create session: could not connect to %s: connection refused\\n' "$(sed -n 's/^uri: //p' "$config")" >&2
  exit "$FAKE_MONGODUMP_EXIT"
fi
`,
    // pg_dump --format=custom --no-password --file=<file>, connection in PG* variables
    pg_dump: `#!/usr/bin/env bash
${record("pg_dump")}
for arg in "$@"; do
  case $arg in --file=*) file=\${arg#--file=} ;; esac
done
if [[ \${FAKE_PG_DUMP_EXIT:-0} != 0 ]]; then
  printf 'pg_dump: error: connection to server at "%s", port %s failed: FATAL:  password authentication failed for user "%s" (%s)\\n' "$PGHOST" "$PGPORT" "$PGUSER" "$PGPASSWORD" >&2
  exit "$FAKE_PG_DUMP_EXIT"
fi
printf 'PGDMP fake custom-format dump of %s\\n' "$PGDATABASE" >"$file"
`,
    // ssh as rsync calls it: options, the host, then the remote command, run here (the "node" is
    // this machine's directories). A host named unreachable* refuses the connection.
    ssh: `#!/usr/bin/env bash
${record("ssh")}
while (($#)); do
  case $1 in
    -[BbcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=$1
shift
if [[ $host == unreachable* ]]; then
  printf 'ssh: connect to host %s port 22: Connection refused\\n' "$host" >&2
  exit 255
fi
exec bash -c "$*"
`,
    restic: `#!/usr/bin/env bash
${record("restic")}
exec "${REAL.restic}" "$@"
`,
    aws: `#!/usr/bin/env bash
${record("aws")}
exec "${REAL.aws}" "$@"
`,
    rsync: `#!/usr/bin/env bash
${record("rsync")}
exec "${REAL.rsync}" "$@"
`,
    curl: `#!/usr/bin/env bash
${record("curl")}
exec "${REAL.curl}" "$@"
`,
    "poweroff-stub": `#!/usr/bin/env bash
printf 'poweroff %s\\n' "$*" >>"$STUB_LOG_DIR/poweroff"
`,
  };
}

// --- The suite: a root folder, the recorder, the certificate and restic's s3rver ------------

export const secret = (prefix: string) => `${prefix}${randomBytes(12).toString("hex")}`;

export interface RunnerSuite {
  root: string;
  recorderPath: string;
  tls: TlsFiles;
  /** One restic password for the suite (so that sandboxes may start from one initialized repository). */
  password: string;
  /** s3rver over TLS, for restic's repositories and S3 targets. */
  s3: S3;
}

export async function startRunnerSuite(name: string): Promise<RunnerSuite> {
  const root = mkdtempSync(join(tmpdir(), `${name}-`));
  const recorderPath = join(root, "record.mjs");
  writeFileSync(recorderPath, RECORDER);
  const tls = await makeTlsCertificate(join(root, "tls"));
  const s3 = await startS3(() => undefined, join(root, "s3"), { tls });
  return { root, recorderPath, tls, password: secret("restic-password-"), s3 };
}

export async function stopRunnerSuite(suite: RunnerSuite | undefined): Promise<void> {
  if (!suite) return;
  await suite.s3.close();
  rmSync(suite.root, { recursive: true, force: true });
}

// --- Sandboxes: one run of the script --------------------------------------------------------

export interface Sandbox {
  root: string;
  repo: string;
  staging: string;
  node: string;
  bin: string;
  logs: string;
  home: string;
  tmp: string;
  secretsFile: string;
  runId: string;
  token: string;
  /** restic's password (the suite's). */
  password: string;
  /** restic's storage keys (the config's env); no session token where the Worker hands out static keys. */
  resticKeyId: string;
  resticSecret: string;
  resticSessionToken: string;
  mongoPassword: string;
  pgPassword: string;
  /** The S3 target's keys (SeaweedFS's gateway in production). */
  s3KeyId: string;
  s3Secret: string;
  sshPrivateKey: string;
}

type SandboxSecrets = Pick<Sandbox, "resticKeyId" | "resticSecret" | "resticSessionToken" | "mongoPassword" | "pgPassword" | "s3KeyId" | "s3Secret" | "sshPrivateKey">;

/**
 * Folders for one run (stand-ins in bin/, the recorder's logs, a node's /opt/core and /opt/apps
 * under node1/) and random secrets, all registered with the recorder. `repoFrom` copies an
 * initialized repository to `repo`; `secretsFrom` takes another sandbox's secrets (a Worker
 * configured once, run after run); `runId` and `token` when the Worker chose them.
 */
export function makeSandbox(
  onFinished: OnFinished,
  suite: RunnerSuite,
  options: { repoFrom?: string; secretsFrom?: Sandbox; runId?: string; token?: string; sessionToken?: boolean } = {},
): Sandbox {
  const root = mkdtempSync(join(tmpdir(), "backup-runner-"));
  onFinished(() => rmSync(root, { recursive: true, force: true }));
  const from = options.secretsFrom;
  const secrets: SandboxSecrets = from
    ? {
        resticKeyId: from.resticKeyId,
        resticSecret: from.resticSecret,
        resticSessionToken: from.resticSessionToken,
        mongoPassword: from.mongoPassword,
        pgPassword: from.pgPassword,
        s3KeyId: from.s3KeyId,
        s3Secret: from.s3Secret,
        sshPrivateKey: from.sshPrivateKey,
      }
    : {
        resticKeyId: secret("RESTICKEY"),
        resticSecret: secret("restic-storage-secret-"),
        resticSessionToken: (options.sessionToken ?? true) ? secret("restic-session-") : "",
        mongoPassword: secret("mongo-password-"),
        pgPassword: secret("pg-password-"),
        s3KeyId: secret("SEAWEEDKEY"),
        s3Secret: secret("seaweed-secret-"),
        sshPrivateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(96).toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`,
      };
  const s: Sandbox = {
    root,
    repo: join(root, "repo"),
    staging: join(root, "staging"),
    node: join(root, "node1"),
    bin: join(root, "bin"),
    logs: join(root, "logs"),
    home: join(root, "home"),
    tmp: join(root, "tmp"),
    secretsFile: join(root, "secrets.json"),
    runId: options.runId ?? `run-${randomBytes(4).toString("hex")}`,
    token: options.token ?? secret("run-token-"),
    password: suite.password,
    ...secrets,
  };
  for (const dir of [s.bin, s.logs, s.home, s.tmp, join(s.node, "opt", "core", "traefik"), join(s.node, "opt", "apps")]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(s.node, "opt", "core", "traefik", "acme.json"), '{"certificates": []}\n');
  writeFileSync(join(s.node, "opt", "apps", "apps.env"), "ROCKETCHAT_HOST=chat.example.com\n");
  for (const [name, body] of Object.entries(stubs(suite.recorderPath))) writeFileSync(join(s.bin, name), body, { mode: 0o755 });
  const labelled = {
    token: s.token,
    resticPassword: s.password,
    resticKeyId: s.resticKeyId,
    resticSecret: s.resticSecret,
    resticSessionToken: s.resticSessionToken,
    mongoPassword: s.mongoPassword,
    pgPassword: s.pgPassword,
    s3KeyId: s.s3KeyId,
    s3Secret: s.s3Secret,
    sshPrivateKey: s.sshPrivateKey.trim(),
  };
  writeFileSync(s.secretsFile, JSON.stringify(labelled));
  // restic's and the S3 target's keys are known to s3rver (it checks the key id of a signed request).
  registerS3Key(s.resticKeyId, s.resticSecret);
  registerS3Key(s.s3KeyId, s.s3Secret);
  if (options.repoFrom !== undefined) cpSync(options.repoFrom, s.repo, { recursive: true });
  return s;
}

export function secretsOf(s: Sandbox): string[] {
  return [s.token, s.password, s.resticKeyId, s.resticSecret, s.resticSessionToken, s.mongoPassword, s.pgPassword, s.s3KeyId, s.s3Secret, s.sshPrivateKey.trim()].filter((value) => value !== "");
}

export const mongoUri = (s: Sandbox) => `mongodb://backup:${s.mongoPassword}@10.42.1.2:27017,10.42.1.3:27017,10.42.1.4:27017/?replicaSet=rs0&authSource=admin`;

export type Target = Record<string, unknown> & { name: string; kind: string };

export function mongoTarget(s: Sandbox): Target {
  return { name: "mongodb", kind: "mongodb", uri: mongoUri(s) };
}
export function postgresTarget(s: Sandbox): Target {
  return { name: "keycloak-postgres", kind: "postgres", host: "10.42.1.4", port: 5432, database: "keycloak", user: "backup", password: s.pgPassword };
}
export function s3Target(s: Sandbox, endpoint: string, buckets?: string[]): Target {
  return { name: "seaweedfs", kind: "s3", endpoint, ...(buckets ? { buckets } : {}), accessKeyId: s.s3KeyId, secretAccessKey: s.s3Secret, region: "us-east-1" };
}
export function pathTarget(s: Sandbox, extra: Record<string, unknown> = {}): Target {
  return { name: "node1-host", kind: "path", host: "10.42.1.2", port: 22, paths: [join(s.node, "opt", "core"), join(s.node, "opt", "apps")], ...extra };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

// --- The env file (/etc/edge-ops-backup.env) -------------------------------------------------

const CloudConfig = z.object({ write_files: z.array(z.object({ path: z.string(), content: z.string() }).loose()) }).loose();

/** What cloud-init writes to /etc/edge-ops-backup.env from a backup server's user data (its write_files entry). */
export function envFileFromUserData(userData: string): string {
  const entry = CloudConfig.parse(parseYaml(userData)).write_files.find((file) => file.path === "/etc/edge-ops-backup.env");
  if (!entry) throw new Error("the user data writes no /etc/edge-ops-backup.env");
  return entry.content;
}

/** Writes the runner's env file (RUN_URL, RUN_TOKEN, DEADLINE lines) into the sandbox, 0600 as cloud-init does; its path. */
export function writeEnvFile(s: Sandbox, content: string): string {
  const path = join(s.root, "edge-ops-backup.env");
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

// --- Running the script ----------------------------------------------------------------------

export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The runner script in a clean environment (nothing from the developer's shell: RESTIC_*, AWS_*),
 * the sandbox's stand-ins first on PATH, the suite's certificate as restic's and the AWS CLI's
 * CA, a stub power-off; killed after `killAfterMs`.
 */
export function runScript(suite: RunnerSuite, s: Sandbox, env: Record<string, string>, options: { killAfterMs?: number } = {}): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [RUNNER_SCRIPT], {
      env: {
        PATH: `${s.bin}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
        HOME: s.home,
        XDG_CACHE_HOME: join(s.home, ".cache"),
        TMPDIR: s.tmp,
        LANG: "C.UTF-8",
        TZ: "UTC",
        STUB_LOG_DIR: s.logs,
        STUB_SECRETS_FILE: s.secretsFile,
        BACKUP_ENV_FILE: join(s.root, "no-such.env"),
        BACKUP_STAGING_DIR: s.staging,
        POWEROFF_COMMAND: join(s.bin, "poweroff-stub"),
        REPORT_RESERVE_SECONDS: "0",
        // The throwaway CA of the suite's TLS s3rver, for restic (as --cacert) and the AWS CLI.
        RESTIC_CACERT: suite.tls.certPath,
        AWS_CA_BUNDLE: suite.tls.certPath,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs ?? 80_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function calls(s: Sandbox, tool?: string): Call[] {
  const file = join(s.logs, "calls.jsonl");
  if (!existsSync(file)) return [];
  const all = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Call.parse(JSON.parse(line)));
  return tool === undefined ? all : all.filter((call) => call.tool === tool);
}

export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

export function poweroffCalls(s: Sandbox): string[] {
  const marker = join(s.logs, "poweroff");
  return existsSync(marker) ? readFileSync(marker, "utf8").trim().split("\n") : [];
}

/**
 * No secret anywhere it must not be: the script's output, the reports, the argv of any recorded
 * call, the staging directory; each child's environment and files hold only the secrets that
 * child needs; the work directory (SSH key, mongodump's URI file) is gone.
 */
export function expectNoSecrets(expect: ExpectStatic, s: Sandbox, run: ScriptRun, reportBodies: string[] = []) {
  const files = [...filesUnder(s.logs), ...filesUnder(s.staging)];
  for (const value of secretsOf(s)) {
    expect(run.stdout, "stdout").not.toContain(value);
    expect(run.stderr, "stderr").not.toContain(value);
    for (const file of files) expect(readFileSync(file, "latin1"), file).not.toContain(value);
    for (const body of reportBodies) expect(body, "report").not.toContain(value);
  }
  const allowed: Record<string, Record<string, string[]>> = {
    restic: {
      AWS_ACCESS_KEY_ID: ["resticKeyId"],
      AWS_SECRET_ACCESS_KEY: ["resticSecret"],
      ...(s.resticSessionToken !== "" ? { AWS_SESSION_TOKEN: ["resticSessionToken"] } : {}),
      RESTIC_PASSWORD: ["resticPassword"],
    },
    aws: { AWS_ACCESS_KEY_ID: ["s3KeyId"], AWS_SECRET_ACCESS_KEY: ["s3Secret"] },
    pg_dump: { PGPASSWORD: ["pgPassword"] },
  };
  for (const call of calls(s)) {
    expect(call.envSecrets, `${call.tool}'s environment`).toEqual(allowed[call.tool] ?? {});
    expect(call.envNames, `${call.tool}'s environment`).not.toContain("RUN_TOKEN");
    for (const file of call.files) {
      if (file.secrets.length > 0) expect(file.mode, `${call.tool}: ${file.path}`).toBe("600");
    }
  }
  expect(readdirSync(s.tmp), "work directory left behind").toEqual([]);
}

export function failureDetails(run: ScriptRun): string {
  return `exit ${run.code}\n--- stderr ---\n${run.stderr}`;
}
