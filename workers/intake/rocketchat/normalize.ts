// Rocket.Chat event -> chat message change. A message is ordered by its own time; an edit by
// its edit time (`editedAt`, which a change-stream listener sends), else by when we received it:
// the outgoing integration sends no edit time (its `timestamp` is the message's own `ts`), and
// edits come after the message and one after another. Never by text: an edit back to an earlier
// text is a later edit (workers/intake/rocketchat/store-edit.ts stores it as a new event). An edit
// carries the message's time too, so a message whose time changed moves to its new window. A
// deletion is final.
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
