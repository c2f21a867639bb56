// GET /backups/runs/:id/config (/work/backup-contract.md §3): version 2, with the targets of
// BACKUP_TARGETS and the ssh key, only to the run's own server (its public IPv4, or an address in
// its IPv6 /64, as Hetzner reported them at creation, against Cloudflare's CF-Connecting-IP),
// only while the run waits for its report, at most three times; anything else is a 403 and an
// alert. And the configuration behind it: BACKUP_TARGETS checked target by target, naming the
// variable and never repeating a value; the older target variables refused by name.
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { due, fakeServers, finish, runnerCall, runningRun, seedRunnerImage, summary, watchAlerts } from "./support/backups";
import { fetchWith } from "./support/faults";

afterEach(() => vi.restoreAllMocks());
vi.setConfig({ testTimeout: 15_000 });
beforeAll(() => seedRunnerImage());

const MONGO_PASSWORD = "mongo-secret-7f3a";
const PG_PASSWORD = "postgres-secret-91c2";
const S3_SECRET = "seaweed-secret-4d8e";
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-test-only\n-----END OPENSSH PRIVATE KEY-----";

/** The contract's example: one target of each kind, defaults left out. */
const TARGETS = [
  { name: "mongodb", kind: "mongodb", uri: `mongodb://backup:${MONGO_PASSWORD}@10.42.1.2:27017,10.42.1.3:27017,10.42.1.4:27017/?replicaSet=rs0&authSource=admin` },
  { name: "keycloak-postgres", kind: "postgres", host: "10.42.1.4", database: "keycloak", user: "backup", password: PG_PASSWORD },
  { name: "seaweedfs", kind: "s3", endpoint: "http://10.42.1.2:8333", buckets: ["uploads"], accessKeyId: "seaweed-key", secretAccessKey: S3_SECRET },
  { name: "node1-host", kind: "path", host: "10.42.1.2", paths: ["/opt/core", "/opt/apps"] },
];
const configured: Partial<Env> = { BACKUP_TARGETS: JSON.stringify(TARGETS), BACKUP_SSH_PRIVATE_KEY: SSH_KEY };

/** An address inside the server's IPv6 /64 ("2001:db8:5::/64" → "2001:db8:5::…"). */
const inV6Network = (network: string, host: string) => `${network.replace(/::\/64$/, "")}::${host}`;
const outsideV6Network = (network: string) => `${network.replace(/::\/64$/, "")}:1::1`;

/** Lets a run end after its report; its server gone. */
async function reportAndEnd(run: Awaited<ReturnType<typeof runningRun>>) {
  await runnerCall(run.id, "report", run.token, summary(), { from: run.from });
  expect(await finish(run.id)).toBe("done");
  expect(await fakeServers(`run=${run.id}`)).toEqual([]);
}

describe("the config endpoint", () => {
  it("answers version 2 to the run's own server, from its IPv4 or any address in its IPv6 /64, at most three times", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const run = await runningRun();
    expect(run.server.ipv6).toMatch(/::\/64$/);
    const config = await runnerCall(run.id, "config", run.token, undefined, { from: run.from, overrides: configured });
    expect(config.status).toBe(200);
    expect(config.headers.get("cache-control")).toBe("no-store");
    const body = (await config.json()) as Record<string, unknown>;
    expect(body).toEqual({
      version: 2,
      runId: run.id,
      kind: "backup",
      host: "edge-ops-swarm",
      repository: env.RESTIC_REPOSITORY,
      password: env.RESTIC_PASSWORD,
      env: { AWS_ACCESS_KEY_ID: env.R2_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.R2_SECRET_ACCESS_KEY },
      // As configured, credentials included, with the defaults filled in.
      targets: [
        TARGETS[0],
        { ...TARGETS[1], port: 5432 },
        { ...TARGETS[2], region: "us-east-1" },
        { ...TARGETS[3], user: "edge-ops-backup", port: 22 },
      ],
      ssh: { privateKey: `${SSH_KEY}\n` },
      retention: { daily: 7, weekly: 4, monthly: 12 },
      deadline: expect.any(Number),
    });
    for (const from of [inV6Network(run.server.ipv6!, "1"), inV6Network(run.server.ipv6!, "dead:beef:1:2")]) {
      expect((await runnerCall(run.id, "config", run.token, undefined, { from, overrides: configured })).status).toBe(200);
    }
    // A fourth answer is refused, even from the server.
    const fourth = await runnerCall(run.id, "config", run.token, undefined, { from: run.from, overrides: configured });
    expect(fourth.status).toBe(403);
    expect(await fourth.text()).not.toContain(env.RESTIC_PASSWORD);
    expect(watch.alerts()).toEqual([expect.objectContaining({ message: "backup config request refused", runId: run.id, reason: "the configuration was already given 3 times", address: run.from })]);
    await reportAndEnd(run);
  });

  it("refuses any other address with a 403 and an alert, without using up the server's answers", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const run = await runningRun();
    const strangers = ["203.0.113.9", outsideV6Network(run.server.ipv6!), `::ffff:203.0.113.9`, null];
    for (const from of strangers) {
      const refused = await runnerCall(run.id, "config", run.token, undefined, { from, overrides: configured });
      expect(refused.status).toBe(403);
      const text = await refused.text();
      for (const secret of [env.RESTIC_PASSWORD, env.R2_SECRET_ACCESS_KEY, MONGO_PASSWORD, "OPENSSH"]) expect(text).not.toContain(secret);
    }
    const refusals = watch.alerts().filter((line) => line.message === "backup config request refused" && line.runId === run.id);
    expect(refusals.map((line) => line.address)).toEqual(strangers);
    expect(new Set(refusals.map((line) => line.reason))).toEqual(new Set(["the request does not come from the run's server"]));
    // The server itself still gets its three answers (its IPv4 mapped into IPv6 is the same address).
    for (const from of [run.from, `::ffff:${run.from}`, run.from]) {
      expect((await runnerCall(run.id, "config", run.token, undefined, { from, overrides: configured })).status).toBe(200);
    }
    await reportAndEnd(run);
  });

  it("answers only while the run waits for its report: not past its deadline, not once it has reported", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const run = await runningRun();
    await runnerCall(run.id, "report", run.token, summary(), { from: run.from });
    const afterReport = await runnerCall(run.id, "config", run.token, undefined, { from: run.from });
    expect(afterReport.status).toBe(403);
    expect(await finish(run.id)).toBe("done");
    expect((await runnerCall(run.id, "config", run.token, undefined, { from: run.from })).status).toBe(403);
    const reasons = watch.alerts().filter((line) => line.message === "backup config request refused" && line.runId === run.id).map((line) => line.reason);
    expect(reasons).toEqual([expect.stringMatching(/^the run is (reported|deleting|done), not waiting for its report$/), "the run is done, not waiting for its report"]);

    const late = await runningRun();
    await due(late.id, "deadline");
    const pastDeadline = await runnerCall(late.id, "config", late.token, undefined, { from: late.from });
    expect(pastDeadline.status).toBe(403);
    expect(watch.alerts()).toContainEqual(expect.objectContaining({ runId: late.id, reason: "the run is past its deadline" }));
    expect(await finish(late.id)).toBe("failed");
    expect(await fakeServers(`run=${late.id}`)).toEqual([]);
  });

  it("answers a wrong token 401 without an alert (anyone can send one)", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const run = await runningRun();
    expect((await runnerCall(run.id, "config", "not-the-token", undefined, { from: run.from })).status).toBe(401);
    expect((await runnerCall("no-such-run", "config", run.token, undefined, { from: run.from })).status).toBe(401);
    expect(watch.alerts().filter((line) => line.message === "backup config request refused")).toEqual([]);
    await reportAndEnd(run);
  });

  it("does not count an answer it could not give: Cloudflare refusing temporary R2 credentials is a 503 the runner retries", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const run = await runningRun();
    const refusing = { CLOUDFLARE_API_TOKEN: "wrong-cloudflare-token-000", CLOUDFLARE_ACCOUNT_ID: "0123456789abcdef0123456789abcdef", CLOUDFLARE_API_URL: env.FAKE_CLOUDFLARE_API_URL } as Partial<Env>;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      expect((await runnerCall(run.id, "config", run.token, undefined, { from: run.from, overrides: refusing })).status).toBe(503);
    }
    expect((await runnerCall(run.id, "config", run.token, undefined, { from: run.from })).status).toBe(200);
    await reportAndEnd(run);
  });
});

describe("BACKUP_TARGETS and the variables around it", () => {
  const backupsHealth = async (overrides: Partial<Env>) => {
    const response = await fetchWith(overrides, "http://admin/healthz");
    const text = await response.text();
    return { text, backups: (JSON.parse(text) as { capabilities: { backups: { configured: boolean; problems?: string[] } } }).capabilities.backups };
  };

  it.each([
    ["unset", {}],
    ["an empty list", { BACKUP_TARGETS: "[]" }],
    ["one target of each kind, with the ssh key", configured],
  ] as const)("is fine %s", async (_name, overrides) => {
    expect((await backupsHealth(overrides as Partial<Env>)).backups).toEqual({ configured: true });
  });

  it.each([
    ["not JSON", `[{"name":"mongodb","kind":"mongodb","uri":"mongodb://backup:${MONGO_PASSWORD}@10.42.1.2"`, /^BACKUP_TARGETS: must be a JSON array of targets/],
    ["an object", JSON.stringify({ name: "mongodb" }), /^BACKUP_TARGETS: must be a JSON array of targets$/],
    ["an unknown kind", JSON.stringify([{ name: "ftp", kind: "ftp" }]), /^BACKUP_TARGETS: target 1 \(ftp\): kind: must be "mongodb", "postgres", "s3" or "path"$/],
    ["a missing field", JSON.stringify([TARGETS[0], { ...TARGETS[1], host: undefined }]), /^BACKUP_TARGETS: target 2 \(keycloak-postgres\): host: /],
    ["a misspelt field", JSON.stringify([{ ...TARGETS[1], pasword: PG_PASSWORD }]), /^BACKUP_TARGETS: target 1 \(keycloak-postgres\): Unrecognized key: "pasword"$/],
    ["a host that would read as an option", JSON.stringify([{ ...TARGETS[3], host: "-oProxyCommand=x" }]), /^BACKUP_TARGETS: target 1 \(node1-host\): host: must be an IP address or a host name$/],
    ["a relative path", JSON.stringify([{ ...TARGETS[3], paths: ["opt/core"] }]), /^BACKUP_TARGETS: target 1 \(node1-host\): paths\.0: must be absolute paths$/],
    ["a name used twice", JSON.stringify([TARGETS[0], TARGETS[0]]), /^BACKUP_TARGETS: target name "mongodb" is used twice$/],
    ["more than 20 targets", JSON.stringify(Array.from({ length: 21 }, (_, index) => ({ ...TARGETS[0], name: `mongodb-${index}` }))), /^BACKUP_TARGETS: lists at most 20 targets$/],
  ])("is a problem naming BACKUP_TARGETS when %s, never repeating a value", async (_name, value, problem) => {
    const { backups, text } = await backupsHealth({ BACKUP_TARGETS: value });
    expect(backups).toEqual({ configured: false, problems: [expect.stringMatching(problem)] });
    for (const secret of [MONGO_PASSWORD, PG_PASSWORD]) expect(text).not.toContain(secret);
    // Starting a run answers 503 with the same problem.
    const start = await fetchWith({ BACKUP_TARGETS: value }, "http://admin/api/backups/run", { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" }, body: "{}" });
    expect(start.status).toBe(503);
    expect(((await start.json()) as { error: string }).error).toMatch(/^backups is not configured: BACKUP_TARGETS: /);
  });

  it("needs BACKUP_SSH_PRIVATE_KEY for a path target, and a key that looks like one", async () => {
    const withPath = { BACKUP_TARGETS: JSON.stringify([TARGETS[3]]) };
    expect((await backupsHealth(withPath)).backups).toEqual({ configured: false, problems: ["BACKUP_SSH_PRIVATE_KEY is not set (BACKUP_TARGETS has a path target, which the runner reads over ssh)"] });
    const notAKey = await backupsHealth({ ...withPath, BACKUP_SSH_PRIVATE_KEY: "ssh-ed25519 AAAAC3Nza public-not-private" });
    expect(notAKey.backups).toEqual({ configured: false, problems: [expect.stringMatching(/^BACKUP_SSH_PRIVATE_KEY: must be a private key/)] });
    expect(notAKey.text).not.toContain("AAAAC3Nza");
    // A one-line value with \n escapes (.dev.vars) is the same key.
    expect((await backupsHealth({ ...withPath, BACKUP_SSH_PRIVATE_KEY: SSH_KEY.replaceAll("\n", "\\n") })).backups).toEqual({ configured: true });
  });

  it("hands the runner no ssh key when no target needs one", async () => {
    const run = await runningRun();
    const config = await runnerCall(run.id, "config", run.token, undefined, { from: run.from, overrides: { BACKUP_TARGETS: JSON.stringify([TARGETS[0]]), BACKUP_SSH_PRIVATE_KEY: SSH_KEY } });
    expect(await config.json()).toMatchObject({ targets: [TARGETS[0]], ssh: null });
    await reportAndEnd(run);
  });

  it.each(["BACKUP_PATHS", "BACKUP_MONGODB_URI", "BACKUP_SEAWEEDFS_ENDPOINT", "BACKUP_SEAWEEDFS_BUCKET"])("refuses the removed %s by name, pointing to BACKUP_TARGETS", async (variable) => {
    const { backups } = await backupsHealth({ [variable]: "/srv/data" } as Partial<Env>);
    expect(backups).toEqual({ configured: false, problems: [`${variable}: was removed: describe the targets in BACKUP_TARGETS instead (README, Backups), then delete this variable`] });
  });
});
