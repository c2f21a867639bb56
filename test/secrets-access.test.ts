// Who may do what on secrets. With Cloudflare Access configured (the fake team domain): every
// operator action needs a person's Access identity and is audited under its email; ADMIN_TOKEN
// alone is refused with 403 and the reason there, and still opens the machine endpoints; the sync
// token keeps to diff and sync. With half an Access configuration: 503 naming the missing variable
// on every operator page and API, never the token login; /healthz says so.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { accessJwt } from "./support/access";
import { fetchWith } from "./support/faults";

const base = "http://edge";
const accessEnv: Partial<Env> = { ACCESS_TEAM_DOMAIN: env.FAKE_ACCESS_URL, ACCESS_AUD: env.FAKE_ACCESS_AUD };
const random = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;

type Call = { method?: string; json?: unknown; headers?: Record<string, string> };
const call = (overrides: Partial<Env>, path: string, init: Call = {}) =>
  fetchWith(overrides, `${base}${path}`, {
    method: init.method ?? (init.json === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", ...init.headers },
    redirect: "manual",
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const asOperator = async (claims: Record<string, unknown> = {}) => ({ "cf-access-jwt-assertion": await accessJwt(claims) });

async function syncSet(envName: string, app: string, values: Record<string, string>, overrides: Partial<Env> = {}) {
  const response = await call(overrides, `/api/secrets/${envName}/${app}`, { method: "PUT", json: { baseVersion: 0, values }, headers: bearer(env.SECRETS_SYNC_TOKEN) });
  expect(response.status).toBe(200);
}

const auditOf = async (envName: string) =>
  (await env.DB.prepare("SELECT action, actor, app FROM secret_audit WHERE env = ? ORDER BY id").bind(envName).all<{ action: string; actor: string; app: string | null }>()).results;

describe("with Cloudflare Access configured", () => {
  it("runs every operator action on an Access identity and audits its email", async () => {
    const [envName, app] = [random("env"), random("app")];
    await syncSet(envName, app, { A: "one" }, accessEnv);
    await call(accessEnv, `/api/secrets/${envName}/${app}`, { method: "PUT", json: { baseVersion: 1, values: { A: "two" } }, headers: bearer(env.SECRETS_SYNC_TOKEN) });
    const headers = await asOperator({ email: "alice@example.com" });
    const issued = await call(accessEnv, "/api/secrets/tokens", { json: { env: envName, app }, headers });
    expect(issued.status).toBe(201);
    const { id, token } = (await issued.json()) as { id: string; token: string };
    expect((await call(accessEnv, `/api/secrets/tokens?env=${envName}`, { headers })).status).toBe(200);
    expect((await call(accessEnv, `/api/secrets/${envName}/${app}/history`, { headers })).status).toBe(200);
    expect(await (await call(accessEnv, `/api/secrets/${envName}/${app}/rollback`, { json: { version: 1 }, headers })).json()).toEqual({ version: 3, restoredFrom: 1 });
    // An app reads with its own token, Access or not.
    expect(await (await call(accessEnv, `/api/secrets/${envName}/${app}`, { headers: bearer(token) })).json()).toMatchObject({ version: 3, values: { A: "one" } });
    expect((await call(accessEnv, `/api/secrets/tokens/${id}`, { method: "DELETE", headers })).status).toBe(200);
    expect(await auditOf(envName)).toEqual([
      { action: "sync", actor: "sync", app },
      { action: "sync", actor: "sync", app },
      { action: "token.issue", actor: "alice@example.com", app },
      { action: "rollback", actor: "alice@example.com", app },
      { action: "read", actor: "app-token", app },
      { action: "token.revoke", actor: "alice@example.com", app },
    ]);
  });

  it("refuses ADMIN_TOKEN alone on every operator API with 403 and the reason, and changes nothing", async () => {
    const [envName, app] = [random("env"), random("app")];
    await syncSet(envName, app, { A: "one" }, accessEnv);
    const requests: [string, Call][] = [
      ["/api/secrets/tokens", { json: { env: envName, app } }],
      [`/api/secrets/tokens?env=${envName}`, {}],
      [`/api/secrets/${envName}/${app}/history`, {}],
      [`/api/secrets/${envName}/${app}/rollback`, { json: { version: 1 } }],
      ["/api/secrets/rewrap", { json: {} }],
      [`/api/secrets/tokens/${crypto.randomUUID()}`, { method: "DELETE" }],
    ];
    for (const [path, init] of requests) {
      const response = await call(accessEnv, path, { ...init, headers: bearer(env.ADMIN_TOKEN) });
      expect(response.status, path).toBe(403);
      expect(((await response.json()) as { error: string }).error).toBe(
        "a Cloudflare Access identity is required: bearer tokens (ADMIN_TOKEN) are not accepted for operator actions while Access is configured",
      );
    }
    const nothing = await call(accessEnv, "/api/secrets/tokens", { json: { env: envName, app } });
    expect(nothing.status).toBe(403);
    expect(((await nothing.json()) as { error: string }).error).toContain("no Cf-Access-Jwt-Assertion");
    expect(await env.DB.prepare("SELECT id FROM secret_tokens WHERE env = ?").bind(envName).first()).toBeNull();
    expect((await auditOf(envName)).map((row) => row.action)).toEqual(["sync"]);
  });

  it("refuses a service token's JWT (no email), another application's, and an expired one", async () => {
    const envName = random("env");
    const serviceToken = { "cf-access-jwt-assertion": await accessJwt({ email: undefined, sub: "", common_name: "ci.access" }) };
    const refused = await call(accessEnv, "/api/secrets/tokens", { json: { env: envName, app: "api" }, headers: serviceToken });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toContain("has no email");
    const other = await call(accessEnv, "/api/secrets/tokens", { json: { env: envName, app: "api" }, headers: await asOperator({ aud: ["another-application"] }) });
    expect(((await other.json()) as { error: string }).error).toBe("Cloudflare Access token refused: another application's token");
    const expired = await call(accessEnv, "/api/secrets/tokens", { json: { env: envName, app: "api" }, headers: await asOperator({ exp: Math.floor(Date.now() / 1000) - 3600 }) });
    expect(expired.status).toBe(403);
    expect(await env.DB.prepare("SELECT id FROM secret_tokens WHERE env = ?").bind(envName).first()).toBeNull();
  });

  it("keeps ADMIN_TOKEN for the machine endpoints", async () => {
    expect((await call(accessEnv, "/api/events?limit=1", { headers: bearer(env.ADMIN_TOKEN) })).status).toBe(200);
    // ...and an Access identity does not stand in for it there.
    expect((await call(accessEnv, "/api/events?limit=1", { headers: await asOperator() })).status).toBe(401);
  });

  it("keeps the sync token to diff and sync", async () => {
    const [envName, app] = [random("env"), random("app")];
    await syncSet(envName, app, { A: "one" }, accessEnv);
    expect((await call(accessEnv, `/api/secrets/${envName}/manifest`, { headers: bearer(env.SECRETS_SYNC_TOKEN) })).status).toBe(200);
    const sync = bearer(env.SECRETS_SYNC_TOKEN);
    expect((await call(accessEnv, "/api/secrets/tokens", { json: { env: envName, app }, headers: sync })).status).toBe(403);
    expect((await call({}, "/api/secrets/tokens", { json: { env: envName, app }, headers: sync })).status).toBe(401);
    expect((await call({}, `/api/secrets/${envName}/${app}/history`, { headers: sync })).status).toBe(401);
    expect((await call({}, "/api/secrets/rewrap", { json: {}, headers: sync })).status).toBe(401);
    expect((await call(accessEnv, `/api/secrets/${envName}/${app}`, { headers: sync })).status).toBe(401);
    expect((await call({}, "/api/events?limit=1", { headers: sync })).status).toBe(401);
    expect((await call({}, "/admin/secrets", { headers: sync })).status).toBe(401);
  });

  it("reveals on the page for an Access identity, audited under its email, with a form token bound to that identity", async () => {
    const [envName, app, secret] = [random("env"), random("app"), `s-${crypto.randomUUID()}`];
    await syncSet(envName, app, { DB_PASSWORD: secret }, accessEnv);
    const alice = await asOperator({ email: "alice@example.com" });
    const page = await call(accessEnv, `/admin/secrets/${envName}/${app}`, { headers: alice });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain("alice@example.com");
    expect(text).not.toContain(secret);
    const csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1] ?? "";
    const post = (headers: Record<string, string>) =>
      fetchWith(accessEnv, `${base}/admin/secrets/${envName}/${app}/reveal`, { method: "POST", headers: { ...headers, origin: base, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf }), redirect: "manual" });
    // Bob cannot use Alice's form token.
    expect((await post(await asOperator({ email: "bob@example.com" }))).status).toBe(403);
    const revealed = await post(alice);
    expect(revealed.status).toBe(200);
    expect(await revealed.text()).toContain(secret);
    expect((await auditOf(envName)).filter((row) => row.action === "reveal")).toEqual([{ action: "reveal", actor: "alice@example.com", app }]);
  });
});

describe("with half an Access configuration", () => {
  const halves: [string, Partial<Env>, string][] = [
    ["only ACCESS_TEAM_DOMAIN", { ACCESS_TEAM_DOMAIN: env.FAKE_ACCESS_URL }, "ACCESS_AUD is not set"],
    ["only ACCESS_AUD", { ACCESS_AUD: env.FAKE_ACCESS_AUD }, "ACCESS_TEAM_DOMAIN is not set"],
  ];

  it.each(halves)("%s: every operator page and API answers 503 naming the missing variable; no token login", async (_, half, missing) => {
    const jwt = await asOperator();
    const requests: [string, Call][] = [
      ["/admin/secrets", { headers: bearer(env.ADMIN_TOKEN) }],
      ["/admin/secrets", { headers: jwt }],
      ["/admin/secrets/prod/api", {}],
      ["/admin/login", {}],
      ["/api/secrets/tokens", { json: { env: "prod", app: "api" }, headers: bearer(env.ADMIN_TOKEN) }],
      ["/api/secrets/tokens", { headers: jwt }],
      ["/api/secrets/rewrap", { json: {}, headers: bearer(env.ADMIN_TOKEN) }],
    ];
    for (const [path, init] of requests) {
      const response = await call(half, path, init);
      expect(response.status, path).toBe(503);
      expect(await response.text(), path).toContain(`Cloudflare Access is not configured: ${missing}`);
    }
    const login = await fetchWith(half, `${base}/admin/login`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: base }, body: new URLSearchParams({ token: env.ADMIN_TOKEN }), redirect: "manual" });
    expect(login.status).toBe(503);
    expect(login.headers.get("set-cookie")).toBeNull();
    // Everything that is not an operator's keeps working.
    expect((await call(half, "/api/events?limit=1", { headers: bearer(env.ADMIN_TOKEN) })).status).toBe(200);
    await syncSet(random("env"), "api", { A: "1" }, half);
    const health = (await (await call(half, "/healthz")).json()) as { capabilities: Record<string, unknown> };
    expect(health.capabilities.access).toEqual({ configured: false, problems: [expect.stringContaining(missing)] });
  });

  it("names a malformed value without repeating it", async () => {
    const response = await call({ ACCESS_TEAM_DOMAIN: "team.cloudflareaccess.com", ACCESS_AUD: "not-an-aud-tag" }, "/admin/secrets");
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(text).toContain("ACCESS_TEAM_DOMAIN: must be the team domain as a full https URL");
    expect(text).toContain("ACCESS_AUD: must be the application&#39;s Audience (AUD) tag");
    expect(text).not.toContain("not-an-aud-tag");
  });

  it("reports Access on /healthz: configured, or degraded when neither variable is set", async () => {
    const on = (await (await call(accessEnv, "/healthz")).json()) as { capabilities: Record<string, unknown> };
    expect(on.capabilities.access).toEqual({ configured: true });
    const off = (await (await call({}, "/healthz")).json()) as { capabilities: Record<string, unknown> };
    expect(off.capabilities.access).toEqual({ configured: true, degraded: true, problems: [expect.stringContaining("ADMIN_TOKEN opens the operator pages")] });
  });
});
