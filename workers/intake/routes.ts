// POST /webhooks/aircall and /webhooks/guesty: authenticate, store once, answer. Processing
// (entities, documents, vectorize queue) happens off the response path, in the intake queue's
// consumer. Other methods on these paths answer 405. Each route loads only its own
// configuration, so a Guesty-only installation needs no Aircall token (and the reverse).
import { Hono, type Context } from "hono";
import { matchesAny, sha256Hex } from "../auth/constant-time";
import { verifyStandardWebhook } from "../auth/standard-webhooks";
import { openDatabase } from "../db/client";
import type { EventSource } from "../db/schema";
import type { AppEnv } from "../http/app-env";
import { unauthorized } from "../http/errors";
import { assertJsonContentType, parseJsonObject, readRawBody, type JsonObject } from "../http/read-json-body";
import { aircallIntakeConfig } from "./aircall/config";
import { guestyIntakeConfig } from "./guesty/config";
import { normalizeEvent } from "./normalize-event";
import { requestProcessing } from "./request-processing";
import { storeEvent } from "./store-event";

export const UNKNOWN_EVENT_TYPE = "unknown";

const eventTypeOf = (body: JsonObject) =>
  typeof body.event === "string" && body.event.length > 0 ? body.event.slice(0, 200) : UNKNOWN_EVENT_TYPE;

async function acceptEvent(c: Context<AppEnv>, source: EventSource, id: string, payload: string, body: JsonObject) {
  const type = eventTypeOf(body);
  c.set("eventType", type);
  c.set("eventId", id);
  // Normalizing is pure and cheap: it tells whether there is anything left to process.
  const stored = await storeEvent(
    openDatabase(c.env.DB),
    { id, source, type, payload, receivedAt: Date.now() },
    normalizeEvent(source, type, body),
  );
  c.set("outcome", stored.duplicate ? "duplicate" : stored.status);
  c.set("accessLog", false);
  if (!stored.duplicate && stored.status === "received") requestProcessing(c.executionCtx, c.env.INTAKE_QUEUE, id);
  return c.json({ id, duplicate: stored.duplicate }, 200);
}

/**
 * The Aircall body as stored: everything but `token`. The token is Aircall's only proof of
 * origin, so whoever reads it (a D1 export, the admin API) could forge webhooks; and keying on
 * the body without it keeps a redelivery under a rotated token a duplicate.
 */
export function aircallStoredPayload(body: JsonObject): { payload: string; withoutToken: JsonObject } {
  const { token: _token, ...withoutToken } = body;
  return { payload: JSON.stringify(withoutToken), withoutToken };
}

export const webhookRoutes = new Hono<AppEnv>();

webhookRoutes.post("/aircall", async (c) => {
  c.set("source", "aircall");
  const config = await aircallIntakeConfig.load(c.env);
  assertJsonContentType(c.req.raw);
  const body = parseJsonObject((await readRawBody(c.req.raw)).text);
  const token = typeof body.token === "string" ? body.token : "";
  if (!token || !(await matchesAny(token, config.tokens))) throw unauthorized("aircall token mismatch");
  // Aircall events carry no id and a redelivery repeats the body: the body is the key.
  const { payload, withoutToken } = aircallStoredPayload(body);
  return acceptEvent(c, "aircall", `aircall_${await sha256Hex(payload)}`, payload, withoutToken);
});

webhookRoutes.post("/guesty", async (c) => {
  c.set("source", "guesty");
  const config = await guestyIntakeConfig.load(c.env);
  assertJsonContentType(c.req.raw);
  const raw = await readRawBody(c.req.raw);
  const verified = await verifyStandardWebhook(c.req.raw.headers, raw.bytes, config.keys);
  if (!verified.ok) throw unauthorized(`guesty signature: ${verified.reason}`);
  // The message id is the same on every retry of one delivery.
  return acceptEvent(c, "guesty", `guesty_${verified.messageId}`, raw.text, parseJsonObject(raw.text));
});

webhookRoutes.all("/:source{aircall|guesty}", (c) => {
  c.header("Allow", "POST");
  return c.json({ error: "method not allowed" }, 405);
});
