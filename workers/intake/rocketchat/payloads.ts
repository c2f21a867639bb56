// The bodies POST /webhooks/rocketchat takes. A message is what Rocket.Chat's outgoing
// integration ("Message Sent", all messages) posts, field by field from its trigger handler:
// `isEdited` marks an edit, `tmid` a reply in a thread, `bot` (a boolean or an object) a bot's
// post. A deletion is what our change-stream listener on the cluster sends, since outgoing
// integrations cannot. `t` (a system message type) and `editedAt` only come from that listener.
import { z } from "zod";

const id = z.string().min(1).max(64);

/**
 * Whether the post is a bot's, from Rocket.Chat's `bot`. The message document carries an object
 * (`IMessage.bot?: Record<string, any>`, `{"i": "<integration id>"}` on posts by incoming
 * integrations, outgoing-integration replies and SDK bots). The outgoing integration starts its
 * body with `bot: false` and then sends `Boolean(message.bot)` on current servers, but the object
 * as is on older ones (`data.bot = message.bot`). Both shapes, and `true`, mean a bot: parsed to
 * `true`. Checked against RocketChat/Rocket.Chat `apps/meteor/app/integrations/server/lib/
 * triggerHandler.ts` (develop) and earlier `triggerHandler.js` / `.ts` revisions, and
 * `packages/core-typings/src/IMessage/IMessage.ts`, as stored on 2026-12-06.
 */
const botSchema = z.union([z.boolean(), z.object({}).loose()]).transform((bot) => bot !== false);

export const chatMessagePayloadSchema = z
  .object({
    // Checked by the route, and not stored: the stored payload has none.
    token: z.string().optional(),
    bot: botSchema.optional(),
    channel_id: id,
    channel_name: z.string().max(200).nullish(),
    message_id: id,
    timestamp: z.iso.datetime({ offset: true }),
    user_id: id,
    user_name: z.string().max(200).nullish(),
    text: z.string().max(100_000).default(""),
    siteUrl: z.string().max(500).nullish(),
    alias: z.string().max(200).nullish(),
    isEdited: z.boolean().optional(),
    editedAt: z.iso.datetime({ offset: true }).optional(),
    tmid: id.optional(),
    t: z.string().max(64).optional(),
    trigger_word: z.string().optional(),
  })
  .loose();

export const chatDeletionPayloadSchema = z
  .object({
    // Checked by the route, and not stored: the stored payload has none.
    token: z.string().optional(),
    message_id: id,
    deleted: z.literal(true),
    channel_id: id.optional(),
  })
  .loose();

export type ChatMessagePayload = z.infer<typeof chatMessagePayloadSchema>;

export const ROCKETCHAT_EVENT_TYPES = { message: "message", edited: "message.edited", deleted: "message.deleted" } as const;

/**
 * End-to-end-encrypted messages reach the server as ciphertext: a key id glued to base64, or
 * (newer servers) a JSON object with a `ciphertext` field. Indexing that is noise at best.
 */
export function looksEncrypted(text: string): boolean {
  const trimmed = text.trim();
  if (/^\{[\s\S]*"ciphertext"\s*:/.test(trimmed)) return true;
  return trimmed.length >= 44 && !/\s/.test(trimmed) && /^[A-Za-z0-9+/]+=*$/.test(trimmed);
}

/** Why a Rocket.Chat message is not ingested, or null when it is (the webhook and the history sync both ask). */
export function skipReason(message: ChatMessagePayload, botUserId: string | null): string | null {
  if (message.bot === true) return "bot message";
  // The bot's REST posts come back with bot: false.
  if (botUserId !== null && message.user_id === botUserId) return "own message";
  if (message.t) return "system message";
  if (looksEncrypted(message.text)) return "end-to-end encrypted";
  return null;
}
