// The backup runner (infra/backup-runner/backup-runner.sh) run for real: bash, curl, jq, restic,
// rsync and the AWS CLI, against a fake control plane (the Worker's /backups/runs endpoints) on
// 127.0.0.1, restic repositories in temp dirs and on s3rver served over TLS, and S3 targets on
// s3rver. mongodump, pg_dump, ssh and the power-off command are stand-ins first on PATH; restic,
// aws, rsync and curl are wrappers that record the call and exec the real program
// (support/backup-runner.ts, shared with backup-e2e.test.ts, which runs the script against the
// Worker itself; what was checked of s3rver and restic is written there).
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect as globalExpect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { installScript, POSTGRES_CLIENT_MAJOR } from "../../infra/backup-image.ts";
import { judgeReport, readReport } from "../../workers/backups/report.ts";
import {
  calls,
  execFileAsync,
  expectNoSecrets,
  failureDetails,
  makeSandbox,
  missingTools,
  mongoTarget,
  mongoUri,
  nowSeconds,
  pathTarget,
  postgresTarget,
  poweroffCalls,
  putBucket,
  REAL,
  RUNNER_HOST as HOST,
  runScript as runScriptOf,
  s3Target,
  secret,
  startRunnerSuite,
  startS3,
  stopRunnerSuite,
  type OnFinished,
  type RunnerSuite,
  type Sandbox,
  type ScriptRun,
  writeEnvFile,
} from "./support/backup-runner.ts";

const APPS_STACK = fileURLToPath(new URL("../../swarm-stacks/apps.yml", import.meta.url));
const TEST_TIMEOUT = 90_000;

const missing = missingTools(["bash", "restic", "jq", "curl", "openssl", "rsync", "aws", "timeout", "sha256sum"]);
const skipReason = missing.length > 0 ? `${missing.join(", ")} not on PATH` : undefined;
if (skipReason !== undefined) {
  console.warn(`backup-runner suite skipped: ${skipReason} (apt-get install restic jq curl openssl rsync awscli; .ci/run installs them)`);
}

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

// --- Sandboxes -------------------------------------------------------------------------------

let suite!: RunnerSuite;
/** A repository initialized with the suite's password, copied into each sandbox that starts from one. */
let templateRepo = "";

function sandbox(onFinished: OnFinished, options: { initializedRepo?: boolean } = {}): Sandbox {
  return makeSandbox(onFinished, suite, (options.initializedRepo ?? true) ? { repoFrom: templateRepo } : {});
}

function runConfig(s: Sandbox, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 2,
    runId: s.runId,
    kind: "backup",
    host: HOST,
    repository: s.repo,
    password: suite.password,
    env: { AWS_ACCESS_KEY_ID: s.resticKeyId, AWS_SECRET_ACCESS_KEY: s.resticSecret, AWS_SESSION_TOKEN: s.resticSessionToken },
    targets: [mongoTarget(s), postgresTarget(s)],
    ssh: { privateKey: s.sshPrivateKey },
    retention: { daily: 7, weekly: 4, monthly: 12 },
    deadline: nowSeconds() + 600,
    ...overrides,
  };
}

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

// --- Running the script ----------------------------------------------------------------------

function runScript(s: Sandbox, env: Record<string, string>): Promise<ScriptRun> {
  return runScriptOf(suite, s, env, { killAfterMs: TEST_TIMEOUT - 10_000 });
}

function runEnv(s: Sandbox, plane: ControlPlane, deadline = nowSeconds() + 600): Record<string, string> {
  return { RUN_URL: plane.runUrl, RUN_TOKEN: s.token, DEADLINE: String(deadline) };
}

function resticEnv(s: Sandbox, repository: string, env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: s.home, XDG_CACHE_HOME: join(s.home, ".cache"), TZ: "UTC", RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: suite.password, ...env };
}

async function restic(s: Sandbox, args: string[], repository = s.repo, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await execFileAsync(REAL.restic, ["--cacert", suite.tls.certPath, ...args], { env: resticEnv(s, repository, env), maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function snapshots(s: Sandbox, repository = s.repo, env: Record<string, string> = {}) {
  return Snapshots.parse(JSON.parse(await restic(s, ["snapshots", "--json"], repository, env)));
}

async function listSnapshot(s: Sandbox, id: string, repository = s.repo, env: Record<string, string> = {}): Promise<string[]> {
  return (await restic(s, ["ls", id], repository, env)).split("\n");
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
  suite = await startRunnerSuite("backup-runner-suite");
  templateRepo = join(suite.root, "repo");
  await execFileAsync(REAL.restic, ["init"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: suite.root, RESTIC_REPOSITORY: templateRepo, RESTIC_PASSWORD: suite.password } });
}, 60_000);

afterAll(() => stopRunnerSuite(suite));


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
      const s = sandbox(onTestFinished, { initializedRepo: false });
      const s3 = suite.s3;
      const suffix = randomBytes(4).toString("hex");
      const uploads = `uploads-${suffix}`;
      await putBucket(s3.url, uploads, { "photos/2026/cat.jpg": "not really a jpeg\n", "docs/readme.txt": "uploaded by a user\n" }, suite.tls);
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
      expectNoSecrets(expect, s, first, plane1.reportBodies());
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
      writeFileSync(join(s.root, "seed-password"), suite.password);
      await restic(s, ["copy", "--from-repo", seedRepo, "--from-password-file", join(s.root, "seed-password")], repository, storageEnv);
      const beforeRetention = await snapshots(s, repository, storageEnv);
      expect(beforeRetention).toHaveLength(9);

      // A second, smaller run: its forget prunes.
      const plane2 = await startControlPlane(onTestFinished, s, { config: runConfig(s, { repository, targets: [mongoTarget(s)] }) });
      const second = await runScript(s, runEnv(s, plane2));

      expect(second.code, failureDetails(second)).toBe(0);
      expectNoSecrets(expect, s, second, plane2.reportBodies());
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
    const s = sandbox(onTestFinished);
    // SeaweedFS's gateway: no bucket list in the config, so every bucket the key lists.
    const seaweed = await startS3(onTestFinished, join(s.root, "seaweed"));
    await putBucket(seaweed.url, "uploads", { "a.txt": "first bucket\n" });
    await putBucket(seaweed.url, "avatars", { "u1.png": "second bucket\n" });
    const targets = [mongoTarget(s), postgresTarget(s), s3Target(s, seaweed.url), pathTarget(s)];
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets }) });

    const run = await runScript(s, { ...runEnv(s, plane), FAKE_MONGODUMP_EXIT: "1" });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane.reportBodies());
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
    const s = sandbox(onTestFinished);
    const s3 = suite.s3;
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
    expectNoSecrets(expect, s, run, plane.reportBodies());
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
    const s = sandbox(onTestFinished);
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets: [pathTarget(s), mongoTarget(s)], ssh: null }) });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane.reportBodies());
    const [report] = plane.reports();
    expect(partsByName(report!)["node1-host"]).toMatchObject({ ok: false, reason: expect.stringContaining("BACKUP_SSH_PRIVATE_KEY") });
    expect(partsByName(report!).mongodb?.ok).toBe(true);
    expect(calls(s, "ssh")).toEqual([]);
  });

  it("reports a run without targets as the failed part `targets`, and keeps the older snapshots", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished);
    // The first config request fails with a 503: the runner retries.
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { targets: [] }), configStatuses: [503] });
    // RUN_URL and DEADLINE come from the env file; the environment's RUN_TOKEN wins over the file's.
    const envFile = writeEnvFile(s, `RUN_URL=${plane.runUrl}\nRUN_TOKEN="stale-token"\nexport DEADLINE='${nowSeconds() + 600}'\n`);

    const run = await runScript(s, { BACKUP_ENV_FILE: envFile, RUN_TOKEN: s.token });

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane.reportBodies());
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
    const s = sandbox(onTestFinished, { initializedRepo: false });
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
      expectNoSecrets(expect, s, run, plane.reportBodies());
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
    const s = sandbox(onTestFinished, { initializedRepo: false });
    // A repository under a regular file: restic init fails.
    writeFileSync(join(s.root, "not-a-directory"), "");
    const plane = await startControlPlane(onTestFinished, s, {
      config: runConfig(s, { repository: join(s.root, "not-a-directory", "repo"), kind: "restore-test" }),
    });

    const run = await runScript(s, runEnv(s, plane));

    expect(run.code, failureDetails(run)).toBe(0);
    expectNoSecrets(expect, s, run, plane.reportBodies());
    const [report] = plane.reports();
    expect(report).toMatchObject({ parts: [], error: "no repository", forget: null, restic: { snapshot_id: null, summary: null } });
    expect(report!.restic.exit_code).not.toBe(0);
    expect(report!.restore_test?.canary_ok).toBe(false);
    expect(report!.restore_test?.check_exit_code).not.toBe(0);
    expect(calls(s, "mongodump")).toEqual([]);
    expect(poweroffCalls(s)).toEqual([]);
  });

  it("stops a hanging target within its share of the time, and powers off when the report cannot get through by the deadline", { timeout: TEST_TIMEOUT }, async ({ expect, onTestFinished }) => {
    const s = sandbox(onTestFinished);
    const deadline = nowSeconds() + 20;
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s, { deadline }), reportStatus: 500 });

    // Steps end 4 s before the deadline; a target gets half of what is left.
    const run = await runScript(s, { ...runEnv(s, plane, deadline), REPORT_RESERVE_SECONDS: "4", FAKE_MONGODUMP_SLEEP: "60" });

    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    expectNoSecrets(expect, s, run, plane.reportBodies());
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
    const s = sandbox(onTestFinished, { initializedRepo: false });
    const plane = await startControlPlane(onTestFinished, s, { config: runConfig(s) });

    const run = await runScript(s, { ...runEnv(s, plane), RUN_TOKEN: secret("wrong-token-") });

    expect(run.code).not.toBe(0);
    expectNoSecrets(expect, s, run, plane.reportBodies());
    // 401 is final: one request each, no retry, nothing run.
    expect(plane.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /runs/${s.runId}/config`, `POST /runs/${s.runId}/report`]);
    expect(JSON.parse(plane.requests[1]!.body)).toMatchObject({ version: 2, parts: [], error: "config unavailable" });
    expect(poweroffCalls(s)).toHaveLength(1);
    expect(calls(s).filter((call) => call.tool !== "curl")).toEqual([]);
    expect(existsSync(s.staging)).toBe(false);
  });
});
