// Master-key rotation that never loses a secret: the re-wrap pages through every version (1,050
// here: more than one KV list page of 1,000 keys, more than ten bulk reads of 100) with a cursor,
// each request within Workers' per-invocation limits; a set whose KV entry is corrupt or missing is
// named in the answer and in the audit log, the rotation stays incomplete and the old key required,
// and only a pass with nothing failed says the old key may go. Every test ends with all sets under
// the suite's master key again (storage is shared by the tests of this file).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { importMasterKey, seal, valueAad } from "../workers/secrets/crypto";
import { countingD1, fetchWith } from "./support/faults";

const base = "http://edge/api/secrets";
const random = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const newMasterKey = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
const bearer = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

type Page = { rewrapped: number; alreadyCurrent: number; failed: { set: string; reason: string }[]; nextCursor: string | null; complete: boolean; pending?: { count: number; sets: string[] }; message: string };

async function rewrapPage(overrides: Partial<Env>, body: Record<string, unknown> = {}): Promise<Page> {
  const response = await fetchWith(overrides, `${base}/rewrap`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return response.json();
}

/** A whole pass, page by page; every page's answer in order. */
async function pass(overrides: Partial<Env>, limit?: number): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const page = await rewrapPage(overrides, { ...(cursor === null ? {} : { cursor }), ...(limit === undefined ? {} : { limit }) });
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return pages;
}
const rotateTo = (key: string, previous: string) => ({ SECRETS_MASTER_KEY: key, SECRETS_PREVIOUS_MASTER_KEYS: previous });

async function syncSet(envName: string, app: string, values: Record<string, string>) {
  const response = await fetchWith({}, `${base}/${envName}/${app}`, { method: "PUT", headers: bearer(env.SECRETS_SYNC_TOKEN), body: JSON.stringify({ baseVersion: 0, values }) });
  expect(response.status).toBe(200);
}

async function readWithToken(envName: string, app: string, overrides: Partial<Env>) {
  const issued = await fetchWith({}, `${base}/tokens`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ env: envName, app }) });
  const { token } = (await issued.json()) as { token: string };
  return fetchWith(overrides, `${base}/${envName}/${app}`, { headers: { authorization: `Bearer ${token}` } });
}

const kvKeyOf = async (envName: string, app: string) =>
  (await env.DB.prepare("SELECT kv_key FROM secret_versions WHERE env = ? AND app = ? AND version = 1").bind(envName, app).first<{ kv_key: string }>())!.kv_key;

/** The real KV, counting calls by kind (a bulk read is one call) and the keys each read asked for. */
function countingKv() {
  const real = env.SECRETS_KV;
  const calls = { get: 0, put: 0, delete: 0, list: 0, keysRead: 0 };
  const kv = {
    // The store reads text only (one key, or a bulk read of many).
    get: (key: string | string[]) => {
      calls.get += 1;
      calls.keysRead += Array.isArray(key) ? key.length : 1;
      return Array.isArray(key) ? real.get(key, "text") : real.get(key, "text");
    },
    put: (key: string, value: string) => {
      calls.put += 1;
      return real.put(key, value);
    },
    delete: (key: string) => {
      calls.delete += 1;
      return real.delete(key);
    },
    list: (options?: KVNamespaceListOptions) => {
      calls.list += 1;
      return real.list(options);
    },
  };
  // Only the members the store calls are implemented.
  return { kv: kv as unknown as KVNamespace, calls };
}

describe("master-key rotation", () => {
  it("pages through 1,050 versions with a cursor, each request within the KV and D1 per-invocation limits, and completes", async () => {
    const [envName, app] = [random("many"), "app"];
    const versions = 1_050;
    const oldKey = await importMasterKey(env.SECRETS_MASTER_KEY);
    const now = Date.now();
    const rows: unknown[][] = [];
    for (let version = 1; version <= versions; version += 1) {
      const kvKey = `secrets/${envName}/${app}/v${version}-${crypto.randomUUID()}`;
      const sealed = { kid: oldKey.kid, values: { A: await seal(oldKey, valueAad(envName, app, "A", version), `value-${version}`) } };
      await env.SECRETS_KV.put(kvKey, JSON.stringify(sealed));
      // Half of them as versions written before D1 knew their key id.
      rows.push([envName, app, version, JSON.stringify({ A: "0".repeat(64) }), kvKey, "sync", now, version % 2 === 0 ? oldKey.kid : null]);
    }
    for (let start = 0; start < rows.length; start += 200) {
      await env.DB.prepare(
        "INSERT INTO secret_versions (env, app, version, hmacs, kv_key, actor, created_at, kid) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7 FROM json_each(?)",
      )
        .bind(JSON.stringify(rows.slice(start, start + 200)))
        .run();
    }
    await env.DB.prepare("INSERT INTO secret_sets (env, app, current_version, updated_at) VALUES (?, ?, ?, ?)").bind(envName, app, versions, now).run();

    const newKey = newMasterKey();
    const newKid = (await importMasterKey(newKey)).kid;
    const pages: Page[] = [];
    let cursor: string | null = null;
    do {
      const kv = countingKv();
      const d1 = countingD1();
      const page = await rewrapPage({ ...rotateTo(newKey, env.SECRETS_MASTER_KEY), SECRETS_KV: kv.kv, DB: d1.db }, cursor === null ? {} : { cursor });
      // One bulk read of at most 100 keys, at most 100 writes: far below 1,000 KV operations; a
      // handful of D1 statements, below the free plan's 50 queries per invocation.
      expect(kv.calls.get).toBeLessThanOrEqual(1);
      expect(kv.calls.keysRead).toBeLessThanOrEqual(100);
      expect(kv.calls.put).toBeLessThanOrEqual(100);
      expect(kv.calls.list).toBe(0);
      expect(d1.statements.length).toBeLessThanOrEqual(12);
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor !== null);

    expect(pages.length).toBeGreaterThanOrEqual(11);
    expect(pages.slice(0, -1).every((page) => !page.complete && page.pending === undefined)).toBe(true);
    expect(pages.flatMap((page) => page.failed)).toEqual([]);
    const last = pages.at(-1)!;
    expect(last).toMatchObject({ complete: true, nextCursor: null, pending: { count: 0, sets: [] } });
    expect(last.message).toContain("the previous keys may be dropped");
    expect(pages.reduce((sum, page) => sum + page.rewrapped, 0)).toBeGreaterThanOrEqual(versions);

    // D1 and KV agree that every version is under the new key, and the oldest still opens with it alone.
    const stale = await env.DB.prepare("SELECT COUNT(*) AS n FROM secret_versions WHERE env = ? AND (kid IS NULL OR kid != ?)").bind(envName, newKid).first<{ n: number }>();
    expect(stale).toEqual({ n: 0 });
    const first = (await env.SECRETS_KV.get(await kvKeyOf(envName, app), "json")) as { kid: string };
    expect(first.kid).toBe(newKid);
    const rolledBack = await fetchWith({ SECRETS_MASTER_KEY: newKey }, `${base}/${envName}/${app}/rollback`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ version: 1 }) });
    expect(await rolledBack.json()).toEqual({ version: versions + 1, restoredFrom: 1 });
    expect(await (await readWithToken(envName, app, { SECRETS_MASTER_KEY: newKey })).json()).toMatchObject({ version: versions + 1, values: { A: "value-1" } });

    // A second pass finds nothing to write: versions D1 knows are current cost no KV call at all.
    const kv = countingKv();
    const again = await pass({ ...rotateTo(newKey, env.SECRETS_MASTER_KEY), SECRETS_KV: kv.kv });
    expect(again.reduce((sum, page) => sum + page.rewrapped, 0)).toBe(0);
    expect(kv.calls.put).toBe(0);

    // These 1,051 versions leave (the other tests need not re-wrap them); the rest goes back under the suite's key.
    await env.DB.batch(["secret_versions", "secret_sets", "secret_env_keys"].map((table) => env.DB.prepare(`DELETE FROM ${table} WHERE env = ?`).bind(envName)));
    expect((await pass(rotateTo(env.SECRETS_MASTER_KEY, newKey))).at(-1)!.complete).toBe(true);
  }, 60_000);

  it("names a corrupt and a missing KV entry in the answer and the audit log, stays incomplete with the old key required, and completes once they are repaired", async () => {
    const envName = random("broken");
    const secret = `s-${crypto.randomUUID()}`;
    for (const app of ["healthy", "corrupt", "missing"]) await syncSet(envName, app, { A: app === "healthy" ? secret : "x" });
    const corruptKey = await kvKeyOf(envName, "corrupt");
    const missingKey = await kvKeyOf(envName, "missing");
    const originals = { corrupt: (await env.SECRETS_KV.get(corruptKey))!, missing: (await env.SECRETS_KV.get(missingKey))! };
    await env.SECRETS_KV.put(corruptKey, originals.corrupt.slice(0, 40));
    await env.SECRETS_KV.delete(missingKey);
    const started = Date.now();

    const newKey = newMasterKey();
    const rotated = rotateTo(newKey, env.SECRETS_MASTER_KEY);
    const pages = await pass(rotated);
    const last = pages.at(-1)!;
    expect(last.complete).toBe(false);
    expect(last.message).toMatch(/^rotation incomplete: 2 still under an earlier master key; keep it in SECRETS_PREVIOUS_MASTER_KEYS/);
    expect(last.pending).toEqual({ count: 2, sets: [`${envName}/corrupt/v1`, `${envName}/missing/v1`] });
    expect(pages.flatMap((page) => page.failed)).toEqual([
      { set: `${envName}/corrupt/v1`, reason: "the KV entry is not a sealed set (corrupt)" },
      { set: `${envName}/missing/v1`, reason: expect.stringContaining("the KV entry is missing") },
    ]);
    const audit = await env.DB.prepare("SELECT app, version, detail FROM secret_audit WHERE env = ? AND action = 'rewrap.failed' ORDER BY app").bind(envName).all();
    expect(audit.results).toEqual([
      { app: "corrupt", version: 1, detail: "the KV entry is not a sealed set (corrupt)" },
      { app: "missing", version: 1, detail: expect.stringContaining("the KV entry is missing") },
    ]);
    const outcome = await env.DB.prepare("SELECT actor, detail FROM secret_audit WHERE env = '*' AND action = 'rewrap.incomplete' AND at >= ?").bind(started).first();
    expect(outcome).toEqual({ actor: "admin-token", detail: "2 still under an earlier master key" });
    // The healthy set moved to the new key; the others still need the old one.
    expect(await (await readWithToken(envName, "healthy", { SECRETS_MASTER_KEY: newKey })).json()).toMatchObject({ values: { A: secret } });

    // Repaired (the corrupt entry restored from a copy, the missing one re-written), a new pass completes.
    await env.SECRETS_KV.put(corruptKey, originals.corrupt);
    await env.SECRETS_KV.put(missingKey, originals.missing);
    const repaired = (await pass(rotated)).at(-1)!;
    expect(repaired).toMatchObject({ complete: true, pending: { count: 0, sets: [] } });
    expect(await env.DB.prepare("SELECT actor FROM secret_audit WHERE env = '*' AND action = 'rewrap.complete' AND at >= ?").bind(started).first()).toEqual({ actor: "admin-token" });
    expect((await readWithToken(envName, "corrupt", { SECRETS_MASTER_KEY: newKey })).status).toBe(200);

    expect((await pass(rotateTo(env.SECRETS_MASTER_KEY, newKey))).at(-1)!.complete).toBe(true);
  }, 30_000);

  it("names a set under a key that is not configured, and refuses a cursor it did not give out", async () => {
    const [envName, app] = [random("lost"), "api"];
    await syncSet(envName, app, { A: "1" });
    const newKey = newMasterKey();
    // The old key dropped too early: the set is named, never skipped silently.
    const pages = await pass({ SECRETS_MASTER_KEY: newKey, SECRETS_PREVIOUS_MASTER_KEYS: undefined });
    const last = pages.at(-1)!;
    expect(last.complete).toBe(false);
    expect(last.pending?.sets).toContain(`${envName}/${app}/v1`);
    const oldKid = (await importMasterKey(env.SECRETS_MASTER_KEY)).kid;
    expect(pages.flatMap((page) => page.failed)).toContainEqual({ set: `${envName}/${app}/v1`, reason: `sealed under master key ${oldKid}, which is not configured (SECRETS_PREVIOUS_MASTER_KEYS)` });

    const bad = await fetchWith({}, `${base}/rewrap`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ cursor: "bm90LWEtY3Vyc29y" }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: "cursor: not a cursor this API gave out" });
    expect((await fetchWith({}, `${base}/rewrap`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ limit: 101 }) })).status).toBe(400);
    // Nothing was changed: everything is still under the suite's key.
    expect((await pass({})).at(-1)!.complete).toBe(true);
  }, 30_000);
});
