// Envelope encryption with Web Crypto: every value has its own AES-256-GCM data key, wrapped
// (AES-GCM) by the master key named by its key id. The additional data binds a ciphertext to its
// env, app, name and version, so it cannot be moved to another name or set.
export type MasterKey = { kid: string; key: CryptoKey };
export type SealedValue = { iv: string; ct: string; dekIv: string; dek: string };

const encoder = new TextEncoder();

export function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");

/** Imports base64 of 32 bytes; the key id is the first 16 hex characters of its SHA-256. */
export async function importMasterKey(base64: string): Promise<MasterKey> {
  const raw = fromBase64(base64);
  if (raw.length !== 32) throw new Error("master key must be 32 bytes");
  const kid = hex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 16);
  return { kid, key: await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]) };
}

const randomIv = () => crypto.getRandomValues(new Uint8Array(12));

export async function seal(master: MasterKey, aad: string, plaintext: string): Promise<SealedValue> {
  const dekBytes = crypto.getRandomValues(new Uint8Array(32));
  const dek = await crypto.subtle.importKey("raw", dekBytes, "AES-GCM", false, ["encrypt"]);
  const iv = randomIv();
  const dekIv = randomIv();
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(aad) }, dek, encoder.encode(plaintext));
  const wrapped = await crypto.subtle.encrypt({ name: "AES-GCM", iv: dekIv, additionalData: encoder.encode(`${aad}/dek`) }, master.key, dekBytes);
  return { iv: toBase64(iv), ct: toBase64(ct), dekIv: toBase64(dekIv), dek: toBase64(wrapped) };
}

/** Throws when the ciphertext, its data key or its additional data were altered. */
export async function open(master: MasterKey, aad: string, sealed: SealedValue): Promise<string> {
  const dekBytes = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(sealed.dekIv), additionalData: encoder.encode(`${aad}/dek`) }, master.key, fromBase64(sealed.dek));
  const dek = await crypto.subtle.importKey("raw", dekBytes, "AES-GCM", false, ["decrypt"]);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(sealed.iv), additionalData: encoder.encode(aad) }, dek, fromBase64(sealed.ct));
  return new TextDecoder().decode(plain);
}

/** Re-wraps the data key under another master key; the value's ciphertext is untouched. */
export async function rewrap(from: MasterKey, to: MasterKey, aad: string, sealed: SealedValue): Promise<SealedValue> {
  const dekBytes = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromBase64(sealed.dekIv), additionalData: encoder.encode(`${aad}/dek`) }, from.key, fromBase64(sealed.dek));
  const dekIv = randomIv();
  const wrapped = await crypto.subtle.encrypt({ name: "AES-GCM", iv: dekIv, additionalData: encoder.encode(`${aad}/dek`) }, to.key, dekBytes);
  return { ...sealed, dekIv: toBase64(dekIv), dek: toBase64(wrapped) };
}

export async function hmacHex(keyBytes: Uint8Array<ArrayBuffer>, name: string, value: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, encoder.encode(`${name}\0${value}`)));
}

export const valueAad = (env: string, app: string, name: string, version: number) => `${env}/${app}/${name}/v${version}`;
