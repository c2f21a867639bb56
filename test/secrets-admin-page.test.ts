// The /admin/secrets page over HTTP: never 200 without a session (302 to the login page), the
// login sets an HttpOnly SameSite=Strict cookie, values only after an audited reveal, CSRF and
// cross-origin posts refused, rollback and tokens from the page, and Cloudflare Access in front
// when configured (a JWT signed by the fake team domain's key; the admin token and the token login
// refused). Sessions live in D1: logout ends one, "end every session" and a new master key end all.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { accessJwt } from "./support/access";
import { fetchWith } from "./support/faults";

const base = "http://edge";
const random = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;

async function syncSet(envName: string, app: string, values: Record<string, string>, baseVersion = 0) {
  const response = await fetchWith({}, `${base}/api/secrets/${envName}/${app}`, { method: "PUT", headers: { authorization: `Bearer ${env.SECRETS_SYNC_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ baseVersion, values }) });
  expect(response.status).toBe(200);
}

async function login(): Promise<string> {
  const response = await fetchWith({}, `${base}/admin/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: base }, body: new URLSearchParams({ token: env.ADMIN_TOKEN }), redirect: "manual" });
  expect(response.status).toBe(303);
  const cookie = response.headers.get("set-cookie")!;
  expect(cookie).toMatch(/HttpOnly/);
  expect(cookie).toMatch(/SameSite=Strict/);
  return cookie.split(";")[0]!;
}

const get = (path: string, headers: Record<string, string> = {}, overrides: Partial<Env> = {}) => fetchWith(overrides, `${base}${path}`, { headers, redirect: "manual" });
const post = (path: string, cookie: string, fields: Record<string, string>, origin = base) =>
  fetchWith({}, `${base}${path}`, { method: "POST", headers: { cookie, origin, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields), redirect: "manual" });
const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";

describe("the admin secrets page", () => {
  it("never answers 200 without a session: 302 to the login page", async () => {
    for (const path of ["/admin/secrets", "/admin/secrets/prod/api"]) {
      const response = await get(path);
      expect(response.status).toBe(302);
      expect(response.headers.get("location")).toBe("/admin/login");
    }
    expect((await get("/admin/secrets", { cookie: "edge_ops_admin=forged.123.abc" })).status).toBe(302);
    const wrong = await fetchWith({}, `${base}/admin/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: "wrong" }), redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("lists every env and app, masks values, and reveals them only on an audited POST with the form token", async () => {
    const [envName, app, secret] = [random("env"), random("app"), `s-${crypto.randomUUID()}`];
    await syncSet(envName, app, { DB_PASSWORD: secret });
    const cookie = await login();
    const index = await (await get("/admin/secrets", { cookie })).text();
    expect(index).toContain(`/admin/secrets/${envName}/${app}`);
    const page = await get(`/admin/secrets/${envName}/${app}`, { cookie });
    expect(page.headers.get("cache-control")).toBe("no-store");
    const text = await page.text();
    expect(text).toContain("DB_PASSWORD");
    expect(text).not.toContain(secret);
    expect((await post(`/admin/secrets/${envName}/${app}/reveal`, cookie, {})).status).toBe(403);
    expect((await post(`/admin/secrets/${envName}/${app}/reveal`, cookie, { csrf: csrfOf(text) }, "https://evil.example")).status).toBe(403);
    const crossSite = await fetchWith({}, `${base}/admin/secrets/${envName}/${app}/reveal`, { method: "POST", headers: { cookie, "sec-fetch-site": "cross-site", "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: csrfOf(text) }), redirect: "manual" });
    expect(crossSite.status).toBe(403);
    const revealed = await post(`/admin/secrets/${envName}/${app}/reveal`, cookie, { csrf: csrfOf(text) });
    expect(await revealed.text()).toContain(secret);
    const audit = await env.DB.prepare("SELECT action, actor FROM secret_audit WHERE env = ? AND action = 'reveal'").bind(envName).all();
    expect(audit.results).toEqual([{ action: "reveal", actor: "admin-session" }]);
  });

  it("shows history and a diff by names, rolls back, issues and revokes tokens", async () => {
    const [envName, app] = [random("env"), random("app")];
    await syncSet(envName, app, { A: "1", B: "2" });
    await syncSet(envName, app, { A: "1", B: "3", C: "4" }, 1);
    const cookie = await login();
    const text = await (await get(`/admin/secrets/${envName}/${app}?from=1&to=2`, { cookie })).text();
    expect(text).toMatch(/~ B \(value changed\)/);
    expect(text).toMatch(/\+ C/);
    const rolled = await post(`/admin/secrets/${envName}/${app}/rollback`, cookie, { csrf: csrfOf(text), version: "1" });
    expect(rolled.status).toBe(303);
    expect(await (await get(`/admin/secrets/${envName}/${app}`, { cookie })).text()).toContain("rollback to v1");
    const issued = await (await post(`/admin/secrets/${envName}/${app}/tokens`, cookie, { csrf: csrfOf(text) })).text();
    const token = /id="issued-token">([^<]+)</.exec(issued)?.[1];
    expect(token).toMatch(/^eos_/);
    const read = await fetchWith({}, `${base}/api/secrets/${envName}/${app}`, { headers: { authorization: `Bearer ${token}` } });
    expect(await read.json()).toMatchObject({ version: 3, values: { A: "1", B: "2" } });
    const id = /tokens\/([0-9a-f-]{36})\/revoke/.exec(issued)?.[1];
    expect((await post(`/admin/secrets/${envName}/${app}/tokens/${id}/revoke`, cookie, { csrf: csrfOf(text) })).status).toBe(303);
    expect((await fetchWith({}, `${base}/api/secrets/${envName}/${app}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it("accepts the admin bearer token", async () => {
    expect((await get("/admin/secrets", { authorization: `Bearer ${env.ADMIN_TOKEN}` })).status).toBe(200);
  });
});

describe("behind Cloudflare Access", () => {
  const accessEnv = { ACCESS_TEAM_DOMAIN: env.FAKE_ACCESS_URL, ACCESS_AUD: env.FAKE_ACCESS_AUD };
  const jwt = accessJwt;

  it("lets a valid Access JWT in, and refuses with 403 and the reason anything else: no JWT, another audience, the admin token, the token login", async () => {
    expect((await get("/admin/secrets", { "cf-access-jwt-assertion": await jwt() }, accessEnv)).status).toBe(200);
    const none = await get("/admin/secrets", {}, accessEnv);
    expect(none.status).toBe(403);
    expect(await none.text()).toContain("a Cloudflare Access identity is required");
    const other = await get("/admin/secrets", { "cf-access-jwt-assertion": await jwt({ aud: ["other"] }) }, accessEnv);
    expect(other.status).toBe(403);
    expect(await other.text()).toContain("another application");
    const token = await get("/admin/secrets", { authorization: `Bearer ${env.ADMIN_TOKEN}` }, accessEnv);
    expect(token.status).toBe(403);
    expect(await token.text()).toContain("bearer tokens (ADMIN_TOKEN) are not accepted");
    expect((await get("/admin/login", {}, accessEnv)).status).toBe(403);
    const login = await fetchWith(accessEnv, `${base}/admin/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: base }, body: new URLSearchParams({ token: env.ADMIN_TOKEN }), redirect: "manual" });
    expect(login.status).toBe(403);
    expect(login.headers.get("set-cookie")).toBeNull();
  });
});

describe("token-login sessions", () => {
  const logout = (cookie: string) => fetchWith({}, `${base}/admin/logout`, { method: "POST", headers: { cookie, origin: base }, redirect: "manual" });
  const opens = async (cookie: string, overrides: Partial<Env> = {}) => (await get("/admin/secrets", { cookie }, overrides)).status === 200;

  it("are recorded server-side: logout ends this one, and its cookie opens nothing afterwards", async () => {
    const [one, two] = [await login(), await login()];
    expect(await opens(one)).toBe(true);
    const out = await logout(one);
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/Max-Age=0/);
    // The browser forgets the cookie; a copy of it is dead too, because its row is gone.
    expect(await opens(one)).toBe(false);
    expect(await opens(two)).toBe(true);
  });

  it("end every session from the page (CSRF-checked), and with a new master key (a new signing key)", async () => {
    const [one, two] = [await login(), await login()];
    const page = await (await get("/admin/secrets", { cookie: one })).text();
    expect((await post("/admin/sessions/end-all", one, { csrf: "0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })).status).toBe(403);
    expect(await opens(two)).toBe(true);
    expect((await post("/admin/sessions/end-all", one, { csrf: csrfOf(page) })).status).toBe(303);
    expect(await opens(one)).toBe(false);
    expect(await opens(two)).toBe(false);
    const audit = await env.DB.prepare("SELECT actor, detail FROM secret_audit WHERE action = 'sessions.end-all' ORDER BY id DESC LIMIT 1").first();
    expect(audit).toMatchObject({ actor: "admin-session" });

    const three = await login();
    const newKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    expect(await opens(three, { SECRETS_MASTER_KEY: newKey, SECRETS_PREVIOUS_MASTER_KEYS: env.SECRETS_MASTER_KEY })).toBe(false);
    expect(await opens(three)).toBe(true);
  });

  it("refuses a form token of another session", async () => {
    const [envName, app] = [random("env"), random("app")];
    await syncSet(envName, app, { A: "1" });
    const [one, two] = [await login(), await login()];
    const page = await (await get(`/admin/secrets/${envName}/${app}`, { cookie: one })).text();
    expect((await post(`/admin/secrets/${envName}/${app}/reveal`, two, { csrf: csrfOf(page) })).status).toBe(403);
    expect((await post(`/admin/secrets/${envName}/${app}/reveal`, one, { csrf: csrfOf(page) })).status).toBe(200);
  });

  it("caps a form at 16 KiB", async () => {
    const cookie = await login();
    const response = await post("/admin/sessions/end-all", cookie, { csrf: "x", padding: "p".repeat(17 * 1024) });
    expect(response.status).toBe(413);
    expect(await opens(cookie)).toBe(true);
  });
});
