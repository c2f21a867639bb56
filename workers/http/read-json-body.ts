// Reads a webhook body as raw bytes (signatures cover the exact bytes) with a hard size cap,
// then parses it as a JSON object.
import { badRequest, payloadTooLarge, unsupportedMediaType } from "./errors";

export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export type JsonObject = Record<string, unknown>;

export function assertJsonContentType(request: Request): void {
  const mediaType = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(mediaType)) {
    throw unsupportedMediaType();
  }
}

/** The bytes as sent (signatures cover them) and their UTF-8 text (a leading BOM dropped). */
export type RawBody = { bytes: Uint8Array; text: string };

/** The body, refusing more than `limit` bytes whether or not Content-Length is honest. */
export async function readRawBody(request: Request, limit = MAX_WEBHOOK_BODY_BYTES): Promise<RawBody> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
  if (!request.body) return { bytes: new Uint8Array(), text: "" };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw payloadTooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { bytes, text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    throw badRequest("body is not valid UTF-8");
  }
}

export function parseJsonObject(raw: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    // The parser's own message quotes the body (which may hold a token): report the position only.
    if (raw.trim().length === 0) throw badRequest("malformed JSON: empty body");
    const position = error instanceof SyntaxError ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    throw badRequest(position === undefined ? "malformed JSON" : `malformed JSON at position ${position}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest(`body must be a JSON object, got ${Array.isArray(value) ? "array" : value === null ? "null" : typeof value}`);
  }
  return value as JsonObject;
}
