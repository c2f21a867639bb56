// The secrets API's operator reads (history, token list), DELETE of a set, reserved path words,
// a ciphertext moved to another app, and the error log of a refused value (without the value).
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fetchWith } from "./support/faults";

const base = "http://edge/api/secrets";
const call = (token: string, path: string, init: { method?: string; json?: unknown } = {}) =>
  fetchWith({}, `${base}${path}`, {
    method: init.method ?? (init.json === undefined ? "GET" : "PUT"),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
const sync = (path: string, init: { method?: string; json?: unknown } = {}) => call(env.SECRETS_SYNC_TOKEN, path, init);
const admin = (path: string, init: { method?: string; json?: unknown } = {}) => call(env.ADMIN_TOKEN, path, { method: init.json === undefined ? "GET" : "POST", ...init });

const random = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const value = () => `v-${crypto.randomUUID()}`;

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  for (const method of ["log", "info", "warn", "error"] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
});
afterEach(() => vi.restoreAllMocks());

async function issue(envName: string, app: string) {
  const response = await admin("/tokens", { json: { env: envName, app } });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; token: string };
}

async function currentKvKey(envName: string, app: string) {
  const row = await env.DB.prepare(
    "SELECT v.kv_key FROM secret_sets s JOIN secret_versions v ON v.env = s.env AND v.app = s.app AND v.version = s.current_version WHERE s.env = ? AND s.app = ?",
  )
    .bind(envName, app)
    .first<{ kv_key: string }>();
  return row!.kv_key;
}

describe("operators", () => {
  it("lists a set's history by names only, newest first, with rollbacks marked", async () => {
    const [envName, app, a, b] = [random("env"), random("app"), value(), value()];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: a } } });
    await sync(`/${envName}/${app}`, { json: { baseVersion: 1, values: { A: a, B: b } } });
    await admin(`/${envName}/${app}/rollback`, { json: { version: 1 } });
    const response = await admin(`/${envName}/${app}/history`);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const text = await response.text();
    expect(text).not.toContain(a);
    expect(text).not.toContain(b);
    const body = JSON.parse(text) as { versions: { version: number; actor: string; restoredFrom: number | null; keys: string[]; createdAt: string }[] };
    expect(body.versions.map(({ version, actor, restoredFrom, keys }) => ({ version, actor, restoredFrom, keys }))).toEqual([
      { version: 3, actor: "admin-token", restoredFrom: 1, keys: ["A"] },
      { version: 2, actor: "sync", restoredFrom: null, keys: ["A", "B"] },
      { version: 1, actor: "sync", restoredFrom: null, keys: ["A"] },
    ]);
    expect((await call(env.SECRETS_SYNC_TOKEN, `/${envName}/${app}/history`)).status).toBe(401);
  });

  it("lists tokens without the token or its hash, marks revoked ones, and audits issue and revoke", async () => {
    const [envName, app] = [random("env"), random("app")];
    const first = await issue(envName, app);
    const second = await issue(envName, app);
    expect((await admin(`/tokens/${first.id}`, { method: "DELETE" })).status).toBe(200);
    expect((await admin(`/tokens/${first.id}`, { method: "DELETE" })).status).toBe(404);
    const response = await admin(`/tokens?env=${envName}&app=${app}`);
    expect(response.status).toBe(200);
    const text = await response.text();
    for (const { token } of [first, second]) expect(text).not.toContain(token);
    const items = (JSON.parse(text) as { items: { id: string; env: string; app: string; revokedAt: string | null }[] }).items;
    const revoked = Object.fromEntries(items.map((item) => [item.id, item.revokedAt !== null]));
    expect(revoked).toEqual({ [first.id]: true, [second.id]: false });
    expect(items.every((item) => item.env === envName && item.app === app && !("tokenHash" in item) && !("token" in item))).toBe(true);
    expect((await call(env.SECRETS_SYNC_TOKEN, `/tokens?env=${envName}`)).status).toBe(401);
    expect((await admin("/tokens?env=Bad_Env")).status).toBe(400);
    const audit = await env.DB.prepare("SELECT action, actor, app FROM secret_audit WHERE env = ? ORDER BY id").bind(envName).all();
    expect(audit.results).toEqual([
      { action: "token.issue", actor: "admin-token", app },
      { action: "token.issue", actor: "admin-token", app },
      { action: "token.revoke", actor: "admin-token", app },
    ]);
  });
});

describe("sync", () => {
  it("DELETE makes a new, empty version that the manifest and app reads show", async () => {
    const [envName, app] = [random("env"), random("app")];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: value() } } });
    const deleted = await sync(`/${envName}/${app}`, { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ env: envName, app, version: 2 });
    const manifest = (await (await sync(`/${envName}/manifest`)).json()) as { apps: Record<string, unknown> };
    expect(manifest.apps[app]).toEqual({ version: 2, keys: {} });
    const { token } = await issue(envName, app);
    expect(await (await call(token, `/${envName}/${app}`)).json()).toEqual({ env: envName, app, version: 2, values: {} });
  });

  it("refuses the API's own path words as env or app names", async () => {
    expect((await sync(`/tokens/${random("app")}`, { json: { baseVersion: 0, values: {} } })).status).toBe(400);
    expect((await sync(`/${random("env")}/manifest`, { json: { baseVersion: 0, values: {} } })).status).toBe(400);
  });
});

describe("stored ciphertext", () => {
  it("a set copied to another app's entry does not open there, and the error log names no value", async () => {
    const [envName, source, target, secret, other] = [random("env"), random("app"), random("app"), value(), value()];
    await sync(`/${envName}/${source}`, { json: { baseVersion: 0, values: { A: secret } } });
    await sync(`/${envName}/${target}`, { json: { baseVersion: 0, values: { A: other } } });
    const sourceEntry = await env.SECRETS_KV.get(await currentKvKey(envName, source));
    await env.SECRETS_KV.put(await currentKvKey(envName, target), sourceEntry!);
    const { token } = await issue(envName, target);
    lines = [];
    const response = await call(token, `/${envName}/${target}`);
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain(secret);
    expect(text).not.toContain(other);
    const errors = lines.filter((line) => line.includes('"level":"error"'));
    expect(errors.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain(other);
      expect(line).not.toContain(token);
    }
  });
});
