import type { Context } from "hono";
import { matchesAny } from "../auth/constant-time";
import type { AppEnv } from "./app-env";
import { unauthorized } from "./errors";
import { assertJsonContentType, parseJsonObject, readRawBody, type JsonObject } from "./read-json-body";

/**
 * A JSON body whose `token` field is the sender's proof of origin (Aircall, Rocket.Chat):
 * parsed, and refused with 401 unless the token matches one of `tokens` (constant time).
 */
export async function bodyWithValidToken(c: Context<AppEnv>, tokens: readonly string[], sender: string): Promise<JsonObject> {
  assertJsonContentType(c.req.raw);
  const body = parseJsonObject((await readRawBody(c.req.raw)).text);
  const token = typeof body.token === "string" ? body.token : "";
  if (!token || !(await matchesAny(token, tokens))) throw unauthorized(`${sender} token mismatch`);
  return body;
}
