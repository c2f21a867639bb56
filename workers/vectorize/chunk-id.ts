// Chunk ids are UUIDv5 (RFC 9562, SHA-1 name-based) of "<document id>#<chunk index>": the same
// chunk always gets the same id, so a retried batch overwrites instead of duplicating, and
// Qdrant, which takes UUIDs or integers as point ids, accepts them as they are.

/** A fixed namespace of ours. Never change it: every chunk id would change with it. */
export const CHUNK_NAMESPACE = "8f3c2d1e-6b5a-4c4d-9e8f-1a2b3c4d5e6f";

function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replaceAll("-", "");
  return Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

export async function uuidV5(namespace: string, name: string): Promise<string> {
  const nameBytes = new TextEncoder().encode(name);
  const input = new Uint8Array(16 + nameBytes.byteLength);
  input.set(uuidBytes(namespace), 0);
  input.set(nameBytes, 16);
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-1", input)).slice(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC variant
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const chunkId = (documentId: string, chunkIndex: number) => uuidV5(CHUNK_NAMESPACE, `${documentId}#${chunkIndex}`);
