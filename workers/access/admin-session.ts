// A session for the admin pages when Cloudflare Access is not in front (local use): the login page
// takes the admin token once and sets an HttpOnly, Secure, SameSite=Strict cookie holding an
// expiry and a random id, signed with a key derived from ADMIN_TOKEN (rotating the token ends every
// session). Forms carry a CSRF token bound to the session id, so a cross-site form post is refused
// even where SameSite is not enforced.
const encoder = new TextEncoder();
export const SESSION_COOKIE = "edge_ops_admin";
const SESSION_SECONDS = 8 * 3600;

function base64Url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function sign(adminToken: string, purpose: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(`edge-ops admin ${purpose}\0${adminToken}`), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return base64Url(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
}

async function same(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(a)), crypto.subtle.digest("SHA-256", encoder.encode(b))]);
  return crypto.subtle.timingSafeEqual(da, db);
}

export type AdminSession = { id: string; expires: number };

/** The cookie value for a new session. */
export async function createSession(adminToken: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<{ value: string; session: AdminSession }> {
  const session = { id: base64Url(crypto.getRandomValues(new Uint8Array(18))), expires: nowSeconds + SESSION_SECONDS };
  const body = `${session.id}.${session.expires}`;
  return { value: `${body}.${await sign(adminToken, "session", body)}`, session };
}

/** The session in a cookie value, or null when it is forged, altered or expired. */
export async function readSession(adminToken: string, value: string | undefined, nowSeconds = Math.floor(Date.now() / 1000)): Promise<AdminSession | null> {
  const match = /^([A-Za-z0-9_-]{24})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? "");
  if (!match) return null;
  const [, id, expires, signature] = match as unknown as [string, string, string, string];
  if (!(await same(signature, await sign(adminToken, "session", `${id}.${expires}`)))) return null;
  if (Number(expires) < nowSeconds) return null;
  return { id, expires: Number(expires) };
}

/** Secure whenever the page is served over https; plain http only happens on a developer's machine. */
export const sessionCookie = (value: string, options: { maxAge?: number; secure: boolean }) =>
  `${SESSION_COOKIE}=${value}; Path=/admin; HttpOnly;${options.secure ? " Secure;" : ""} SameSite=Strict; Max-Age=${options.maxAge ?? SESSION_SECONDS}`;

/** The CSRF token every form of this session carries. */
export const csrfToken = (adminToken: string, session: AdminSession) => sign(adminToken, "csrf", session.id);

export async function validCsrf(adminToken: string, session: AdminSession, candidate: string | undefined): Promise<boolean> {
  return candidate !== undefined && (await same(candidate, await csrfToken(adminToken, session)));
}
