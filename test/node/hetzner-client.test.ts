// The Hetzner client (workers/hetzner/client.ts) and `infra backup-image`'s shutdown against the
// Hetzner fake, as Hetzner behaves: actions polled 25 ids per request with a failed one among 30,
// an id missing from the answer, a 429 at RateLimit-Remaining 0 waited out a refill at a time,
// pacing when the bucket runs low, transient errors (conflict, locked, timeout) retried with
// backoff and permanent ones not, and a builder whose guest ignores the ACPI shutdown.
// The client's `sleep` moves the fake's clock instead of waiting: actions finish, the bucket
// refills and the guest powers off in fake time, so nothing here waits for real seconds.
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildBackupImage, SHUTDOWN_TIMEOUT_MS } from "../../infra/backup-image.ts";
import { loadEnvironment } from "../../infra/config.ts";
import { HcloudResources } from "../../infra/hcloud.ts";
import { sshFingerprint } from "../../infra/plan.ts";
import { Ssh } from "../../infra/ssh.ts";
import { HetznerApiError, HetznerClient, type HetznerClientOptions } from "../../workers/hetzner/client.ts";
import { createFakeSshState } from "./fakes/fake-ssh-state.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./fakes/hetzner.ts";
import { ed25519PublicKey, infraWorkspace, REPOSITORY_ROOT, uniqueEnvironment } from "./support/infra.ts";

/** Actions run for 10 s of fake time: a wait polls them several times. */
const hetzner = await startFakeHetzner({ actionMs: 10_000 }, 0);
afterAll(() => hetzner.close());

const control = async (method: string, path: string, body?: unknown): Promise<any> => {
  const response = await fetch(`${hetzner.url}/__fake${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return response.status === 204 ? null : response.json();
};
type Logged = { method: string; path: string; query: Record<string, string | string[]>; body: unknown; at: number };
const requestsTo = async (path: RegExp): Promise<Logged[]> => (await control("GET", `/requests?path=${encodeURIComponent(path.source)}`)) as Logged[];

let counter = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${(counter++).toString(36)}`;

/** A client on the fake whose sleeps advance the fake's clock (and its own), recorded in `sleeps`. */
function clockedClient(options: Partial<HetznerClientOptions> = {}) {
  const sleeps: number[] = [];
  let offsetMs = 0;
  const now = () => Date.now() + offsetMs;
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    offsetMs += ms;
    await control("POST", "/clock", { advanceSeconds: ms / 1000 });
  };
  const client = new HetznerClient({ token: FAKE_HCLOUD_TOKEN, endpoint: `${hetzner.url}/v1`, pollIntervalMs: 1000, sleep, now, random: () => 0.5, ...options });
  return { client, sleeps, sleep, now };
}

/** Sets the fake's bucket, and refills it when the test is done (tests share the fake). */
async function withBucket<T>(remaining: number, run: () => Promise<T>): Promise<T> {
  await control("POST", "/rate-limit", { remaining });
  try {
    return await run();
  } finally {
    await control("POST", "/rate-limit", { remaining: 3600 });
  }
}

describe("waiting for actions", () => {
  /** Creates `count` servers without starting them: one create_server action each, ids in order. */
  async function pendingActions(client: HetznerClient, count: number, failing?: number): Promise<number[]> {
    const run = unique("wait");
    if (failing !== undefined) {
      await control("POST", "/faults", { method: "POST", path: "^/v1/servers$", body: `"name":"${run}-${failing}"`, code: "action_failed", message: "Action failed", actionError: true });
    }
    const ids: number[] = [];
    for (let index = 1; index <= count; index += 1) {
      const { action } = await client.createServer({ name: `${run}-${index}`, server_type: "cx23", image: "debian-12", location: "fsn1", start_after_create: false });
      ids.push(action.id);
    }
    return ids;
  }
  const idsPerPoll = async (ids: number[]) =>
    (await requestsTo(/^\/v1\/actions$/))
      .map((request) => [request.query.id ?? []].flat().map(Number))
      .filter((asked) => asked.some((id) => ids.includes(id)));

  it("throws when the 28th of 30 pending actions fails, polling at most 25 ids per request", async () => {
    const { client } = clockedClient();
    const ids = await pendingActions(client, 30, 28);
    const failure = await client.waitForActions(ids).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HetznerApiError);
    expect(failure).toMatchObject({ code: "action_failed" });
    expect((failure as HetznerApiError).message).toContain(`action ${ids[27]}`);
    const polls = await idsPerPoll(ids);
    expect(polls.length).toBeGreaterThan(0);
    // Hetzner's default page: hcloud-go's waiter asks for at most 25 ids at a time.
    for (const asked of polls) expect(asked.length).toBeLessThanOrEqual(25);
    // Every id was asked for, the 28th included.
    expect(new Set(polls.flat())).toEqual(new Set(ids));
  });

  it("answers all 30 once they succeeded", async () => {
    const { client, sleeps } = clockedClient();
    const ids = await pendingActions(client, 30);
    const done = await client.waitForActions(ids);
    expect(done.map((action) => action.id).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(done.every((action) => action.status === "success")).toBe(true);
    // Polled while they ran (10 s of fake time, a poll a second): the first poll in two requests
    // (25 ids, then 5); later ones ask only for the actions still running, which on a loaded
    // machine (the fake's actions end in real time) may already be fewer than 30.
    expect(sleeps.length).toBeGreaterThan(1);
    const polls = await idsPerPoll(ids);
    expect(polls.slice(0, 2).map((asked) => asked.length)).toEqual([25, 5]);
    for (const asked of polls) expect(asked.length).toBeLessThanOrEqual(25);
  });

  it("treats an id missing from Hetzner's answer as an error, never as finished", async () => {
    const { client } = clockedClient();
    const [known] = await pendingActions(client, 1);
    await expect(client.waitForActions([known!, 987_654_321])).rejects.toMatchObject({ code: "action_not_found", message: expect.stringContaining("987654321") });
  });
});

describe("the rate limit", () => {
  it("waits out a 429 at Remaining 0 a refill (about a second, jittered) at a time, not until RateLimit-Reset", async () => {
    const { client, sleeps } = clockedClient();
    const name = unique("limited");
    const servers = await withBucket(0, () => client.listServers({ name }));
    expect(servers).toEqual([]);
    // random() = 0.5: one refill (1 s at 3600 per hour) plus a quarter of one.
    expect(sleeps).toEqual([1250]);
    expect(client.rateLimit.remaining).toBe(0);
    expect(client.rateLimit.resetAt! - Date.now()).toBeGreaterThan(3_000_000);
    const asked = (await requestsTo(/^\/v1\/servers$/)).filter((request) => request.query.name === name);
    expect(asked).toHaveLength(2);
  });

  it("jitters each wait between one and one and a half refills", async () => {
    for (const [random, expected] of [[0, 1000], [0.999, 1500]] as const) {
      const { client, sleeps } = clockedClient({ random: () => random });
      await withBucket(0, () => client.listServers({ name: unique("jitter") }));
      expect(sleeps[0]).toBeCloseTo(expected, -1);
    }
  });

  it("gives up once maxRateLimitWaitMs is spent, with a retryAfterSeconds of seconds, not the hour to RateLimit-Reset", async () => {
    const { client, sleeps } = clockedClient({ maxRateLimitWaitMs: 5000 });
    const name = unique("starved");
    // Another client takes every request that comes back: each attempt answers 429.
    await control("POST", "/faults", { method: "GET", path: "^/v1/servers$", status: 429, code: "rate_limit_exceeded", count: 50 });
    try {
      const error = await client.listServers({ name }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(HetznerApiError);
      expect(error).toMatchObject({ status: 429, code: "rate_limit_exceeded" });
      // 1.25 s a wait: four fit in 5 s.
      expect(sleeps).toEqual([1250, 1250, 1250, 1250]);
      // Enough for a few requests to come back (10 at one a second), far below the hour.
      expect((error as HetznerApiError).retryAfterSeconds).toBe(10);
    } finally {
      await control("DELETE", "/faults");
    }
  });

  it("slows down before the bucket is empty, so a run of requests meets no 429", async () => {
    const { client, sleeps } = clockedClient();
    const name = unique("paced");
    await withBucket(3, async () => {
      for (let index = 0; index < 6; index += 1) await client.listServers({ name });
    });
    const asked = (await requestsTo(/^\/v1\/servers$/)).filter((request) => request.query.name === name);
    // Six requests, none refused: each after the first waited part of a refill.
    expect(asked).toHaveLength(6);
    expect(sleeps).toHaveLength(5);
    for (const waited of sleeps) {
      expect(waited).toBeGreaterThan(0);
      expect(waited).toBeLessThanOrEqual(1000);
    }
    // The emptier the bucket, the longer the pause.
    expect(sleeps[1]!).toBeGreaterThan(sleeps[0]!);
  });

  it("does not pace while the bucket is full", async () => {
    const { client, sleeps } = clockedClient();
    for (let index = 0; index < 3; index += 1) await client.listServers({ name: unique("full") });
    expect(sleeps).toEqual([]);
  });
});

describe("transient and permanent errors", () => {
  const getFault = async (path: string, code: string, count: number, status?: number) =>
    control("POST", "/faults", { method: "GET", path, code, count, ...(status === undefined ? {} : { status }) });
  async function serverId(client: HetznerClient): Promise<number> {
    const { server } = await client.createServer({ name: unique("err"), server_type: "cx23", image: "debian-12", location: "fsn1", start_after_create: false });
    return server.id;
  }

  it.each(["conflict", "locked", "timeout"])("retries %s with hcloud-go's backoff (1 s, then 1–2 s, jittered)", async (code) => {
    const { client, sleeps } = clockedClient();
    const id = await serverId(client);
    await getFault(`^/v1/servers/${id}$`, code, 2);
    const server = await client.getServer(id);
    expect(server?.id).toBe(id);
    expect(sleeps).toEqual([1000, 1500]);
    expect((await requestsTo(new RegExp(`^/v1/servers/${id}$`))).filter((request) => request.method === "GET")).toHaveLength(3);
  });

  it("retries a locked server action until the running action is done", async () => {
    const { client, sleeps } = clockedClient();
    const { server, action } = await client.createServer({ name: unique("busy"), server_type: "cx23", image: "debian-12", location: "fsn1" });
    const resources = new HcloudResources(client);
    // create_server and start_server run for 10 s each: poweroff answers 423 locked meanwhile.
    const poweroff = await resources.powerOff(server.id);
    expect(poweroff.command).toBe("stop_server");
    expect(sleeps.reduce((sum, ms) => sum + ms, 0)).toBeGreaterThanOrEqual(10_000);
    const refused = (await requestsTo(new RegExp(`^/v1/servers/${server.id}/actions/poweroff$`))).length;
    expect(refused).toBeGreaterThan(1);
    expect(action.command).toBe("create_server");
  });

  it("gives up after maxRetries and throws the transient error", async () => {
    const { client, sleeps } = clockedClient({ maxRetries: 2 });
    const id = await serverId(client);
    await getFault(`^/v1/servers/${id}$`, "conflict", 5);
    try {
      await expect(client.getServer(id)).rejects.toMatchObject({ status: 409, code: "conflict", isTransient: true });
      expect(sleeps).toHaveLength(2);
    } finally {
      await control("DELETE", "/faults");
    }
  });

  it.each([
    ["invalid_input", 422],
    ["resource_limit_exceeded", 403],
    ["unavailable", 503],
    ["server_error", 500],
  ] as const)("throws %s (%i) at once, without a retry", async (code, status) => {
    const { client, sleeps } = clockedClient();
    const id = await serverId(client);
    await getFault(`^/v1/servers/${id}$`, code, 1);
    const error = await client.getServer(id).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status, code, isTransient: false });
    expect(sleeps).toEqual([]);
    expect((await requestsTo(new RegExp(`^/v1/servers/${id}$`))).filter((request) => request.method === "GET")).toHaveLength(1);
  });

  it("keeps quota, capacity, placement and bad input permanent", () => {
    for (const code of ["resource_limit_exceeded", "resource_unavailable", "placement_error", "invalid_input", "uniqueness_error"]) {
      const error = new HetznerApiError(422, code, "");
      expect(error.isPermanent).toBe(true);
      expect(error.isTransient).toBe(false);
    }
    for (const code of ["conflict", "locked", "timeout"]) expect(new HetznerApiError(409, code, "").isPermanent).toBe(false);
    expect(new HetznerApiError(502, "server_error", "").isTransient).toBe(true);
  });
});

describe("backup-image shuts the builder down before the snapshot", () => {
  const ssh = createFakeSshState(undefined, { hetznerUrl: hetzner.url });
  const ws = infraWorkspace({ hetznerUrl: hetzner.url, sshEnv: ssh.env });

  /** Builds an image with a builder whose guest answers ACPI as `guest` says; its requests, by the fake's clock. */
  async function build(guest: { ignore: true } | { shutdownSeconds: number }) {
    const name = uniqueEnvironment("shut");
    ws.environment(name, "example");
    const environment = loadEnvironment(join(ws.dir, "environments"), name);
    await control("POST", "/acpi", { name: `^edge-ops-${name}-backup-image-`, ...guest });
    const { client, sleep, now } = clockedClient({ pollIntervalMs: 5000 });
    const resources = new HcloudResources(client);
    const publicKey = ed25519PublicKey("shutdown-test");
    const key = await resources.createSshKey({ name: `edge-ops-${name}-deploy`, public_key: publicKey, labels: { "managed-by": "edge-ops", env: name } });
    const remote = new Ssh({ program: ssh.env.INFRA_SSH!, env: { ...process.env, ...ssh.env } });
    const log: string[] = [];
    const { imageId } = await buildBackupImage({
      hetzner: client,
      resources,
      environment,
      publicKey,
      fingerprint: sshFingerprint(publicKey),
      log: (line) => log.push(line),
      actionTimeoutMs: 600_000,
      pollIntervalMs: 5000,
      sleep,
      ssh: remote,
      swarm: { ssh: remote, environment, log: (line) => log.push(line), readyTimeoutMs: 600_000, pollIntervalMs: 5000, sleep },
      root: REPOSITORY_ROOT,
      keyId: key.id,
      now: () => new Date(now()),
    });
    const image = (await (await fetch(`${hetzner.url}/v1/images/${imageId}`, { headers: { authorization: `Bearer ${FAKE_HCLOUD_TOKEN}` } })).json()) as {
      image: { labels: Record<string, string>; created_from: { id: number; name: string } };
    };
    const builder = image.image.created_from.id;
    const requests = await requestsTo(new RegExp(`^/v1/servers/${builder}(/actions/\\w+)?$`));
    const post = (verb: string) => requests.find((request) => request.method === "POST" && request.path === `/v1/servers/${builder}/actions/${verb}`);
    const shutdown = post("shutdown");
    const createImage = post("create_image");
    const statusReads = requests.filter((request) => request.method === "GET" && request.path === `/v1/servers/${builder}` && shutdown !== undefined && createImage !== undefined && request.at > shutdown.at && request.at < createImage.at);
    return { name, log, labels: image.image.labels, shutdown, createImage, poweroff: post("poweroff"), statusReads };
  }

  it("waits until the server is off after the ACPI shutdown, then snapshots", async () => {
    const built = await build({ shutdownSeconds: 20 });
    expect(built.labels).toMatchObject({ role: "backup-runner", env: built.name });
    expect(built.shutdown).toBeDefined();
    expect(built.poweroff).toBeUndefined();
    // The guest needed 20 s (fake time): the snapshot was taken only after it was off.
    expect(built.createImage!.at - built.shutdown!.at).toBeGreaterThanOrEqual(20_000);
    expect(built.statusReads.length).toBeGreaterThan(1);
    expect(built.log.join("\n")).not.toContain("powering it off");
  });

  it("powers the server off when the guest ignores the ACPI shutdown, then snapshots", async () => {
    const built = await build({ ignore: true });
    expect(built.poweroff).toBeDefined();
    expect(built.poweroff!.at - built.shutdown!.at).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS);
    expect(built.createImage!.at).toBeGreaterThan(built.poweroff!.at);
    expect(built.log.join("\n")).toContain("was not off 120 s after the ACPI shutdown: powering it off");
  });
});
