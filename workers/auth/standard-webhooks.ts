// Standard Webhooks / Svix signature verification (used by Guesty):
//   signed content = `${id}.${timestamp}.${rawBody}`
//   key            = base64-decoded part of a `whsec_...` secret
//   header         = space-separated `v1,<base64 HMAC-SHA256>` entries (other versions ignored)
// Accepts both the `svix-*` and the `webhook-*` header names.
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

export type SignatureFailure =
  | "missing headers"
  | "malformed timestamp"
  | "timestamp too old"
  | "timestamp in the future"
  | "no matching signature";

export type SignatureResult = { ok: true; messageId: string } | { ok: false; reason: SignatureFailure };

function header(headers: Headers, name: "id" | "timestamp" | "signature"): string | null {
  return headers.get(`svix-${name}`) ?? headers.get(`webhook-${name}`);
}

function base64ToBytes(value: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(value), (char) => char.charCodeAt(0));
  } catch {
    return null;
  }
}

const keyCache = new Map<string, Promise<CryptoKey>>();

function importSecret(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    const raw = base64ToBytes(secret.replace(/^whsec_/, "")) ?? new Uint8Array();
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    keyCache.set(secret, key);
  }
  return key;
}

export async function verifyStandardWebhook(
  headers: Headers,
  rawBody: string,
  secrets: readonly string[],
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<SignatureResult> {
  const id = header(headers, "id");
  const timestamp = header(headers, "timestamp");
  const signatureHeader = header(headers, "signature");
  if (!id || !timestamp || !signatureHeader || secrets.length === 0) return { ok: false, reason: "missing headers" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "malformed timestamp" };
  const sentAt = Number(timestamp);
  if (nowSeconds - sentAt > TIMESTAMP_TOLERANCE_SECONDS) return { ok: false, reason: "timestamp too old" };
  if (sentAt - nowSeconds > TIMESTAMP_TOLERANCE_SECONDS) return { ok: false, reason: "timestamp in the future" };

  const signatures = signatureHeader
    .split(" ")
    .map((entry) => entry.split(","))
    .filter((parts): parts is [string, string] => parts.length === 2 && parts[0] === "v1")
    .map(([, value]) => base64ToBytes(value))
    .filter((bytes): bytes is Uint8Array => bytes !== null);
  const signedContent = new TextEncoder().encode(`${id}.${timestamp}.${rawBody}`);

  // crypto.subtle.verify compares in constant time; every key/signature pair is tried.
  const checks = await Promise.all(
    secrets.flatMap((secret) =>
      signatures.map(async (signature) =>
        crypto.subtle.verify("HMAC", await importSecret(secret), signature, signedContent),
      ),
    ),
  );
  return checks.includes(true) ? { ok: true, messageId: id } : { ok: false, reason: "no matching signature" };
}
