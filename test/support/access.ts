// Cloudflare Access JWTs as the fake team domain (vitest.config.ts) would issue them: RS256 with
// its published key, for this application's audience, valid for ten minutes.
import { env } from "cloudflare:workers";

const encoder = new TextEncoder();
export const base64Url = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

async function signingKey(): Promise<CryptoKey> {
  const body = env.FAKE_ACCESS_PRIVATE_KEY.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  return crypto.subtle.importKey("pkcs8", Uint8Array.from(atob(body), (char) => char.charCodeAt(0)), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
}

export async function accessJwt(claims: Record<string, unknown> = {}, options: { kid?: string; alg?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header = base64Url(encoder.encode(JSON.stringify({ alg: options.alg ?? "RS256", kid: options.kid ?? env.FAKE_ACCESS_KID, typ: "JWT" })));
  const payload = base64Url(encoder.encode(JSON.stringify({ aud: [env.FAKE_ACCESS_AUD], iss: env.FAKE_ACCESS_URL, iat: now, exp: now + 600, email: "ops@example.com", sub: "user-1", ...claims })));
  const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", await signingKey(), encoder.encode(`${header}.${payload}`));
  return `${header}.${payload}.${base64Url(signature)}`;
}
