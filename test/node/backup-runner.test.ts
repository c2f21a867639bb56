// The backup runner (infra/backup-runner/backup-runner.sh) run for real: bash, curl, jq and restic
// against a restic repository in a temp dir and a fake control plane (the Worker's /backups/runs
// endpoints) on 127.0.0.1. mongodump, aws and the power-off command are stubs first on PATH; they
// record their arguments and environment so the tests can check what reached them.
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, it, type ExpectStatic } from "vitest";
import { z } from "zod";

const SCRIPT = fileURLToPath(new URL("../../infra/backup-runner/backup-runner.sh", import.meta.url));
const HOST = "edge-ops-swarm";
const TEST_TIMEOUT = 50_000;
const execFileAsync = promisify(execFile);

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$1"', "sh", command], { stdio: "ignore" }).status === 0;
}

const missingTools = ["bash", "restic", "jq", "curl", "timeout", "sha256sum"].filter((tool) => !onPath(tool));
const skipReason = missingTools.length > 0 ? `${missingTools.join(", ")} not on PATH` : undefined;
if (skipReason !== undefined) {
  console.warn(`backup-runner suite skipped: ${skipReason} (install restic, jq and curl to run it)`);
}

// s3rver is optional: the S3 case runs only when the package can be imported.
const s3rverSpecifier = "s3rver";
const s3rverModule: unknown = await import(s3rverSpecifier).catch(() => undefined);
const S3rver = s3rverModule === undefined ? undefined : ((s3rverModule as { default?: unknown }).default ?? s3rverModule);
if (skipReason === undefined && S3rver === undefined) {
  console.warn("backup-runner S3 case skipped: the s3rver package is not installed (devDependency s3rver)");
}

// What the Worker receives: restic's summary plus the runner's fields.
const Report = z.looseObject({
  message_type: z.literal("summary"),
  snapshot_id: z.string().min(1).nullable(),
  exit_code: z.number().int(),
  partial: z.boolean(),
  gather_errors: z.array(z.string()),
  forget_exit_code: z.number().int().nullable(),
  restore_test: z.object({ check_exit_code: z.number().int(), canary_ok: z.boolean() }).optional(),
  error: z.string().optional(),
});
type Report = z.infer<typeof Report>;

const Snapshots = z.array(z.object({ id: z.string(), hostname: z.string(), paths: z.array(z.string()) }));

interface RunConfig {
  runId: string;
  kind: "backup" | "restore-test";
  host: string;
  repository: string;
  password?: string;
  env: Record<string, string>;
  targets: {
    paths: string[];
    mongodb: { uri: string } | null;
    seaweedfs: { endpoint: string; bucket: string } | null;
  };
  retention: { daily: number; weekly: number; monthly: number };
  deadline: number;
}

const secret = (prefix: string) => `${prefix}${randomBytes(12).toString("hex")}`;
// One password for the suite, so that every sandbox can start from a copy of one initialized repository.
const PASSWORD = secret("restic-password-");
let templateRoot = "";
let templateRepo = "";

interface Sandbox {
  root: string;
  repo: string;
  staging: string;
  data: string;
  bin: string;
  logs: string;
  home: string;
  tmp: string;
  runId: string;
  token: string;
  awsKeyId: string;
  awsSecret: string;
  awsSessionToken: string;
}

type OnFinished = (fn: () => void | Promise<void>) => void;

const STUBS: Record<string, string> = {
  mongodump: `#!/usr/bin/env bash
printf '%s\\n' "$@" >"$STUB_LOG_DIR/mongodump.args"
env >"$STUB_LOG_DIR/mongodump.env"
for arg in "$@"; do
  case $arg in --archive=*) archive=\${arg#--archive=} ;; esac
done
printf 'fake mongodump archive\\n' >"$archive"
exit "\${FAKE_MONGODUMP_EXIT:-0}"
`,
  // aws s3 sync s3://<bucket> <dest> --endpoint-url <endpoint> ...
  aws: `#!/usr/bin/env bash
printf '%s\\n' "$@" >"$STUB_LOG_DIR/aws.args"
env >"$STUB_LOG_DIR/aws.env"
mkdir -p "$4/photos" && printf 'object body\\n' >"$4/photos/object-1.jpg"
`,
  "poweroff-stub": `#!/usr/bin/env bash
printf 'poweroff %s\\n' "$*" >>"$STUB_LOG_DIR/poweroff"
`,
};

function makeSandbox(onFinished: OnFinished, options: { initializedRepo?: boolean } = {}): Sandbox {
  const root = mkdtempSync(join(tmpdir(), "backup-runner-"));
  onFinished(() => rmSync(root, { recursive: true, force: true }));
  const sandbox: Sandbox = {
    root,
    repo: join(root, "repo"),
    staging: join(root, "staging"),
    data: join(root, "srv", "data"),
    bin: join(root, "bin"),
    logs: join(root, "logs"),
    home: join(root, "home"),
    tmp: join(root, "tmp"),
    runId: `run-${randomBytes(4).toString("hex")}`,
    token: secret("run-token-"),
    awsKeyId: secret("AKIA"),
    awsSecret: secret("aws-secret-"),
    awsSessionToken: secret("aws-session-"),
  };
  for (const dir of [sandbox.data, sandbox.bin, sandbox.logs, sandbox.home, sandbox.tmp]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(sandbox.data, "notes.txt"), "data that lives on the swarm\n");
  for (const [name, body] of Object.entries(STUBS)) writeFileSync(join(sandbox.bin, name), body, { mode: 0o755 });
  if (options.initializedRepo ?? true) cpSync(templateRepo, sandbox.repo, { recursive: true });
  return sandbox;
}

function runConfig(s: Sandbox, overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    runId: s.runId,
    kind: "backup",
    host: HOST,
    repository: s.repo,
    password: PASSWORD,
    env: { AWS_ACCESS_KEY_ID: s.awsKeyId, AWS_SECRET_ACCESS_KEY: s.awsSecret, AWS_SESSION_TOKEN: s.awsSessionToken },
    targets: {
      paths: [s.data],
      mongodb: { uri: "mongodb://10.0.0.5:27017" },
      seaweedfs: { endpoint: "http://10.0.0.6:8333", bucket: "data" },
    },
    retention: { daily: 7, weekly: 4, monthly: 12 },
    deadline: nowSeconds() + 600,
    ...overrides,
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

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
  reports: () => Report[];
}

// The Worker's side of the contract: GET <run>/config, POST <run>/report, bearer token per run.
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
        const status = options.reportStatus ?? 204;
        return reply(status, status >= 300 ? { error: "failed" } : undefined);
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
  const authorized = (r: Received) => r.authorization === `Bearer ${s.token}`;
  return {
    runUrl: `http://127.0.0.1:${port}${base}`,
    requests,
    configRequests: () => requests.filter((r) => r.path === `${base}/config`),
    reports: () =>
      requests.filter((r) => r.path === `${base}/report` && r.method === "POST" && authorized(r)).map((r) => Report.parse(JSON.parse(r.body))),
  };
}

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
        STUB_LOG_DIR: s.logs,
        BACKUP_ENV_FILE: join(s.root, "no-such.env"),
        BACKUP_STAGING_DIR: s.staging,
        POWEROFF_COMMAND: join(s.bin, "poweroff-stub"),
        REPORT_RESERVE_SECONDS: "0",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), TEST_TIMEOUT - 5_000);
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

async function restic(s: Sandbox, args: string[], repository = s.repo, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await execFileAsync("restic", args, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: s.home, XDG_CACHE_HOME: join(s.home, ".cache"), RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: PASSWORD, ...env },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

async function snapshots(s: Sandbox, repository = s.repo, env: Record<string, string> = {}) {
  return Snapshots.parse(JSON.parse(await restic(s, ["snapshots", "--json"], repository, env)));
}

async function listSnapshot(s: Sandbox, id: string): Promise<string[]> {
  return (await restic(s, ["ls", id])).split("\n");
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

// The run token, the repository password and the storage keys appear nowhere: not in the script's
// output, not in what the stubs saw (arguments, environment), not in the staging dir or temp files.
function expectNoSecrets(expect: ExpectStatic, s: Sandbox, run: ScriptRun) {
  const secrets = [s.token, PASSWORD, s.awsKeyId, s.awsSecret, s.awsSessionToken];
  const files = [...filesUnder(s.logs), ...filesUnder(s.staging), ...filesUnder(s.tmp)];
  for (const value of secrets) {
    expect(run.stdout, "stdout").not.toContain(value);
    expect(run.stderr, "stderr").not.toContain(value);
    for (const file of files) expect(readFileSync(file, "latin1"), file).not.toContain(value);
  }
}

function failureDetails(run: ScriptRun): string {
  return `exit ${run.code}\n--- stderr ---\n${run.stderr}`;
}

beforeAll(async () => {
  if (skipReason !== undefined) return;
  templateRoot = mkdtempSync(join(tmpdir(), "backup-runner-template-"));
  templateRepo = join(templateRoot, "repo");
  await execFileAsync("restic", ["init"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: templateRoot, RESTIC_REPOSITORY: templateRepo, RESTIC_PASSWORD: PASSWORD },
  });
}, 30_000);

afterAll(() => {
  if (templateRoot !== "") rmSync(templateRoot, { recursive: true, force: true });
});

describe.skipIf(skipReason !== undefined)(`backup-runner.sh${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, { concurrent: true }, () => {
  it("initializes the repository, backs up staging and paths, and reports restic's summary", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    // The first config request fails with a 503: the runner retries.
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s), configStatuses: [503] });
    // RUN_URL and DEADLINE come from the env file; the environment's RUN_TOKEN wins over the file's.
    const envFile = join(s.root, "edge-ops-backup.env");
    writeFileSync(envFile, `RUN_URL=${plane.runUrl}\nRUN_TOKEN="stale-token"\nexport DEADLINE='${nowSeconds() + 600}'\n`);

    const run = await runScript(s, { BACKUP_ENV_FILE: envFile, RUN_TOKEN: s.token });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run);
    expect(plane.configRequests()).toHaveLength(2);
    const reports = plane.reports();
    expect(reports).toHaveLength(1);
    const report = reports[0]!;
    expect(report).toMatchObject({ exit_code: 0, partial: false, gather_errors: [], forget_exit_code: 0 });
    expect(report.restore_test).toBeUndefined();
    expect(report.error).toBeUndefined();
    // restic's own summary fields pass through unchanged.
    expect(report).toHaveProperty("total_files_processed");
    expect(report).toHaveProperty("data_added");
    const reportRequest = plane.requests.find((r) => r.method === "POST");
    expect(reportRequest?.contentType).toBe("application/json");

    const [snapshot, ...others] = await snapshots(s);
    expect(others).toHaveLength(0);
    expect(snapshot?.hostname).toBe(HOST);
    expect(snapshot?.id.startsWith(report.snapshot_id ?? "no snapshot id")).toBe(true);
    expect(snapshot?.paths.toSorted()).toEqual([s.data, s.staging].toSorted());
    const files = await listSnapshot(s, report.snapshot_id!);
    expect(files).toEqual(
      expect.arrayContaining([
        join(s.staging, "mongodb.archive"),
        join(s.staging, "seaweedfs", "photos", "object-1.jpg"),
        join(s.staging, "canary.txt"),
        join(s.data, "notes.txt"),
      ]),
    );

    expect(readFileSync(join(s.logs, "mongodump.args"), "utf8").split("\n")).toEqual(
      expect.arrayContaining(["--uri", "mongodb://10.0.0.5:27017", `--archive=${join(s.staging, "mongodb.archive")}`, "--gzip"]),
    );
    const awsArgs = readFileSync(join(s.logs, "aws.args"), "utf8").split("\n");
    expect(awsArgs.slice(0, 6)).toEqual(["s3", "sync", "s3://data", join(s.staging, "seaweedfs"), "--endpoint-url", "http://10.0.0.6:8333"]);
    expect(poweroffCalls(s)).toEqual([]);
  });

  it("applies retention with forget --prune: keep 1 daily leaves the newest snapshot", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { retention: { daily: 1, weekly: 0, monthly: 0 } }) });

    const first = await runScript(s, runEnv(s, plane));
    expect(first.code, failureDetails(first)).toBe(0);
    const second = await runScript(s, runEnv(s, plane));
    expect(second.code, failureDetails(second)).toBe(0);
    expectNoSecrets(expect, s, first);
    expectNoSecrets(expect, s, second);

    const reports = plane.reports();
    expect(reports).toHaveLength(2);
    expect(reports.map((r) => r.forget_exit_code)).toEqual([0, 0]);
    const [firstId, secondId] = reports.map((r) => r.snapshot_id);
    expect(secondId).not.toBe(firstId);
    const kept = await snapshots(s);
    expect(kept).toHaveLength(1);
    expect(kept[0]?.id.startsWith(secondId ?? "no snapshot id")).toBe(true);
  });

  it("reports a partial backup when a gather step fails, and backs up the rest", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s) });

    const run = await runScript(s, { ...runEnv(s, plane), FAKE_MONGODUMP_EXIT: "1" });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run);
    const [report] = plane.reports();
    expect(report).toMatchObject({ exit_code: 0, partial: true, gather_errors: ["mongodb"], forget_exit_code: 0 });
    expect(report?.snapshot_id).toEqual(expect.any(String));
    const files = await listSnapshot(s, report!.snapshot_id!);
    expect(files).toContain(join(s.staging, "seaweedfs", "photos", "object-1.jpg"));
    expect(files).toContain(join(s.data, "notes.txt"));
    // The half-written archive of the failed dump is not backed up.
    expect(files).not.toContain(join(s.staging, "mongodb.archive"));
  });

  it("reports a configured path that does not exist as a partial backup", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const missing = join(s.root, "srv", "not-mounted");
    const config = runConfig(s, { targets: { paths: [s.data, missing], mongodb: null, seaweedfs: null } });
    const plane = await startControlPlane(onTestFinished, s, { config });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    const [report] = plane.reports();
    expect(report).toMatchObject({ exit_code: 0, partial: true, gather_errors: [`path:${missing}`] });
    expect(existsSync(join(s.logs, "mongodump.args"))).toBe(false);
    expect(existsSync(join(s.logs, "aws.args"))).toBe(false);
  });

  it("restore test: checks the repository and restores the canary from the new snapshot", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { kind: "restore-test" }) });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run);
    const [report] = plane.reports();
    expect(report).toMatchObject({ exit_code: 0, partial: false, restore_test: { check_exit_code: 0, canary_ok: true } });
    expect(report?.snapshot_id).toEqual(expect.any(String));
  });

  it("reports a failed backup without a summary as snapshot_id null", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    // A repository under a regular file: restic init and restic backup both fail.
    writeFileSync(join(s.root, "not-a-directory"), "");
    const plane = await startControlPlane(onTestFinished, s, {
      config: runConfig(s, { repository: join(s.root, "not-a-directory", "repo"), kind: "restore-test" }),
    });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run);
    const [report] = plane.reports();
    expect(report).toMatchObject({ message_type: "summary", snapshot_id: null, partial: false, forget_exit_code: null });
    expect(report?.exit_code).not.toBe(0);
    expect(report?.exit_code).not.toBe(3);
    expect(report?.restore_test?.canary_ok).toBe(false);
    expect(report?.restore_test?.check_exit_code).not.toBe(0);
    expect(poweroffCalls(s)).toEqual([]);
  });

  it("reports an invalid config as a failure without running restic", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    const { password: _password, ...withoutPassword } = runConfig(s);
    const plane = await startControlPlane(onTestFinished, s, { config: withoutPassword });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run);
    const [report] = plane.reports();
    expect(report).toMatchObject({ snapshot_id: null, exit_code: 1, partial: false, gather_errors: [], forget_exit_code: null, error: "invalid config" });
    expect(existsSync(s.repo)).toBe(false);
    expect(existsSync(s.staging)).toBe(false);
  });

  it("keeps posting the report until the deadline, then powers off and fails", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished);
    const deadline = nowSeconds() + 15;
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { deadline }), reportStatus: 500 });

    // The steps must end 5 s before the deadline: that time is left for the report.
    const run = await runScript(s, { ...runEnv(s, plane, deadline), REPORT_RESERVE_SECONDS: "5" });

    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    expectNoSecrets(expect, s, run);
    expect(nowSeconds()).toBeGreaterThanOrEqual(deadline);
    expect(plane.reports().length).toBeGreaterThanOrEqual(2);
    expect(poweroffCalls(s)).toHaveLength(1);
  });

  it("powers off without running restic when the config answers 401", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = makeSandbox(onTestFinished, { initializedRepo: false });
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s) });

    const run = await runScript(s, { ...runEnv(s, plane), RUN_TOKEN: secret("wrong-token-") });

    expect(run.code).not.toBe(0);
    expectNoSecrets(expect, s, run);
    // 401 is final: one request, no retry, no report.
    expect(plane.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /runs/${s.runId}/config`]);
    expect(poweroffCalls(s)).toHaveLength(1);
    expect(existsSync(s.repo)).toBe(false);
    expect(existsSync(s.staging)).toBe(false);
  });

  it.skipIf(S3rver === undefined)(
    `backs up to an S3 repository${S3rver === undefined ? " (skipped: s3rver is not installed)" : ""}`,
    { timeout: TEST_TIMEOUT },
    async ({ expect, onTestFinished }) => {
      const s = makeSandbox(onTestFinished, { initializedRepo: false });
      const S3 = S3rver as new (options: object) => { run(): Promise<AddressInfo>; close(): Promise<void> };
      const s3 = new S3({ address: "127.0.0.1", port: 0, silent: true, directory: join(s.root, "s3"), configureBuckets: [{ name: "backups", configs: [] }] });
      const { port } = await s3.run();
      onTestFinished(() => s3.close());
      // s3rver's fixed credentials; the session token is not checked.
      const s3Env = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_DEFAULT_REGION: "us-east-1" };
      const repository = `s3:http://127.0.0.1:${port}/backups/edge-ops`;
      const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { repository, env: s3Env }) });

      const run = await runScript(s, runEnv(s, plane));

      expect(run.code, failureDetails(run)).toBe(0);
      expectNoSecrets(expect, s, run);
      const [report] = plane.reports();
      expect(report).toMatchObject({ exit_code: 0, partial: false, forget_exit_code: 0 });
      const [snapshot] = await snapshots(s, repository, s3Env);
      expect(snapshot?.hostname).toBe(HOST);
      expect(snapshot?.id.startsWith(report?.snapshot_id ?? "no snapshot id")).toBe(true);
    },
  );
});
