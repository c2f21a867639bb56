// Backups end to end, every piece real but the cloud: the Worker under `wrangler dev` (the
// BackupScheduler Durable Object with its alarms, D1, the admin API, the runner's endpoints), the
// Hetzner fake, and the runner script (infra/backup-runner/backup-runner.sh) run here as cloud-init
// would run it on the backup server, with restic's repository on s3rver over TLS. mongodump,
// pg_dump and ssh are stand-ins first on PATH (support/backup-runner.ts, shared with
// backup-runner.test.ts). The fake gives every server the public IPv4 127.0.0.1, and wrangler
// dev sets CF-Connecting-IP to the connection's address, so the runner's config request passes
// the Worker's address check honestly. One wrangler dev serves both runs:
// - mongodump exits 1: the run ends `partial`, its parts listed, `failedParts` naming mongodb, an
//   alert line (`alert: true`) in the Worker's log naming it, the snapshot holding the rest, the
//   server deleted;
// - everything works: `done`, no alert, the server deleted.
// Skips, saying why, where restic, jq, curl, openssl or rsync is missing (`.ci/run` installs them).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it, type ExpectStatic } from "vitest";
import { z } from "zod";
import { createWranglerRun, freePort, sleep, type WranglerRun } from "../../scripts/bench/wrangler-run.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./fakes/hetzner.ts";
import type { RunningFake } from "./fakes/http-fake.ts";
import {
  envFileFromUserData,
  execFileAsync,
  expectNoSecrets,
  failureDetails,
  makeSandbox,
  missingTools,
  mongoTarget,
  pathTarget,
  postgresTarget,
  REAL,
  runScript,
  secretsOf,
  startRunnerSuite,
  stopRunnerSuite,
  writeEnvFile,
  type OnFinished,
  type RunnerSuite,
  type Sandbox,
  type ScriptRun,
} from "./support/backup-runner.ts";

const missing = missingTools(["bash", "restic", "jq", "curl", "openssl", "rsync", "timeout", "sha256sum"]);
const skipReason = missing.length > 0 ? `${missing.join(", ")} not on PATH` : undefined;
if (skipReason !== undefined) {
  console.warn(`backup end-to-end test skipped: ${skipReason} (apt-get install restic jq curl openssl rsync; .ci/run installs them)`);
}

const RUN_TIMEOUT = 60_000;
const ADMIN_TOKEN = `admin-${randomBytes(16).toString("hex")}`;
const FINISHED = ["done", "partial", "failed"];

const Part = z.object({ name: z.string(), kind: z.string(), ok: z.boolean(), reason: z.string().nullable(), bytes: z.number(), seconds: z.number() });
const Run = z.object({
  id: z.string(),
  status: z.string(),
  partial: z.boolean().nullable(),
  parts: z.array(Part).nullable(),
  failedParts: z.array(z.string()).nullable(),
  snapshotId: z.string().nullable(),
  error: z.string().nullable(),
  report: z.record(z.string(), z.unknown()).nullable(),
});
type Run = z.infer<typeof Run>;
const FakeServer = z.object({ id: z.number(), name: z.string(), status: z.string(), user_data: z.string().nullable() });
type FakeServer = z.infer<typeof FakeServer>;

let suite!: RunnerSuite;
let hetzner: RunningFake | undefined;
let wrangler: WranglerRun | undefined;
/** The Worker's configuration was made from this sandbox's secrets; each run's sandbox shares them. */
let configured!: Sandbox;
let repository = "";
let base = "";
/** Everything wrangler dev printed (the Worker's log lines among it). */
let workerLog = "";

/** Polls `read` until it returns a value (not undefined); throws with `what` (and `details`) after `ms`. */
async function waitFor<T>(what: string, read: () => Promise<T | undefined>, details: () => string = () => "", ms = 30_000): Promise<T> {
  for (const until = Date.now() + ms; ; await sleep(100)) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`waited ${ms / 1000} s for ${what}\n${details()}\n--- wrangler dev ---\n${workerLog.slice(-4000)}`);
  }
}

async function admin(path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

const readRun = async (id: string): Promise<Run> => Run.parse((await admin(`/api/backups/runs/${id}`)).body);

async function fakeServers(selector: string): Promise<FakeServer[]> {
  const response = await fetch(`${hetzner!.url}/__fake/servers?label_selector=${encodeURIComponent(selector)}`);
  return z.array(FakeServer).parse(await response.json());
}

/** The Worker's JSON log lines that are alerts about this run. */
function alertsOf(runId: string): Record<string, unknown>[] {
  // wrangler prints them as `✘ [ERROR] {…}`, in colour whatever FORCE_COLOR says.
  return workerLog
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((line) => line.includes(runId) && line.includes("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line.slice(line.indexOf("{"), line.lastIndexOf("}") + 1)) as Record<string, unknown>];
      } catch {
        return [];
      }
    })
    .filter((fields) => fields.alert === true && fields.runId === runId);
}

/**
 * One run as in production: started through the admin API; once its server exists and the Worker
 * waits for its report, the runner script runs with the env file cloud-init would write from the
 * server's user data; then the run is read once it has finished.
 */
async function backupRun(onFinished: OnFinished, runnerEnv: Record<string, string>): Promise<{ s: Sandbox; script: ScriptRun; run: Run; server: FakeServer }> {
  const started = await admin("/api/backups/run", { kind: "backup" });
  if (started.status !== 202) throw new Error(`POST /api/backups/run answered ${started.status}: ${JSON.stringify(started.body)}`);
  const { id } = z.object({ id: z.string() }).parse(started.body);
  // cloud-init runs the script once the server has booted, by when the Worker has recorded it.
  const server = await waitFor(`server backup-${id}`, async () => (await fakeServers(`run=${id}`)).find((found) => found.name === `backup-${id}` && found.status === "running"));
  await waitFor(`run ${id} running`, async () => ((await readRun(id)).status === "running" ? true : undefined));
  const envFile = envFileFromUserData(server.user_data ?? "");
  const token = /^RUN_TOKEN=(\S+)$/m.exec(envFile)?.[1];
  if (!token) throw new Error("no RUN_TOKEN in the user data");
  const s = makeSandbox(onFinished, suite, { secretsFrom: configured, runId: id, token });
  const script = await runScript(suite, s, { BACKUP_ENV_FILE: writeEnvFile(s, envFile), ...runnerEnv }, { killAfterMs: RUN_TIMEOUT - 10_000 });
  let last: Run | undefined;
  const run = await waitFor(
    `run ${id} finished`,
    async () => {
      last = await readRun(id);
      return FINISHED.includes(last.status) ? last : undefined;
    },
    () => `last seen: ${JSON.stringify(last)}\n--- the runner ---\n${failureDetails(script)}`,
  );
  return { s, script, run, server };
}

async function snapshotFiles(snapshotId: string): Promise<string[]> {
  const { stdout } = await execFileAsync(REAL.restic, ["--cacert", suite.tls.certPath, "ls", snapshotId], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: suite.root,
      RESTIC_REPOSITORY: repository,
      RESTIC_PASSWORD: suite.password,
      AWS_ACCESS_KEY_ID: configured.resticKeyId,
      AWS_SECRET_ACCESS_KEY: configured.resticSecret,
    },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.split("\n");
}

/** The server is gone, deleted by the Worker (one DELETE of it at the fake). */
async function expectServerDeleted(expect: ExpectStatic, server: FakeServer) {
  expect(await fakeServers(`run=${server.name.slice("backup-".length)}`)).toEqual([]);
  const deletes = await (await fetch(`${hetzner!.url}/__fake/requests?method=DELETE&path=${encodeURIComponent(`^/v1/servers/${server.id}$`)}`)).json();
  expect(deletes).toHaveLength(1);
}

/**
 * No secret in the runner's output, its programs' calls, the stored report or the Worker's log;
 * the user data carries the run's token and no other credential.
 */
function expectNothingLeaked(expect: ExpectStatic, s: Sandbox, script: ScriptRun, run: Run, server: FakeServer) {
  expectNoSecrets(expect, s, script, [JSON.stringify(run.report)]);
  for (const value of [...secretsOf(s), ADMIN_TOKEN]) expect(workerLog, "wrangler dev's output").not.toContain(value);
  expect(server.user_data).toContain(s.token);
  for (const value of secretsOf(s).filter((value) => value !== s.token)) expect(server.user_data, "user data").not.toContain(value);
}

describe.skipIf(skipReason !== undefined)(`backups end to end under wrangler dev${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  const afterAllCleanups: (() => void | Promise<void>)[] = [];
  beforeAll(async () => {
    wrangler = createWranglerRun({ name: "backup-e2e", timeoutMs: 300_000 });
    // The test's own timeouts stop it; the watchdog would exit the test worker.
    clearTimeout(wrangler.watchdog);
    const [started, fake] = await Promise.all([startRunnerSuite("backup-e2e"), startFakeHetzner({ actionMs: 50, serverIpv4: "127.0.0.1" }), wrangler.applyMigrations()]);
    suite = started;
    hetzner = fake;
    // The runner's image, as `infra backup-image` labels it: the scheduler boots the newest one.
    await fetch(`${hetzner.url}/__fake/images`, { method: "POST", body: JSON.stringify({ description: "backup runner", labels: { role: "backup-runner" } }) });
    configured = makeSandbox((fn) => void afterAllCleanups.push(fn), suite, { sessionToken: false });
    repository = `s3:${suite.s3.url}/backups-${randomBytes(4).toString("hex")}/edge-ops`;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const vars: Record<string, string> = {
      ADMIN_TOKEN,
      HCLOUD_TOKEN: FAKE_HCLOUD_TOKEN,
      HCLOUD_ENDPOINT: `${hetzner.url}/v1`,
      RESTIC_REPOSITORY: repository,
      RESTIC_PASSWORD: suite.password,
      // s3rver knows these (makeSandbox registered them): the static keys the Worker hands out without a Cloudflare API token.
      R2_ACCESS_KEY_ID: configured.resticKeyId,
      R2_SECRET_ACCESS_KEY: configured.resticSecret,
      PUBLIC_BASE_URL: base,
      BACKUP_TARGETS: JSON.stringify([mongoTarget(configured), postgresTarget(configured), pathTarget(configured)]),
      // One line with \n escapes, as .dev.vars holds it; the Worker turns them back into newlines.
      BACKUP_SSH_PRIVATE_KEY: configured.sshPrivateKey.trim().replaceAll("\n", "\\n"),
    };
    const { dev, exited } = await wrangler.startWranglerDev(port, ["--persist-to", wrangler.persistDir, ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`])]);
    const keep = (chunk: Buffer) => (workerLog += chunk.toString("utf8"));
    dev.stdout.on("data", keep);
    dev.stderr.on("data", keep);
    await wrangler.waitForHealth(base, "/healthz", dev, exited);
  }, 120_000);

  afterAll(async () => {
    await wrangler?.cleanup();
    await hetzner?.close();
    for (const cleanup of afterAllCleanups) await cleanup();
    await stopRunnerSuite(suite);
  }, 30_000);

  it("a run whose mongodump exits 1 ends partial, names mongodb in its failed parts and in an alert, and its server is deleted", { timeout: RUN_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const { s, script, run, server } = await backupRun(onTestFinished, { FAKE_MONGODUMP_EXIT: "1" });

    expect(script.code, failureDetails(script)).toBe(0);
    expect(run, workerLog.slice(-4000)).toMatchObject({ status: "partial", partial: true, failedParts: ["mongodb"], error: "some parts failed: mongodb" });
    expect(run.parts!.map((part) => [part.name, part.kind, part.ok, part.reason])).toEqual([
      ["mongodb", "mongodb", false, "mongodump exited 1: connection refused"],
      ["keycloak-postgres", "postgres", true, null],
      ["node1-host", "path", true, null],
    ]);
    expect(alertsOf(run.id)).toEqual([expect.objectContaining({ level: "error", message: "backup run partial: some parts failed", failedParts: "mongodb", alert: true })]);
    // What did work is in the repository; the failed dump's half-written archive is not.
    const files = await snapshotFiles(run.snapshotId!);
    expect(files).toEqual(expect.arrayContaining([join(s.staging, "keycloak-postgres", "pg_dump.custom"), join(s.staging, "node1-host", configured.node, "opt", "apps", "apps.env")]));
    expect(files).not.toContain(join(s.staging, "mongodb", "mongodump.archive.gz"));
    await expectServerDeleted(expect, server);
    expectNothingLeaked(expect, s, script, run, server);
  });

  it("a run where every target works ends done, with no alert, and its server is deleted", { timeout: RUN_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const { s, script, run, server } = await backupRun(onTestFinished, {});

    expect(script.code, failureDetails(script)).toBe(0);
    expect(run, workerLog.slice(-4000)).toMatchObject({ status: "done", partial: false, failedParts: [], error: null });
    expect(run.parts!.map((part) => [part.name, part.ok])).toEqual([
      ["mongodb", true],
      ["keycloak-postgres", true],
      ["node1-host", true],
    ]);
    expect(alertsOf(run.id)).toEqual([]);
    expect(await snapshotFiles(run.snapshotId!)).toContain(join(s.staging, "mongodb", "mongodump.archive.gz"));
    await expectServerDeleted(expect, server);
    expectNothingLeaked(expect, s, script, run, server);
  });
});
