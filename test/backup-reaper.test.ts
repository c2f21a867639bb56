// Nothing left running: the reaper lists every server labelled role=backup, of any environment,
// deletes the ones past their `expires` label whatever their environment, leaves another
// environment's unexpired ones to it, and alerts (once) about one with neither an `expires` label
// nor this environment's; deleting and reaping need only the Hetzner variables, so no other broken
// backups variable leaves a server billing. And the backup server joins the environment's private
// network (BACKUP_NETWORK_ID) at creation.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BackupScheduler } from "../durable-objects/backup-scheduler";
import { sha256Hex } from "../workers/auth/constant-time";
import { backupsConfig, type BackupsConfig } from "../workers/backups/config";
import { reportSchema } from "../workers/backups/report";
import { HetznerClient, type HetznerServer } from "../workers/hetzner/client";
import { fakeServers, finish, hetzner, hetznerRequests, runRow, runnerCall, runningRun, scheduler, seedRunnerImage, summary, watchAlerts } from "./support/backups";
import { tickWith } from "./support/faults";

afterEach(() => vi.restoreAllMocks());
vi.setConfig({ testTimeout: 15_000 });
let runnerImage: number;
beforeAll(async () => {
  runnerImage = await seedRunnerImage();
});

const api = (path: string, init: RequestInit = {}) =>
  hetzner(`/v1${path}`, { ...init, headers: { authorization: `Bearer ${env.HCLOUD_TOKEN}`, "content-type": "application/json" } });

/** A server made outside the scheduler (an older version's, another environment's), with these labels. */
async function strayServer(labels: Record<string, string>): Promise<{ id: number; name: string }> {
  const name = `backup-stray-${crypto.randomUUID().slice(0, 8)}`;
  const response = await api("/servers", { method: "POST", body: JSON.stringify({ name, server_type: "cx23", image: runnerImage, location: "fsn1", labels }) });
  expect(response.status).toBe(201);
  return { id: ((await response.json()) as { server: { id: number } }).server.id, name };
}
const exists = async (name: string) => (await fakeServers("role=backup")).some((server) => server.name === name);
const gone = (name: string) => vi.waitFor(async () => expect(await exists(name)).toBe(false), { timeout: 3000 });
const past = String(Math.floor(Date.now() / 1000) - 60);
const future = String(Math.floor(Date.now() / 1000) + 3600);

describe("the reaper", () => {
  it("deletes a role=backup server past its expiry whatever its environment label, or without one, with an alert", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const olderVersion = await strayServer({ role: "backup", run: "gone-1", expires: past });
    const renamedEnvironment = await strayServer({ role: "backup", run: "gone-2", expires: past, "edge-ops-env": "staging-old" });
    await scheduler().sweep();
    await gone(olderVersion.name);
    await gone(renamedEnvironment.name);
    const deleted = watch.alerts().filter((line) => line.message === "orphan backup server deleted");
    expect(deleted).toContainEqual(expect.objectContaining({ name: olderVersion.name, environment: null, why: "past its expiry" }));
    expect(deleted).toContainEqual(expect.objectContaining({ name: renamedEnvironment.name, environment: "staging-old", why: "past its expiry" }));
  });

  it("leaves another environment's server alone until it expires", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const production = await strayServer({ role: "backup", run: "theirs", expires: future, "edge-ops-env": "production" });
    await scheduler().sweep();
    expect(await exists(production.name)).toBe(true);
    await api(`/servers/${production.id}`, { method: "DELETE" });
  });

  it("alerts once about a server with neither an expires label nor this environment's, and leaves it", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const unlabelled = await strayServer({ role: "backup" });
    const otherEnvironment = await strayServer({ role: "backup", "edge-ops-env": "staging" });
    for (let sweep = 0; sweep < 3; sweep += 1) await scheduler().sweep();
    expect(await exists(unlabelled.name)).toBe(true);
    expect(await exists(otherEnvironment.name)).toBe(true);
    const unclaimed = watch.alerts().filter((line) => String(line.message).startsWith("backup server with neither an expires label nor this environment's label"));
    expect(unclaimed.filter((line) => line.serverId === unlabelled.id)).toEqual([expect.objectContaining({ name: unlabelled.name, environment: null })]);
    expect(unclaimed.filter((line) => line.serverId === otherEnvironment.id)).toEqual([expect.objectContaining({ name: otherEnvironment.name, environment: "staging" })]);
    for (const server of [unlabelled, otherEnvironment]) await api(`/servers/${server.id}`, { method: "DELETE" });
  });

  it("runs on the cron tick when a backups variable other than Hetzner's is broken", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const expired = await strayServer({ role: "backup", run: "gone-3", expires: past, "edge-ops-env": "dev" });
    await tickWith({ BACKUP_TARGETS: "[{", RESTIC_PASSWORD: undefined, BACKUP_PATHS: "/srv/data" } as Partial<Env>);
    await gone(expired.name);
    expect(watch.alerts()).toContainEqual(expect.objectContaining({ message: "orphan backup server deleted", name: expired.name }));
  });
});

describe("with the backups configuration broken (only the Hetzner variables intact)", () => {
  const broken = { ...env, BACKUP_TARGETS: "[{", RESTIC_PASSWORD: undefined, BACKUP_PATHS: "/srv/data" } as unknown as Env;

  it("fails a run whose runner could not get its configuration at once and deletes its server, without waiting for the deadline", async () => {
    const watch = watchAlerts(vi.spyOn(console, "error"));
    const run = await runningRun();
    await runInDurableObject(scheduler(), async (_instance, state) => {
      await new BackupScheduler(state, broken).alarm();
    });
    expect(await finish(run.id)).toBe("failed");
    const { error } = (await runRow(run.id)) as { error: string };
    expect(error).toMatch(/^the backups configuration is broken: /);
    for (const variable of ["BACKUP_TARGETS", "RESTIC_PASSWORD is not set", "BACKUP_PATHS"]) expect(error).toContain(variable);
    expect(await runRow(run.id)).toMatchObject({ deleted: 1 });
    expect(await fakeServers(`run=${run.id}`)).toEqual([]);
    expect(watch.alerts()).toContainEqual(expect.objectContaining({ message: "backup run failed", runId: run.id }));
  });

  it("lets a runner that already has its configuration finish, and still deletes the server after its report", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const run = await runningRun();
    expect((await runnerCall(run.id, "config", run.token, undefined, { from: run.from })).status).toBe(200);
    await runInDurableObject(scheduler(), async (_instance, state) => {
      const withBrokenConfig = new BackupScheduler(state, broken);
      await withBrokenConfig.alarm();
      expect(state.storage.sql.exec<{ status: string }>("SELECT status FROM runs WHERE id = ?", run.id).one().status).toBe("running");
      // The report needs nothing of the broken configuration; the deletion only Hetzner's variables.
      const report = { readable: true as const, report: reportSchema.parse(summary()) };
      expect(await withBrokenConfig.report(run.id, await sha256Hex(run.token), report)).toMatchObject({ accepted: true });
      state.storage.sql.exec("UPDATE runs SET next_attempt_at = ? WHERE id = ?", Date.now() - 1, run.id);
      await withBrokenConfig.alarm();
    });
    expect(await finish(run.id)).toBe("done");
    expect(await fakeServers(`run=${run.id}`)).toEqual([]);
  });
});

describe("the backup server's private network", () => {
  /** The scheduler's own creation step, with this configuration, for a run that is not stored. */
  const create = (config: BackupsConfig, name: string) =>
    runInDurableObject(scheduler(), (instance) => {
      const run = { id: name, server_name: name, token: "t".repeat(43), base_url: "https://edge.example.test", deadline: Date.now() + 3_600_000 };
      const client = new HetznerClient({ token: env.HCLOUD_TOKEN, endpoint: env.HCLOUD_ENDPOINT });
      return (instance as unknown as { createServer(run: unknown, config: BackupsConfig, hetzner: HetznerClient): Promise<HetznerServer> }).createServer(run, config, client);
    });
  const createdBody = async (name: string) =>
    (await hetznerRequests("^/v1/servers$")).filter((request) => request.method === "POST").map((request) => request.body as Record<string, unknown>).find((body) => body.name === name);

  it("is attached at creation when BACKUP_NETWORK_ID is set, and absent otherwise", async () => {
    const network = await api("/networks", {
      method: "POST",
      body: JSON.stringify({ name: `edge-ops-${crypto.randomUUID().slice(0, 8)}`, ip_range: "10.42.0.0/16", subnets: [{ type: "cloud", network_zone: "eu-central", ip_range: "10.42.1.0/24" }] }),
    });
    expect(network.status).toBe(201);
    const networkId = ((await network.json()) as { network: { id: number } }).network.id;
    const attached = `backup-net-${crypto.randomUUID().slice(0, 8)}`;
    const server = await create(await backupsConfig.load({ ...env, BACKUP_NETWORK_ID: String(networkId) }), attached);
    expect(await createdBody(attached)).toMatchObject({ networks: [networkId], labels: { role: "backup", run: attached } });
    expect(server.private_net).toEqual([expect.objectContaining({ network: networkId, ip: expect.stringMatching(/^10\.42\.1\./) })]);

    const plain = `backup-nonet-${crypto.randomUUID().slice(0, 8)}`;
    const without = await create(await backupsConfig.load(env), plain);
    expect((await createdBody(plain))?.networks).toBeUndefined();
    expect(without.private_net).toEqual([]);
    for (const id of [server.id, without.id]) await api(`/servers/${id}`, { method: "DELETE" });
  });
});
