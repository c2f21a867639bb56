// Cloudflare Access in front of the admin pages: the `Cf-Access-Jwt-Assertion` header carries an
// RS256 JWT signed by the team's keys, published at `<team domain>/cdn-cgi/access/certs` as
// `{"keys": [RSA JWKs with kid], "public_cert", "public_certs"}`: the current key and the previous
// one, which stays valid 7 days after Access rotates (every 6 weeks by default). Checked against
// Cloudflare's "Validate JWTs" page (developers.cloudflare.com/cloudflare-one/access-controls/
// applications/http-apps/authorization-cookie/validating-json/, last updated 2026-05-06), read
// 2026-12-06.
//
// We check the signature against those keys, `aud` contains ACCESS_AUD, `iss` is the team domain,
// and `exp` / `nbf` with a minute of skew. Anything else is refused. The keys are cached per
// isolate and team domain and refetched after 10 minutes, or for a key id we do not know (Access
// rotated), but at most once a minute per team domain: a flood of forged tokens with made-up key
// ids costs one fetch a minute, not one each. Concurrent requests share one fetch; a fetch has a
// timeout; a failed one keeps the cached keys, which serve for up to an hour. Without usable keys
// the request is refused with 503 (fail closed), never left hanging.
import { z } from "zod";
import { unavailable } from "../http/errors";

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
/** For tests: the clock of the key cache (milliseconds) and the certs fetch's timeout. */
export type AccessKeyOptions = { now?: () => number; certsTimeoutMs?: number };

export class AccessDenied extends Error {
  constructor(readonly reason: string) {
    super(`access denied: ${reason}`);
    this.name = "AccessDenied";
  }
}

const SKEW_SECONDS = 60;
/** Cached keys are refetched after this. */
const REFRESH_AFTER_MS = 10 * 60_000;
/** When refetching fails, cached keys still serve this long after they were fetched. */
const SERVE_STALE_MS = 60 * 60_000;
/** The least time between two fetches for one team domain. */
const MIN_FETCH_INTERVAL_MS = 60_000;
const CERTS_TIMEOUT_MS = 5_000;

type TeamKeys = { keys: Map<string, CryptoKey>; fetchedAt: number };
type TeamState = { cached: TeamKeys | null; lastFetchAt: number | null; inFlight: Promise<TeamKeys> | null };
const teams = new Map<string, TeamState>();

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

const timedOut = (error: unknown) => typeof error === "object" && error !== null && "name" in error && error.name === "TimeoutError";

/** The team's keys; throws with a reason of ours (never the response's text) when it cannot. */
async function fetchKeys(teamDomain: string, timeoutMs: number): Promise<Map<string, CryptoKey>> {
  // One deadline for the answer and its body.
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(`${teamDomain}/cdn-cgi/access/certs`, { headers: { accept: "application/json" }, signal });
  } catch (error) {
    throw new Error(timedOut(error) ? `no answer within ${timeoutMs} ms` : "unreachable");
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`answered ${response.status}`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw new Error(timedOut(error) ? `no answer within ${timeoutMs} ms` : "not JSON");
  }
  const certs = certsSchema.safeParse(body);
  if (!certs.success) throw new Error("no keys list");
  const keys = new Map<string, CryptoKey>();
  for (const candidate of certs.data.keys) {
    const jwk = jwkSchema.safeParse(candidate);
    if (!jwk.success) continue;
    keys.set(jwk.data.kid, await crypto.subtle.importKey("jwk", { kty: "RSA", n: jwk.data.n, e: jwk.data.e, alg: "RS256", ext: true }, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]));
  }
  if (keys.size === 0) throw new Error("no RSA keys");
  return keys;
}

/** Starts a fetch for the team, or joins the one under way; success replaces the cached keys. */
function refresh(teamDomain: string, state: TeamState, now: () => number, timeoutMs: number): Promise<TeamKeys> {
  if (state.inFlight) return state.inFlight;
  state.lastFetchAt = now();
  const fetching = fetchKeys(teamDomain, timeoutMs)
    .then((keys) => {
      state.cached = { keys, fetchedAt: now() };
      return state.cached;
    })
    .finally(() => {
      state.inFlight = null;
    });
  state.inFlight = fetching;
  return fetching;
}

async function keyFor(teamDomain: string, kid: string, options: AccessKeyOptions): Promise<CryptoKey | undefined> {
  const now = options.now ?? Date.now;
  const state = teams.get(teamDomain) ?? { cached: null, lastFetchAt: null, inFlight: null };
  teams.set(teamDomain, state);
  const at = now();
  const usable = state.cached !== null && at - state.cached.fetchedAt < SERVE_STALE_MS ? state.cached : null;
  if (usable && at - usable.fetchedAt < REFRESH_AFTER_MS && usable.keys.has(kid)) return usable.keys.get(kid);
  // An unknown kid or keys due for a refresh: fetch, unless a fetch already ran within the minute.
  const mayFetch = state.inFlight !== null || state.lastFetchAt === null || at - state.lastFetchAt >= MIN_FETCH_INTERVAL_MS;
  if (mayFetch) {
    try {
      return (await refresh(teamDomain, state, now, options.certsTimeoutMs ?? CERTS_TIMEOUT_MS)).keys.get(kid);
    } catch (error) {
      if (usable) return usable.keys.get(kid);
      throw unavailable(`Cloudflare Access certs of ${teamDomain}: ${error instanceof Error ? error.message : "failed"}`);
    }
  }
  if (usable) return usable.keys.get(kid);
  throw unavailable(`Cloudflare Access certs of ${teamDomain}: the last fetch failed, next attempt within a minute`);
}

/** The identity in a valid Access JWT; throws AccessDenied otherwise (AppError 503 when the team's keys cannot be had). */
export async function verifyAccessJwt(token: string, settings: AccessSettings, nowSeconds = Math.floor(Date.now() / 1000), options: AccessKeyOptions = {}): Promise<AccessIdentity> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new AccessDenied("malformed token");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = headerSchema.safeParse(decodeJson(headerPart));
  if (!header.success) throw new AccessDenied("not an RS256 token with a key id");
  const key = await keyFor(settings.teamDomain, header.data.kid, options);
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
