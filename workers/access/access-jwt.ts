// Cloudflare Access in front of the admin pages: the `Cf-Access-Jwt-Assertion` header carries an
// RS256 JWT signed by the team's keys, published at `<team domain>/cdn-cgi/access/certs`. We check
// the signature against those keys (cached per isolate for 10 minutes, refetched once when a kid
// is unknown: Access rotates keys), `aud` contains ACCESS_AUD, `iss` is the team domain, and
// `exp` / `nbf` with a minute of skew. Anything else is refused.
import { z } from "zod";

const jwkSchema = z.object({ kid: z.string(), kty: z.literal("RSA"), n: z.string(), e: z.string(), alg: z.string().optional() }).loose();
const certsSchema = z.object({ keys: z.array(z.unknown()) }).loose();
const headerSchema = z.object({ alg: z.literal("RS256"), kid: z.string() }).loose();
const payloadSchema = z
  .object({
    aud: z.union([z.string(), z.array(z.string())]),
    iss: z.string(),
    exp: z.number(),
    nbf: z.number().optional(),
    iat: z.number().optional(),
    email: z.string().optional(),
    sub: z.string().optional(),
  })
  .loose();

export type AccessIdentity = { email: string | null; subject: string | null };
export type AccessSettings = { teamDomain: string; audience: string };

export class AccessDenied extends Error {
  constructor(readonly reason: string) {
    super(`access denied: ${reason}`);
    this.name = "AccessDenied";
  }
}

const SKEW_SECONDS = 60;
const CACHE_MS = 10 * 60_000;
const keyCache = new Map<string, { keys: Map<string, CryptoKey>; fetchedAt: number }>();

function base64UrlBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(base64UrlBytes(part)));
  } catch {
    throw new AccessDenied("malformed token");
  }
}

async function fetchKeys(teamDomain: string): Promise<Map<string, CryptoKey>> {
  const response = await fetch(`${teamDomain}/cdn-cgi/access/certs`, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`Access certs answered ${response.status}`);
  const certs = certsSchema.parse(await response.json());
  const keys = new Map<string, CryptoKey>();
  for (const candidate of certs.keys) {
    const jwk = jwkSchema.safeParse(candidate);
    if (!jwk.success) continue;
    keys.set(jwk.data.kid, await crypto.subtle.importKey("jwk", { kty: "RSA", n: jwk.data.n, e: jwk.data.e, alg: "RS256", ext: true }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]));
  }
  return keys;
}

async function keyFor(teamDomain: string, kid: string): Promise<CryptoKey | undefined> {
  const cached = keyCache.get(teamDomain);
  if (cached && Date.now() - cached.fetchedAt < CACHE_MS && cached.keys.has(kid)) return cached.keys.get(kid);
  // Unknown kid or stale cache: Access may have rotated its keys.
  const keys = await fetchKeys(teamDomain);
  keyCache.set(teamDomain, { keys, fetchedAt: Date.now() });
  return keys.get(kid);
}

/** The identity in a valid Access JWT; throws AccessDenied otherwise. */
export async function verifyAccessJwt(token: string, settings: AccessSettings, nowSeconds = Math.floor(Date.now() / 1000)): Promise<AccessIdentity> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new AccessDenied("malformed token");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = headerSchema.safeParse(decodeJson(headerPart));
  if (!header.success) throw new AccessDenied("not an RS256 token with a key id");
  const key = await keyFor(settings.teamDomain, header.data.kid);
  if (!key) throw new AccessDenied("signed by an unknown key");
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, base64UrlBytes(signaturePart), signed))) throw new AccessDenied("bad signature");
  const payload = payloadSchema.safeParse(decodeJson(payloadPart));
  if (!payload.success) throw new AccessDenied("claims missing");
  const audiences = Array.isArray(payload.data.aud) ? payload.data.aud : [payload.data.aud];
  if (!audiences.includes(settings.audience)) throw new AccessDenied("another application's token");
  if (payload.data.iss !== settings.teamDomain) throw new AccessDenied("another team's token");
  if (payload.data.exp + SKEW_SECONDS < nowSeconds) throw new AccessDenied("expired");
  if (payload.data.nbf !== undefined && payload.data.nbf - SKEW_SECONDS > nowSeconds) throw new AccessDenied("not valid yet");
  return { email: payload.data.email ?? null, subject: payload.data.sub ?? null };
}
