// The secrets store. D1 holds which version of an env/app set is current, each version's names
// with HMACs and the master key id its KV entry is sealed under, the env HMAC keys (wrapped), app
// tokens (hashed) and the audit log; KV holds each version's sealed values under an immutable key.
// D1 decides what is current, so KV's eventual consistency never serves an older set as the
// newest. Every D1 and KV call goes through withStorage: a failure answers 503 and is logged by
// its code, never by the driver's message (which can quote bound values).
import { z } from "zod";
import { sha256Hex } from "../auth/constant-time";
import { withStorage } from "../db/with-storage";
import type { SecretsConfig } from "./config";
import { fromBase64, hmacHex, open, rewrap, seal, toBase64, valueAad, type MasterKey, type SealedValue } from "./crypto";

const sealedSchema = z.object({ iv: z.string(), ct: z.string(), dekIv: z.string(), dek: z.string() });
const storedSetSchema = z.object({ kid: z.string(), values: z.record(z.string(), sealedSchema) });
type StoredSet = z.infer<typeof storedSetSchema>;

export class SecretsError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 429 | 500 | 503,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "SecretsError";
  }
}

type Context = { env: Env; config: SecretsConfig };

/** A D1 or KV call of the store: 503 on failure, logged by code only. */
const stored = <T>(what: string, work: () => Promise<T>): Promise<T> => withStorage(`secrets store: ${what}`, work);

export async function audit(context: Context, entry: { actor: string; action: string; env: string; app?: string | null; version?: number | null; detail?: string | null }): Promise<void> {
  await stored("audit", () =>
    context.env.DB.prepare("INSERT INTO secret_audit (at, actor, action, env, app, version, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(Date.now(), entry.actor, entry.action, entry.env, entry.app ?? null, entry.version ?? null, entry.detail ?? null)
      .run(),
  );
}

function masterFor(context: Context, kid: string): MasterKey {
  const key = context.config.keys.get(kid);
  if (!key) throw new SecretsError(503, `master key ${kid} is not configured (list it in SECRETS_PREVIOUS_MASTER_KEYS)`);
  return key;
}

/** The env's HMAC key, created on first use (a concurrent creation keeps the first). */
export async function envHmacKey(context: Context, env: string): Promise<Uint8Array<ArrayBuffer>> {
  const read = () => stored("read env key", () => context.env.DB.prepare("SELECT wrapped, kid FROM secret_env_keys WHERE env = ?").bind(env).first<{ wrapped: string; kid: string }>());
  let row = await read();
  if (!row) {
    const sealed = await seal(context.config.current, `env-key/${env}`, toBase64(crypto.getRandomValues(new Uint8Array(32))));
    await stored("create env key", () =>
      context.env.DB.prepare("INSERT INTO secret_env_keys (env, wrapped, kid, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (env) DO NOTHING")
        .bind(env, JSON.stringify(sealed), context.config.current.kid, Date.now())
        .run(),
    );
    row = await read();
  }
  if (!row) throw new SecretsError(500, "env key could not be stored");
  return fromBase64(await open(masterFor(context, row.kid), `env-key/${env}`, sealedSchema.parse(JSON.parse(row.wrapped))));
}

type VersionRow = { version: number; hmacs: string; kv_key: string };

async function currentRow(context: Context, env: string, app: string): Promise<VersionRow | null> {
  return stored("read current version", () =>
    context.env.DB.prepare(
      "SELECT v.version, v.hmacs, v.kv_key FROM secret_sets s JOIN secret_versions v ON v.env = s.env AND v.app = s.app AND v.version = s.current_version WHERE s.env = ? AND s.app = ?",
    )
      .bind(env, app)
      .first<VersionRow>(),
  );
}

export async function manifest(context: Context, env: string) {
  const hmacKey = await envHmacKey(context, env);
  const { results } = await stored("read manifest", () =>
    context.env.DB.prepare(
      "SELECT s.app, v.version, v.hmacs FROM secret_sets s JOIN secret_versions v ON v.env = s.env AND v.app = s.app AND v.version = s.current_version WHERE s.env = ? ORDER BY s.app",
    )
      .bind(env)
      .all<{ app: string; version: number; hmacs: string }>(),
  );
  const apps = Object.fromEntries(results.map((row) => [row.app, { version: row.version, keys: JSON.parse(row.hmacs) as Record<string, string> }]));
  return { env, hmacKey: toBase64(hmacKey), apps };
}

async function sealSet(context: Context, env: string, app: string, version: number, values: Record<string, string>): Promise<StoredSet> {
  const sealed: Record<string, SealedValue> = {};
  for (const [name, value] of Object.entries(values)) sealed[name] = await seal(context.config.current, valueAad(env, app, name, version), value);
  return { kid: context.config.current.kid, values: sealed };
}

async function readSet(context: Context, env: string, app: string, row: VersionRow): Promise<Record<string, string>> {
  const raw = await stored("read sealed set", () => context.env.SECRETS_KV.get(row.kv_key, "text"));
  if (raw === null) throw new SecretsError(503, "the encrypted set is not readable yet; retry");
  const set = storedSetSchema.safeParse(parseJson(raw));
  if (!set.success) throw new SecretsError(500, "the stored set is malformed");
  const master = masterFor(context, set.data.kid);
  const values: Record<string, string> = {};
  for (const [name, sealed] of Object.entries(set.data.values)) {
    try {
      values[name] = await open(master, valueAad(env, app, name, row.version), sealed);
    } catch {
      // Tampered, moved, or under a key that is not this one: never answer garbage.
      throw new SecretsError(500, `the stored value of ${name} failed authentication`);
    }
  }
  return values;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Makes `values` the app's set as version base + 1, unless another writer got there first (409).
 * An unchanged set makes no version. The sealed set goes to KV under a fresh key before D1
 * commits, so D1 never points at a set that is not written.
 */
export async function writeSet(context: Context, input: { env: string; app: string; baseVersion: number | null; values: Record<string, string>; actor: string; restoredFrom?: number }) {
  const { env, app } = input;
  const current = await currentRow(context, env, app);
  const currentVersion = current?.version ?? 0;
  const base = input.baseVersion ?? currentVersion;
  if (base !== currentVersion) throw new SecretsError(409, `${env}/${app} is at version ${currentVersion}, not ${base}`, { currentVersion });
  const hmacKey = await envHmacKey(context, env);
  const hmacs: Record<string, string> = {};
  for (const name of Object.keys(input.values).sort()) hmacs[name] = await hmacHex(hmacKey, name, input.values[name]!);
  if (current && input.restoredFrom === undefined && JSON.stringify(hmacs) === JSON.stringify(JSON.parse(current.hmacs))) return { env, app, version: currentVersion, changed: false };

  const version = base + 1;
  const kvKey = `secrets/${env}/${app}/v${version}-${crypto.randomUUID()}`;
  const sealed = JSON.stringify(await sealSet(context, env, app, version, input.values));
  await stored("write sealed set", () => context.env.SECRETS_KV.put(kvKey, sealed));
  const now = Date.now();
  const db = context.env.DB;
  const [, update, insert] = await stored("commit version", () =>
    db.batch([
      db.prepare("INSERT INTO secret_sets (env, app, current_version, updated_at) VALUES (?, ?, 0, ?) ON CONFLICT (env, app) DO NOTHING").bind(env, app, now),
      db.prepare("UPDATE secret_sets SET current_version = ?, updated_at = ? WHERE env = ? AND app = ? AND current_version = ?").bind(version, now, env, app, base),
      // Only when this writer moved the set: the unique (env, app, version) refuses a second one.
      db
        .prepare(
          "INSERT INTO secret_versions (env, app, version, hmacs, kv_key, actor, restored_from, created_at, kid) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE changes() = 1 ON CONFLICT DO NOTHING",
        )
        .bind(env, app, version, JSON.stringify(hmacs), kvKey, input.actor, input.restoredFrom ?? null, now, context.config.current.kid),
      db
        .prepare("INSERT INTO secret_audit (at, actor, action, env, app, version) SELECT ?, ?, ?, ?, ?, ? WHERE changes() = 1")
        .bind(now, input.actor, input.restoredFrom === undefined ? "sync" : "rollback", env, app, version),
    ]),
  );
  if ((update?.meta.changes ?? 0) !== 1 || (insert?.meta.changes ?? 0) !== 1) {
    await stored("drop losing sealed set", () => context.env.SECRETS_KV.delete(kvKey));
    const now2 = await currentRow(context, env, app);
    throw new SecretsError(409, `${env}/${app} moved to version ${now2?.version ?? 0} meanwhile`, { currentVersion: now2?.version ?? 0 });
  }
  return { env, app, version, changed: true };
}

export async function readCurrent(context: Context, env: string, app: string): Promise<{ version: number; values: Record<string, string> }> {
  const row = await currentRow(context, env, app);
  if (!row) throw new SecretsError(404, `no secrets for ${env}/${app}`);
  return { version: row.version, values: await readSet(context, env, app, row) };
}

export async function rollback(context: Context, env: string, app: string, version: number, actor: string) {
  const row = await stored("read version", () =>
    context.env.DB.prepare("SELECT version, hmacs, kv_key FROM secret_versions WHERE env = ? AND app = ? AND version = ?").bind(env, app, version).first<VersionRow>(),
  );
  if (!row) throw new SecretsError(404, `${env}/${app} has no version ${version}`);
  const values = await readSet(context, env, app, row);
  const result = await writeSet(context, { env, app, baseVersion: null, values, actor, restoredFrom: version });
  return { version: result.version, restoredFrom: version };
}

// ---- master-key rotation: re-wrapping every data key, a page at a time

/**
 * Versions one re-wrap request handles. Each costs at most one KV write, and their entries are
 * read with one bulk KV read (at most 100 keys per call), so a page stays far below the 1,000
 * KV operations a Worker invocation may make; its D1 work is three statements (the page, one
 * UPDATE and one audit INSERT of the whole page, each with its list as one JSON parameter),
 * within the free plan's 50 queries per invocation. Checked against Cloudflare's KV limits page
 * (1,000 operations per invocation, a bulk read counting as one) and the 2025-04-10 changelog
 * on bulk reads (up to 100 keys), and D1's limits page (50 / 1,000 queries per invocation, 100
 * bound parameters per statement), read 2026-12-06.
 */
export const REWRAP_PAGE_SIZE = 100;

export type RewrapFailure = { set: string; reason: string };
export type RewrapPage = {
  /** Re-wrapped under the current key on this page. */
  rewrapped: number;
  /** Already under the current key (nothing to do). */
  alreadyCurrent: number;
  /** Sets of this page that could not be re-wrapped, each named with why; also in the audit log. */
  failed: RewrapFailure[];
  /** Pass it back (`{"cursor"}`) for the next page; null once every version was visited. */
  nextCursor: string | null;
  /** True only at the end of a pass that left nothing under an earlier key. */
  complete: boolean;
  /** At the end of a pass: what still needs an earlier master key (first 100 named). */
  pending?: { count: number; sets: string[] };
  message: string;
};

const cursorSchema = z.tuple([z.string(), z.string(), z.number().int()]);

export function parseRewrapCursor(text: string): [string, string, number] {
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    const parsed = cursorSchema.safeParse(JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)))));
    if (parsed.success) return parsed.data;
  } catch {
    // Falls through to the 400 below.
  }
  throw new SecretsError(400, "cursor: not a cursor this API gave out");
}

const encodeCursor = (row: { env: string; app: string; version: number }) =>
  toBase64(new TextEncoder().encode(JSON.stringify([row.env, row.app, row.version]))).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

type RewrapRow = { env: string; app: string; version: number; kv_key: string; kid: string | null };

/** The set re-wrapped (its new KV entry), already under the current key, or why it cannot be re-wrapped, in our words. */
async function rewrapOne(context: Context, row: RewrapRow, raw: string | null): Promise<{ sealed: string } | { current: true } | { failure: string }> {
  // KV propagates in up to 60 s: a version written elsewhere a moment ago may not be visible yet.
  if (raw === null) return { failure: "the KV entry is missing (or, written in the last minute, not visible here yet)" };
  const parsed = storedSetSchema.safeParse(parseJson(raw));
  if (!parsed.success) return { failure: "the KV entry is not a sealed set (corrupt)" };
  if (parsed.data.kid === context.config.current.kid) return { current: true };
  const from = context.config.keys.get(parsed.data.kid);
  if (!from) return { failure: `sealed under master key ${parsed.data.kid}, which is not configured (SECRETS_PREVIOUS_MASTER_KEYS)` };
  const values: Record<string, SealedValue> = {};
  for (const [name, sealed] of Object.entries(parsed.data.values)) {
    try {
      values[name] = await rewrap(from, context.config.current, valueAad(row.env, row.app, name, row.version), sealed);
    } catch {
      return { failure: `the data key of ${name} failed authentication (tampered or moved)` };
    }
  }
  return { sealed: JSON.stringify({ kid: context.config.current.kid, values }) };
}

/**
 * One page of a master-key rotation: the versions after `cursor` (in env, app, version order) are
 * re-wrapped under the current master key, and at the end of the pass the env keys too. A set that
 * cannot be re-wrapped (its KV entry missing or corrupt, a data key failing authentication, or
 * under a key that is not configured) stays as it is, is named in the answer and in the audit log,
 * and keeps the rotation incomplete: the earlier key stays required until a pass ends with nothing
 * pending. Sets already under the current key cost no KV write, so a pass can be run again.
 */
export async function rewrapPage(context: Context, actor: string, cursor: [string, string, number] | null, pageSize = REWRAP_PAGE_SIZE): Promise<RewrapPage> {
  const db = context.env.DB;
  const currentKid = context.config.current.kid;
  const { results: rows } = await stored("read versions to re-wrap", () =>
    (cursor
      ? db.prepare("SELECT env, app, version, kv_key, kid FROM secret_versions WHERE (env, app, version) > (?, ?, ?) ORDER BY env, app, version LIMIT ?").bind(...cursor, pageSize + 1)
      : db.prepare("SELECT env, app, version, kv_key, kid FROM secret_versions ORDER BY env, app, version LIMIT ?").bind(pageSize + 1)
    ).all<RewrapRow>(),
  );
  const page = rows.slice(0, pageSize);
  const more = rows.length > pageSize;

  const toRead = page.filter((row) => row.kid !== currentKid);
  const entries = toRead.length === 0 ? new Map<string, string | null>() : await stored("read sealed sets", () => context.env.SECRETS_KV.get(toRead.map((row) => row.kv_key), "text"));
  let rewrapped = 0;
  const nowCurrent: string[] = [];
  const failed: (RewrapFailure & { row: RewrapRow })[] = [];
  for (const row of toRead) {
    const outcome = await rewrapOne(context, row, entries.get(row.kv_key) ?? null);
    if ("failure" in outcome) {
      failed.push({ set: `${row.env}/${row.app}/v${row.version}`, reason: outcome.failure, row });
      continue;
    }
    if ("sealed" in outcome) {
      await stored("write re-wrapped set", () => context.env.SECRETS_KV.put(row.kv_key, outcome.sealed));
      rewrapped += 1;
    }
    nowCurrent.push(row.kv_key);
  }
  const now = Date.now();
  const statements: D1PreparedStatement[] = [];
  if (nowCurrent.length > 0) statements.push(db.prepare("UPDATE secret_versions SET kid = ? WHERE kv_key IN (SELECT value FROM json_each(?))").bind(currentKid, JSON.stringify(nowCurrent)));
  if (failed.length > 0) {
    const listed = failed.map(({ row, reason }) => ({ env: row.env, app: row.app, version: row.version, reason }));
    statements.push(
      db
        .prepare(
          "INSERT INTO secret_audit (at, actor, action, env, app, version, detail) SELECT ?, ?, 'rewrap.failed', json_extract(value, '$.env'), json_extract(value, '$.app'), json_extract(value, '$.version'), json_extract(value, '$.reason') FROM json_each(?)",
        )
        .bind(now, actor, JSON.stringify(listed)),
    );
  }
  if (statements.length > 0) await stored("record re-wrapped versions", () => db.batch(statements));
  const answerFailed = failed.map(({ set, reason }) => ({ set, reason }));
  const alreadyCurrent = page.length - toRead.length + (nowCurrent.length - rewrapped);

  const last = page.at(-1);
  if (more && last) {
    return { rewrapped, alreadyCurrent, failed: answerFailed, nextCursor: encodeCursor(last), complete: false, message: "rotation in progress: call again with nextCursor" };
  }

  // The end of the pass: the env keys, then what still needs an earlier key.
  const envFailures = await rewrapEnvKeys(context, actor);
  answerFailed.push(...envFailures);
  const pending = await pendingRotation(context);
  const complete = pending.count === 0;
  await audit(context, {
    actor,
    action: complete ? "rewrap.complete" : "rewrap.incomplete",
    env: "*",
    detail: complete ? null : `${pending.count} still under an earlier master key`,
  });
  return {
    rewrapped,
    alreadyCurrent,
    failed: answerFailed,
    nextCursor: null,
    complete,
    pending,
    message: complete
      ? "rotation complete: every set and env key is under the current master key; the previous keys may be dropped from SECRETS_PREVIOUS_MASTER_KEYS after KV's propagation (a couple of minutes)"
      : `rotation incomplete: ${pending.count} still under an earlier master key; keep it in SECRETS_PREVIOUS_MASTER_KEYS, repair or remove what failed, and run the rotation again`,
  };
}

async function rewrapEnvKeys(context: Context, actor: string): Promise<RewrapFailure[]> {
  const db = context.env.DB;
  const currentKid = context.config.current.kid;
  const { results } = await stored("read env keys to re-wrap", () => db.prepare("SELECT env, wrapped, kid FROM secret_env_keys WHERE kid != ?").bind(currentKid).all<{ env: string; wrapped: string; kid: string }>());
  const failures: RewrapFailure[] = [];
  const updates: D1PreparedStatement[] = [];
  for (const row of results) {
    const from = context.config.keys.get(row.kid);
    const wrapped = sealedSchema.safeParse(parseJson(row.wrapped));
    let reason: string | null = null;
    if (!from) reason = `sealed under master key ${row.kid}, which is not configured (SECRETS_PREVIOUS_MASTER_KEYS)`;
    else if (!wrapped.success) reason = "the stored env key is corrupt";
    else {
      try {
        const sealed = await rewrap(from, context.config.current, `env-key/${row.env}`, wrapped.data);
        updates.push(db.prepare("UPDATE secret_env_keys SET wrapped = ?, kid = ? WHERE env = ? AND kid = ?").bind(JSON.stringify(sealed), currentKid, row.env, row.kid));
        continue;
      } catch {
        reason = "the env key failed authentication (tampered)";
      }
    }
    failures.push({ set: `env-key/${row.env}`, reason });
    updates.push(db.prepare("INSERT INTO secret_audit (at, actor, action, env, detail) VALUES (?, ?, 'rewrap.failed', ?, ?)").bind(Date.now(), actor, row.env, reason));
  }
  // A handful of environments: one batch.
  if (updates.length > 0) await stored("record re-wrapped env keys", () => db.batch(updates));
  return failures;
}

/** Versions and env keys not (known to be) under the current master key. */
export async function pendingRotation(context: Context): Promise<{ count: number; sets: string[] }> {
  const db = context.env.DB;
  const currentKid = context.config.current.kid;
  const [counted, versions, envKeys] = await stored("read pending rotation", () =>
    db.batch([
      db.prepare("SELECT (SELECT COUNT(*) FROM secret_versions WHERE kid IS NULL OR kid != ?1) + (SELECT COUNT(*) FROM secret_env_keys WHERE kid != ?1) AS n").bind(currentKid),
      db.prepare("SELECT env, app, version FROM secret_versions WHERE kid IS NULL OR kid != ? ORDER BY env, app, version LIMIT 100").bind(currentKid),
      db.prepare("SELECT env FROM secret_env_keys WHERE kid != ? ORDER BY env LIMIT 100").bind(currentKid),
    ]),
  );
  const count = (counted?.results[0] as { n?: number } | undefined)?.n ?? 0;
  const sets = [
    ...(versions?.results as { env: string; app: string; version: number }[]).map((row) => `${row.env}/${row.app}/v${row.version}`),
    ...(envKeys?.results as { env: string }[]).map((row) => `env-key/${row.env}`),
  ].slice(0, 100);
  return { count, sets };
}

// ---- app tokens

const tokenText = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `eos_${toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")}`;
};

export async function issueToken(context: Context, env: string, app: string, actor: string): Promise<{ id: string; token: string }> {
  const token = tokenText();
  const id = crypto.randomUUID();
  const tokenHash = await sha256Hex(token);
  const db = context.env.DB;
  // The token and its audit row together.
  await stored("issue token", () =>
    db.batch([
      db.prepare("INSERT INTO secret_tokens (id, env, app, token_hash, created_at) VALUES (?, ?, ?, ?, ?)").bind(id, env, app, tokenHash, Date.now()),
      db.prepare("INSERT INTO secret_audit (at, actor, action, env, app) VALUES (?, ?, 'token.issue', ?, ?)").bind(Date.now(), actor, env, app),
    ]),
  );
  return { id, token };
}

export async function revokeToken(context: Context, id: string, actor: string): Promise<boolean> {
  const row = await stored("revoke token", () =>
    context.env.DB.prepare("UPDATE secret_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING env, app").bind(Date.now(), id).first<{ env: string; app: string }>(),
  );
  if (!row) return false;
  await audit(context, { actor, action: "token.revoke", env: row.env, app: row.app });
  return true;
}

/** Tokens of one env (and app), newest first; never the token or its hash. */
export async function listTokens(context: Context, env?: string, app?: string) {
  const { results } = await stored("list tokens", () =>
    context.env.DB.prepare(
      "SELECT id, env, app, created_at, revoked_at FROM secret_tokens WHERE (?1 IS NULL OR env = ?1) AND (?2 IS NULL OR app = ?2) ORDER BY created_at DESC, id LIMIT 500",
    )
      .bind(env ?? null, app ?? null)
      .all<{ id: string; env: string; app: string; created_at: number; revoked_at: number | null }>(),
  );
  return results.map((row) => ({
    id: row.id,
    env: row.env,
    app: row.app,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  }));
}

type HistoryRow = { version: number; hmacs: string; actor: string; restored_from: number | null; created_at: number };

async function historyRows(context: Context, env: string, app: string): Promise<HistoryRow[]> {
  const { results } = await stored("read history", () =>
    context.env.DB.prepare("SELECT version, hmacs, actor, restored_from, created_at FROM secret_versions WHERE env = ? AND app = ? ORDER BY version DESC").bind(env, app).all<HistoryRow>(),
  );
  return results;
}

/** Every version of a set, newest first: names only, never values or HMACs. */
export async function history(context: Context, env: string, app: string) {
  return (await historyRows(context, env, app)).map((row) => ({
    version: row.version,
    createdAt: new Date(row.created_at).toISOString(),
    actor: row.actor,
    restoredFrom: row.restored_from,
    keys: Object.keys(JSON.parse(row.hmacs) as Record<string, string>).sort(),
  }));
}

/** For the admin page's diff: every version with its HMACs by name (compared, never shown). */
export async function versionsWithHmacs(context: Context, env: string, app: string) {
  return (await historyRows(context, env, app)).map((row) => ({
    version: row.version,
    createdAt: row.created_at,
    actor: row.actor,
    restoredFrom: row.restored_from,
    hmacs: JSON.parse(row.hmacs) as Record<string, string>,
  }));
}

/** Every env/app with its current version, for the admin page's index. */
export async function listSets(context: Context) {
  const { results } = await stored("list sets", () =>
    context.env.DB.prepare("SELECT env, app, current_version, updated_at FROM secret_sets ORDER BY env, app").all<{ env: string; app: string; current_version: number; updated_at: number }>(),
  );
  return results;
}

export const READS_PER_MINUTE = 60;

/** The token's id when it may read env/app; 401 unknown or revoked, 403 another set, 429 too many reads. */
export async function authorizeRead(context: Context, token: string, env: string, app: string): Promise<string> {
  const tokenHash = await sha256Hex(token);
  const row = await stored("read token", () =>
    context.env.DB.prepare("SELECT id, env, app, revoked_at FROM secret_tokens WHERE token_hash = ?").bind(tokenHash).first<{ id: string; env: string; app: string; revoked_at: number | null }>(),
  );
  if (!row || row.revoked_at !== null) throw new SecretsError(401, "unknown or revoked token");
  if (row.env !== env || row.app !== app) throw new SecretsError(403, "this token reads another env or app");
  const minute = Math.floor(Date.now() / 60_000);
  const db = context.env.DB;
  // One batch: this token's earlier minutes are dropped (the table stays one row per active token).
  const [, counted] = await stored("count read", () =>
    db.batch([
      db.prepare("DELETE FROM secret_read_counts WHERE token_id = ? AND minute < ?").bind(row.id, minute),
      db.prepare("INSERT INTO secret_read_counts (token_id, minute, count) VALUES (?, ?, 1) ON CONFLICT (token_id, minute) DO UPDATE SET count = count + 1 RETURNING count").bind(row.id, minute),
    ]),
  );
  const count = (counted?.results[0] as { count?: number } | undefined)?.count;
  if ((count ?? 0) > READS_PER_MINUTE) throw new SecretsError(429, "too many reads", { retryAfter: 60 - Math.floor((Date.now() / 1000) % 60) });
  return row.id;
}
