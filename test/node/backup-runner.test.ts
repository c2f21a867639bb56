// The backup runner (infra/backup-runner/backup-runner.sh) run for real: bash, curl, jq, restic,
// rsync and the AWS CLI, against a fake control plane (the Worker's /backups/runs endpoints) on
// 127.0.0.1, restic repositories in temp dirs and on s3rver (an S3-compatible server from the npm
// registry, served over TLS with a throwaway certificate), and S3 targets on s3rver. mongodump,
// pg_dump, ssh and the power-off command are stand-ins first on PATH; restic, aws, rsync and curl
// are wrappers that record the call and exec the real program. Every recorded call says which
// secrets were in its arguments (none may be), its environment and the files it was handed.
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
import { createServer, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect as globalExpect, it, type ExpectStatic } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { installScript, POSTGRES_CLIENT_MAJOR } from "../../infra/backup-image.ts";
import { judgeReport, readReport } from "../../workers/backups/report.ts";

const SCRIPT = fileURLToPath(new URL("../../infra/backup-runner/backup-runner.sh", import.meta.url));
const APPS_STACK = fileURLToPath(new URL("../../swarm-stacks/apps.yml", import.meta.url));
const HOST = "edge-ops-swarm";
const TEST_TIMEOUT = 90_000;
const execFileAsync = promisify(execFile);

function which(command: string): string | undefined {
  const found = spawnSync("sh", ["-c", 'command -v "$1"', "sh", command], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const missingTools = ["bash", "restic", "jq", "curl", "openssl", "rsync", "aws", "timeout", "sha256sum"].filter((tool) => which(tool) === undefined);
const skipReason = missingTools.length > 0 ? `${missingTools.join(", ")} not on PATH` : undefined;
if (skipReason !== undefined) {
  console.warn(`backup-runner suite skipped: ${skipReason} (apt-get install restic jq curl openssl rsync awscli; .ci/run installs them)`);
}
// Debian's AWS CLI when it is there: the one the backup image installs.
const REAL = {
  restic: which("restic") ?? "restic",
  aws: existsSync("/usr/bin/aws") ? "/usr/bin/aws" : (which("aws") ?? "aws"),
  rsync: which("rsync") ?? "rsync",
  curl: which("curl") ?? "curl",
};

// s3rver has no type declarations: the part of its surface the suite uses.
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

// --- What the Worker receives: report version 2 ----------------------------------------------

const Part = z.strictObject({
  name: z.string(),
  kind: z.enum(["mongodb", "postgres", "s3", "path", "none"]),
  ok: z.boolean(),
  reason: z
    .string()
    .max(200)
    .refine((reason) => !/[\r\n]/.test(reason), "one line")
    .nullable(),
  bytes: z.number().int().nonnegative(),
  seconds: z.number().nonnegative(),
});
const Report = z.strictObject({
  version: z.literal(2),
  parts: z.array(Part),
  restic: z.strictObject({
    exit_code: z.number().int(),
    snapshot_id: z.string().min(1).nullable(),
    summary: z.looseObject({ message_type: z.literal("summary"), snapshot_id: z.string().optional() }).nullable(),
  }),
  forget: z.strictObject({ exit_code: z.number().int() }).nullable(),
  restore_test: z.strictObject({ check_exit_code: z.number().int(), canary_ok: z.boolean() }).nullable(),
  error: z.string().nullable(),
});
type Report = z.infer<typeof Report>;

const Snapshots = z.array(z.object({ id: z.string(), time: z.string(), hostname: z.string(), paths: z.array(z.string()) }));

// --- Recorded calls --------------------------------------------------------------------------

const Call = z.object({
  tool: z.string(),
  argv: z.array(z.string()),
  envNames: z.array(z.string()),
  /** Variable name → labels of the secrets its value holds. */
  envSecrets: z.record(z.string(), z.array(z.string())),
  files: z.array(z.object({ path: z.string(), mode: z.string(), secrets: z.array(z.string()), content: z.string().optional() })),
});
type Call = z.infer<typeof Call>;

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

// --- Sandboxes -------------------------------------------------------------------------------

const secret = (prefix: string) => `${prefix}${randomBytes(12).toString("hex")}`;
// One password for the suite, so that every sandbox can start from a copy of one initialized repository.
const PASSWORD = secret("restic-password-");
let suiteRoot = "";
let templateRepo = "";
let recorderPath = "";
let certPath = "";
let tlsS3: { url: string; server: S3rverInstance } | undefined;

interface Sandbox {
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
  /** restic's storage keys (the config's env). */
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

type OnFinished = (fn: () => void | Promise<void>) => void;

function makeSandbox(onFinished: OnFinished, options: { initializedRepo?: boolean } = {}): Sandbox {
  const root = mkdtempSync(join(tmpdir(), "backup-runner-"));
  onFinished(() => rmSync(root, { recursive: true, force: true }));
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
    runId: `run-${randomBytes(4).toString("hex")}`,
    token: secret("run-token-"),
    resticKeyId: secret("RESTICKEY"),
    resticSecret: secret("restic-storage-secret-"),
    resticSessionToken: secret("restic-session-"),
    mongoPassword: secret("mongo-password-"),
    pgPassword: secret("pg-password-"),
    s3KeyId: secret("SEAWEEDKEY"),
    s3Secret: secret("seaweed-secret-"),
    sshPrivateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(96).toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`,
  };
  for (const dir of [s.bin, s.logs, s.home, s.tmp, join(s.node, "opt", "core", "traefik"), join(s.node, "opt", "apps")]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(s.node, "opt", "core", "traefik", "acme.json"), '{"certificates": []}\n');
  writeFileSync(join(s.node, "opt", "apps", "apps.env"), "ROCKETCHAT_HOST=chat.example.com\n");
  for (const [name, body] of Object.entries(stubs(recorderPath))) writeFileSync(join(s.bin, name), body, { mode: 0o755 });
  const secrets = {
    token: s.token,
    resticPassword: PASSWORD,
    resticKeyId: s.resticKeyId,
    resticSecret: s.resticSecret,
    resticSessionToken: s.resticSessionToken,
    mongoPassword: s.mongoPassword,
    pgPassword: s.pgPassword,
    s3KeyId: s.s3KeyId,
    s3Secret: s.s3Secret,
    sshPrivateKey: s.sshPrivateKey.trim(),
  };
  writeFileSync(s.secretsFile, JSON.stringify(secrets));
  // restic's and the S3 target's keys are known to s3rver (it checks the key id of a signed request).
  s3rverAccount.createKeyPair(s.resticKeyId, s.resticSecret);
  s3rverAccount.createKeyPair(s.s3KeyId, s.s3Secret);
  if (options.initializedRepo ?? true) cpSync(templateRepo, s.repo, { recursive: true });
  return s;
}

function secretsOf(s: Sandbox): string[] {
  return [s.token, PASSWORD, s.resticKeyId, s.resticSecret, s.resticSessionToken, s.mongoPassword, s.pgPassword, s.s3KeyId, s.s3Secret, s.sshPrivateKey.trim()];
}

const mongoUri = (s: Sandbox) => `mongodb://backup:${s.mongoPassword}@10.42.1.2:27017,10.42.1.3:27017,10.42.1.4:27017/?replicaSet=rs0&authSource=admin`;

type Target = Record<string, unknown> & { name: string; kind: string };

function mongoTarget(s: Sandbox): Target {
  return { name: "mongodb", kind: "mongodb", uri: mongoUri(s) };
}
function postgresTarget(s: Sandbox): Target {
  return { name: "keycloak-postgres", kind: "postgres", host: "10.42.1.4", port: 5432, database: "keycloak", user: "backup", password: s.pgPassword };
}
function s3Target(s: Sandbox, endpoint: string, buckets?: string[]): Target {
  return { name: "seaweedfs", kind: "s3", endpoint, ...(buckets ? { buckets } : {}), accessKeyId: s.s3KeyId, secretAccessKey: s.s3Secret, region: "us-east-1" };
}
function pathTarget(s: Sandbox, extra: Record<string, unknown> = {}): Target {
  return { name: "node1-host", kind: "path", host: "10.42.1.2", port: 22, paths: [join(s.node, "opt", "core"), join(s.node, "opt", "apps")], ...extra };
}

function runConfig(s: Sandbox, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 2,
    runId: s.runId,
    kind: "backup",
    host: HOST,
    repository: s.repo,
    password: PASSWORD,
    env: { AWS_ACCESS_KEY_ID: s.resticKeyId, AWS_SECRET_ACCESS_KEY: s.resticSecret, AWS_SESSION_TOKEN: s.resticSessionToken },
    targets: [mongoTarget(s), postgresTarget(s)],
    ssh: { privateKey: s.sshPrivateKey },
    retention: { daily: 7, weekly: 4, monthly: 12 },
    deadline: nowSeconds() + 600,
    ...overrides,
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

// --- The Worker's side: GET <run>/config, POST <run>/report, bearer token per run -----------

interface Received {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

interface ControlPlane {
  runUrl: string;
  requests: Received[];
  configRequests: () => Received[];
  reportBodies: () => string[];
  reports: () => Report[];
}

async function startControlPlane(
  onFinished: OnFinished,
  s: Sandbox,
  options: { config: unknown; configStatuses?: number[]; reportStatus?: number },
): Promise<ControlPlane> {
  const requests: Received[] = [];
  const configStatuses = [...(options.configStatuses ?? [])];
  const base = `/runs/${s.runId}`;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const received: Received = {
        method: req.method ?? "",
        path: req.url ?? "",
        authorization: req.headers.authorization,
        contentType: req.headers["content-type"],
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(received);
      const reply = (status: number, body?: unknown) => {
        res.writeHead(status, body === undefined ? {} : { "content-type": "application/json" });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      if (received.authorization !== `Bearer ${s.token}`) return reply(401, { error: "unauthorized" });
      if (received.method === "GET" && received.path === `${base}/config`) {
        const status = configStatuses.shift();
        return status === undefined ? reply(200, options.config) : reply(status, { error: "unavailable" });
      }
      if (received.method === "POST" && received.path === `${base}/report`) {
        const status = options.reportStatus ?? 200;
        return reply(status, status >= 300 ? { error: "failed" } : { accepted: true });
      }
      return reply(404, { error: "not found" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const reportBodies = () => requests.filter((r) => r.path === `${base}/report` && r.method === "POST").map((r) => r.body);
  return {
    runUrl: `http://127.0.0.1:${port}${base}`,
    requests,
    configRequests: () => requests.filter((r) => r.path === `${base}/config`),
    reportBodies,
    reports: () => reportBodies().map((body) => Report.parse(JSON.parse(body))),
  };
}

// --- S3 (s3rver) -----------------------------------------------------------------------------

async function startS3(onFinished: OnFinished, directory: string, options: { tls: boolean; buckets?: string[] }): Promise<{ url: string; server: S3rverInstance }> {
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    ...(options.tls ? { key: readFileSync(join(suiteRoot, "tls", "key.pem")), cert: readFileSync(certPath) } : {}),
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  const { port } = await server.run();
  onFinished(() => server.close());
  return { url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`, server };
}

/** An unsigned request (s3rver lets those through): puts buckets and objects in place. */
function s3Put(baseUrl: string, path: string, body = ""): Promise<void> {
  const url = new URL(path, baseUrl);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: "PUT", ...(url.protocol === "https:" ? { ca: readFileSync(certPath) } : {}) }, (res) => {
      res.resume();
      res.on("end", () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`PUT ${path}: HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function putBucket(baseUrl: string, bucket: string, objects: Record<string, string>): Promise<void> {
  await s3Put(baseUrl, `/${bucket}`);
  for (const [key, body] of Object.entries(objects)) await s3Put(baseUrl, `/${bucket}/${key}`, body);
}

// --- Running the script ----------------------------------------------------------------------

interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(s: Sandbox, env: Record<string, string>): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT], {
      // A clean environment: nothing from the developer's shell (RESTIC_*, AWS_*) leaks in.
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
        RESTIC_CACERT: certPath,
        AWS_CA_BUNDLE: certPath,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), TEST_TIMEOUT - 10_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function runEnv(s: Sandbox, plane: ControlPlane, deadline = nowSeconds() + 600): Record<string, string> {
  return { RUN_URL: plane.runUrl, RUN_TOKEN: s.token, DEADLINE: String(deadline) };
}

function resticEnv(s: Sandbox, repository: string, env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: s.home, XDG_CACHE_HOME: join(s.home, ".cache"), TZ: "UTC", RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: PASSWORD, ...env };
}

async function restic(s: Sandbox, args: string[], repository = s.repo, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await execFileAsync(REAL.restic, ["--cacert", certPath, ...args], { env: resticEnv(s, repository, env), maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function snapshots(s: Sandbox, repository = s.repo, env: Record<string, string> = {}) {
  return Snapshots.parse(JSON.parse(await restic(s, ["snapshots", "--json"], repository, env)));
}

async function listSnapshot(s: Sandbox, id: string, repository = s.repo, env: Record<string, string> = {}): Promise<string[]> {
  return (await restic(s, ["ls", id], repository, env)).split("\n");
}

function calls(s: Sandbox, tool?: string): Call[] {
  const file = join(s.logs, "calls.jsonl");
  if (!existsSync(file)) return [];
  const all = readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Call.parse(JSON.parse(line)));
  return tool === undefined ? all : all.filter((call) => call.tool === tool);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

function poweroffCalls(s: Sandbox): string[] {
  const marker = join(s.logs, "poweroff");
  return existsSync(marker) ? readFileSync(marker, "utf8").trim().split("\n") : [];
}

/**
 * No secret anywhere it must not be: the script's output, the reports, the argv of any recorded
 * call, the staging directory; each child's environment and files hold only the secrets that
 * child needs; the work directory (SSH key, mongodump's URI file) is gone.
 */
function expectNoSecrets(expect: ExpectStatic, s: Sandbox, run: ScriptRun, plane?: ControlPlane) {
  const files = [...filesUnder(s.logs), ...filesUnder(s.staging)];
  for (const value of secretsOf(s)) {
    expect(run.stdout, "stdout").not.toContain(value);
    expect(run.stderr, "stderr").not.toContain(value);
    for (const file of files) expect(readFileSync(file, "latin1"), file).not.toContain(value);
    for (const body of plane?.reportBodies() ?? []) expect(body, "report").not.toContain(value);
  }
  const allowed: Record<string, Record<string, string[]>> = {
    restic: { AWS_ACCESS_KEY_ID: ["resticKeyId"], AWS_SECRET_ACCESS_KEY: ["resticSecret"], AWS_SESSION_TOKEN: ["resticSessionToken"], RESTIC_PASSWORD: ["resticPassword"] },
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

function failureDetails(run: ScriptRun): string {
  return `exit ${run.code}\n--- stderr ---\n${run.stderr}`;
}

function partsByName(report: Report): Record<string, Report["parts"][number]> {
  return Object.fromEntries(report.parts.map((part) => [part.name, part]));
}

/** What the Worker makes of a report body, by its own reader and verdict (the contract's §5). */
async function workerVerdict(body: string, kind: "backup" | "restore-test") {
  const delivery = await readReport(new Request("http://worker.test/backups/runs/x/report", { method: "POST", headers: { "content-type": "application/json" }, body }));
  return judgeReport(delivery, kind);
}

// --- Retention seeds -------------------------------------------------------------------------

const stamp = (date: Date) => date.toISOString().slice(0, 19).replace("T", " ");
const atHour = (day: Date, hour: number) => new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour));

/** Monday to Sunday (UTC) of a week about two months back that lies in one month. */
function seedWeek(): { days: Date[] } {
  const day = new Date(Date.now() - 60 * 86_400_000);
  // Back to its Monday (getUTCDay: 0 is Sunday).
  let monday = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() - ((day.getUTCDay() + 6) % 7)));
  const sunday = (start: Date) => new Date(start.getTime() + 6 * 86_400_000);
  if (sunday(monday).getUTCMonth() !== monday.getUTCMonth()) monday = new Date(monday.getTime() - 7 * 86_400_000);
  return { days: Array.from({ length: 7 }, (_, i) => new Date(monday.getTime() + i * 86_400_000)) };
}

// --- Suite fixtures --------------------------------------------------------------------------

beforeAll(async () => {
  if (skipReason !== undefined) return;
  suiteRoot = mkdtempSync(join(tmpdir(), "backup-runner-suite-"));
  templateRepo = join(suiteRoot, "repo");
  recorderPath = join(suiteRoot, "record.mjs");
  writeFileSync(recorderPath, RECORDER);
  // A throwaway CA-less certificate for 127.0.0.1: restic and the AWS CLI trust it as their CA file.
  const tls = join(suiteRoot, "tls");
  mkdirSync(tls);
  certPath = join(tls, "cert.pem");
  await execFileAsync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", join(tls, "key.pem"), "-out", certPath, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  const onFinished: OnFinished = () => undefined;
  [tlsS3] = await Promise.all([
    startS3(onFinished, join(suiteRoot, "s3"), { tls: true }),
    execFileAsync(REAL.restic, ["init"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: suiteRoot, RESTIC_REPOSITORY: templateRepo, RESTIC_PASSWORD: PASSWORD } }),
  ]);
}, 60_000);

afterAll(async () => {
  await tlsS3?.server.close();
  if (suiteRoot !== "") rmSync(suiteRoot, { recursive: true, force: true });
});

// --- The image's packages (no tools needed) --------------------------------------------------

describe("the backup image", () => {
  it("installs a pg_dump at least as new as the stack's Postgres, rsync and ssh", () => {
    const stack = z.object({ services: z.object({ postgres: z.object({ image: z.string() }) }).loose() }).parse(parseYaml(readFileSync(APPS_STACK, "utf8")));
    const major = Number(/^postgres:(\d+)/.exec(stack.services.postgres.image)?.[1]);
    globalExpect(major).toBeGreaterThan(0);
    // pg_dump refuses to dump a server of a newer major version.
    globalExpect(POSTGRES_CLIENT_MAJOR).toBeGreaterThanOrEqual(major);
    const script = installScript("#!/usr/bin/env bash\n");
    globalExpect(script).toContain(`postgresql-client-${POSTGRES_CLIENT_MAJOR}`);
    globalExpect(script).toMatch(/-pgdg main/);
    globalExpect(script).toMatch(/apt-get install [^\n]* rsync openssh-client/);
    globalExpect(script).toContain("mongodb-database-tools");
  });
});

// --- The runner ------------------------------------------------------------------------------

describe.skipIf(skipReason !== undefined)(`backup-runner.sh${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, { concurrent: true }, () => {
  it(
    "on S3 over TLS: init, every kind of part, check, the canary restore, and 7/4/12 retention with prune",
    { timeout: TEST_TIMEOUT },
    async ({ expect, onTestFinished }) => {
      const s = makeSandbox(onTestFinished, { initializedRepo: false });
      const s3 = tlsS3!;
      const suffix = randomBytes(4).toString("hex");
      const uploads = `uploads-${suffix}`;
      await putBucket(s3.url, uploads, { "photos/2026/cat.jpg": "not really a jpeg\n", "docs/readme.txt": "uploaded by a user\n" });
      const repository = `s3:${s3.url}/backups-${suffix}/edge-ops`;
      const storageEnv = { AWS_ACCESS_KEY_ID: s.resticKeyId, AWS_SECRET_ACCESS_KEY: s.resticSecret, AWS_DEFAULT_REGION: "us-east-1" };
      const hostKey = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${randomBytes(24).toString("base64")}`;
      const targets = [mongoTarget(s), postgresTarget(s), s3Target(s, s3.url, [uploads]), pathTarget(s, { hostKey })];
      const plane1 = await startControlPlane(onTestFinished, s, { config: runConfig(s, { repository, targets, kind: "restore-test" }) });

      // Older snapshots of this host, made meanwhile in a local repository and copied in below
      // (restic copy keeps their times): every day of one week two months back, Monday to Sunday,
      // and Sunday twice. With 7/4/12 the 7 newest days are kept (this run's day, Sunday back to
      // Tuesday), the week's and the month's newest is Sunday's: Monday and the earlier Sunday go.
      const week = seedWeek();
      const seedRepo = join(s.root, "seed-repo");
      const seeding = (async () => {
        cpSync(templateRepo, seedRepo, { recursive: true });
        mkdirSync(join(s.root, "seed"));
        writeFileSync(join(s.root, "seed", "old.txt"), "an older backup\n");
        const times = [...week.days.map((day) => atHour(day, 12)), atHour(week.days[6]!, 10)];
        for (let i = 0; i < times.length; i += 4) {
          await Promise.all(
            times.slice(i, i + 4).map((time) =>
              execFileAsync(REAL.restic, ["backup", "--host", HOST, "--time", stamp(time), join(s.root, "seed")], { env: resticEnv(s, seedRepo) }),
            ),
          );
        }
      })();

      const first = await runScript(s, runEnv(s, plane1));

      expect(first.code, failureDetails(first)).toBe(0);
      expectNoSecrets(expect, s, first, plane1);
      const [report] = plane1.reports();
      expect(report).toMatchObject({ version: 2, forget: { exit_code: 0 }, restore_test: { check_exit_code: 0, canary_ok: true }, error: null, restic: { exit_code: 0 } });
      // One part per target, in the configured order, every one ok with what it staged.
      expect(report!.parts.map((part) => [part.name, part.kind, part.ok, part.reason])).toEqual([
        ["mongodb", "mongodb", true, null],
        ["keycloak-postgres", "postgres", true, null],
        ["seaweedfs", "s3", true, null],
        ["node1-host", "path", true, null],
      ]);
      for (const part of report!.parts) expect(part.bytes, part.name).toBeGreaterThan(0);
      expect(report!.restic.summary).toHaveProperty("total_files_processed");
      expect(await workerVerdict(plane1.reportBodies()[0]!, "restore-test")).toMatchObject({ status: "done", failedParts: [] });
      // The repository did not exist: the runner created it.
      expect(calls(s, "restic").map((call) => call.argv[2])).toEqual(["cat", "init", "backup", "forget", "check", "restore"]);
      const firstId = report!.restic.snapshot_id!;
      const files = await listSnapshot(s, firstId, repository, storageEnv);
      expect(files).toEqual(
        expect.arrayContaining([
          join(s.staging, "mongodb", "mongodump.archive.gz"),
          join(s.staging, "keycloak-postgres", "pg_dump.custom"),
          join(s.staging, "seaweedfs", uploads, "photos", "2026", "cat.jpg"),
          join(s.staging, "seaweedfs", uploads, "docs", "readme.txt"),
          join(s.staging, "node1-host", s.node, "opt", "core", "traefik", "acme.json"),
          join(s.staging, "node1-host", s.node, "opt", "apps", "apps.env"),
          join(s.staging, "canary.txt"),
        ]),
      );

      // How each program was called: the URI in a 0600 file, the password in pg_dump's
      // environment, the target's keys in aws's, the key file and the pinned host key for ssh.
      const [mongodump] = calls(s, "mongodump");
      expect(mongodump!.argv).toEqual([expect.stringMatching(/^--config=/), "--oplog", `--archive=${join(s.staging, "mongodb", "mongodump.archive.gz")}`, "--gzip"]);
      expect(mongodump!.files).toEqual([expect.objectContaining({ mode: "600", secrets: ["mongoPassword"] })]);
      const [pgDump] = calls(s, "pg_dump");
      expect(pgDump!.argv).toEqual(["--format=custom", "--no-password", `--file=${join(s.staging, "keycloak-postgres", "pg_dump.custom")}`]);
      expect(pgDump!.envNames).toEqual(expect.arrayContaining(["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"]));
      expect(calls(s, "aws").map((call) => call.argv.slice(0, 4))).toEqual([["s3", "sync", `s3://${uploads}`, join(s.staging, "seaweedfs", uploads)]]);
      const sshCalls = calls(s, "ssh");
      expect(sshCalls).toHaveLength(2);
      for (const call of sshCalls) {
        expect(call.argv).toEqual(expect.arrayContaining(["-o", "IdentitiesOnly=yes", "StrictHostKeyChecking=yes", "edge-ops-backup", "10.42.1.2"]));
        const keyFile = call.argv[call.argv.indexOf("-i") + 1];
        expect(call.files).toContainEqual({ path: keyFile, mode: "600", secrets: ["sshPrivateKey"] });
        expect(call.files).toContainEqual(expect.objectContaining({ content: `10.42.1.2 ${hostKey}\n` }));
      }

      await seeding;
      writeFileSync(join(s.root, "seed-password"), PASSWORD);
      await restic(s, ["copy", "--from-repo", seedRepo, "--from-password-file", join(s.root, "seed-password")], repository, storageEnv);
      const beforeRetention = await snapshots(s, repository, storageEnv);
      expect(beforeRetention).toHaveLength(9);

      // A second, smaller run: its forget prunes.
      const plane2 = await startControlPlane(onTestFinished, s, { config: runConfig(s, { repository, targets: [mongoTarget(s)] }) });
      const second = await runScript(s, runEnv(s, plane2));

      expect(second.code, failureDetails(second)).toBe(0);
      expectNoSecrets(expect, s, second, plane2);
      const [retentionReport] = plane2.reports();
      expect(retentionReport).toMatchObject({ forget: { exit_code: 0 }, restore_test: null, error: null, parts: [{ name: "mongodb", ok: true }] });
      expect(await workerVerdict(plane2.reportBodies()[0]!, "backup")).toMatchObject({ status: "done", failedParts: [] });
      const forgetCall = calls(s, "restic").findLast((call) => call.argv.includes("forget"));
      expect(forgetCall!.argv.slice(2)).toEqual(["forget", "--host", HOST, "--group-by", "host", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12", "--prune"]);
      const kept = await snapshots(s, repository, storageEnv);
      const keptTimes = kept.map((snapshot) => new Date(snapshot.time).getTime());
      const secondId = retentionReport!.restic.snapshot_id!;
      expect(kept.some((snapshot) => snapshot.id.startsWith(secondId))).toBe(true);
      for (const day of week.days.slice(2)) expect(keptTimes, `${stamp(day)} kept`).toContain(atHour(day, 12).getTime());
      for (const gone of [atHour(week.days[0]!, 12), atHour(week.days[6]!, 10)]) expect(keptTimes, `${stamp(gone)} pruned`).not.toContain(gone.getTime());
      // Both runs fall on one (UTC) day but at midnight: then the first run's snapshot is the
      // day's older one and goes, and Tuesday is the 7th day.
      const firstSnapshot = beforeRetention.find((snapshot) => snapshot.id.startsWith(firstId))!;
      const secondSnapshot = kept.find((snapshot) => snapshot.id.startsWith(secondId))!;
      const sameDay = firstSnapshot.time.slice(0, 10) === secondSnapshot.time.slice(0, 10);
      expect(kept.some((snapshot) => snapshot.id.startsWith(firstId))).toBe(!sameDay);
      expect(keptTimes.includes(atHour(week.days[1]!, 12).getTime())).toBe(sameDay);
      expect(kept).toHaveLength(7);
    },
  );

  it("reports one failing target as a failed part with its reason, and saves the others", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    // SeaweedFS's gateway: no bucket list in the config, so every bucket the key lists.
    const seaweed = await startS3(onTestFinished, join(s.root, "seaweed"), { tls: false });
    await putBucket(seaweed.url, "uploads", { "a.txt": "first bucket\n" });
    await putBucket(seaweed.url, "avatars", { "u1.png": "second bucket\n" });
    const targets = [mongoTarget(s), postgresTarget(s), s3Target(s, seaweed.url), pathTarget(s)];
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets }) });

    const run = await runScript(s, { ...runEnv(s, plane), FAKE_MONGODUMP_EXIT: "1" });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane);
    const [report] = plane.reports();
    expect(report!.parts.map((part) => [part.name, part.ok])).toEqual([
      ["mongodb", false],
      ["keycloak-postgres", true],
      ["seaweedfs", true],
      ["node1-host", true],
    ]);
    // A fixed phrase, not the tool's text (which quoted the URI and its password).
    expect(partsByName(report!).mongodb).toMatchObject({ kind: "mongodb", reason: "mongodump exited 1: connection refused", bytes: 0 });
    expect(await workerVerdict(plane.reportBodies()[0]!, "backup")).toMatchObject({ status: "partial", failedParts: ["mongodb"] });
    expect(report).toMatchObject({ restic: { exit_code: 0 }, forget: { exit_code: 0 }, error: null });
    const files = await listSnapshot(s, report!.restic.snapshot_id!);
    expect(files).toEqual(
      expect.arrayContaining([
        join(s.staging, "keycloak-postgres", "pg_dump.custom"),
        join(s.staging, "seaweedfs", "uploads", "a.txt"),
        join(s.staging, "seaweedfs", "avatars", "u1.png"),
        join(s.staging, "node1-host", s.node, "opt", "apps", "apps.env"),
      ]),
    );
    // The half-written archive of the failed dump is not backed up.
    expect(files).not.toContain(join(s.staging, "mongodb", "mongodump.archive.gz"));
    expect(calls(s, "aws").map((call) => call.argv.slice(0, 2))).toEqual([
      ["s3api", "list-buckets"],
      ["s3", "sync"],
      ["s3", "sync"],
    ]);
    // Without a host key in the config, the first key the node shows is taken.
    expect(calls(s, "ssh")[0]!.argv).toContain("StrictHostKeyChecking=accept-new");
  });

  it("names what failed in each part with a fixed phrase and never stops at a failure", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const s3 = tlsS3!;
    const targets = [
      postgresTarget(s),
      s3Target(s, s3.url, [`missing-${randomBytes(4).toString("hex")}`]),
      pathTarget(s, { name: "node2-host", host: "unreachable.internal" }),
      pathTarget(s, { name: "node3-host", paths: [join(s.node, "opt", "core"), "/no/such/dir"] }),
      mongoTarget(s),
    ];
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets }) });

    const run = await runScript(s, { ...runEnv(s, plane), FAKE_PG_DUMP_EXIT: "1" });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane);
    const [report] = plane.reports();
    expect(report!.parts.map((part) => [part.name, part.ok, part.reason])).toEqual([
      ["keycloak-postgres", false, "pg_dump exited 1: authentication failed"],
      ["seaweedfs", false, expect.stringMatching(/^bucket missing-[0-9a-f]+: aws s3 sync exited 1: bucket not found$/)],
      // rsync exits 255 or 12 when its ssh dies, depending on which side notices first.
      ["node2-host", false, expect.stringMatching(new RegExp(`^${join(s.node, "opt", "core")}: rsync exited (255|12): connection refused \\(and 1 more\\)$`))],
      ["node3-host", false, "/no/such/dir: rsync exited 23: not found"],
      ["mongodb", true, null],
    ]);
    expect(await workerVerdict(plane.reportBodies()[0]!, "backup")).toMatchObject({
      status: "partial",
      failedParts: ["keycloak-postgres", "seaweedfs", "node2-host", "node3-host"],
    });
    // What could be copied of node3 is in the snapshot all the same.
    const files = await listSnapshot(s, report!.restic.snapshot_id!);
    expect(files).toContain(join(s.staging, "node3-host", s.node, "opt", "core", "traefik", "acme.json"));
    expect(files).toContain(join(s.staging, "mongodb", "mongodump.archive.gz"));
  });

  it("fails a path target without an SSH key in the config, naming the variable", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets: [pathTarget(s), mongoTarget(s)], ssh: null }) });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane);
    const [report] = plane.reports();
    expect(partsByName(report!)["node1-host"]).toMatchObject({ ok: false, reason: expect.stringContaining("BACKUP_SSH_PRIVATE_KEY") });
    expect(partsByName(report!).mongodb?.ok).toBe(true);
    expect(calls(s, "ssh")).toEqual([]);
  });

  it("reports a run without targets as the failed part `targets`, and keeps the older snapshots", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    // The first config request fails with a 503: the runner retries.
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets: [] }), configStatuses: [503] });
    // RUN_URL and DEADLINE come from the env file; the environment's RUN_TOKEN wins over the file's.
    const envFile = join(s.root, "edge-ops-backup.env");
    writeFileSync(envFile, `RUN_URL=${plane.runUrl}\nRUN_TOKEN="stale-token"\nexport DEADLINE='${nowSeconds() + 600}'\n`);

    const run = await runScript(s, { BACKUP_ENV_FILE: envFile, RUN_TOKEN: s.token });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane);
    expect(plane.configRequests()).toHaveLength(2);
    const [report] = plane.reports();
    expect(report!.parts).toEqual([{ name: "targets", kind: "none", ok: false, reason: "no targets configured: nothing was backed up", bytes: 0, seconds: 0 }]);
    // The canary is saved; forget is not run, so empty runs never push good snapshots out.
    expect(report).toMatchObject({ restic: { exit_code: 0 }, forget: null, error: null });
    expect(await workerVerdict(plane.reportBodies()[0]!, "backup")).toMatchObject({ status: "failed" });
    expect(await listSnapshot(s, report!.restic.snapshot_id!)).toContain(join(s.staging, "canary.txt"));
    expect(calls(s, "restic").some((call) => call.argv.includes("forget"))).toBe(false);
    expect(plane.requests.find((r) => r.method === "POST")?.contentType).toBe("application/json");
  });

  it("reports an invalid config with `error` and no parts, without running anything", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    const invalid = [
      // An older Worker's shape (version 1: targets as an object).
      { ...runConfig(s), version: undefined, targets: { paths: ["/srv"], mongodb: { uri: mongoUri(s) }, seaweedfs: null } },
      runConfig(s, { targets: [mongoTarget(s), { ...mongoTarget(s) }] }),
      runConfig(s, { targets: [{ ...postgresTarget(s), host: "-oProxyCommand=sh" }] }),
      runConfig(s, { password: "" }),
    ];
    for (const config of invalid) {
      const plane = await startControlPlane(onTestFinished, s, { config });

      const run = await runScript(s, runEnv(s, plane));

      expect(run.code, failureDetails(run)).toBe(0);
      expectNoSecrets(expect, s, run, plane);
      expect(plane.reports()).toEqual([
        { version: 2, parts: [], restic: { exit_code: 1, snapshot_id: null, summary: null }, forget: null, restore_test: null, error: "invalid config" },
      ]);
      expect(await workerVerdict(plane.reportBodies()[0]!, "backup")).toMatchObject({ status: "failed", error: expect.stringContaining("invalid config") });
    }
    expect(calls(s).filter((call) => call.tool !== "curl")).toEqual([]);
    expect(existsSync(s.repo)).toBe(false);
    expect(existsSync(s.staging)).toBe(false);
  });

  it("reports a repository it can neither open nor create as `no repository`, before dumping anything", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    // A repository under a regular file: restic init fails.
    writeFileSync(join(s.root, "not-a-directory"), "");
    const plane = await startControlPlane(onTestFinished, s, {
      config: runConfig(s, { repository: join(s.root, "not-a-directory", "repo"), kind: "restore-test" }),
    });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane);
    const [report] = plane.reports();
    expect(report).toMatchObject({ parts: [], error: "no repository", forget: null, restic: { snapshot_id: null, summary: null } });
    expect(report!.restic.exit_code).not.toBe(0);
    expect(report!.restore_test?.canary_ok).toBe(false);
    expect(report!.restore_test?.check_exit_code).not.toBe(0);
    expect(calls(s, "mongodump")).toEqual([]);
    expect(poweroffCalls(s)).toEqual([]);
  });

  it("stops a hanging target within its share of the time, and powers off when the report cannot get through by the deadline", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const deadline = nowSeconds() + 20;
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { deadline }), reportStatus: 500 });

    // Steps end 4 s before the deadline; a target gets half of what is left.
    const run = await runScript(s, { ...runEnv(s, plane, deadline), REPORT_RESERVE_SECONDS: "4", FAKE_MONGODUMP_SLEEP: "60" });

    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    expectNoSecrets(expect, s, run, plane);
    expect(nowSeconds()).toBeGreaterThanOrEqual(deadline);
    const reports = plane.reports();
    expect(reports.length).toBeGreaterThanOrEqual(2);
    expect(reports[0]!.parts.map((part) => [part.name, part.ok, part.reason])).toEqual([
      ["mongodb", false, "mongodump stopped: it used its share of the time before the deadline"],
      ["keycloak-postgres", true, null],
    ]);
    expect(poweroffCalls(s)).toHaveLength(1);
  });

  it("reports a refused config request and powers off when the report is refused too", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s) });

    const run = await runScript(s, { ...runEnv(s, plane), RUN_TOKEN: secret("wrong-token-") });

    expect(run.code).not.toBe(0);
    expectNoSecrets(expect, s, run, plane);
    // 401 is final: one request each, no retry, nothing run.
    expect(plane.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /runs/${s.runId}/config`, `POST /runs/${s.runId}/report`]);
    expect(JSON.parse(plane.requests[1]!.body)).toMatchObject({ version: 2, parts: [], error: "config unavailable" });
    expect(poweroffCalls(s)).toHaveLength(1);
    expect(calls(s).filter((call) => call.tool !== "curl")).toEqual([]);
    expect(existsSync(s.staging)).toBe(false);
  });
});
