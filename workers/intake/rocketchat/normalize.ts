// Rocket.Chat event -> chat message change. A message is ordered by its own time; an edit by
// its edit time, which outgoing integrations do not send, so by when we received it (edits
// come long after the message and far apart). A deletion is final.
import { DELETED_ORDER_KEY } from "../../entities/registry";
import { changeFrom, ignored, type Normalization } from "../normalization";
import { chatDeletionPayloadSchema, chatMessagePayloadSchema, ROCKETCHAT_EVENT_TYPES } from "./payloads";

export function normalizeRocketChat(type: string, body: Record<string, unknown>, receivedAt: number): Normalization {
  if (type === ROCKETCHAT_EVENT_TYPES.deleted) {
    return changeFrom(chatDeletionPayloadSchema, body, "body", type, (deletion) => ({
      kind: "chat_message",
      mode: "snapshot",
      orderKey: DELETED_ORDER_KEY,
      fields: { id: deletion.message_id, deleted: true, text: null },
    }));
  }
  if (type !== ROCKETCHAT_EVENT_TYPES.message && type !== ROCKETCHAT_EVENT_TYPES.edited) return ignored;
  return changeFrom(chatMessagePayloadSchema, body, "body", type, (message) => {
    const sentAt = Date.parse(message.timestamp);
    const orderKey = message.editedAt ? Date.parse(message.editedAt) : message.isEdited ? receivedAt : sentAt;
    return {
      kind: "chat_message",
      mode: "snapshot",
      orderKey,
      fields: {
        id: message.message_id,
        roomId: message.channel_id,
        roomName: message.channel_name ?? null,
        threadId: message.tmid ?? null,
        userId: message.user_id,
        userName: message.alias || message.user_name || null,
        text: message.text,
        sentAt,
        edited: message.isEdited === true || message.editedAt !== undefined,
        siteUrl: message.siteUrl ?? null,
      },
    };
  });
}
