// Self-destructing backup servers: the BackupScheduler Durable Object against the Hetzner fake
// (test/node/fakes/hetzner.ts), driven through the admin API, the runner's endpoints, its
// alarms and the cron triggers. Every test ends with no backup server of its run left.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BackupScheduler } from "../durable-objects/backup-scheduler";
import { adminFetch } from "./support/admin";
import { addressOf, due, fakeServers, fault, finish, hetzner, hetznerRequests, runRow, runnerCall, runnerEnv, scheduler, startRun, summary, until } from "./support/backups";
import { row } from "./support/d1";
import { fetchWith, tickWith } from "./support/faults";

afterEach(() => vi.restoreAllMocks());
// Runs wait for Hetzner's (fake) actions, polled every second.
vi.setConfig({ testTimeout: 15_000 });

/** The runner images the scheduler chooses from: the newest wins. */
let newestRunnerImage: number;
beforeAll(async () => {
  await hetzner("/__fake/images", { method: "POST", body: JSON.stringify({ description: "runner old", labels: { role: "backup-runner" }, created: "2026-01-01T00:00:00Z" }) });
  const seeded = await hetzner("/__fake/images", { method: "POST", body: JSON.stringify({ description: "runner new", labels: { role: "backup-runner" }, created: "2026-11-01T00:00:00Z" }) });
  newestRunnerImage = ((await seeded.json()) as { image: { id: number } }).image.id;
});

describe("a backup run", () => {
  it("creates backup-<runId> from the newest runner image with labels and a token-only user data, serves the config to its server, takes one report and deletes the server", async () => {
    const id = await startRun("backup", { PUBLIC_BASE_URL: undefined });
    expect(await runRow(id)).toMatchObject({ status: "scheduled" });
    await until(id, ["running"]);
    const [server] = await fakeServers(`run=${id}`);
    expect(server).toMatchObject({ name: `backup-${id}`, labels: { role: "backup", run: id, expires: expect.stringMatching(/^\d+$/), "edge-ops-env": "dev" } });
    const created = (await hetznerRequests("^/v1/servers$")).filter((request) => request.method === "POST").map((request) => request.body as Record<string, unknown>);
    const mine = created.find((body) => body.name === `backup-${id}`)!;
    expect(mine).toMatchObject({ server_type: "cx23", location: "fsn1", image: newestRunnerImage, start_after_create: true });
    // A manual run without PUBLIC_BASE_URL calls back to the request's origin.
    const runner = runnerEnv(server!);
    expect(runner.url).toBe(`http://admin/backups/runs/${id}`);
    expect(runner.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const secret of [env.HCLOUD_TOKEN, env.RESTIC_PASSWORD, env.R2_SECRET_ACCESS_KEY, env.R2_ACCESS_KEY_ID, env.ADMIN_TOKEN]) expect(server!.user_data).not.toContain(secret);
    expect(await row("SELECT status FROM backup_runs WHERE id = ?", id)).toEqual({ status: "running" });

    const from = addressOf(server!);
    expect((await runnerCall(id, "config", "not-the-token", undefined, { from })).status).toBe(401);
    const targets = [{ name: "mongodb", kind: "mongodb", uri: "mongodb://backup:test-mongo-password@10.42.1.2:27017/?replicaSet=rs0&authSource=admin" }];
    const config = await runnerCall(id, "config", runner.token, undefined, { from, overrides: { BACKUP_TARGETS: JSON.stringify(targets) } });
    expect(config.status).toBe(200);
    expect(config.headers.get("cache-control")).toBe("no-store");
    expect(await config.json()).toMatchObject({
      version: 2,
      runId: id,
      kind: "backup",
      host: "edge-ops-swarm",
      repository: env.RESTIC_REPOSITORY,
      password: env.RESTIC_PASSWORD,
      env: { AWS_ACCESS_KEY_ID: env.R2_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.R2_SECRET_ACCESS_KEY },
      targets,
      ssh: null,
      retention: { daily: 7, weekly: 4, monthly: 12 },
    });

    const report = await runnerCall(id, "report", runner.token, summary(), { from });
    expect(await report.json()).toEqual({ accepted: true, status: "reported", readable: true });
    await finish(id);
    expect(await runRow(id)).toEqual({ status: "done", error: null, snapshot_id: summary().restic.snapshot_id, exit_code: 0, partial: 0, deleted: 1 });
    expect(await fakeServers(`run=${id}`)).toEqual([]);
    // A second report changes nothing; the run's config is not given out any more.
    expect(await (await runnerCall(id, "report", runner.token, summary({ error: "other" }), { from })).json()).toEqual({ accepted: false, status: "done" });
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    expect((await runnerCall(id, "config", runner.token, undefined, { from })).status).toBe(403);
    const listed = (await (await adminFetch(`/api/backups/runs/${id}`)).json()) as Record<string, unknown>;
    expect(listed).toMatchObject({
      id,
      status: "done",
      snapshotId: summary().restic.snapshot_id,
      bytesAdded: 104857,
      parts: summary().parts,
      failedParts: [],
      serverSeconds: expect.any(Number),
      hetznerCalls: expect.any(Number),
    });
  });

  it("allows one active run at a time", async () => {
    const id = await startRun();
    const second = await adminFetch("/api/backups/run", { json: { kind: "restore-test" } });
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ activeRunId: id });
    await until(id, ["running"]);
    const [server] = await fakeServers(`run=${id}`);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    await runnerCall(id, "report", runnerEnv(server!).token, summary({ restic: { ...summary().restic, exit_code: 3 } }));
    await finish(id);
    // restic exit 3: a snapshot exists, but some files could not be read: partial, and alerted.
    expect(await runRow(id)).toMatchObject({ status: "partial", partial: 1, exit_code: 3 });
    expect(await fakeServers(`run=${id}`)).toEqual([]);
  });

  it("deletes the server and fails the run with an alert when no report arrives before the deadline", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const id = await startRun();
    await until(id, ["running"]);
    expect(await fakeServers(`run=${id}`)).toHaveLength(1);
    await due(id, "deadline");
    await finish(id);
    expect(await runRow(id)).toMatchObject({ status: "failed", error: "no report before the deadline", deleted: 1 });
    expect(await fakeServers(`run=${id}`)).toEqual([]);
    expect(errors.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ message: "backup run failed", runId: id, alert: true }));
  });

  it("retries deletion through Hetzner 5xx until the server is gone", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const id = await startRun();
    await until(id, ["running"]);
    const [server] = await fakeServers(`run=${id}`);
    await fault({ method: "DELETE", path: `^/v1/servers/${server!.id}$`, status: 503, code: "service_error", count: 2 });
    await runnerCall(id, "report", runnerEnv(server!).token, summary());
    for (let attempt = 0; attempt < 4 && (await fakeServers(`run=${id}`)).length > 0; attempt += 1) await finish(id);
    expect(await fakeServers(`run=${id}`)).toEqual([]);
    expect(await runRow(id)).toMatchObject({ status: "done", deleted: 1 });
    // A deletion in backoff waits for its retry: it does not wake (and call Hetzner) in a loop,
    // even past the run's deadline.
    await due(id, "deadline");
    const { hetznerCalls } = (await (await adminFetch(`/api/backups/runs/${id}`)).json()) as { hetznerCalls: number };
    expect(hetznerCalls).toBeLessThan(30);
  });

  it("fails at once with an alert on a quota error, without retrying creation", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    await fault({ method: "POST", path: "^/v1/servers$", status: 403, code: "resource_limit_exceeded", count: 1 });
    const id = await startRun();
    await finish(id);
    expect(await runRow(id)).toMatchObject({ status: "failed", error: "creating the server failed: 403 resource_limit_exceeded" });
    const creations = (await hetznerRequests("^/v1/servers$")).filter((request) => request.method === "POST" && (request.body as { name?: string }).name === `backup-${id}`);
    expect(creations).toHaveLength(1);
    expect(await fakeServers(`run=${id}`)).toEqual([]);
    expect(errors.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ message: "backup run failed", alert: true }));
  });

  it("adopts a server an earlier attempt created instead of making a second one", async () => {
    const id = await startRun();
    // An attempt whose answer was lost left backup-<id> behind.
    const images = (await (await hetzner("/v1/images?type=system", { headers: { authorization: `Bearer ${env.HCLOUD_TOKEN}` } })).json()) as { images: { id: number }[] };
    await hetzner("/v1/servers", {
      method: "POST",
      headers: { authorization: `Bearer ${env.HCLOUD_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `backup-${id}`, server_type: "cx23", image: images.images[0]!.id, labels: { role: "backup", run: id, expires: String(Math.floor(Date.now() / 1000) + 3600) } }),
    });
    await until(id, ["running"]);
    expect(await fakeServers(`run=${id}`)).toHaveLength(1);
    await due(id, "deadline");
    await finish(id);
    expect(await fakeServers(`run=${id}`)).toEqual([]);
  });
});

describe("a restart mid-run", () => {
  it("resumes from what the Durable Object stored: a fresh instance finishes the run", async () => {
    const id = await startRun();
    await until(id, ["running"]);
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const [server] = await fakeServers(`run=${id}`);
    // The first deletion fails: the run waits in "deleting" for its retry.
    await fault({ method: "DELETE", path: `^/v1/servers/${server!.id}$`, status: 503, code: "unavailable", count: 1 });
    await runnerCall(id, "report", runnerEnv(server!).token, summary());
    await until(id, ["deleting"]);
    // Wake-ups are single-flight: this one ends after the attempt under way, so the failed
    // deletion's backoff is stored and the running instance is idle.
    await scheduler().sweep();
    expect(await fakeServers(`run=${id}`)).toHaveLength(1);
    // A new instance over the same storage, as after an eviction or a deploy: nothing in memory.
    await runInDurableObject(scheduler(), async (_instance, state) => {
      const fresh = new BackupScheduler(state, env);
      state.storage.sql.exec("UPDATE runs SET next_attempt_at = ? WHERE id = ?", Date.now() - 1, id);
      await fresh.alarm();
    });
    expect(await runRow(id)).toMatchObject({ status: "done", deleted: 1 });
    await finish(id);
    expect(await runRow(id)).toMatchObject({ status: "done", deleted: 1 });
    expect(await fakeServers(`run=${id}`)).toEqual([]);
  });
});

describe("the runner's R2 credentials", () => {
  it("are short-lived and scoped to the repository's bucket and prefix when a Cloudflare API token is configured", async () => {
    const id = await startRun();
    await until(id, ["running"]);
    const [server] = await fakeServers(`run=${id}`);
    const token = runnerEnv(server!).token;
    const scoped = { CLOUDFLARE_API_TOKEN: env.FAKE_CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID: "0123456789abcdef0123456789abcdef", CLOUDFLARE_API_URL: env.FAKE_CLOUDFLARE_API_URL } as Partial<Env>;
    const fromServer = { authorization: `Bearer ${token}`, "cf-connecting-ip": addressOf(server!) };
    const config = await fetchWith(scoped, `http://edge/backups/runs/${id}/config`, { headers: fromServer });
    expect(config.status).toBe(200);
    const { env: credentials } = (await config.json()) as { env: Record<string, string> };
    expect(credentials).toEqual({ AWS_ACCESS_KEY_ID: expect.stringMatching(/^tempkey/), AWS_SECRET_ACCESS_KEY: expect.stringMatching(/^tempsecret/), AWS_SESSION_TOKEN: expect.stringMatching(/^tempsession/) });
    expect(JSON.stringify(credentials)).not.toContain(env.R2_SECRET_ACCESS_KEY);
    const issued = (await (await fetch(`${env.FAKE_CLOUDFLARE_API_URL.replace("/client/v4", "")}/__fake/requests`)).json()) as Record<string, unknown>[];
    expect(issued.at(-1)).toMatchObject({ bucket: "edge-ops-backups", prefixes: ["swarm"], permission: "object-read-write", parentAccessKeyId: env.R2_ACCESS_KEY_ID, ttlSeconds: expect.any(Number) });
    // A Cloudflare API that refuses: 503, so the runner retries; the static keys are not handed out instead.
    const refused = await fetchWith({ ...scoped, CLOUDFLARE_API_TOKEN: "wrong-cloudflare-token-000" }, `http://edge/backups/runs/${id}/config`, { headers: fromServer });
    expect(refused.status).toBe(503);
    await due(id, "deadline");
    await finish(id);
    expect(await fakeServers(`run=${id}`)).toEqual([]);
  });
});

describe("the safety net and the cron triggers", () => {
  it("reaps a backup server of no active run on the */5 sweep, with an alert", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const images = (await (await hetzner("/v1/images?type=system", { headers: { authorization: `Bearer ${env.HCLOUD_TOKEN}` } })).json()) as { images: { id: number }[] };
    const orphan = `backup-orphan-${crypto.randomUUID().slice(0, 8)}`;
    await hetzner("/v1/servers", {
      method: "POST",
      headers: { authorization: `Bearer ${env.HCLOUD_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: orphan, server_type: "cx23", image: images.images[0]!.id, labels: { role: "backup", run: "long-gone", expires: "1", "edge-ops-env": "dev" } }),
    });
    await tickWith();
    // Deleted: gone once Hetzner's delete action finishes.
    await vi.waitFor(async () => expect((await fakeServers("role=backup")).filter((server) => server.name === orphan)).toEqual([]), { timeout: 3000 });
    expect(errors.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ message: "orphan backup server deleted", name: orphan, alert: true }));
  });

  /** A schedule whose time is the minute before `tick` (UTC), so the tick at `tick` is the one to run it. */
  const minuteBefore = (tick: number) => {
    const due = new Date(tick - 60_000);
    return `${due.getUTCMinutes()} ${due.getUTCHours()} * * *`;
  };
  const clearTimedState = () => env.DB.prepare("DELETE FROM cron_job_state WHERE name IN ('backup-daily', 'restore-test-weekly')").run();

  it("starts the daily backup and the weekly restore test on the tick after their time, calling back to PUBLIC_BASE_URL", async () => {
    await clearTimedState();
    const tick = Date.now();
    await tickWith({ RESTORE_TEST_SCHEDULE: minuteBefore(tick) }, tick);
    const latest = await row("SELECT id, kind, trigger, base_url FROM backup_runs ORDER BY created_at DESC LIMIT 1");
    expect(latest).toMatchObject({ kind: "restore-test", trigger: "cron", base_url: "https://edge.example.test" });
    const id = String(latest!.id);
    expect(await row("SELECT last_outcome, last_due_at FROM cron_job_state WHERE name = 'restore-test-weekly'")).toEqual({ last_outcome: "started", last_due_at: Math.floor(tick / 60_000) * 60_000 - 60_000 });
    // A run is active: the daily backup's tick misses it, and says so.
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    await tickWith({ BACKUP_SCHEDULE: minuteBefore(tick), RESTORE_TEST_SCHEDULE: minuteBefore(tick) }, tick);
    expect(errors.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ message: "scheduled backup run missed: another run is still active", alert: true }));
    // The restore test's occurrence was claimed: the same tick again does not start a second one.
    expect(await row("SELECT count(*) AS runs FROM backup_runs WHERE kind = 'restore-test' AND created_at >= ?", tick - 1000)).toEqual({ runs: 1 });
    await until(id, ["running"]);
    const [server] = await fakeServers(`run=${id}`);
    expect(runnerEnv(server!).url).toBe(`https://edge.example.test/backups/runs/${id}`);
    await runnerCall(id, "report", runnerEnv(server!).token, summary({ restore_test: { check_exit_code: 0, canary_ok: true } }));
    await finish(id);
    expect(await runRow(id)).toMatchObject({ status: "done" });
    expect(await fakeServers(`run=${id}`)).toEqual([]);
  });

  it("never starts a daily backup late: a skipped tick is reported as missed, once, and nothing is created", async () => {
    await clearTimedState();
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const schedule = { BACKUP_SCHEDULE: "17 3 * * *" };
    const before = await row("SELECT count(*) AS runs FROM backup_runs");
    // Ticks come at 03:10 and 03:15; the 03:20 tick never comes; the next ones are 03:25 and 03:30.
    for (const time of ["03:10", "03:15", "03:25", "03:30"]) await tickWith(schedule, Date.parse(`2031-03-04T${time}:00Z`));
    const missed = errors.map((line) => JSON.parse(line)).filter((entry) => String(entry.message).startsWith("scheduled backup run missed: no cron tick"));
    expect(missed).toEqual([expect.objectContaining({ kind: "backup", dueAt: "2031-03-04T03:17:00.000Z", alert: true })]);
    expect(await row("SELECT last_outcome, last_due_at FROM cron_job_state WHERE name = 'backup-daily'")).toEqual({ last_outcome: "missed", last_due_at: Date.parse("2031-03-04T03:17:00Z") });
    expect(await row("SELECT count(*) AS runs FROM backup_runs")).toEqual(before);
  });

  it("does not report runs from before its first tick (a Worker deployed at noon) and starts none", async () => {
    await clearTimedState();
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void errors.push(line));
    const before = await row("SELECT count(*) AS runs FROM backup_runs");
    for (const time of ["12:00", "12:05"]) await tickWith({ BACKUP_SCHEDULE: "17 3 * * *" }, Date.parse(`2031-03-05T${time}:00Z`));
    expect(errors.map((line) => JSON.parse(line)).filter((entry) => entry.alert === true)).toEqual([]);
    expect(await row("SELECT count(*) AS runs FROM backup_runs")).toEqual(before);
    expect(await row("SELECT last_outcome, last_tick_at FROM cron_job_state WHERE name = 'backup-daily'")).toEqual({ last_outcome: "none", last_tick_at: Date.parse("2031-03-05T12:05:00Z") });
  });
});
