// Sessions of the operator pages' token login (only where Cloudflare Access is not configured) and
// the CSRF tokens of every operator form.
//
// Keys: HMAC-SHA256 keys of their own, derived with HKDF-SHA256 from the secrets master key (one
// per purpose), never from ADMIN_TOKEN. Whoever holds the admin token cannot forge a session or a
// form token; a master-key rotation derives new keys, which ends every session.
//
// A session is an HttpOnly, SameSite=Strict cookie `<id>.<expires>.<signature>` and a row in D1
// (`admin_sessions`: the id's SHA-256 and the expiry), so a session lives only while its row does:
// logout deletes one row, "end every session" deletes all, and a copied cookie dies with its row.
// A CSRF token is `<expires>.<HMAC(binding, expires)>`, bound to the session id (or to the Access
// identity), valid 8 hours at most.
import { sha256Hex } from "../auth/constant-time";
import { withStorage } from "../db/with-storage";

const encoder = new TextEncoder();
export const SESSION_COOKIE = "edge_ops_admin";
export const SESSION_SECONDS = 8 * 3600;
const CSRF_SECONDS = 8 * 3600;
/** HKDF salt: fixed and public; the master key is the secret input. */
const HKDF_SALT = "edge-ops operator keys v1";

export type SessionKeys = { session: CryptoKey; csrf: CryptoKey };
export type AdminSession = { id: string; expires: number };

function base64Url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/").padEnd(Math.ceil(text.length / 4) * 4, "="));
    const bytes = new Uint8Array(new ArrayBuffer(binary.length));
    for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
    return bytes;
  } catch {
    return null;
  }
}

/** The session and CSRF keys, derived from the raw master key (32 bytes). */
export async function deriveSessionKeys(masterKey: Uint8Array<ArrayBuffer>): Promise<SessionKeys> {
  const input = await crypto.subtle.importKey("raw", masterKey, "HKDF", false, ["deriveKey"]);
  const derive = (purpose: string) =>
    crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: encoder.encode(HKDF_SALT), info: encoder.encode(`admin ${purpose} signing`) },
      input,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign", "verify"],
    );
  const [session, csrf] = await Promise.all([derive("session"), derive("csrf")]);
  return { session, csrf };
}

const sign = async (key: CryptoKey, message: string) => base64Url(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));

/** HMAC verification in constant time (crypto.subtle.verify). */
async function verify(key: CryptoKey, message: string, signature: string): Promise<boolean> {
  const bytes = fromBase64Url(signature);
  return bytes !== null && crypto.subtle.verify("HMAC", key, bytes, encoder.encode(message));
}

/** Starts a session: its row in D1, and the cookie value. Expired rows are cleared on the way. */
export async function createSession(db: D1Database, keys: SessionKeys, nowSeconds = Math.floor(Date.now() / 1000)): Promise<{ value: string; session: AdminSession }> {
  const session = { id: base64Url(crypto.getRandomValues(new Uint8Array(18))), expires: nowSeconds + SESSION_SECONDS };
  const idHash = await sha256Hex(session.id);
  await withStorage("admin session: create", () =>
    db.batch([
      db.prepare("DELETE FROM admin_sessions WHERE expires_at < ?").bind(nowSeconds * 1000),
      db.prepare("INSERT INTO admin_sessions (id_hash, created_at, expires_at) VALUES (?, ?, ?)").bind(idHash, nowSeconds * 1000, session.expires * 1000),
    ]),
  );
  const body = `${session.id}.${session.expires}`;
  return { value: `${body}.${await sign(keys.session, body)}`, session };
}

/** The session in a cookie value, or null when it is forged, altered, expired or ended. */
export async function readSession(db: D1Database, keys: SessionKeys, value: string | undefined, nowSeconds = Math.floor(Date.now() / 1000)): Promise<AdminSession | null> {
  const match = /^([A-Za-z0-9_-]{24})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? "");
  if (!match) return null;
  const [, id, expires, signature] = match as unknown as [string, string, string, string];
  if (!(await verify(keys.session, `${id}.${expires}`, signature))) return null;
  if (Number(expires) < nowSeconds) return null;
  const idHash = await sha256Hex(id);
  const row = await withStorage("admin session: read", () => db.prepare("SELECT expires_at FROM admin_sessions WHERE id_hash = ? AND expires_at >= ?").bind(idHash, nowSeconds * 1000).first<{ expires_at: number }>());
  return row ? { id, expires: Number(expires) } : null;
}

/** Logout: this session's row goes, so its cookie opens nothing any more. */
export async function endSession(db: D1Database, session: AdminSession): Promise<void> {
  const idHash = await sha256Hex(session.id);
  await withStorage("admin session: end", () => db.prepare("DELETE FROM admin_sessions WHERE id_hash = ?").bind(idHash).run());
}

/** Ends every session; returns how many were open. */
export async function endAllSessions(db: D1Database): Promise<number> {
  const result = await withStorage("admin session: end all", () => db.prepare("DELETE FROM admin_sessions").run());
  return result.meta.changes ?? 0;
}

/** Secure whenever the page is served over https; plain http only happens on a developer's machine. */
export const sessionCookie = (value: string, options: { maxAge?: number; secure: boolean }) =>
  `${SESSION_COOKIE}=${value}; Path=/admin; HttpOnly;${options.secure ? " Secure;" : ""} SameSite=Strict; Max-Age=${options.maxAge ?? SESSION_SECONDS}`;

/** The CSRF token of the forms shown to `binding` (a session id, or an Access identity). */
export async function csrfToken(keys: SessionKeys, binding: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  const expires = nowSeconds + CSRF_SECONDS;
  return `${expires}.${await sign(keys.csrf, `${binding}\0${expires}`)}`;
}

export async function validCsrf(keys: SessionKeys, binding: string, candidate: string | undefined, nowSeconds = Math.floor(Date.now() / 1000)): Promise<boolean> {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(candidate ?? "");
  if (!match) return false;
  const [, expires, signature] = match as unknown as [string, string, string];
  if (Number(expires) < nowSeconds) return false;
  return verify(keys.csrf, `${binding}\0${expires}`, signature);
}
