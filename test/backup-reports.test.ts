// What a backup run ends as, from the runner's version-2 report (/work/backup-contract.md §4, §5):
// `done` only when every part, forget and the restore test succeeded; `partial` when a snapshot
// exists but something failed; `failed` otherwise, also for a report that cannot be read, which
// is still the run's last word (stored, alerted, the server deleted at once). Alerts name the
// failed parts in the log and the Rocket.Chat alert room; the admin API returns the parts. And a
// report that arrives while an alarm is half-way through a step is never lost.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BackupScheduler } from "../durable-objects/backup-scheduler";
import { sha256Hex } from "../workers/auth/constant-time";
import { reportSchema } from "../workers/backups/report";
import { HetznerClient, type HetznerServer } from "../workers/hetzner/client";
import { adminFetch } from "./support/admin";
import { fakeServers, finish, runRow, runnerCall, runningRun, scheduler, seedRunnerImage, summary, watchAlerts } from "./support/backups";
import { fetchWith } from "./support/faults";
import { fakeRoom, rocketChatId } from "./support/rocketchat";

afterEach(() => vi.restoreAllMocks());
vi.setConfig({ testTimeout: 15_000 });
beforeAll(() => seedRunnerImage());

const part = (name: string, kind: string, ok: boolean, reason: string | null = null) => ({ name, kind, ok, reason, bytes: ok ? 4096 : 0, seconds: 1.5 });
type AdminRun = { status: string; error: string | null; parts: unknown[] | null; failedParts: string[] | null; report: Record<string, unknown> | null; partial: boolean | null };
const adminRun = async (id: string) => (await (await adminFetch(`/api/backups/runs/${id}`)).json()) as AdminRun;

/** Runs to a report (`body` as JSON, or `raw` text as sent) and lets the run end: what it ended as, and this run's alert lines. */
async function reportAndFinish(body: unknown, kind: "backup" | "restore-test" = "backup", raw?: string) {
  const watch = watchAlerts(vi.spyOn(console, "error"));
  const run = await runningRun(kind);
  const answer = await fetchWith({}, `http://edge/backups/runs/${run.id}/report`, {
    method: "POST",
    headers: { authorization: `Bearer ${run.token}`, "content-type": "application/json", "cf-connecting-ip": run.from },
    body: raw ?? JSON.stringify(body),
  });
  const status = await finish(run.id);
  expect(await fakeServers(`run=${run.id}`)).toEqual([]);
  return { id: run.id, answer: (await answer.json()) as Record<string, unknown>, status, alerts: watch.alerts().filter((line) => line.runId === run.id) };
}

describe("what a run ends as", () => {
  it("done: a restore test whose parts, forget, check and canary all succeeded; no alert", async () => {
    const report = summary({ parts: [part("mongodb", "mongodb", true), part("keycloak-postgres", "postgres", true)], restore_test: { check_exit_code: 0, canary_ok: true } });
    const { id, answer, status, alerts } = await reportAndFinish(report, "restore-test");
    expect(answer).toEqual({ accepted: true, status: "reported", readable: true });
    expect(status).toBe("done");
    expect(alerts).toEqual([]);
    expect(await adminRun(id)).toMatchObject({ status: "done", error: null, partial: false, failedParts: [], parts: report.parts });
  });

  it("partial: a failed database dump, with an alert naming it; the admin API returns every part", async () => {
    const parts = [part("mongodb", "mongodb", false, "mongodump exited 1: connection refused"), part("keycloak-postgres", "postgres", true), part("node1-host", "path", true)];
    const { id, status, alerts } = await reportAndFinish(summary({ parts }));
    expect(status).toBe("partial");
    expect(alerts).toEqual([expect.objectContaining({ message: "backup run partial: some parts failed", failedParts: "mongodb", alert: true })]);
    const run = await adminRun(id);
    expect(run).toMatchObject({ status: "partial", partial: true, failedParts: ["mongodb"], error: "some parts failed: mongodb" });
    expect(run.parts).toEqual(parts);
    const listed = (await (await adminFetch("/api/backups/runs?limit=200")).json()) as { items: (AdminRun & { id: string })[] };
    expect(listed.items.find((item) => item.id === id)).toMatchObject({ status: "partial", failedParts: ["mongodb"], parts });
  });

  it("partial, naming both: a failed dump plus a failed restore test (once this ended done without an alert)", async () => {
    const report = summary({ parts: [part("mongodb", "mongodb", false, "mongodump exited 1"), part("seaweedfs", "s3", true)], restore_test: { check_exit_code: 1, canary_ok: false } });
    const { id, status, alerts } = await reportAndFinish(report, "restore-test");
    expect(status).toBe("partial");
    expect(alerts).toEqual([expect.objectContaining({ message: "backup run partial: some parts failed", failedParts: "mongodb, restore-test check, restore-test canary" })]);
    expect((await adminRun(id)).failedParts).toEqual(["mongodb", "restore-test check", "restore-test canary"]);
  });

  it.each([
    ["restic exit 3 (some files unreadable)", { restic: { ...summary().restic, exit_code: 3 } }, "backup", ["restic (some files could not be read)"]],
    ["forget failed", { forget: { exit_code: 1 } }, "backup", ["forget"]],
    ["forget not run", { forget: null }, "backup", ["forget (not run)"]],
    ["a restore test without its result", { restore_test: null }, "restore-test", ["restore-test (no result)"]],
  ] as const)("partial: %s", async (_name, overrides, kind, failedParts) => {
    const { id, status, alerts } = await reportAndFinish(summary(overrides), kind);
    expect(status).toBe("partial");
    expect(alerts).toEqual([expect.objectContaining({ failedParts: failedParts.join(", ") })]);
    expect((await adminRun(id)).failedParts).toEqual(failedParts);
  });

  it.each([
    ["no snapshot (restic failed)", { restic: { exit_code: 1, snapshot_id: null, summary: null } }, "no snapshot was saved (restic exit code 1)", ["restic"]],
    ["a run-level error before any part ran", { error: "invalid config", parts: [], restic: { exit_code: 1, snapshot_id: null, summary: null }, forget: null }, "the runner failed: invalid config", ["restic"]],
    [
      "no targets configured: nothing was saved",
      { parts: [part("targets", "none", false, "no targets configured: nothing was backed up")] },
      "no part was saved",
      ["targets"],
    ],
    ["every part failed", { parts: [part("mongodb", "mongodb", false, "mongodump exited 1")] }, "no part was saved", ["mongodb"]],
  ] as const)("failed: %s, with an alert", async (_name, overrides, error, failedParts) => {
    const { id, status, alerts } = await reportAndFinish(summary(overrides));
    expect(status).toBe("failed");
    expect(alerts).toEqual([expect.objectContaining({ message: "backup run failed", error, failedParts: failedParts.join(", ") })]);
    expect(await adminRun(id)).toMatchObject({ status: "failed", error, failedParts, partial: false });
  });
});

describe("a report the Worker cannot read", () => {
  const oldRunner = { message_type: "summary", snapshot_id: "4f1c1e1d", data_added: 10, exit_code: 0, partial: false, gather_errors: [], forget_exit_code: 0 };

  it.each([
    ["an older runner's shape", JSON.stringify(oldRunner), "not a version 2 report (version:", (report: Record<string, unknown>) => expect(report).toMatchObject(oldRunner)],
    ["a version-2 report without parts", JSON.stringify({ ...summary(), parts: undefined }), "not a version 2 report (parts:", (report: Record<string, unknown>) => expect(report).toMatchObject({ version: 2 })],
    ["a body that is not JSON", "restic: fatal: unable to open repository", "not JSON", (report: Record<string, unknown>) => expect(report).toEqual({ unreadable: "not JSON", length: 40, excerpt: "restic: fatal: unable to open repository" })],
  ] as const)("is still the run's last word: %s is stored, the run fails with an alert and its server is deleted at once", async (_name, body, reason, stored) => {
    const { id, answer, status, alerts } = await reportAndFinish(undefined, "backup", body);
    // Taken (2xx: the runner does not retry it), not a 400 that leaves the run waiting for its deadline.
    expect(answer).toEqual({ accepted: true, status: "reported", readable: false });
    expect(status).toBe("failed");
    const run = await adminRun(id);
    expect(run.error).toContain(`the runner's report could not be read: ${reason}`);
    stored(run.report!);
    expect(run.parts).toEqual([]);
    expect(alerts).toEqual([expect.objectContaining({ message: "backup run failed", error: run.error })]);
  });
});

describe("alerts in the Rocket.Chat alert room", () => {
  it("name the failed parts, also with a broken backups variable (alerts load only their own)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const room = rocketChatId("alerts");
    await fakeRoom({ id: room, name: "ops-alerts", t: "p" });
    const run = await runningRun();
    const report = summary({ parts: [part("mongodb", "mongodb", false, "mongodump exited 1"), part("keycloak-postgres", "postgres", true)] });
    // The scheduler as deployed with ROCKETCHAT_ALERT_ROOM set (the suites' bindings have none),
    // and a BACKUP_TARGETS that does not parse.
    await runInDurableObject(scheduler(), async (_instance, state) => {
      const withRoom = new BackupScheduler(state, { ...env, ROCKETCHAT_ALERT_ROOM: room, BACKUP_TARGETS: "[{" });
      expect(await withRoom.report(run.id, await sha256Hex(run.token), { readable: true, report: reportSchema.parse(report) })).toMatchObject({ accepted: true });
    });
    const messages = (await (await fetch(`${env.ROCKETCHAT_URL}/__fake/messages?rid=${room}`)).json()) as { msg: string }[];
    expect(messages.map((message) => message.msg)).toEqual([expect.stringContaining(`:warning: Backups: backup run partial: some parts failed (runId: ${run.id}, kind: backup, failedParts: mongodb,`)]);
    expect(await finish(run.id)).toBe("partial");
    expect(await fakeServers(`run=${run.id}`)).toEqual([]);
  });
});

/** The scheduler's Hetzner client, held at the reaper's listing until the test lets it go. */
class HeldAtReaping extends HetznerClient {
  readonly reached = Promise.withResolvers<void>();
  private readonly gate = Promise.withResolvers<void>();
  release = () => this.gate.resolve();
  override async listServers(query: { labelSelector?: string; name?: string } = {}): Promise<HetznerServer[]> {
    if (query.labelSelector?.startsWith("role=backup")) {
      this.reached.resolve();
      await this.gate.promise;
    }
    return super.listServers(query);
  }
}

describe("a report that arrives while an alarm is half-way through", () => {
  it("is never lost: delivered between the alarm's read and its write, the run ends done, never back to running", async () => {
    const run = await runningRun();
    await runInDurableObject(scheduler(), async (_instance, state) => {
      // A second instance over the same storage runs the alarm, its Hetzner calls held at the
      // reaper: it has read the run (running) and waits on Hetzner, as an alarm does for seconds.
      const alarmed = new BackupScheduler(state, env);
      const client = new HeldAtReaping({ token: env.HCLOUD_TOKEN, endpoint: env.HCLOUD_ENDPOINT, pollIntervalMs: 1000 });
      (alarmed as unknown as { hetzner: () => HetznerClient }).hetzner = () => client;
      const alarm = alarmed.alarm();
      await client.reached.promise;
      const statusNow = () => state.storage.sql.exec<{ status: string }>("SELECT status FROM runs WHERE id = ?", run.id).one().status;
      expect(statusNow()).toBe("running");
      // The report arrives meanwhile, through the Worker, and is stored.
      const report = await runnerCall(run.id, "report", run.token, summary(), { from: run.from });
      expect(await report.json()).toEqual({ accepted: true, status: "reported", readable: true });
      client.release();
      await alarm;
      // The alarm's write did not put back its older copy of the run.
      expect(["reported", "deleting", "done"]).toContain(statusNow());
    });
    expect(await finish(run.id)).toBe("done");
    expect(await runRow(run.id)).toMatchObject({ status: "done", error: null, deleted: 1 });
    expect(await fakeServers(`run=${run.id}`)).toEqual([]);
  });
});
