// The secrets store. D1 holds which version of an env/app set is current, each version's names
// with HMACs, the env HMAC keys (wrapped), app tokens (hashed) and the audit log; KV holds each
// version's sealed values under an immutable key. D1 decides what is current, so KV's eventual
// consistency never serves an older set as the newest.
import { z } from "zod";
import { sha256Hex } from "../auth/constant-time";
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

export async function audit(context: Context, entry: { actor: string; action: string; env: string; app?: string | null; version?: number | null }): Promise<void> {
  await context.env.DB.prepare("INSERT INTO secret_audit (at, actor, action, env, app, version) VALUES (?, ?, ?, ?, ?, ?)")
    .bind(Date.now(), entry.actor, entry.action, entry.env, entry.app ?? null, entry.version ?? null)
    .run();
}

function masterFor(context: Context, kid: string): MasterKey {
  const key = context.config.keys.get(kid);
  if (!key) throw new SecretsError(503, `master key ${kid} is not configured (list it in SECRETS_PREVIOUS_MASTER_KEYS)`);
  return key;
}

/** The env's HMAC key, created on first use (a concurrent creation keeps the first). */
export async function envHmacKey(context: Context, env: string): Promise<Uint8Array<ArrayBuffer>> {
  const read = () => context.env.DB.prepare("SELECT wrapped, kid FROM secret_env_keys WHERE env = ?").bind(env).first<{ wrapped: string; kid: string }>();
  let row = await read();
  if (!row) {
    const sealed = await seal(context.config.current, `env-key/${env}`, toBase64(crypto.getRandomValues(new Uint8Array(32))));
    await context.env.DB.prepare("INSERT INTO secret_env_keys (env, wrapped, kid, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (env) DO NOTHING")
      .bind(env, JSON.stringify(sealed), context.config.current.kid, Date.now())
      .run();
    row = await read();
  }
  if (!row) throw new SecretsError(500, "env key could not be stored");
  return fromBase64(await open(masterFor(context, row.kid), `env-key/${env}`, sealedSchema.parse(JSON.parse(row.wrapped))));
}

type VersionRow = { version: number; hmacs: string; kv_key: string };

async function currentRow(context: Context, env: string, app: string): Promise<VersionRow | null> {
  return context.env.DB.prepare(
    "SELECT v.version, v.hmacs, v.kv_key FROM secret_sets s JOIN secret_versions v ON v.env = s.env AND v.app = s.app AND v.version = s.current_version WHERE s.env = ? AND s.app = ?",
  )
    .bind(env, app)
    .first<VersionRow>();
}

export async function manifest(context: Context, env: string) {
  const hmacKey = await envHmacKey(context, env);
  const { results } = await context.env.DB.prepare(
    "SELECT s.app, v.version, v.hmacs FROM secret_sets s JOIN secret_versions v ON v.env = s.env AND v.app = s.app AND v.version = s.current_version WHERE s.env = ? ORDER BY s.app",
  )
    .bind(env)
    .all<{ app: string; version: number; hmacs: string }>();
  const apps = Object.fromEntries(results.map((row) => [row.app, { version: row.version, keys: JSON.parse(row.hmacs) as Record<string, string> }]));
  return { env, hmacKey: toBase64(hmacKey), apps };
}

async function sealSet(context: Context, env: string, app: string, version: number, values: Record<string, string>): Promise<StoredSet> {
  const sealed: Record<string, SealedValue> = {};
  for (const [name, value] of Object.entries(values)) sealed[name] = await seal(context.config.current, valueAad(env, app, name, version), value);
  return { kid: context.config.current.kid, values: sealed };
}

async function readSet(context: Context, env: string, app: string, row: VersionRow): Promise<Record<string, string>> {
  const stored = await context.env.SECRETS_KV.get(row.kv_key, "json");
  if (stored === null) throw new SecretsError(503, "the encrypted set is not readable yet; retry");
  const set = storedSetSchema.safeParse(stored);
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
  await context.env.SECRETS_KV.put(kvKey, JSON.stringify(await sealSet(context, env, app, version, input.values)));
  const now = Date.now();
  const [, update, insert] = await context.env.DB.batch([
    context.env.DB.prepare("INSERT INTO secret_sets (env, app, current_version, updated_at) VALUES (?, ?, 0, ?) ON CONFLICT (env, app) DO NOTHING").bind(env, app, now),
    context.env.DB.prepare("UPDATE secret_sets SET current_version = ?, updated_at = ? WHERE env = ? AND app = ? AND current_version = ?").bind(version, now, env, app, base),
    // Only when this writer moved the set: the unique (env, app, version) refuses a second one.
    context.env.DB.prepare(
      "INSERT INTO secret_versions (env, app, version, hmacs, kv_key, actor, restored_from, created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE changes() = 1 ON CONFLICT DO NOTHING",
    ).bind(env, app, version, JSON.stringify(hmacs), kvKey, input.actor, input.restoredFrom ?? null, now),
    context.env.DB.prepare("INSERT INTO secret_audit (at, actor, action, env, app, version) SELECT ?, ?, ?, ?, ?, ? WHERE changes() = 1").bind(now, input.actor, input.restoredFrom === undefined ? "sync" : "rollback", env, app, version),
  ]);
  if ((update?.meta.changes ?? 0) !== 1 || (insert?.meta.changes ?? 0) !== 1) {
    await context.env.SECRETS_KV.delete(kvKey);
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
  const row = await context.env.DB.prepare("SELECT version, hmacs, kv_key FROM secret_versions WHERE env = ? AND app = ? AND version = ?").bind(env, app, version).first<VersionRow>();
  if (!row) throw new SecretsError(404, `${env}/${app} has no version ${version}`);
  const values = await readSet(context, env, app, row);
  const result = await writeSet(context, { env, app, baseVersion: null, values, actor, restoredFrom: version });
  return { version: result.version, restoredFrom: version };
}

/**
 * Re-wraps every stored data key under the current master key. A set whose data key fails
 * authentication (tampered) is left as it is and counted: one bad set must not stop the rotation.
 */
export async function rewrapAll(context: Context): Promise<{ rewrapped: number; failed: string[] }> {
  const { results } = await context.env.DB.prepare("SELECT env, app, version, kv_key FROM secret_versions").all<{ env: string; app: string; version: number; kv_key: string }>();
  let changed = 0;
  const failed: string[] = [];
  for (const row of results) {
    const stored = storedSetSchema.safeParse(await context.env.SECRETS_KV.get(row.kv_key, "json"));
    if (!stored.success || stored.data.kid === context.config.current.kid) continue;
    const from = masterFor(context, stored.data.kid);
    const values: Record<string, SealedValue> = {};
    try {
      for (const [name, sealed] of Object.entries(stored.data.values)) values[name] = await rewrap(from, context.config.current, valueAad(row.env, row.app, name, row.version), sealed);
    } catch {
      failed.push(`${row.env}/${row.app}/v${row.version}`);
      continue;
    }
    await context.env.SECRETS_KV.put(row.kv_key, JSON.stringify({ kid: context.config.current.kid, values }));
    changed += 1;
  }
  const envKeys = await context.env.DB.prepare("SELECT env, wrapped, kid FROM secret_env_keys WHERE kid != ?").bind(context.config.current.kid).all<{ env: string; wrapped: string; kid: string }>();
  for (const row of envKeys.results) {
    const sealed = await rewrap(masterFor(context, row.kid), context.config.current, `env-key/${row.env}`, sealedSchema.parse(JSON.parse(row.wrapped)));
    await context.env.DB.prepare("UPDATE secret_env_keys SET wrapped = ?, kid = ? WHERE env = ?").bind(JSON.stringify(sealed), context.config.current.kid, row.env).run();
  }
  return { rewrapped: changed, failed };
}

// ---- app tokens

const tokenText = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `eos_${toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "")}`;
};

export async function issueToken(context: Context, env: string, app: string, actor: string): Promise<{ id: string; token: string }> {
  const token = tokenText();
  const id = crypto.randomUUID();
  await context.env.DB.prepare("INSERT INTO secret_tokens (id, env, app, token_hash, created_at) VALUES (?, ?, ?, ?, ?)").bind(id, env, app, await sha256Hex(token), Date.now()).run();
  await audit(context, { actor, action: "token.issue", env, app });
  return { id, token };
}

export async function revokeToken(context: Context, id: string, actor: string): Promise<boolean> {
  const row = await context.env.DB.prepare("UPDATE secret_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING env, app").bind(Date.now(), id).first<{ env: string; app: string }>();
  if (!row) return false;
  await audit(context, { actor, action: "token.revoke", env: row.env, app: row.app });
  return true;
}

/** Tokens of one env (and app), newest first; never the token or its hash. */
export async function listTokens(context: Context, env?: string, app?: string) {
  const { results } = await context.env.DB.prepare(
    "SELECT id, env, app, created_at, revoked_at FROM secret_tokens WHERE (?1 IS NULL OR env = ?1) AND (?2 IS NULL OR app = ?2) ORDER BY created_at DESC, id LIMIT 500",
  )
    .bind(env ?? null, app ?? null)
    .all<{ id: string; env: string; app: string; created_at: number; revoked_at: number | null }>();
  return results.map((row) => ({
    id: row.id,
    env: row.env,
    app: row.app,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  }));
}

/** Every version of a set, newest first: names only, never values or HMACs. */
export async function history(context: Context, env: string, app: string) {
  const { results } = await context.env.DB.prepare("SELECT version, hmacs, actor, restored_from, created_at FROM secret_versions WHERE env = ? AND app = ? ORDER BY version DESC")
    .bind(env, app)
    .all<{ version: number; hmacs: string; actor: string; restored_from: number | null; created_at: number }>();
  return results.map((row) => ({
    version: row.version,
    createdAt: new Date(row.created_at).toISOString(),
    actor: row.actor,
    restoredFrom: row.restored_from,
    keys: Object.keys(JSON.parse(row.hmacs) as Record<string, string>).sort(),
  }));
}

export const READS_PER_MINUTE = 60;

/** The token's id when it may read env/app; 401 unknown or revoked, 403 another set, 429 too many reads. */
export async function authorizeRead(context: Context, token: string, env: string, app: string): Promise<string> {
  const row = await context.env.DB.prepare("SELECT id, env, app, revoked_at FROM secret_tokens WHERE token_hash = ?").bind(await sha256Hex(token)).first<{ id: string; env: string; app: string; revoked_at: number | null }>();
  if (!row || row.revoked_at !== null) throw new SecretsError(401, "unknown or revoked token");
  if (row.env !== env || row.app !== app) throw new SecretsError(403, "this token reads another env or app");
  const minute = Math.floor(Date.now() / 60_000);
  // One batch: this token's earlier minutes are dropped (the table stays one row per active token).
  const [, counted] = await context.env.DB.batch([
    context.env.DB.prepare("DELETE FROM secret_read_counts WHERE token_id = ? AND minute < ?").bind(row.id, minute),
    context.env.DB.prepare(
      "INSERT INTO secret_read_counts (token_id, minute, count) VALUES (?, ?, 1) ON CONFLICT (token_id, minute) DO UPDATE SET count = count + 1 RETURNING count",
    ).bind(row.id, minute),
  ]);
  const count = (counted?.results[0] as { count?: number } | undefined)?.count;
  if ((count ?? 0) > READS_PER_MINUTE) throw new SecretsError(429, "too many reads", { retryAfter: 60 - Math.floor((Date.now() / 1000) % 60) });
  return row.id;
}
