// POST /webhooks/aircall, /webhooks/guesty and /webhooks/rocketchat: authenticate, store once, answer. Processing
// (entities, documents, vectorize queue) happens off the response path, in the intake queue's
// consumer. Other methods on these paths answer 405. Each route loads only its own
// configuration, so a Guesty-only installation needs no Aircall token (and the reverse).
import { Hono, type Context } from "hono";
import type { z } from "zod";
import { refreshRoomVisibility } from "../chat/room-visibility";
import { sha256Hex } from "../auth/constant-time";
import { verifyStandardWebhook } from "../auth/standard-webhooks";
import { openDatabase, type Database } from "../db/client";
import type { EventSource } from "../db/schema";
import type { AppEnv } from "../http/app-env";
import { badRequest, unauthorized } from "../http/errors";
import { issueReason } from "../http/validation";
import { bodyWithValidToken } from "../http/body-token";
import { assertJsonContentType, parseJsonObject, readRawBody, type JsonObject } from "../http/read-json-body";
import { aircallIntakeConfig } from "./aircall/config";
import { guestyIntakeConfig } from "./guesty/config";
import { normalizeEvent } from "./normalize-event";
import type { Normalization } from "./normalization";
import { rocketChatIngestConfig } from "./rocketchat/config";
import { chatDeletionPayloadSchema, chatMessagePayloadSchema, ROCKETCHAT_EVENT_TYPES, skipReason } from "./rocketchat/payloads";
import { deletionKey, messageKey, storeChatEdit } from "./rocketchat/store-edit";
import { requestProcessing } from "./request-processing";
import { storeEvent, type IncomingEvent, type StoredEvent } from "./store-event";

export const UNKNOWN_EVENT_TYPE = "unknown";

const eventTypeOf = (body: JsonObject) =>
  typeof body.event === "string" && body.event.length > 0 ? body.event.slice(0, 200) : UNKNOWN_EVENT_TYPE;

/** Stores an event once; answers the id it is stored under when that is not the key (a Rocket.Chat edit back). */
type StoreEvent = (db: Database, event: IncomingEvent, normalization: Normalization) => Promise<StoredEvent & { id?: string }>;

async function acceptEvent(c: Context<AppEnv>, source: EventSource, type: string, key: string, payload: string, body: JsonObject, store: StoreEvent = storeEvent) {
  c.set("eventType", type);
  c.set("eventId", key);
  // Normalizing is pure and cheap: it tells whether there is anything left to process.
  const receivedAt = Date.now();
  const stored = await store(openDatabase(c.env.DB), { id: key, source, type, payload, receivedAt }, normalizeEvent(source, type, body, receivedAt));
  const id = stored.id ?? key;
  c.set("eventId", id);
  c.set("outcome", stored.duplicate ? "duplicate" : stored.status);
  c.set("accessLog", false);
  if (!stored.duplicate && stored.status === "received") requestProcessing(c.executionCtx, c.env.INTAKE_QUEUE, id);
  return c.json({ id, duplicate: stored.duplicate }, 200);
}

/**
 * The body as stored when the sender authenticates with a `token` field in it (Aircall,
 * Rocket.Chat): everything but the token. The token is the sender's only proof of origin, so
 * whoever reads it (a D1 export, the admin API) could forge webhooks; and keying on the body
 * without it keeps a redelivery under a rotated token a duplicate.
 */
export function payloadWithoutToken(body: JsonObject): { payload: string; withoutToken: JsonObject } {
  const { token: _token, ...withoutToken } = body;
  return { payload: JSON.stringify(withoutToken), withoutToken };
}

export const webhookRoutes = new Hono<AppEnv>();

webhookRoutes.post("/aircall", async (c) => {
  c.set("source", "aircall");
  const config = await aircallIntakeConfig.load(c.env);
  const body = await bodyWithValidToken(c, config.tokens, "aircall");
  // Aircall events carry no id and a redelivery repeats the body: the body is the key.
  const { payload, withoutToken } = payloadWithoutToken(body);
  return acceptEvent(c, "aircall", eventTypeOf(body), `aircall_${await sha256Hex(payload)}`, payload, withoutToken);
});

webhookRoutes.post("/guesty", async (c) => {
  c.set("source", "guesty");
  const config = await guestyIntakeConfig.load(c.env);
  assertJsonContentType(c.req.raw);
  const raw = await readRawBody(c.req.raw);
  const verified = await verifyStandardWebhook(c.req.raw.headers, raw.bytes, config.keys);
  if (!verified.ok) throw unauthorized(`guesty signature: ${verified.reason}`);
  // The message id is the same on every retry of one delivery.
  const body = parseJsonObject(raw.text);
  return acceptEvent(c, "guesty", eventTypeOf(body), `guesty_${verified.messageId}`, raw.text, body);
});

webhookRoutes.post("/rocketchat", async (c) => {
  c.set("source", "rocketchat");
  const config = await rocketChatIngestConfig.load(c.env);
  const body = await bodyWithValidToken(c, config.tokens, "rocket.chat");
  const { payload, withoutToken } = payloadWithoutToken(body);
  if (body.deleted === true) {
    const deletion = parseOrReject(chatDeletionPayloadSchema, body);
    // One deletion per message: a repeat is a duplicate whatever else it carries.
    return acceptEvent(c, "rocketchat", ROCKETCHAT_EVENT_TYPES.deleted, await deletionKey(deletion.message_id), payload, withoutToken);
  }
  const message = parseOrReject(chatMessagePayloadSchema, body);
  const skipped = skipReason(message, config.botUserId);
  if (skipped) {
    c.set("outcome", `skipped: ${skipped}`);
    // 200 with a body that has no `text`: Rocket.Chat would post a `text` into the channel.
    return c.json({ skipped }, 200);
  }
  c.executionCtx.waitUntil(refreshRoomVisibility(openDatabase(c.env.DB), config.api, message.channel_id));
  const type = message.isEdited || message.editedAt ? ROCKETCHAT_EVENT_TYPES.edited : ROCKETCHAT_EVENT_TYPES.message;
  // No delivery id: a retry repeats the body, so the body is the key (as for Aircall). An edit
  // without its edit time repeats an earlier edit's body when it edits back to that text: it is
  // a duplicate only of the message's latest event (workers/intake/rocketchat/store-edit.ts).
  const key = await messageKey(payload);
  if (type === ROCKETCHAT_EVENT_TYPES.edited && !message.editedAt) {
    return acceptEvent(c, "rocketchat", type, key, payload, withoutToken, (db, event, normalization) => storeChatEdit(db, event, normalization, message.message_id));
  }
  return acceptEvent(c, "rocketchat", type, key, payload, withoutToken);
});

function parseOrReject<S extends z.ZodType>(schema: S, body: JsonObject): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw badRequest(issueReason(parsed.error, "body"));
}

webhookRoutes.all("/:source{aircall|guesty|rocketchat}", (c) => {
  c.header("Allow", "POST");
  return c.json({ error: "method not allowed" }, 405);
});
