// Standard Webhooks / Svix signature verification (used by Guesty):
//   signed content = `${id}.${timestamp}.` followed by the raw body bytes, exactly as sent
//   key            = base64-decoded part of a `whsec_...` secret
//   header         = space-separated `<version>,<base64 HMAC-SHA256>` entries; only v1 is ours
// Accepts both the `svix-*` and the `webhook-*` header names.
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;
/** Svix sends one entry per active secret (two during a rotation); more is not a real sender. */
export const MAX_SIGNATURE_ENTRIES = 5;
/** Standard Webhooks secrets are 24 to 64 random bytes; shorter ones are not usable keys. */
const MIN_KEY_BYTES = 16;

export type SignatureFailure =
  | "missing headers"
  | "malformed timestamp"
  | "timestamp too old"
  | "timestamp in the future"
  | "too many signatures"
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

/** The HMAC key of a `whsec_` secret, or null when it does not decode to a usable key. */
export async function importSigningSecret(secret: string): Promise<CryptoKey | null> {
  const raw = base64ToBytes(secret.replace(/^whsec_/, ""));
  if (!raw || raw.byteLength < MIN_KEY_BYTES) return null;
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

function concat(prefix: Uint8Array, body: Uint8Array): Uint8Array {
  const joined = new Uint8Array(prefix.byteLength + body.byteLength);
  joined.set(prefix, 0);
  joined.set(body, prefix.byteLength);
  return joined;
}

export async function verifyStandardWebhook(
  headers: Headers,
  rawBody: Uint8Array,
  keys: readonly CryptoKey[],
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<SignatureResult> {
  const id = header(headers, "id");
  const timestamp = header(headers, "timestamp");
  const signatureHeader = header(headers, "signature");
  if (!id || !timestamp || !signatureHeader || keys.length === 0) return { ok: false, reason: "missing headers" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "malformed timestamp" };
  const sentAt = Number(timestamp);
  if (nowSeconds - sentAt > TIMESTAMP_TOLERANCE_SECONDS) return { ok: false, reason: "timestamp too old" };
  if (sentAt - nowSeconds > TIMESTAMP_TOLERANCE_SECONDS) return { ok: false, reason: "timestamp in the future" };

  // Refuse before any HMAC work: a header with hundreds of entries would otherwise cost
  // hundreds of HMACs over a body of up to 1 MiB, unauthenticated.
  const entries = signatureHeader.split(" ").filter((entry) => entry.length > 0);
  if (entries.length > MAX_SIGNATURE_ENTRIES) return { ok: false, reason: "too many signatures" };
  const signatures = entries
    .map((entry) => entry.split(","))
    .filter((parts): parts is [string, string] => parts.length === 2 && parts[0] === "v1")
    .map(([, value]) => base64ToBytes(value))
    .filter((bytes): bytes is Uint8Array => bytes !== null);
  const signedContent = concat(new TextEncoder().encode(`${id}.${timestamp}.`), rawBody);

  // crypto.subtle.verify compares in constant time; every key/signature pair is tried.
  const checks = await Promise.all(
    keys.flatMap((key) => signatures.map((signature) => crypto.subtle.verify("HMAC", key, signature, signedContent))),
  );
  return checks.includes(true) ? { ok: true, messageId: id } : { ok: false, reason: "no matching signature" };
}
