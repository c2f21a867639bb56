// `/admin/secrets`: the operators' page. In production Cloudflare Access stands in front and every
// request carries its JWT (ACCESS_TEAM_DOMAIN + ACCESS_AUD set: nothing else is accepted); for
// local use `Authorization: Bearer <ADMIN_TOKEN>` or the session cookie from `/admin/login`.
// Without either, 302 to the login page. Values appear only on an explicit, audited reveal; every
// form is a POST carrying a CSRF token bound to the session, and the Origin must be ours.
import { Hono, type Context as HonoContext } from "hono";
import { html, raw } from "hono/html";
import { getCookie } from "hono/cookie";
import { z } from "zod";
import { adminApiConfig } from "../admin/config";
import { AccessDenied, verifyAccessJwt } from "../access/access-jwt";
import { createSession, csrfToken, readSession, SESSION_COOKIE, sessionCookie, validCsrf, type AdminSession } from "../access/admin-session";
import { constantTimeEquals } from "../auth/constant-time";
import type { AppEnv } from "../http/app-env";
import { secretsConfig, type SecretsConfig } from "./config";
import { audit, issueToken, readCurrent, revokeToken, rollback, SecretsError } from "./store";

type C = HonoContext<AppEnv>;
type Viewer = { actor: string; session: AdminSession; adminToken: string; config: SecretsConfig };

const accessSettings = (env: Env) => {
  const raw = env as unknown as Record<string, string | undefined>;
  return raw.ACCESS_TEAM_DOMAIN && raw.ACCESS_AUD ? { teamDomain: raw.ACCESS_TEAM_DOMAIN.replace(/\/+$/, ""), audience: raw.ACCESS_AUD } : null;
};

/** Who is looking, or null (then: the login page). */
async function viewer(c: C): Promise<Viewer | null> {
  const { token: adminToken } = await adminApiConfig.load(c.env);
  const config = await secretsConfig.load(c.env);
  const access = accessSettings(c.env);
  if (access) {
    const assertion = c.req.header("cf-access-jwt-assertion");
    if (!assertion) return null;
    try {
      const identity = await verifyAccessJwt(assertion, access);
      // Access sessions have no id of ours: the CSRF token binds to the identity instead.
      return { actor: identity.email ?? identity.subject ?? "access", session: { id: `access:${identity.subject ?? identity.email ?? ""}`, expires: 0 }, adminToken, config };
    } catch (error) {
      if (error instanceof AccessDenied) return null;
      throw error;
    }
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  if (bearer && (await constantTimeEquals(bearer, adminToken))) return { actor: "admin-token", session: { id: "bearer", expires: 0 }, adminToken, config };
  const session = await readSession(adminToken, getCookie(c, SESSION_COOKIE));
  return session ? { actor: "admin-session", session, adminToken, config } : null;
}

const page = (title: string, body: unknown) => html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>${title} · edge-ops secrets</title>
    <style>
      body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 62rem; padding: 0 1rem; color: #1d1d1f; }
      table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
      th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
      code, .masked { font-family: ui-monospace, monospace; }
      form.inline { display: inline; }
      .added { color: #1a7f37; } .removed { color: #cf222e; } .changed { color: #9a6700; }
      .notice { background: #fff8c5; padding: .5rem .8rem; border-radius: 4px; }
    </style>
  </head>
  <body>
    <p><a href="/admin/secrets">Secrets</a></p>
    <h1>${title}</h1>
    ${body}
  </body>
</html>`;

const csrfField = async (who: Viewer) => html`<input type="hidden" name="csrf" value="${await csrfToken(who.adminToken, who.session)}" />`;

/**
 * A form post must come from our own pages. Browsers say so in Sec-Fetch-Site (which survives
 * proxies such as `wrangler dev` that rewrite Host); other clients are held to Origin = Host.
 */
function sameOrigin(c: C): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** A POST must come from our own pages: same origin, and the session's CSRF token. */
async function checkForm(c: C, who: Viewer): Promise<Record<string, string>> {
  if (!sameOrigin(c)) throw new SecretsError(403, "cross-origin form refused");
  const form = await c.req.parseBody();
  const fields = Object.fromEntries(Object.entries(form).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
  if (!(await validCsrf(who.adminToken, who.session, fields.csrf))) throw new SecretsError(403, "missing or stale form token: reload the page");
  return fields;
}

const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
function setParams(c: C): { env: string; app: string } {
  const env = slug.safeParse(c.req.param("env"));
  const app = slug.safeParse(c.req.param("app"));
  if (!env.success || !app.success) throw new SecretsError(404, "no such set");
  return { env: env.data, app: app.data };
}

export const adminPages = new Hono<AppEnv>();

adminPages.use("*", async (c, next) => {
  await next();
  c.header("Cache-Control", "no-store");
  c.header("X-Frame-Options", "DENY");
  c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
});

adminPages.onError((error, c) => {
  c.header("Cache-Control", "no-store");
  if (error instanceof SecretsError) return c.html(page("Refused", html`<p>${error.message}</p>`), error.status);
  throw error;
});

adminPages.get("/login", (c) =>
  c.html(
    page(
      "Sign in",
      html`<form method="post" action="/admin/login">
        <label>Admin token <input type="password" name="token" autocomplete="current-password" required /></label>
        <button type="submit">Sign in</button>
      </form>`,
    ),
  ),
);

adminPages.post("/login", async (c) => {
  const { token: adminToken } = await adminApiConfig.load(c.env);
  if (!sameOrigin(c)) return c.html(page("Refused", html`<p>cross-origin sign-in refused</p>`), 403);
  const form = await c.req.parseBody();
  const token = typeof form.token === "string" ? form.token : "";
  if (!(await constantTimeEquals(token, adminToken))) return c.html(page("Sign in", html`<p class="notice">That token is not the admin token.</p><p><a href="/admin/login">Try again</a></p>`), 401);
  const { value } = await createSession(adminToken);
  c.header("Set-Cookie", sessionCookie(value, { secure: new URL(c.req.url).protocol === "https:" }));
  return c.redirect("/admin/secrets", 303);
});

adminPages.post("/logout", async (c) => {
  c.header("Set-Cookie", sessionCookie("", { maxAge: 0, secure: new URL(c.req.url).protocol === "https:" }));
  return c.redirect("/admin/login", 303);
});

adminPages.use("/secrets/*", async (c, next) => {
  if (!(await viewer(c))) return c.redirect("/admin/login", 302);
  await next();
});
adminPages.use("/secrets", async (c, next) => {
  if (!(await viewer(c))) return c.redirect("/admin/login", 302);
  await next();
});

adminPages.get("/secrets", async (c) => {
  const { results } = await c.env.DB.prepare("SELECT env, app, current_version, updated_at FROM secret_sets ORDER BY env, app").all<{ env: string; app: string; current_version: number; updated_at: number }>();
  const rows = results.map(
    (row) => html`<tr><td>${row.env}</td><td><a href="/admin/secrets/${row.env}/${row.app}">${row.app}</a></td><td>${row.current_version}</td><td>${new Date(row.updated_at).toISOString()}</td></tr>`,
  );
  return c.html(page("Secrets", html`<table><thead><tr><th>Env</th><th>App</th><th>Version</th><th>Updated</th></tr></thead><tbody>${rows}</tbody></table>${results.length === 0 ? html`<p>Nothing synced yet: <code>npm run secrets -- sync --env &lt;env&gt;</code>.</p>` : ""}`));
});

type VersionRow = { version: number; hmacs: string; actor: string; restored_from: number | null; created_at: number };

async function versions(c: C, env: string, app: string): Promise<VersionRow[]> {
  const { results } = await c.env.DB.prepare("SELECT version, hmacs, actor, restored_from, created_at FROM secret_versions WHERE env = ? AND app = ? ORDER BY version DESC").bind(env, app).all<VersionRow>();
  if (results.length === 0) throw new SecretsError(404, "no such set");
  return results;
}

async function setPage(c: C, who: Viewer, revealed: Record<string, string> | null, issued: string | null = null) {
  const { env, app } = setParams(c);
  const history = await versions(c, env, app);
  const current = history[0]!;
  const names = Object.keys(JSON.parse(current.hmacs) as Record<string, string>).sort();
  const csrf = await csrfField(who);
  const from = Number(c.req.query("from") ?? current.version - 1);
  const to = Number(c.req.query("to") ?? current.version);
  const older = history.find((row) => row.version === from);
  const newer = history.find((row) => row.version === to);
  let diff: unknown = "";
  if (older && newer) {
    const a = JSON.parse(older.hmacs) as Record<string, string>;
    const b = JSON.parse(newer.hmacs) as Record<string, string>;
    const lines = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().flatMap((name) =>
      !(name in a) ? [html`<li class="added">+ ${name}</li>`] : !(name in b) ? [html`<li class="removed">− ${name}</li>`] : a[name] !== b[name] ? [html`<li class="changed">~ ${name} (value changed)</li>`] : [],
    );
    diff = html`<h2>Changes from v${from} to v${to}</h2><ul id="diff">${lines.length > 0 ? lines : html`<li>no change</li>`}</ul>`;
  }
  const { results: tokens } = await c.env.DB.prepare("SELECT id, created_at, revoked_at FROM secret_tokens WHERE env = ? AND app = ? ORDER BY created_at DESC").bind(env, app).all<{ id: string; created_at: number; revoked_at: number | null }>();
  return c.html(
    page(
      `${env} / ${app}`,
      html`<p>Version ${current.version}.</p>
        <table id="keys"><thead><tr><th>Name</th><th>Value</th></tr></thead><tbody>
          ${names.map((name) => html`<tr><td><code>${name}</code></td><td class="masked">${revealed ? html`<code class="revealed">${revealed[name] ?? ""}</code>` : "••••••••"}</td></tr>`)}
        </tbody></table>
        ${revealed ? html`<p class="notice">Shown once; this reveal is in the audit log. <a href="/admin/secrets/${env}/${app}">Hide</a></p>` : html`<form method="post" action="/admin/secrets/${env}/${app}/reveal">${csrf}<button type="submit" id="reveal">Reveal values</button></form>`}
        <h2>History</h2>
        <table id="history"><thead><tr><th>Version</th><th>By</th><th>When</th><th></th></tr></thead><tbody>
          ${history.map(
            (row) => html`<tr><td>v${row.version}${row.restored_from ? raw(` (rollback to v${row.restored_from})`) : ""}</td><td>${row.actor}</td><td>${new Date(row.created_at).toISOString()}</td><td>
              ${row.version === current.version ? "current" : html`<a href="/admin/secrets/${env}/${app}?from=${row.version}&to=${current.version}">diff with current</a>
              <form class="inline" method="post" action="/admin/secrets/${env}/${app}/rollback">${csrf}<input type="hidden" name="version" value="${row.version}" /><button type="submit">Roll back to v${row.version}</button></form>`}
            </td></tr>`,
          )}
        </tbody></table>
        ${diff}
        <h2>App tokens</h2>
        ${issued ? html`<p class="notice">New token (shown once): <code id="issued-token">${issued}</code></p>` : ""}
        <table id="tokens"><thead><tr><th>Id</th><th>Issued</th><th>State</th></tr></thead><tbody>
          ${tokens.map(
            (token) => html`<tr><td><code>${token.id}</code></td><td>${new Date(token.created_at).toISOString()}</td><td>${token.revoked_at ? "revoked" : html`active <form class="inline" method="post" action="/admin/secrets/${env}/${app}/tokens/${token.id}/revoke">${csrf}<button type="submit">Revoke</button></form>`}</td></tr>`,
          )}
        </tbody></table>
        <form method="post" action="/admin/secrets/${env}/${app}/tokens">${csrf}<button type="submit" id="issue-token">Issue a token</button></form>`,
    ),
  );
}

const viewerOf = async (c: C) => (await viewer(c))!;

adminPages.get("/secrets/:env/:app", async (c) => setPage(c, await viewerOf(c), null));

adminPages.post("/secrets/:env/:app/reveal", async (c) => {
  const who = await viewerOf(c);
  await checkForm(c, who);
  const { env, app } = setParams(c);
  const context = { env: c.env, config: who.config };
  const { version, values } = await readCurrent(context, env, app);
  await audit(context, { actor: who.actor, action: "reveal", env, app, version });
  return setPage(c, who, values);
});

adminPages.post("/secrets/:env/:app/rollback", async (c) => {
  const who = await viewerOf(c);
  const fields = await checkForm(c, who);
  const { env, app } = setParams(c);
  const version = Number(fields.version);
  if (!Number.isInteger(version) || version < 1) throw new SecretsError(400, "version must be a positive integer");
  await rollback({ env: c.env, config: who.config }, env, app, version, who.actor);
  return c.redirect(`/admin/secrets/${env}/${app}`, 303);
});

adminPages.post("/secrets/:env/:app/tokens", async (c) => {
  const who = await viewerOf(c);
  await checkForm(c, who);
  const { env, app } = setParams(c);
  const { token } = await issueToken({ env: c.env, config: who.config }, env, app, who.actor);
  return setPage(c, who, null, token);
});

adminPages.post("/secrets/:env/:app/tokens/:id/revoke", async (c) => {
  const who = await viewerOf(c);
  await checkForm(c, who);
  const { env, app } = setParams(c);
  await revokeToken({ env: c.env, config: who.config }, c.req.param("id"), who.actor);
  return c.redirect(`/admin/secrets/${env}/${app}`, 303);
});
