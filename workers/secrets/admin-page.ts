// `/admin/secrets`: the operators' page. Who may come in is decided by access/operator.ts: with
// Cloudflare Access configured (ACCESS_TEAM_DOMAIN + ACCESS_AUD) only a person's Access identity
// (the ADMIN_TOKEN and the token login are refused, 403 naming why); with half of it configured,
// 503 naming the missing variable on every page, the login included; without it (local
// development) `Authorization: Bearer <ADMIN_TOKEN>` or the session from `/admin/login`, else 302
// to the login page. Values appear only on an explicit, audited reveal; every form is a POST
// carrying a CSRF token bound to the session (or the Access identity), and the Origin must be
// ours. Form bodies are capped at 16 KiB.
import { Hono, type Context as HonoContext } from "hono";
import { html, raw } from "hono/html";
import { getCookie } from "hono/cookie";
import { z } from "zod";
import { createSession, csrfToken, endAllSessions, endSession, readSession, SESSION_COOKIE, sessionCookie, validCsrf } from "../access/admin-session";
import { accessConfig } from "../access/config";
import { identifyOperator, type Operator } from "../access/operator";
import { adminApiConfig } from "../auth/admin-token";
import { constantTimeEquals } from "../auth/constant-time";
import type { RequestVariables } from "../http/app-env";
import { AppError } from "../http/errors";
import { readRawBody } from "../http/read-json-body";
import { logError, logWarn } from "../log";
import { secretsConfig, type SecretsConfig } from "./config";
import { audit, issueToken, listSets, listTokens, readCurrent, revokeToken, rollback, SecretsError, versionsWithHmacs } from "./store";

type PageEnv = { Bindings: Env; Variables: RequestVariables & { operator: Operator; secrets: SecretsConfig } };
type C = HonoContext<PageEnv>;

const MAX_FORM_BYTES = 16 * 1024;

const page = (title: string, body: unknown, who: Operator | null = null) => html`<!doctype html>
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
    <p><a href="/admin/secrets">Secrets</a>${who ? html` · <span id="operator">${who.actor}</span>` : ""}</p>
    <h1>${title}</h1>
    ${body}
  </body>
</html>`;

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

/** A urlencoded form of at most MAX_FORM_BYTES (413 beyond). */
async function readForm(c: C): Promise<Record<string, string>> {
  const mediaType = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded") throw new SecretsError(400, "expected a form (application/x-www-form-urlencoded)");
  const { text } = await readRawBody(c.req.raw, MAX_FORM_BYTES);
  return Object.fromEntries(new URLSearchParams(text));
}

/** A POST must come from our own pages: same origin, and this operator's CSRF token. */
async function checkForm(c: C): Promise<Record<string, string>> {
  if (!sameOrigin(c)) throw new SecretsError(403, "cross-origin form refused");
  const fields = await readForm(c);
  if (!(await validCsrf(c.var.secrets.sessionKeys, c.var.operator.binding, fields.csrf))) throw new SecretsError(403, "missing or stale form token: reload the page");
  return fields;
}

const csrfField = async (c: C) => html`<input type="hidden" name="csrf" value="${await csrfToken(c.var.secrets.sessionKeys, c.var.operator.binding)}" />`;

const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
function setParams(c: C): { env: string; app: string } {
  const env = slug.safeParse(c.req.param("env"));
  const app = slug.safeParse(c.req.param("app"));
  if (!env.success || !app.success) throw new SecretsError(404, "no such set");
  return { env: env.data, app: app.data };
}

const secureCookie = (c: C) => new URL(c.req.url).protocol === "https:";
const context = (c: C) => ({ env: c.env, config: c.var.secrets });

export const adminPages = new Hono<PageEnv>();

adminPages.use("*", async (c, next) => {
  await next();
  c.header("Cache-Control", "no-store");
  c.header("X-Frame-Options", "DENY");
  c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
});

adminPages.onError((error, c) => {
  c.header("Cache-Control", "no-store");
  if (error instanceof SecretsError) return c.html(page("Refused", html`<p id="reason">${error.message}</p>`), error.status);
  if (error instanceof AppError) {
    // Logged as the shared handler would (its reason names a code, never a driver's text); the operator gets a page.
    c.set("outcome", error.status >= 500 ? "failed" : "invalid");
    (error.status >= 500 ? logError : logWarn)("request failed", { requestId: c.get("requestId"), method: c.req.method, path: c.req.path, status: error.status, reason: error.internalReason, alert: error.alert });
    return c.html(page(error.status >= 500 ? "Unavailable" : "Refused", html`<p id="reason">${error.publicMessage}</p>`), error.status);
  }
  throw error;
});

/** Token sign-in exists only without Access (half an Access configuration answers 503 before this). */
const tokenLoginOff = () => new SecretsError(403, "token sign-in is off: this installation uses Cloudflare Access (open /admin/secrets through Access)");

adminPages.get("/login", async (c) => {
  if ((await accessConfig.load(c.env)).enforced) throw tokenLoginOff();
  return c.html(
    page(
      "Sign in",
      html`<form method="post" action="/admin/login">
        <label>Admin token <input type="password" name="token" autocomplete="current-password" required /></label>
        <button type="submit">Sign in</button>
      </form>`,
    ),
  );
});

adminPages.post("/login", async (c) => {
  if ((await accessConfig.load(c.env)).enforced) throw tokenLoginOff();
  const { token: adminToken } = await adminApiConfig.load(c.env);
  const { sessionKeys } = await secretsConfig.load(c.env);
  if (!sameOrigin(c)) throw new SecretsError(403, "cross-origin sign-in refused");
  const form = await readForm(c);
  if (!(await constantTimeEquals(form.token ?? "", adminToken))) return c.html(page("Sign in", html`<p class="notice">That token is not the admin token.</p><p><a href="/admin/login">Try again</a></p>`), 401);
  const { value } = await createSession(c.env.DB, sessionKeys);
  c.header("Set-Cookie", sessionCookie(value, { secure: secureCookie(c) }));
  return c.redirect("/admin/secrets", 303);
});

/** Ends this session (its row in D1), whatever else is presented. */
adminPages.post("/logout", async (c) => {
  const access = await accessConfig.load(c.env);
  if (!sameOrigin(c)) throw new SecretsError(403, "cross-origin sign-out refused");
  const { sessionKeys } = await secretsConfig.load(c.env);
  const session = await readSession(c.env.DB, sessionKeys, getCookie(c, SESSION_COOKIE));
  if (session) await endSession(c.env.DB, session);
  c.header("Set-Cookie", sessionCookie("", { maxAge: 0, secure: secureCookie(c) }));
  // Behind Access, signing out is Access's own logout.
  return c.redirect(access.enforced ? "/cdn-cgi/access/logout" : "/admin/login", 303);
});

/** Every other page: an operator, or the login page (local development), or the refusal's reason. */
async function requireOperator(c: C, next: () => Promise<void>) {
  const check = await identifyOperator(c.env, c.req.raw.headers, {
    session: async () => readSession(c.env.DB, (await secretsConfig.load(c.env)).sessionKeys, getCookie(c, SESSION_COOKIE)),
  });
  if (!check.ok) {
    if (check.login) return c.redirect("/admin/login", 302);
    throw new SecretsError(check.status, check.reason);
  }
  c.set("operator", check.operator);
  c.set("secrets", await secretsConfig.load(c.env));
  await next();
}
adminPages.use("/secrets", requireOperator);
adminPages.use("/secrets/*", requireOperator);
adminPages.use("/sessions/*", requireOperator);

/** Ends every token-login session (the kill switch; a master-key rotation does the same). */
adminPages.post("/sessions/end-all", async (c) => {
  await checkForm(c);
  const ended = await endAllSessions(c.env.DB);
  await audit(context(c), { actor: c.var.operator.actor, action: "sessions.end-all", env: "*", detail: `${ended} ended` });
  c.header("Set-Cookie", sessionCookie("", { maxAge: 0, secure: secureCookie(c) }));
  return c.redirect(c.var.operator.via === "access" ? "/admin/secrets" : "/admin/login", 303);
});

const sessionControls = async (c: C) => html`<p>
  <form class="inline" method="post" action="/admin/logout"><button type="submit" id="sign-out">Sign out</button></form>
  ${c.var.operator.via === "access" ? "" : html`<form class="inline" method="post" action="/admin/sessions/end-all">${await csrfField(c)}<button type="submit" id="end-all-sessions">End every token-login session</button></form>`}
</p>`;

adminPages.get("/secrets", async (c) => {
  const sets = await listSets(context(c));
  const rows = sets.map(
    (row) => html`<tr><td>${row.env}</td><td><a href="/admin/secrets/${row.env}/${row.app}">${row.app}</a></td><td>${row.current_version}</td><td>${new Date(row.updated_at).toISOString()}</td></tr>`,
  );
  return c.html(
    page(
      "Secrets",
      html`<table><thead><tr><th>Env</th><th>App</th><th>Version</th><th>Updated</th></tr></thead><tbody>${rows}</tbody></table>${sets.length === 0 ? html`<p>Nothing synced yet: <code>npm run secrets -- sync --env &lt;env&gt;</code>.</p>` : ""}${await sessionControls(c)}`,
      c.var.operator,
    ),
  );
});

async function setPage(c: C, revealed: Record<string, string> | null, issued: string | null = null) {
  const { env, app } = setParams(c);
  const history = await versionsWithHmacs(context(c), env, app);
  const current = history[0];
  if (!current) throw new SecretsError(404, "no such set");
  const names = Object.keys(current.hmacs).sort();
  const csrf = await csrfField(c);
  const from = Number(c.req.query("from") ?? current.version - 1);
  const to = Number(c.req.query("to") ?? current.version);
  const older = history.find((row) => row.version === from);
  const newer = history.find((row) => row.version === to);
  let diff: unknown = "";
  if (older && newer) {
    const a = older.hmacs;
    const b = newer.hmacs;
    const lines = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().flatMap((name) =>
      !(name in a) ? [html`<li class="added">+ ${name}</li>`] : !(name in b) ? [html`<li class="removed">− ${name}</li>`] : a[name] !== b[name] ? [html`<li class="changed">~ ${name} (value changed)</li>`] : [],
    );
    diff = html`<h2>Changes from v${from} to v${to}</h2><ul id="diff">${lines.length > 0 ? lines : html`<li>no change</li>`}</ul>`;
  }
  const tokens = await listTokens(context(c), env, app);
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
            (row) => html`<tr><td>v${row.version}${row.restoredFrom ? raw(` (rollback to v${row.restoredFrom})`) : ""}</td><td>${row.actor}</td><td>${new Date(row.createdAt).toISOString()}</td><td>
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
            (token) => html`<tr><td><code>${token.id}</code></td><td>${token.createdAt}</td><td>${token.revokedAt ? "revoked" : html`active <form class="inline" method="post" action="/admin/secrets/${env}/${app}/tokens/${token.id}/revoke">${csrf}<button type="submit">Revoke</button></form>`}</td></tr>`,
          )}
        </tbody></table>
        <form method="post" action="/admin/secrets/${env}/${app}/tokens">${csrf}<button type="submit" id="issue-token">Issue a token</button></form>`,
      c.var.operator,
    ),
  );
}

adminPages.get("/secrets/:env/:app", async (c) => setPage(c, null));

adminPages.post("/secrets/:env/:app/reveal", async (c) => {
  await checkForm(c);
  const { env, app } = setParams(c);
  const { version, values } = await readCurrent(context(c), env, app);
  await audit(context(c), { actor: c.var.operator.actor, action: "reveal", env, app, version });
  return setPage(c, values);
});

adminPages.post("/secrets/:env/:app/rollback", async (c) => {
  const fields = await checkForm(c);
  const { env, app } = setParams(c);
  const version = Number(fields.version);
  if (!Number.isInteger(version) || version < 1) throw new SecretsError(400, "version must be a positive integer");
  await rollback(context(c), env, app, version, c.var.operator.actor);
  return c.redirect(`/admin/secrets/${env}/${app}`, 303);
});

adminPages.post("/secrets/:env/:app/tokens", async (c) => {
  await checkForm(c);
  const { env, app } = setParams(c);
  const { token } = await issueToken(context(c), env, app, c.var.operator.actor);
  return setPage(c, null, token);
});

adminPages.post("/secrets/:env/:app/tokens/:id/revoke", async (c) => {
  await checkForm(c);
  const { env, app } = setParams(c);
  await revokeToken(context(c), c.req.param("id"), c.var.operator.actor);
  return c.redirect(`/admin/secrets/${env}/${app}`, 303);
});
