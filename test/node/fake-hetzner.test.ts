// The Hetzner Cloud fake keeps to the documented API contract (docs.hetzner.cloud): bearer auth,
// the error envelope and the docs' status per error code, RateLimit-* headers and 429, actions that
// run and then succeed (or fail), servers and their lifecycle, label selectors, pagination and
// sorting, images, networks, firewalls, placement groups, SSH keys, volumes, and the /__fake/*
// controls (faults, servers with user_data, seeded snapshots, request log, clock, rate bucket).
// Checked again on 2026-12-06 against the API description (Rate Limiting, Pagination, Actions,
// Errors, "Shutdown a Server") and hcloud-go main at b8cfa39 (v2.47.0 + 9): the actions list pages
// like any list, the bucket refills one request per second and RateLimit-Reset is when it is full,
// a shutdown action only sends the ACPI signal, a snapshot is `creating` before `available`.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./fakes/hetzner.ts";
import { sharedFixturesDir } from "./shared-fixtures.ts";

const ACTION_MS = 120;
const fake = await startFakeHetzner({ actionMs: ACTION_MS }, 0);
afterAll(async () => {
  await fake.close();
});

type Reply = { status: number; headers: Headers; text: string; json: any };

async function call(method: string, path: string, body?: unknown, token: string | null = FAKE_HCLOUD_TOKEN, raw?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined || raw !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(fake.url + path, {
    method,
    headers,
    ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}
const api = (method: string, path: string, body?: unknown) => call(method, `/v1${path}`, body);
const control = (method: string, path: string, body?: unknown) => call(method, `/__fake${path}`, body, null);
/** Moves the fake clock; answers the fake's time (ms). */
const advance = async (seconds: number) => Date.parse((await control("POST", "/clock", { advanceSeconds: seconds })).json.now);

let counter = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function expectError(reply: Reply, status: number, code: string): any {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json).toEqual({ error: { code, message: expect.any(String), details: expect.anything() } });
  return reply.json.error;
}

async function waitForAction(id: number): Promise<any> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const reply = await api("GET", `/actions/${id}`);
    expect(reply.status, reply.text).toBe(200);
    if (reply.json.action.status !== "running") return reply.json.action;
    if (Date.now() > deadline) throw new Error(`action ${id} still running`);
    await sleep(20);
  }
}

async function createServer(overrides: Record<string, unknown> = {}): Promise<any> {
  const reply = await api("POST", "/servers", { name: unique("srv"), server_type: "cpx22", image: "debian-12", location: "fsn1", ...overrides });
  expect(reply.status, reply.text).toBe(201);
  return reply.json;
}

function fixture(name: string): any {
  const file = join(sharedFixturesDir(), "hetzner", name);
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}
const hasFixtures = existsSync(join(sharedFixturesDir(), "hetzner"));

function sshPublicKey(): { publicKey: string; fingerprint: string } {
  const type = Buffer.from("ssh-ed25519");
  const key = randomBytes(32);
  const length = (value: number) => {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    return buffer;
  };
  const blob = Buffer.concat([length(type.length), type, length(key.length), key]);
  const fingerprint = (createHash("md5").update(blob).digest("hex").match(/../g) ?? []).join(":");
  return { publicKey: `ssh-ed25519 ${blob.toString("base64")} test@example.com`, fingerprint };
}

describe("auth and the error envelope", () => {
  it("answers 401 unauthorized without a token or with a wrong one, with the RateLimit headers", async () => {
    for (const token of [null, "wrong-token"]) {
      const reply = await call("GET", "/v1/servers", undefined, token);
      expect(reply.status).toBe(401);
      expect(reply.json).toEqual({ error: { code: "unauthorized", message: "unable to authenticate", details: {} } });
      expect(reply.headers.get("ratelimit-limit")).toBe("3600");
      expect(reply.headers.get("ratelimit-remaining")).toMatch(/^\d+$/);
      expect(reply.headers.get("ratelimit-reset")).toMatch(/^\d+$/);
    }
  });

  it("answers not_found, method_not_allowed and json_error in the envelope", async () => {
    expectError(await api("GET", "/nothing-here"), 404, "not_found");
    expectError(await api("PATCH", "/servers"), 405, "method_not_allowed");
    expectError(await call("POST", "/v1/servers", undefined, FAKE_HCLOUD_TOKEN, "{not json"), 400, "json_error");
  });
});

describe("servers", () => {
  it("creates a server whose actions run and then succeed, and which starts running", async () => {
    const created = await createServer({ labels: { app: "web" } });
    expect(Object.keys(created).sort()).toEqual(["action", "next_actions", "root_password", "server"]);
    const { server, action, next_actions: next } = created;
    expect(server).toMatchObject({
      id: expect.any(Number),
      status: "initializing",
      labels: { app: "web" },
      server_type: { name: "cpx22", architecture: "x86" },
      location: { name: "fsn1", network_zone: "eu-central" },
      datacenter: { location: { name: "fsn1" } },
      image: { name: "debian-12", type: "system", architecture: "x86" },
      protection: { delete: false, rebuild: false },
      private_net: [],
      placement_group: null,
    });
    expect(server.created).toMatch(ISO);
    expect(server.public_net.ipv4.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(action).toEqual({
      id: expect.any(Number),
      command: "create_server",
      status: "running",
      // Grows from 0 with the fake's clock: a loaded machine answers a few ms in.
      progress: expect.any(Number),
      started: expect.stringMatching(ISO),
      finished: null,
      resources: [{ id: server.id, type: "server" }],
      error: null,
    });
    expect(action.progress).toBeGreaterThanOrEqual(0);
    expect(action.progress).toBeLessThan(100);
    expect(next).toHaveLength(1);
    expect(next[0]).toMatchObject({ command: "start_server", status: "running", resources: [{ id: server.id, type: "server" }] });
    // No SSH key: Hetzner generates a root password.
    expect(created.root_password).toEqual(expect.any(String));

    const done = await waitForAction(action.id);
    expect(done).toMatchObject({ status: "success", progress: 100, error: null, finished: expect.stringMatching(ISO) });
    expect((await waitForAction(next[0].id)).status).toBe("success");
    const fetched = await api("GET", `/servers/${server.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.json.server).toMatchObject({ id: server.id, name: server.name, status: "running" });
  });

  it.skipIf(!hasFixtures)("answers the shapes of Hetzner's published examples", async () => {
    const example = fixture("post_servers_201.official-spec.json");
    const created = await createServer();
    expect(Object.keys(created).sort()).toEqual(Object.keys(example).sort());
    for (const key of Object.keys(example.server)) expect(created.server, `server.${key}`).toHaveProperty(key);
    for (const key of Object.keys(example.server.public_net)) expect(created.server.public_net).toHaveProperty(key);
    for (const key of Object.keys(example.server.server_type)) expect(created.server.server_type).toHaveProperty(key);
    for (const key of Object.keys(example.action)) expect(created.action).toHaveProperty(key);
    const action = fixture("get_action_200.docs-sample.json");
    const fetched = await api("GET", `/actions/${created.action.id}`);
    expect(Object.keys(fetched.json.action).sort()).toEqual(Object.keys(action.action).sort());
    const image = fixture("create_image_201.official-spec.json");
    const snapshot = await api("POST", `/servers/${created.server.id}/actions/create_image`, { description: "x" });
    expect(snapshot.status).toBe(423); // still initializing: locked
    await waitForAction(created.next_actions[0].id);
    const made = await api("POST", `/servers/${created.server.id}/actions/create_image`, { description: "x" });
    expect(made.status, made.text).toBe(201);
    expect(Object.keys(made.json.image).sort()).toEqual(Object.keys(image.image).sort());
    const group = fixture("post_placement_groups_201.official-spec.json");
    const pg = await api("POST", "/placement_groups", { name: unique("pg"), type: "spread" });
    expect(Object.keys(pg.json.placement_group).sort()).toEqual(Object.keys(group.placement_group).sort());
    const error = fixture("error_4xx.official-spec.json");
    expect(Object.keys((await call("GET", "/v1/servers", undefined, null)).json.error).sort()).toEqual(Object.keys(error.error).sort());
  });

  it("lists by name, gets by id, answers not_found, and deletes through a delete_server action", async () => {
    const { server } = await createServer();
    const listed = await api("GET", `/servers?name=${server.name}`);
    expect(listed.json.servers.map((item: any) => item.id)).toEqual([server.id]);
    expect(listed.json.meta.pagination).toMatchObject({ page: 1, per_page: 25, total_entries: 1, last_page: 1, previous_page: null, next_page: null });
    expectError(await api("GET", "/servers/987654321"), 404, "not_found");

    const deleted = await api("DELETE", `/servers/${server.id}`);
    expect(deleted.status).toBe(200);
    expect(Object.keys(deleted.json)).toEqual(["action"]);
    expect(deleted.json.action).toMatchObject({ command: "delete_server", status: "running", resources: [{ id: server.id, type: "server" }] });
    expect((await api("GET", `/servers/${server.id}`)).json.server.status).toBe("deleting");
    expectError(await api("DELETE", `/servers/${server.id}`), 423, "locked");
    expect((await waitForAction(deleted.json.action.id)).status).toBe("success");
    expectError(await api("GET", `/servers/${server.id}`), 404, "not_found");
    expect((await api("GET", `/servers?name=${server.name}`)).json.servers).toEqual([]);
  });

  it("answers 409 uniqueness_error for a name already used", async () => {
    const { server } = await createServer();
    const again = await api("POST", "/servers", { name: server.name, server_type: "cpx22", image: "debian-12" });
    expect(expectError(again, 409, "uniqueness_error").details).toEqual({ fields: [{ name: "name" }] });
    expect((await api("GET", `/servers?name=${server.name}`)).json.servers).toHaveLength(1);
  });

  it("answers 422 invalid_input naming the field for unknown references and bad input", async () => {
    const base = { name: unique("bad"), server_type: "cpx22", image: "debian-12" };
    const cases: [Record<string, unknown>, string][] = [
      [{ image: "no-such-image" }, "image"],
      [{ image: 99999999 }, "image"],
      [{ server_type: "cx999" }, "server_type"],
      [{ location: "mars1" }, "location"],
      [{ name: "not_a_hostname" }, "name"],
      [{ name: undefined }, "name"],
      [{ labels: { "hetzner.cloud/x": "y" } }, "labels"],
      [{ ssh_keys: ["no-such-key"] }, "ssh_keys"],
      [{ networks: [123456789] }, "networks"],
      [{ user_data: "x".repeat(32 * 1024 + 1) }, "user_data"],
    ];
    for (const [override, field] of cases) {
      const error = expectError(await api("POST", "/servers", { ...base, ...override }), 422, "invalid_input");
      expect(error.details.fields.map((item: any) => item.name), JSON.stringify(override)).toContain(field);
      expect(error.message).toContain(`'${field}'`);
    }
    const arm = expectError(await api("POST", "/servers", { ...base, server_type: "cax11", location: "ash" }), 422, "invalid_input");
    expect(arm.message).toContain("unsupported location for server type");
  });

  it("picks the image of the server type's architecture and honours start_after_create: false", async () => {
    const created = await createServer({ server_type: "cax11", image: "ubuntu-24.04", start_after_create: false });
    expect(created.server.image).toMatchObject({ name: "ubuntu-24.04", architecture: "arm" });
    expect(created.next_actions).toEqual([]);
    await waitForAction(created.action.id);
    expect((await api("GET", `/servers/${created.server.id}`)).json.server.status).toBe("off");
  });

  it("locks a server while an action runs, and powers it off through stop_server", async () => {
    const created = await createServer();
    expectError(await api("POST", `/servers/${created.server.id}/actions/poweroff`), 423, "locked");
    await waitForAction(created.next_actions[0].id);
    const off = await api("POST", `/servers/${created.server.id}/actions/poweroff`);
    expect(off.status, off.text).toBe(201);
    expect(off.json.action).toMatchObject({ command: "stop_server", status: "running", resources: [{ id: created.server.id, type: "server" }] });
    await waitForAction(off.json.action.id);
    expect((await api("GET", `/servers/${created.server.id}`)).json.server.status).toBe("off");
  });

  it("keeps user_data out of the API and shows it through GET /__fake/servers", async () => {
    const run = unique("ud");
    const userData = "#cloud-config\nruncmd:\n- [touch, /root/ok]\n";
    const created = await createServer({ labels: { run }, user_data: userData });
    expect(created.server).not.toHaveProperty("user_data");
    expect((await api("GET", `/servers/${created.server.id}`)).json.server).not.toHaveProperty("user_data");
    const listed = await control("GET", `/servers?label_selector=${encodeURIComponent(`run=${run}`)}`);
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual([
      expect.objectContaining({ id: created.server.id, name: created.server.name, labels: { run }, status: expect.any(String), created: expect.stringMatching(ISO), user_data: userData }),
    ]);
  });

  it("creates a snapshot image from a server through create_image", async () => {
    const created = await createServer();
    await waitForAction(created.next_actions[0].id);
    const reply = await api("POST", `/servers/${created.server.id}/actions/create_image`, { description: "nightly", labels: { kind: "backup-test" } });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.json.image).toMatchObject({
      type: "snapshot",
      status: "creating",
      name: null,
      description: "nightly",
      created_from: { id: created.server.id, name: created.server.name },
      labels: { kind: "backup-test" },
    });
    expect(reply.json.action).toMatchObject({ command: "create_image", status: "running", resources: [{ id: created.server.id, type: "server" }] });
    await waitForAction(reply.json.action.id);
    expect((await api("GET", `/images/${reply.json.image.id}`)).json.image.status).toBe("available");
  });
});

describe("label selectors, sorting and pagination", () => {
  const run = unique("sel");
  const roles = ["web", "web", "db", undefined, "cache"];
  let names: string[] = [];

  async function seed(): Promise<void> {
    if (names.length > 0) return;
    for (const [index, role] of roles.entries()) {
      const name = `${run}-${index}`;
      await createServer({ name, labels: { run, ...(role ? { role } : {}) }, start_after_create: false });
      names.push(name);
    }
  }
  const select = async (selector: string, extra = "") => {
    const reply = await api("GET", `/servers?label_selector=${encodeURIComponent(selector)}${extra}`);
    expect(reply.status, reply.text).toBe(200);
    return reply;
  };
  const namesOf = (reply: Reply) => reply.json.servers.map((server: any) => server.name).sort();

  it("supports k=v, k==v, k!=v, k, !k, in and notin, joined with commas", async () => {
    await seed();
    const at = (...indexes: number[]) => indexes.map((index) => names[index]).sort();
    expect(namesOf(await select(`run=${run}`))).toEqual(at(0, 1, 2, 3, 4));
    expect(namesOf(await select(`run==${run},role=web`))).toEqual(at(0, 1));
    expect(namesOf(await select(`run=${run},role!=web`))).toEqual(at(2, 3, 4));
    expect(namesOf(await select(`run=${run},role`))).toEqual(at(0, 1, 2, 4));
    expect(namesOf(await select(`run=${run},!role`))).toEqual(at(3));
    expect(namesOf(await select(`run=${run},role in (db,cache)`))).toEqual(at(2, 4));
    expect(namesOf(await select(`run=${run},role notin (web)`))).toEqual(at(2, 3, 4));
    expectError(await api("GET", `/servers?label_selector=${encodeURIComponent("run=(")}`), 422, "invalid_input");
  });

  it("paginates with meta.pagination and a Link header, and sorts", async () => {
    await seed();
    const first = await select(`run=${run}`, "&per_page=2&sort=name:asc");
    expect(first.json.meta.pagination).toEqual({ page: 1, per_page: 2, previous_page: null, next_page: 2, last_page: 3, total_entries: 5 });
    expect(first.json.servers.map((server: any) => server.name)).toEqual([names[0], names[1]]);
    expect(first.headers.get("link")).toContain('rel="next"');
    expect(first.headers.get("link")).toContain("page=2");
    const last = await select(`run=${run}`, "&per_page=2&page=3&sort=name:asc");
    expect(last.json.meta.pagination).toEqual({ page: 3, per_page: 2, previous_page: 2, next_page: null, last_page: 3, total_entries: 5 });
    expect(last.json.servers.map((server: any) => server.name)).toEqual([names[4]]);
    const descending = await select(`run=${run}`, "&sort=name:desc");
    expect(descending.json.servers.map((server: any) => server.name)).toEqual([...names].reverse());
    expect(descending.json.meta.pagination.per_page).toBe(25);
    expect((await select(`run=${run}`, "&per_page=500")).json.meta.pagination.per_page).toBe(50);
    expectError(await api("GET", "/servers?sort=colour"), 422, "invalid_input");
    expectError(await api("GET", "/servers?page=0"), 422, "invalid_input");
  });
});

describe("actions", () => {
  it("answers several actions by id in one request, and refuses to list all", async () => {
    const a = await createServer();
    const b = await createServer();
    const reply = await api("GET", `/actions?id=${a.action.id}&id=${b.action.id}&id=987654321`);
    expect(reply.status).toBe(200);
    expect(reply.json.actions.map((action: any) => action.id).sort((x: number, y: number) => x - y)).toEqual([a.action.id, b.action.id].sort((x, y) => x - y));
    expect(reply.json.meta.pagination).toMatchObject({ total_entries: 2, page: 1 });
    expect(expectError(await api("GET", "/actions"), 410, "deprecated_api_endpoint").details).toEqual({ announcement: expect.stringContaining("changelog") });
    expectError(await api("GET", "/actions?id=abc"), 422, "invalid_input");
    expectError(await api("GET", "/actions/987654321"), 404, "not_found");
  });

  it("pages the actions asked for by id like any list: 25 by default, at most 50", async () => {
    const run = unique("paged");
    const ids: number[] = [];
    for (let index = 0; index < 30; index += 1) ids.push((await createServer({ name: `${run}-${index}`, start_after_create: false })).action.id);
    const query = ids.map((id) => `id=${id}`).join("&");
    const first = await api("GET", `/actions?${query}`);
    expect(first.json.actions.map((action: any) => action.id)).toEqual(ids.slice(0, 25));
    expect(first.json.meta.pagination).toEqual({ page: 1, per_page: 25, previous_page: null, next_page: 2, last_page: 2, total_entries: 30 });
    expect(first.headers.get("link")).toContain('rel="next"');
    const second = await api("GET", `/actions?${query}&page=2`);
    expect(second.json.actions.map((action: any) => action.id)).toEqual(ids.slice(25));
    expect(second.json.meta.pagination).toMatchObject({ page: 2, next_page: null });
    const wide = await api("GET", `/actions?${query}&per_page=500`);
    expect(wide.json.meta.pagination).toMatchObject({ per_page: 50, next_page: null, total_entries: 30 });
    expect(wide.json.actions).toHaveLength(30);
  });
});

describe("images", () => {
  it("keeps a seeded snapshot creating until its time comes, or for good without one", async () => {
    const app = unique("creating");
    const later = await control("POST", "/images", { description: "later", labels: { app }, status: "creating", availableAfterSeconds: 60 });
    expect(later.status, later.text).toBe(201);
    expect(later.json.image).toMatchObject({ status: "creating", image_size: null });
    const stuck = (await control("POST", "/images", { description: "stuck", labels: { app }, status: "creating" })).json.image;
    const listed = async (status: string) =>
      (await api("GET", `/images?type=snapshot&status=${status}&label_selector=${encodeURIComponent(`app=${app}`)}`)).json.images.map((image: any) => image.description).sort();
    expect(await listed("creating")).toEqual(["later", "stuck"]);
    expect(await listed("available")).toEqual([]);
    await advance(61);
    expect((await api("GET", `/images/${later.json.image.id}`)).json.image.status).toBe("available");
    expect((await api("GET", `/images/${stuck.id}`)).json.image.status).toBe("creating");
    expect(await listed("available")).toEqual(["later"]);
    expect((await control("POST", "/images", { description: "bad", status: "deleted" })).status).toBe(400);
  });

  it("lists system images by type, name and architecture", async () => {
    const debian = await api("GET", "/images?type=system&name=debian-12");
    expect(debian.json.images.map((image: any) => image.architecture).sort()).toEqual(["arm", "x86"]);
    const x86 = await api("GET", "/images?type=system&name=debian-12&architecture=x86");
    expect(x86.json.images).toHaveLength(1);
    expect(x86.json.images[0]).toMatchObject({ type: "system", status: "available", os_flavor: "debian", os_version: "12", labels: {} });
  });

  it("lists seeded snapshots filtered by type and label and sorted by created", async () => {
    const app = unique("img");
    const seeds = [
      { description: "january", created: "2024-01-01T03:00:00Z" },
      { description: "march", created: "2024-03-01T03:00:00Z" },
      { description: "february", created: "2024-02-01T03:00:00Z" },
    ];
    for (const seed of seeds) {
      const reply = await control("POST", "/images", { ...seed, labels: { app } });
      expect(reply.status, reply.text).toBe(201);
      expect(reply.json.image).toMatchObject({ type: "snapshot", status: "available", created: seed.created, labels: { app } });
    }
    await control("POST", "/images", { description: "other", labels: { app: `${app}-other` } });
    const selector = encodeURIComponent(`app=${app}`);
    const newest = await api("GET", `/images?type=snapshot&label_selector=${selector}&sort=created:desc`);
    expect(newest.json.images.map((image: any) => image.description)).toEqual(["march", "february", "january"]);
    const oldest = await api("GET", `/images?type=snapshot&label_selector=${selector}&sort=created`);
    expect(oldest.json.images.map((image: any) => image.description)).toEqual(["january", "february", "march"]);
    expect((await api("GET", `/images?type=system&label_selector=${selector}`)).json.images).toEqual([]);

    const doomed = newest.json.images[0].id;
    expect((await api("DELETE", `/images/${doomed}`)).status).toBe(204);
    expectError(await api("GET", `/images/${doomed}`), 404, "not_found");
    const system = (await api("GET", "/images?type=system&name=debian-12")).json.images[0].id;
    expectError(await api("DELETE", `/images/${system}`), 422, "unsupported_error");
  });
});

describe("rate limiting", () => {
  it("reports the bucket in RateLimit-* headers and answers 429 when it is empty", async () => {
    try {
      expect((await control("POST", "/rate-limit", { remaining: 5 })).json.remaining).toBe(5);
      const reply = await api("GET", "/locations");
      expect(reply.status).toBe(200);
      expect(reply.headers.get("ratelimit-limit")).toBe("3600");
      expect(reply.headers.get("ratelimit-remaining")).toBe("4");
      const reset = Number(reply.headers.get("ratelimit-reset"));
      // The fake's clock: other tests move it forward.
      const nowSeconds = (await advance(0)) / 1000;
      // The bucket refills one request per second: full again in about 3600 - 4 seconds.
      expect(reset).toBeGreaterThan(nowSeconds + 3590);
      expect(reset).toBeLessThan(nowSeconds + 3600 + 5);

      await control("POST", "/rate-limit", { remaining: 0 });
      for (const token of [FAKE_HCLOUD_TOKEN, null]) {
        const limited = await call("GET", "/v1/locations", undefined, token);
        expectError(limited, 429, "rate_limit_exceeded");
        expect(limited.json.error.message).toBe("limit of 3600 requests per hour reached");
        expect(limited.headers.get("ratelimit-remaining")).toBe("0");
        expect(Number(limited.headers.get("ratelimit-reset"))).toBeGreaterThan(nowSeconds + 3590);
      }
    } finally {
      await control("POST", "/rate-limit", { remaining: 3600 });
    }
    expect((await api("GET", "/locations")).status).toBe(200);
  });

  it("gives one request back per second, while RateLimit-Reset stays about an hour away", async () => {
    try {
      await control("POST", "/rate-limit", { remaining: 0 });
      const limited = await api("GET", "/locations");
      expect(limited.status).toBe(429);
      const now = await advance(0);
      // The whole bucket is back only after 3600 refills of a second each.
      expect(Number(limited.headers.get("ratelimit-reset")) - now / 1000).toBeGreaterThan(3590);
      await advance(1);
      const passed = await api("GET", "/locations");
      expect(passed.status, passed.text).toBe(200);
      expect(passed.headers.get("ratelimit-remaining")).toBe("0");
      expect((await api("GET", "/locations")).status).toBe(429);
      await advance(3);
      expect((await api("GET", "/locations")).headers.get("ratelimit-remaining")).toBe("2");
    } finally {
      await control("POST", "/rate-limit", { remaining: 3600 });
    }
  });

  it("refills a smaller hourly limit more slowly: limit/3600 requests per second", async () => {
    try {
      await control("POST", "/rate-limit", { limit: 360, remaining: 0 });
      await advance(9);
      expect((await api("GET", "/locations")).status).toBe(429);
      await advance(1);
      const passed = await api("GET", "/locations");
      expect(passed.status, passed.text).toBe(200);
      expect(passed.headers.get("ratelimit-limit")).toBe("360");
      // 360 refills of 10 s each.
      expect(Number(passed.headers.get("ratelimit-reset")) - (await advance(0)) / 1000).toBeGreaterThan(3590);
    } finally {
      await control("POST", "/rate-limit", { limit: 3600, remaining: 3600 });
    }
  });
});

describe("shutdown (ACPI)", () => {
  const running = async () => {
    const created = await createServer();
    await waitForAction(created.next_actions[0].id);
    return created.server as { id: number; name: string };
  };
  const status = async (id: number) => (await api("GET", `/servers/${id}`)).json.server.status;

  it("succeeds once the signal is sent; the server goes off only when its guest has stopped", async () => {
    const server = await running();
    await control("POST", "/acpi", { name: `^${server.name}$`, shutdownSeconds: 30 });
    const reply = await api("POST", `/servers/${server.id}/actions/shutdown`);
    expect(reply.status, reply.text).toBe(201);
    expect(reply.json.action).toMatchObject({ command: "shutdown_server", status: "running", resources: [{ id: server.id, type: "server" }] });
    expect(await waitForAction(reply.json.action.id)).toMatchObject({ status: "success" });
    expect(await status(server.id)).toBe("running");
    await advance(31);
    expect(await status(server.id)).toBe("off");
  });

  it("never goes off when the guest ignores ACPI, until it is powered off", async () => {
    const server = await running();
    await control("POST", "/acpi", { name: `^${server.name}$`, ignore: true });
    const shutdown = await api("POST", `/servers/${server.id}/actions/shutdown`);
    expect(await waitForAction(shutdown.json.action.id)).toMatchObject({ status: "success" });
    await advance(3600);
    expect(await status(server.id)).toBe("running");
    const off = await api("POST", `/servers/${server.id}/actions/poweroff`);
    expect(off.json.action.command).toBe("stop_server");
    await waitForAction(off.json.action.id);
    expect(await status(server.id)).toBe("off");
    expect((await control("GET", "/acpi")).json).toEqual(expect.arrayContaining([expect.objectContaining({ name: `^${server.name}$`, ignore: true })]));
  });

  it("goes off acpiShutdownMs after the signal when no rule matches", async () => {
    const server = await running();
    const shutdown = await api("POST", `/servers/${server.id}/actions/shutdown`);
    await waitForAction(shutdown.json.action.id);
    await advance(1);
    expect(await status(server.id)).toBe("off");
  });
});

describe("faults", () => {
  const kinds: [string, number, string][] = [
    ["resource_limit_exceeded", 403, "quota"],
    ["resource_unavailable", 412, "capacity"],
    ["placement_error", 422, "placement"],
    ["locked", 423, "locked"],
    ["conflict", 409, "conflict"],
    ["timeout", 504, "timeout"],
    ["unavailable", 503, "unavailable"],
  ];
  it.each(kinds)("answers %s with status %i (%s) for the next matching request only", async (code, status) => {
    const name = unique("fault");
    const armed = await control("POST", "/faults", { method: "POST", path: "^/v1/servers$", body: `"name":"${name}"`, code });
    expect(armed.status).toBe(201);
    const body = { name, server_type: "cpx22", image: "debian-12" };
    const error = expectError(await api("POST", "/servers", body), status, code);
    if (code === "resource_limit_exceeded") expect(error.details).toEqual({ limits: [{ name: "project_limit" }] });
    expect((await api("POST", "/servers", body)).status).toBe(201);
  });

  it("honours count, an explicit status and the path without /v1", async () => {
    const { server } = await createServer();
    await control("POST", "/faults", { path: `^/servers/${server.id}$`, status: 500, code: "server_error", count: 2 });
    expectError(await api("GET", `/servers/${server.id}`), 500, "server_error");
    expectError(await api("GET", `/servers/${server.id}`), 500, "server_error");
    expect((await api("GET", `/servers/${server.id}`)).status).toBe(200);
  });

  it("answers a 429 fault with RateLimit-Remaining 0", async () => {
    const { server } = await createServer();
    await control("POST", "/faults", { method: "GET", path: `^/v1/servers/${server.id}$`, status: 429, code: "rate_limit_exceeded" });
    const limited = await api("GET", `/servers/${server.id}`);
    expectError(limited, 429, "rate_limit_exceeded");
    expect(limited.headers.get("ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
  });

  it("makes the actions of a request end in error with actionError", async () => {
    const name = unique("acterr");
    await control("POST", "/faults", { method: "POST", path: "^/v1/servers$", body: `"name":"${name}"`, code: "action_failed", message: "Action failed", actionError: true });
    const created = await api("POST", "/servers", { name, server_type: "cpx22", image: "debian-12" });
    expect(created.status).toBe(201);
    expect(created.json.action.status).toBe("running");
    const failed = await waitForAction(created.json.action.id);
    expect(failed).toMatchObject({ status: "error", error: { code: "action_failed", message: "Action failed" }, finished: expect.stringMatching(ISO) });
    expect((await waitForAction(created.json.next_actions[0].id)).status).toBe("error");
    expect((await api("GET", `/servers/${created.json.server.id}`)).json.server.status).toBe("off");
  });
});

describe("networks, firewalls, placement groups, SSH keys and volumes", () => {
  it("creates networks with subnets, attaches servers and deletes them", async () => {
    const name = unique("net");
    const created = await api("POST", "/networks", {
      name,
      ip_range: "10.0.0.0/16",
      labels: { net: name },
      subnets: [
        { type: "cloud", network_zone: "eu-central", ip_range: "10.0.1.0/24" },
        { type: "cloud", network_zone: "us-east" },
      ],
    });
    expect(created.status, created.text).toBe(201);
    const network = created.json.network;
    expect(network).toMatchObject({
      id: expect.any(Number),
      name,
      ip_range: "10.0.0.0/16",
      subnets: [
        { type: "cloud", ip_range: "10.0.1.0/24", network_zone: "eu-central", gateway: "10.0.0.1" },
        { type: "cloud", ip_range: "10.0.0.0/24", network_zone: "us-east", gateway: "10.0.0.1" },
      ],
      routes: [],
      servers: [],
      protection: { delete: false },
      labels: { net: name },
      created: expect.stringMatching(ISO),
    });
    expect(expectError(await api("POST", "/networks", { name, ip_range: "10.1.0.0/16" }), 409, "uniqueness_error").details).toEqual({ fields: [{ name: "name" }] });
    expectError(await api("POST", "/networks", { name: unique("net"), ip_range: "8.8.0.0/16" }), 422, "invalid_input");
    expect((await api("GET", `/networks?label_selector=${encodeURIComponent(`net=${name}`)}`)).json.networks).toHaveLength(1);

    const { server } = await createServer({ networks: [network.id] });
    expect(server.private_net).toEqual([{ network: network.id, ip: expect.stringMatching(/^10\.0\.1\.\d+$/), alias_ips: [], mac_address: expect.any(String) }]);
    expect((await api("GET", `/networks/${network.id}`)).json.network.servers).toEqual([server.id]);
    expectError(await api("POST", "/servers", { name: unique("srv"), server_type: "cpx22", image: "debian-12", location: "sin", networks: [network.id] }), 422, "no_subnet_available");

    expect((await api("DELETE", `/networks/${network.id}`)).status).toBe(204);
    expect((await api("GET", `/servers/${server.id}`)).json.server.private_net).toEqual([]);
    expectError(await api("GET", `/networks/${network.id}`), 404, "not_found");
  });

  it("creates firewalls with rules applied to servers, refuses to delete one in use, and removes it", async () => {
    const { server, next_actions: next } = await createServer();
    await waitForAction(next[0].id);
    const name = unique("fw");
    const created = await api("POST", "/firewalls", {
      name,
      labels: { fw: name },
      rules: [
        { direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0", "::/0"], description: "ssh" },
        { direction: "in", protocol: "icmp", source_ips: ["0.0.0.0/0"] },
      ],
      apply_to: [{ type: "server", server: { id: server.id } }],
    });
    expect(created.status, created.text).toBe(201);
    const firewall = created.json.firewall;
    expect(firewall.rules).toEqual([
      { description: "ssh", direction: "in", source_ips: ["0.0.0.0/0", "::/0"], destination_ips: [], protocol: "tcp", port: "22" },
      { description: null, direction: "in", source_ips: ["0.0.0.0/0"], destination_ips: [], protocol: "icmp", port: null },
    ]);
    expect(firewall.applied_to).toEqual([{ type: "server", server: { id: server.id } }]);
    expect(created.json.actions.map((action: any) => action.command)).toEqual(["set_firewall_rules", "apply_firewall"]);
    for (const action of created.json.actions) await waitForAction(action.id);
    expect((await api("GET", `/servers/${server.id}`)).json.server.public_net.firewalls).toEqual([{ id: firewall.id, status: "applied" }]);

    expectError(await api("POST", "/firewalls", { name: unique("fw"), rules: [{ direction: "in", protocol: "tcp", source_ips: ["0.0.0.0/0"] }] }), 422, "invalid_input");
    expectError(await api("POST", "/firewalls", { name }), 409, "uniqueness_error");
    expectError(await api("DELETE", `/firewalls/${firewall.id}`), 422, "resource_in_use");
    const removed = await api("POST", `/firewalls/${firewall.id}/actions/remove_from_resources`, { remove_from: [{ type: "server", server: { id: server.id } }] });
    expect(removed.status, removed.text).toBe(201);
    expect(removed.json.actions.map((action: any) => action.command)).toEqual(["remove_firewall"]);
    await waitForAction(removed.json.actions[0].id);
    expect((await api("DELETE", `/firewalls/${firewall.id}`)).status).toBe(204);
  });

  it("creates spread placement groups and places servers in them", async () => {
    const name = unique("pg");
    const created = await api("POST", "/placement_groups", { name, type: "spread", labels: { pg: name } });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toEqual({ placement_group: { id: expect.any(Number), name, labels: { pg: name }, type: "spread", created: expect.stringMatching(ISO), servers: [] } });
    const group = created.json.placement_group;
    expectError(await api("POST", "/placement_groups", { name: unique("pg"), type: "cluster" }), 422, "invalid_input");
    expectError(await api("POST", "/placement_groups", { name, type: "spread" }), 409, "uniqueness_error");
    const { server } = await createServer({ placement_group: group.id });
    expect(server.placement_group).toMatchObject({ id: group.id, servers: [server.id] });
    const listed = await api("GET", `/placement_groups?type=spread&name=${name}`);
    expect(listed.json.placement_groups).toEqual([expect.objectContaining({ id: group.id, servers: [server.id] })]);
    expect((await api("DELETE", `/placement_groups/${group.id}`)).status).toBe(204);
    expectError(await api("GET", `/placement_groups/${group.id}`), 404, "not_found");
  });

  it("creates SSH keys with the MD5 fingerprint and keeps names and fingerprints unique", async () => {
    const { publicKey, fingerprint } = sshPublicKey();
    const name = unique("key");
    const created = await api("POST", "/ssh_keys", { name, public_key: publicKey, labels: { key: name } });
    expect(created.status, created.text).toBe(201);
    expect(created.json.ssh_key).toEqual({ id: expect.any(Number), name, fingerprint, public_key: publicKey, labels: { key: name }, created: expect.stringMatching(ISO) });
    expect(fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    expect(expectError(await api("POST", "/ssh_keys", { name, public_key: sshPublicKey().publicKey }), 409, "uniqueness_error").details).toEqual({ fields: [{ name: "name" }] });
    expect(expectError(await api("POST", "/ssh_keys", { name: unique("key"), public_key: publicKey }), 409, "uniqueness_error").details).toEqual({
      fields: [{ name: "public_key" }],
    });
    expectError(await api("POST", "/ssh_keys", { name: unique("key"), public_key: "ssh-ed25519 not-base64!" }), 422, "invalid_input");
    expect((await api("GET", `/ssh_keys?fingerprint=${fingerprint}`)).json.ssh_keys.map((key: any) => key.name)).toEqual([name]);

    const withKey = await createServer({ ssh_keys: [name] });
    expect(withKey.root_password).toBeNull();
    expect((await api("DELETE", `/ssh_keys/${created.json.ssh_key.id}`)).status).toBe(204);
  });

  it("creates volumes through create_volume, attaches them and refuses to delete attached ones", async () => {
    const name = unique("vol");
    const created = await api("POST", "/volumes", { name, size: 10, location: "nbg1", format: "ext4", labels: { vol: name } });
    expect(created.status, created.text).toBe(201);
    expect(created.json.volume).toMatchObject({
      name,
      size: 10,
      server: null,
      status: "creating",
      format: "ext4",
      location: { name: "nbg1" },
      linux_device: `/dev/disk/by-id/scsi-0HC_Volume_${created.json.volume.id}`,
      protection: { delete: false },
      labels: { vol: name },
    });
    expect(created.json.action).toMatchObject({ command: "create_volume", status: "running" });
    expect(created.json.next_actions).toEqual([]);
    await waitForAction(created.json.action.id);
    expect((await api("GET", `/volumes/${created.json.volume.id}`)).json.volume.status).toBe("available");
    expectError(await api("POST", "/volumes", { name: unique("vol"), size: 5, location: "nbg1" }), 422, "invalid_input");
    expectError(await api("POST", "/volumes", { name: unique("vol"), size: 10 }), 422, "invalid_input");
    expectError(await api("POST", "/volumes", { name, size: 10, location: "nbg1" }), 409, "uniqueness_error");
    expect((await api("DELETE", `/volumes/${created.json.volume.id}`)).status).toBe(204);

    const { server } = await createServer();
    const attached = await api("POST", "/volumes", { name: unique("vol"), size: 20, server: server.id, automount: true });
    expect(attached.status, attached.text).toBe(201);
    expect(attached.json.volume).toMatchObject({ server: server.id, location: { name: "fsn1" } });
    expect(attached.json.next_actions.map((action: any) => action.command)).toEqual(["attach_volume"]);
    expect((await api("GET", `/servers/${server.id}`)).json.server.volumes).toEqual([attached.json.volume.id]);
    await waitForAction(attached.json.action.id);
    const stillAttached = expectError(await api("DELETE", `/volumes/${attached.json.volume.id}`), 422, "service_error");
    expect(stillAttached.message).toContain("still attached");
    const detach = await api("POST", `/volumes/${attached.json.volume.id}/actions/detach`);
    expect(detach.status, detach.text).toBe(201);
    expect(detach.json.action.command).toBe("detach_volume");
    await waitForAction(detach.json.action.id);
    expect((await api("DELETE", `/volumes/${attached.json.volume.id}`)).status).toBe(204);
  });

  it("lists server types and locations", async () => {
    const types = await api("GET", "/server_types");
    expect(types.json.server_types.map((type: any) => type.name)).toEqual(expect.arrayContaining(["cpx22", "cax11", "ccx13"]));
    const arm = await api("GET", "/server_types?name=cax11");
    expect(arm.json.server_types).toEqual([expect.objectContaining({ name: "cax11", architecture: "arm", cores: 2, cpu_type: "shared", prices: expect.any(Array) })]);
    expect((await api("GET", `/server_types/${arm.json.server_types[0].id}`)).json.server_type.name).toBe("cax11");
    const locations = await api("GET", "/locations");
    expect(locations.json.locations).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: "fsn1", country: "DE", network_zone: "eu-central" }), expect.objectContaining({ name: "ash", network_zone: "us-east" })]),
    );
    expect(locations.json.meta.pagination.total_entries).toBe(locations.json.locations.length);
    expect((await api("GET", "/locations/1")).json.location.name).toBe("fsn1");
  });
});

describe("controls", () => {
  it("logs requests with method, path, query, body and time", async () => {
    const { server } = await createServer();
    await api("GET", `/servers/${server.id}?foo=bar`);
    const logged = await control("GET", `/requests?path=${encodeURIComponent(`^/v1/servers/${server.id}$`)}`);
    expect(logged.json).toEqual([{ method: "GET", path: `/v1/servers/${server.id}`, query: { foo: "bar" }, at: expect.any(Number) }]);
    const posts = await control("GET", `/requests?method=POST&path=${encodeURIComponent("^/v1/servers$")}`);
    expect(posts.json.some((request: any) => request.body?.name === server.name)).toBe(true);
  });

  it("finishes actions when the clock advances", async () => {
    const created = await createServer();
    const moved = await control("POST", "/clock", { advanceSeconds: 5 });
    expect(moved.status).toBe(200);
    const action = await api("GET", `/actions/${created.action.id}`);
    expect(action.json.action.status).toBe("success");
    expect((await api("GET", `/servers/${created.server.id}`)).json.server.status).toBe("running");
  });
});
