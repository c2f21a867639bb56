// POST /webhooks/aircall and /webhooks/guesty: authenticate, store once, normalize.
// Other methods on these paths answer 405.
import { Hono, type Context } from "hono";
import { matchesAny, sha256Hex } from "../auth/constant-time";
import { verifyStandardWebhook } from "../auth/standard-webhooks";
import { loadConfig } from "../config";
import { openDatabase } from "../db/client";
import type { EventSource } from "../db/schema";
import type { AppEnv } from "../http/app-env";
import { unauthorized } from "../http/errors";
import { assertJsonContentType, parseJsonObject, readRawBody, type JsonObject } from "../http/read-json-body";
import { ingestEvent } from "./ingest";
import { normalizeEvent } from "./normalize-event";

export const UNKNOWN_EVENT_TYPE = "unknown";

const eventTypeOf = (body: JsonObject) =>
  typeof body.event === "string" && body.event.length > 0 ? body.event.slice(0, 200) : UNKNOWN_EVENT_TYPE;

async function acceptEvent(c: Context<AppEnv>, source: EventSource, id: string, rawBody: string, body: JsonObject) {
  const type = eventTypeOf(body);
  c.set("eventType", type);
  c.set("eventId", id);
  const result = await ingestEvent(
    { db: openDatabase(c.env.DB), queue: c.env.VECTORIZE_QUEUE },
    { id, source, type, rawBody, receivedAt: Date.now() },
    normalizeEvent(source, type, body),
  );
  c.set("outcome", result.duplicate ? "duplicate" : result.status);
  return c.json({ id, duplicate: result.duplicate }, 200);
}

export const webhookRoutes = new Hono<AppEnv>();

webhookRoutes.post("/aircall", async (c) => {
  c.set("source", "aircall");
  const config = loadConfig(c.env);
  assertJsonContentType(c.req.raw);
  const rawBody = await readRawBody(c.req.raw);
  const body = parseJsonObject(rawBody);
  // Aircall's only proof of origin is the shared token inside the body.
  const token = typeof body.token === "string" ? body.token : "";
  if (!token || !(await matchesAny(token, config.aircallTokens))) throw unauthorized("aircall token mismatch");
  // Aircall events carry no id and a redelivery repeats the body byte for byte.
  return acceptEvent(c, "aircall", `aircall_${await sha256Hex(rawBody)}`, rawBody, body);
});

webhookRoutes.post("/guesty", async (c) => {
  c.set("source", "guesty");
  const config = loadConfig(c.env);
  assertJsonContentType(c.req.raw);
  const rawBody = await readRawBody(c.req.raw);
  const verified = await verifyStandardWebhook(c.req.raw.headers, rawBody, config.guestySecrets);
  if (!verified.ok) throw unauthorized(`guesty signature: ${verified.reason}`);
  // The message id is the same on every retry of one delivery.
  return acceptEvent(c, "guesty", `guesty_${verified.messageId}`, rawBody, parseJsonObject(rawBody));
});

webhookRoutes.all("/:source{aircall|guesty}", (c) => {
  c.header("Allow", "POST");
  return c.json({ error: "method not allowed" }, 405);
});
