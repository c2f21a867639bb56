// HTTP routes of the secrets store. Three callers, never interchangeable: the sync CLI
// (SECRETS_SYNC_TOKEN: manifest, PUT and DELETE of a set, nothing else), operators (app tokens,
// history, rollback, re-wrap: a Cloudflare Access identity where Access is configured, ADMIN_TOKEN
// only without it; see access/operator.ts) and apps (an app token scoped to one env/app). Every
// answer is `Cache-Control: no-store`. Bodies are capped: a set at MAX_SET_BODY_BYTES, anything
// else at 16 KiB (413 beyond).
import { Hono, type Context as HonoContext } from "hono";
import { z } from "zod";
import { identifyOperator } from "../access/operator";
import { constantTimeEquals } from "../auth/constant-time";
import type { AppEnv } from "../http/app-env";
import { readRawBody } from "../http/read-json-body";
import { handleError } from "../http/request-log";
import { issueReason } from "../http/validation";
import { raiseAlertAfterResponse } from "../alerts/raise";
import { secretsConfig } from "./config";
import { audit, authorizeRead, history, listTokens, issueToken, manifest, parseRewrapCursor, readCurrent, REWRAP_PAGE_SIZE, revokeToken, rewrapPage, rollback, SecretsError, writeSet } from "./store";
import { bearerToken } from "../auth/bearer";

const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "must be lower-case letters, digits and -" });
const MAX_VALUE_BYTES = 32 * 1024;
const valuesSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "names are letters, digits and _" }), z.string().refine((value) => new TextEncoder().encode(value).length <= MAX_VALUE_BYTES, { error: "a value is at most 32 KiB" }))
  .refine((values) => Object.keys(values).length <= 200, { error: "at most 200 names per app" });
const putSchema = z.object({ baseVersion: z.number().int().min(0), values: valuesSchema }).strict();
const tokenRequestSchema = z.object({ env: slug, app: slug }).strict();
const rollbackSchema = z.object({ version: z.number().int().min(1) }).strict();
const rewrapSchema = z.object({ cursor: z.string().max(1024).optional(), limit: z.number().int().min(1).max(REWRAP_PAGE_SIZE).optional() }).strict();

/** The most a set's PUT body may be: tighter than 200 names of 32 KiB each (6.4 MiB) would allow. */
export const MAX_SET_BODY_BYTES = 1024 * 1024;
const MAX_REQUEST_BODY_BYTES = 16 * 1024;

type C = HonoContext<AppEnv>;

function bearer(c: C): string | null {
  return bearerToken(c.req.header("authorization"));
}

/** The body as JSON, parsed by `schema`; 413 beyond `limit` bytes (declared or read), 400 otherwise. */
async function json<T extends z.ZodType>(c: C, schema: T, limit = MAX_REQUEST_BODY_BYTES, empty?: unknown): Promise<z.infer<T>> {
  const { text } = await readRawBody(c.req.raw, limit);
  let body: unknown = empty;
  if (text.trim().length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new SecretsError(400, "body: malformed JSON");
    }
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new SecretsError(400, issueReason(parsed.error));
  return parsed.data;
}

/** Path words of the API itself: an env named "tokens" or an app named "manifest" could not be addressed. */
const RESERVED_ENVS = new Set(["tokens", "rewrap"]);
const RESERVED_APPS = new Set(["manifest"]);

function params(c: C): { env: string; app: string } {
  const env = slug.safeParse(c.req.param("env"));
  const app = slug.safeParse(c.req.param("app") ?? "x");
  if (!env.success || !app.success) throw new SecretsError(400, "env and app must be lower-case letters, digits and -");
  const appName = c.req.param("app") ?? "";
  if (RESERVED_ENVS.has(env.data) || RESERVED_APPS.has(appName)) throw new SecretsError(400, `env "tokens"/"rewrap" and app "manifest" are reserved`);
  return { env: env.data, app: appName };
}

async function requireSync(c: C) {
  const config = await secretsConfig.load(c.env);
  const token = bearer(c);
  if (!token || !(await constantTimeEquals(token, config.syncToken))) throw new SecretsError(401, "unauthorized");
  return { env: c.env, config };
}

/** An operator (Access identity, or ADMIN_TOKEN without Access): the store and the audit actor. */
async function requireOperator(c: C) {
  const check = await identifyOperator(c.env, c.req.raw.headers);
  if (!check.ok) throw new SecretsError(check.status, check.reason);
  const config = await secretsConfig.load(c.env);
  return { context: { env: c.env, config }, actor: check.operator.actor };
}

export const secretsRoutes = new Hono<AppEnv>();

secretsRoutes.use("*", async (c, next) => {
  await next();
  c.header("Cache-Control", "no-store");
});

// Errors thrown by handlers reach onError (not the middleware above).
secretsRoutes.onError((error, c) => {
  if (!(error instanceof SecretsError)) {
    c.header("Cache-Control", "no-store");
    return handleError(error, c);
  }
  // The reason names env/app/NAME and the key id at most, never a value.
  if (error.status >= 500) raiseAlertAfterResponse(c, "secrets store refused a stored value", { requestId: c.get("requestId"), path: c.req.path, status: error.status, reason: error.message });
  c.header("Cache-Control", "no-store");
  if (error.status === 429) c.header("Retry-After", String(error.extra.retryAfter ?? 60));
  if (error.status === 401) c.header("WWW-Authenticate", 'Bearer realm="secrets"');
  return c.json({ error: error.message, ...(error.status === 409 ? { currentVersion: error.extra.currentVersion } : {}) }, error.status);
});

// ---- operators (before the :env/:app patterns)
secretsRoutes.post("/tokens", async (c) => {
  const { context, actor } = await requireOperator(c);
  const request = await json(c, tokenRequestSchema);
  return c.json(await issueToken(context, request.env, request.app, actor), 201);
});
const tokenQuerySchema = z.object({ env: slug.optional(), app: slug.optional() });
secretsRoutes.get("/tokens", async (c) => {
  const { context } = await requireOperator(c);
  const query = tokenQuerySchema.safeParse({ env: c.req.query("env") || undefined, app: c.req.query("app") || undefined });
  if (!query.success) throw new SecretsError(400, issueReason(query.error));
  return c.json({ items: await listTokens(context, query.data.env, query.data.app) });
});
secretsRoutes.get("/:env/:app/history", async (c) => {
  const { context } = await requireOperator(c);
  const { env, app } = params(c);
  return c.json({ env, app, versions: await history(context, env, app) });
});
secretsRoutes.delete("/tokens/:id", async (c) => {
  const { context, actor } = await requireOperator(c);
  if (!(await revokeToken(context, c.req.param("id"), actor))) throw new SecretsError(404, "no such active token");
  return c.json({ id: c.req.param("id"), revoked: true });
});
// Master-key rotation, a page at a time: `{}` starts a pass, `{"cursor"}` continues it.
secretsRoutes.post("/rewrap", async (c) => {
  const { context, actor } = await requireOperator(c);
  const request = await json(c, rewrapSchema, MAX_REQUEST_BODY_BYTES, {});
  const cursor = request.cursor === undefined ? null : parseRewrapCursor(request.cursor);
  return c.json(await rewrapPage(context, actor, cursor, request.limit));
});
secretsRoutes.post("/:env/:app/rollback", async (c) => {
  const { context, actor } = await requireOperator(c);
  const { env, app } = params(c);
  const { version } = await json(c, rollbackSchema);
  return c.json(await rollback(context, env, app, version, actor));
});

// ---- the sync CLI
secretsRoutes.get("/:env/manifest", async (c) => {
  const context = await requireSync(c);
  const { env } = params(c);
  return c.json(await manifest(context, env));
});
secretsRoutes.put("/:env/:app", async (c) => {
  const context = await requireSync(c);
  const { env, app } = params(c);
  const body = await json(c, putSchema, MAX_SET_BODY_BYTES);
  return c.json(await writeSet(context, { env, app, baseVersion: body.baseVersion, values: body.values, actor: "sync" }));
});
secretsRoutes.delete("/:env/:app", async (c) => {
  const context = await requireSync(c);
  const { env, app } = params(c);
  const result = await writeSet(context, { env, app, baseVersion: null, values: {}, actor: "sync" });
  return c.json({ env, app, version: result.version });
});

// ---- apps
secretsRoutes.get("/:env/:app", async (c) => {
  const config = await secretsConfig.load(c.env);
  const context = { env: c.env, config };
  const { env, app } = params(c);
  const token = bearer(c);
  if (!token) throw new SecretsError(401, "unauthorized");
  await authorizeRead(context, token, env, app);
  const { version, values } = await readCurrent(context, env, app);
  await audit(context, { actor: "app-token", action: "read", env, app, version });
  return c.json({ env, app, version, values });
});
