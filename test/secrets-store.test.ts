// The secrets store through its HTTP API: sync (manifest HMACs, versions, 409 on a stale base,
// concurrent syncs), app reads scoped by token, rollback, tampering and moved ciphertext refused,
// master-key rotation and re-wrap, 503 naming the variable, and no value in plaintext anywhere.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { READS_PER_MINUTE } from "../workers/secrets/store";
import { fetchWith } from "./support/faults";

const base = "http://edge";
const sync = (path: string, init: { method?: string; json?: unknown } = {}, overrides: Partial<Env> = {}) =>
  fetchWith(overrides, `${base}/api/secrets${path}`, {
    method: init.method ?? (init.json === undefined ? "GET" : "PUT"),
    headers: { authorization: `Bearer ${env.SECRETS_SYNC_TOKEN}`, "content-type": "application/json" },
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
const admin = (path: string, json?: unknown, method = "POST", overrides: Partial<Env> = {}) =>
  fetchWith(overrides, `${base}/api/secrets${path}`, { method, headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" }, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
const read = (path: string, token: string | null, overrides: Partial<Env> = {}) =>
  fetchWith(overrides, `${base}/api/secrets${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });

const random = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const value = () => `v-${crypto.randomUUID()}`;
const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");

async function hmac(keyBase64: string, name: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", Uint8Array.from(atob(keyBase64), (char) => char.charCodeAt(0)), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${name}\0${text}`)));
}

/** Every page of a re-wrap pass (cursor to cursor); each answers 200. */
async function rewrapAll(overrides: Partial<Env>) {
  let cursor: string | undefined;
  for (;;) {
    const response = await admin("/rewrap", cursor === undefined ? {} : { cursor }, "POST", overrides);
    expect(response.status).toBe(200);
    const page = (await response.json()) as { nextCursor: string | null };
    if (page.nextCursor === null) return page;
    cursor = page.nextCursor;
  }
}

async function tokenFor(envName: string, app: string): Promise<{ id: string; token: string }> {
  const response = await admin("/tokens", { env: envName, app });
  expect(response.status).toBe(201);
  return response.json();
}

const logged: string[] = [];
beforeEach(() => {
  for (const method of ["log", "info", "warn", "error"] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(" ")));
});
afterEach(() => vi.restoreAllMocks());

describe("sync", () => {
  it("stores a set, reports HMACs under the env key, skips an unchanged set and removes names", async () => {
    const [envName, app, a, b] = [random("env"), random("app"), value(), value()];
    const first = await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: a, B: b } } });
    expect(first.headers.get("cache-control")).toBe("no-store");
    expect(await first.json()).toEqual({ env: envName, app, version: 1, changed: true });
    const manifest = (await (await sync(`/${envName}/manifest`)).json()) as { hmacKey: string; apps: Record<string, { version: number; keys: Record<string, string> }> };
    expect(manifest.apps[app]).toEqual({ version: 1, keys: { A: await hmac(manifest.hmacKey, "A", a), B: await hmac(manifest.hmacKey, "B", b) } });
    expect(await (await sync(`/${envName}/${app}`, { json: { baseVersion: 1, values: { A: a, B: b } } })).json()).toMatchObject({ version: 1, changed: false });
    expect(await (await sync(`/${envName}/${app}`, { json: { baseVersion: 1, values: { A: a } } })).json()).toMatchObject({ version: 2, changed: true });
    const after = (await (await sync(`/${envName}/manifest`)).json()) as typeof manifest;
    expect(Object.keys(after.apps[app]!.keys)).toEqual(["A"]);
  });

  it("refuses a stale base with 409, and of two concurrent syncs exactly one wins", async () => {
    const [envName, app] = [random("env"), random("app")];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: value() } } });
    const stale = await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: value() } } });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ currentVersion: 1 });
    const results = await Promise.all([1, 2, 3].map(() => sync(`/${envName}/${app}`, { json: { baseVersion: 1, values: { A: value() } } })));
    expect(results.map((response) => response.status).sort()).toEqual([200, 409, 409]);
  });

  it("answers 401 to a wrong sync token, 400 with a reason to a bad body", async () => {
    const response = await fetchWith({}, `${base}/api/secrets/prod/manifest`, { headers: { authorization: "Bearer wrong" } });
    expect(response.status).toBe(401);
    const bad = await sync(`/${random("env")}/app`, { json: { baseVersion: 0, values: { "bad name": "x" } } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("values.bad name");
  });
});

describe("app reads", () => {
  it("a token reads exactly its env and app; others 403; none, unknown, revoked, admin and sync tokens 401", async () => {
    const [envName, app, secret] = [random("env"), random("app"), value()];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { DB_PASSWORD: secret } } });
    const { id, token } = await tokenFor(envName, app);
    const ok = await read(`/${envName}/${app}`, token);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    expect(await ok.json()).toEqual({ env: envName, app, version: 1, values: { DB_PASSWORD: secret } });
    expect((await read(`/${envName}/other-app`, token)).status).toBe(403);
    expect((await read(`/other-env/${app}`, token)).status).toBe(403);
    for (const wrong of [null, "eos_unknown", env.ADMIN_TOKEN, env.SECRETS_SYNC_TOKEN]) expect((await read(`/${envName}/${app}`, wrong)).status).toBe(401);
    expect((await admin(`/tokens/${id}`, undefined, "DELETE")).status).toBe(200);
    expect((await read(`/${envName}/${app}`, token)).status).toBe(401);
  });

  it("rate limits reads per token with 429 and Retry-After", async () => {
    const [envName, app] = [random("env"), random("app")];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: value() } } });
    const { token } = await tokenFor(envName, app);
    let limited: Response | undefined;
    // The limit counts per clock minute: reads that straddle a minute start counting again, so
    // allow two windows' worth before calling it unlimited.
    for (let attempt = 0; attempt < 2 * READS_PER_MINUTE + 2 && !limited; attempt += 1) {
      const response = await read(`/${envName}/${app}`, token);
      if (response.status === 429) limited = response;
    }
    expect(limited?.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("rolls back: an earlier version becomes current as a new version", async () => {
    const [envName, app, old, recent] = [random("env"), random("app"), value(), value()];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: old } } });
    await sync(`/${envName}/${app}`, { json: { baseVersion: 1, values: { A: recent } } });
    expect(await (await admin(`/${envName}/${app}/rollback`, { version: 1 })).json()).toEqual({ version: 3, restoredFrom: 1 });
    const { token } = await tokenFor(envName, app);
    expect(await (await read(`/${envName}/${app}`, token)).json()).toMatchObject({ version: 3, values: { A: old } });
    const audit = await env.DB.prepare("SELECT action, actor, version FROM secret_audit WHERE env = ? ORDER BY id").bind(envName).all();
    expect(audit.results.map((row) => row.action)).toEqual(["sync", "sync", "rollback", "token.issue", "read"]);
  });
});

describe("stored ciphertext", () => {
  async function kvEntry(envName: string, app: string) {
    const row = await env.DB.prepare("SELECT v.kv_key FROM secret_sets s JOIN secret_versions v ON v.env = s.env AND v.app = s.app AND v.version = s.current_version WHERE s.env = ? AND s.app = ?").bind(envName, app).first<{ kv_key: string }>();
    return { key: row!.kv_key, stored: (await env.SECRETS_KV.get(row!.kv_key, "json")) as { kid: string; values: Record<string, { ct: string }> } };
  }

  it("a flipped byte is detected and never answered", async () => {
    const [envName, app] = [random("env"), random("app")];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: value() } } });
    const { key, stored } = await kvEntry(envName, app);
    const bytes = Uint8Array.from(atob(stored.values.A!.ct), (char) => char.charCodeAt(0));
    bytes[0]! ^= 1;
    stored.values.A!.ct = btoa(String.fromCharCode(...bytes));
    await env.SECRETS_KV.put(key, JSON.stringify(stored));
    const { token } = await tokenFor(envName, app);
    const response = await read(`/${envName}/${app}`, token);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: "the stored value of A failed authentication" });
  });

  it("a ciphertext moved to another name does not open", async () => {
    const [envName, app] = [random("env"), random("app")];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: value(), B: value() } } });
    const { key, stored } = await kvEntry(envName, app);
    stored.values.B = stored.values.A!;
    await env.SECRETS_KV.put(key, JSON.stringify(stored));
    const { token } = await tokenFor(envName, app);
    expect((await read(`/${envName}/${app}`, token)).status).toBe(500);
  });

  it("master key rotation: old values readable with the previous key listed, re-wrapped to the new kid, unreadable without it", async () => {
    const [envName, app, secret] = [random("env"), random("app"), value()];
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values: { A: secret } } });
    const oldKid = (await kvEntry(envName, app)).stored.kid;
    const newKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    const rotated = { SECRETS_MASTER_KEY: newKey, SECRETS_PREVIOUS_MASTER_KEYS: env.SECRETS_MASTER_KEY };
    const { token } = await tokenFor(envName, app);
    expect((await read(`/${envName}/${app}`, token, { SECRETS_MASTER_KEY: newKey })).status).toBe(503);
    expect(await (await read(`/${envName}/${app}`, token, rotated)).json()).toMatchObject({ values: { A: secret } });
    await rewrapAll(rotated);
    expect((await kvEntry(envName, app)).stored.kid).not.toBe(oldKid);
    expect(await (await read(`/${envName}/${app}`, token, { SECRETS_MASTER_KEY: newKey })).json()).toMatchObject({ values: { A: secret } });
    expect((await read(`/${envName}/${app}`, token)).status).toBe(503);
    // The rest of this file's sets are back under the test key.
    await rewrapAll({ SECRETS_MASTER_KEY: env.SECRETS_MASTER_KEY, SECRETS_PREVIOUS_MASTER_KEYS: newKey });
  });
});

describe("configuration and exposure", () => {
  it("answers 503 naming the missing or malformed variable", async () => {
    const missing = await read("/prod/app", "x", { SECRETS_MASTER_KEY: "" });
    expect(missing.status).toBe(503);
    expect(await missing.text()).toContain("SECRETS_MASTER_KEY is not set");
    const short = await read("/prod/app", "x", { SECRETS_MASTER_KEY: btoa("too short") });
    expect(await short.text()).toContain("SECRETS_MASTER_KEY: must be base64 of exactly 32 bytes");
  });

  it("no value appears in KV, in any D1 table, or in a log line", async () => {
    const [envName, app] = [random("env"), random("app")];
    const values = { ONE: value(), TWO: "short-pw-1" };
    await sync(`/${envName}/${app}`, { json: { baseVersion: 0, values } });
    const { token } = await tokenFor(envName, app);
    await read(`/${envName}/${app}`, token);
    await admin(`/${envName}/${app}/rollback`, { version: 1 });
    const haystack: string[] = [...logged];
    const listed = await env.SECRETS_KV.list();
    for (const key of listed.keys) haystack.push(key.name, (await env.SECRETS_KV.get(key.name)) ?? "");
    const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>();
    for (const { name } of tables.results) haystack.push(JSON.stringify((await env.DB.prepare(`SELECT * FROM "${name}"`).all()).results));
    const all = haystack.join("\n");
    for (const secret of [...Object.values(values), token]) expect(all).not.toContain(secret);
  });
});
