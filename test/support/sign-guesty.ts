// Signs a body the way Guesty's Svix-based sender does, for tests and the benchmark's twin.
const encoder = new TextEncoder();

export async function signStandardWebhook(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  return signStandardWebhookRaw(secret, `${id}.${timestamp}.${body}`);
}

/** A v1 signature over exactly `content` (for tests that sign what a real sender never would). */
export async function signStandardWebhookRaw(secret: string, content: string): Promise<string> {
  const keyBytes = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (char) => char.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(content)));
  return `v1,${btoa(String.fromCharCode(...mac))}`;
}

export function firstGuestySecret(secrets: string): string {
  const first = secrets.split(",")[0];
  if (!first) throw new Error("no Guesty secret configured for tests");
  return first.trim();
}
