// Secret comparison whose timing depends on neither the secret nor the guess: both sides are
// hashed to fixed-length digests first, so even the length is not leaked.
const encoder = new TextEncoder();

async function digest(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

export async function constantTimeEquals(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([digest(a), digest(b)]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/** True when `candidate` equals any of `secrets`; every secret is compared, match or not. */
export async function matchesAny(candidate: string, secrets: readonly string[]): Promise<boolean> {
  const results = await Promise.all(secrets.map((secret) => constantTimeEquals(candidate, secret)));
  return results.includes(true);
}

export async function sha256Hex(value: string): Promise<string> {
  const bytes = new Uint8Array(await digest(value));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
