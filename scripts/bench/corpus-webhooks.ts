// The labelled corpus (search-questions.ts) as the webhooks that bring each record in (Aircall,
// signed Guesty, Rocket.Chat), and the document ids search may answer a record with. The
// credentials are the benchmark's own, generated per run.
import { createHmac, randomBytes } from "node:crypto";
import { CHAT_WINDOW_MS, GUEST_CONVERSATION_WINDOW_MS, windowGroupId } from "../../workers/documents/build-text.ts";
import type { CorpusRecord } from "./search-questions.ts";

export const aircallToken = `bench-${randomBytes(12).toString("hex")}`;
export const guestySecret = `whsec_${randomBytes(32).toString("base64")}`;
const guestyKey = Buffer.from(guestySecret.slice("whsec_".length), "base64");
export const rocketChatToken = `bench-${randomBytes(12).toString("hex")}`;

export type Webhook = { path: string; headers: Record<string, string>; body: string };

export function guestyWebhook(body: unknown): Webhook {
  const id = `msg_${randomBytes(12).toString("hex")}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const raw = JSON.stringify(body);
  const signature = createHmac("sha256", guestyKey).update(`${id}.${timestamp}.${raw}`).digest("base64");
  return { path: "/webhooks/guesty", headers: { "svix-id": id, "svix-timestamp": timestamp, "svix-signature": `v1,${signature}` }, body: raw };
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** The webhooks that bring `record` in (a call needs its call and its transcript). */
export function webhooksOf(record: CorpusRecord): Webhook[] {
  switch (record.kind) {
    case "call": {
      const [first, ...last] = record.contactName.split(" ");
      const started = seconds(record.startedAt);
      const agentFirstName = record.agentName.split(" ")[0];
      const call = {
        resource: "call",
        event: "call.ended",
        timestamp: started + record.durationSeconds + 5,
        token: aircallToken,
        data: {
          id: record.callId,
          direction: record.direction,
          status: "done",
          started_at: started,
          answered_at: started + 4,
          ended_at: started + record.durationSeconds,
          duration: record.durationSeconds,
          raw_digits: record.externalNumber,
          user: { id: 900_001, name: record.agentName, email: "agent@example.com" },
          number: { id: 800_001, name: "Front desk", digits: "+351 21 000 0000" },
          contact: { id: record.callId + 1, first_name: first, last_name: last.join(" ") },
          tags: [],
          comments: [],
        },
      };
      const transcript = {
        resource: "transcription",
        event: "transcription.created",
        timestamp: started + record.durationSeconds + 60,
        token: aircallToken,
        data: {
          call_id: record.callId,
          content: {
            language: "en-US",
            utterances: record.transcript.map((turn, index) => {
              const [speaker, ...words] = turn.split(": ");
              return { start_time: index * 5, end_time: index * 5 + 4, text: words.join(": "), participant_type: speaker === agentFirstName ? "internal" : "external" };
            }),
          },
        },
      };
      return [call, transcript].map((body) => ({ path: "/webhooks/aircall", headers: {}, body: JSON.stringify(body) }));
    }
    case "reservation":
      return [
        guestyWebhook({
          event: "reservation.new",
          reservation: {
            _id: record.reservationId,
            confirmationCode: record.confirmationCode,
            status: record.status,
            checkInDateLocalized: record.checkIn,
            checkOutDateLocalized: record.checkOut,
            guestsCount: record.guestsCount,
            source: record.channel,
            listing: { title: record.listingName },
            guest: { fullName: record.guestName },
            lastUpdatedAt: "2026-04-01T00:00:00.000Z",
          },
        }),
      ];
    case "guest-message":
      return [
        guestyWebhook({
          event: record.direction === "received" ? "reservation.messageReceived" : "reservation.messageSent",
          reservationId: record.reservationId,
          conversation: { _id: record.conversationId, meta: { guestName: record.guestName } },
          message: { _id: record.messageId, body: record.body, module: "airbnb2", createdAt: record.sentAt },
        }),
      ];
    case "chat":
      return [
        {
          path: "/webhooks/rocketchat",
          headers: {},
          body: JSON.stringify({
            token: rocketChatToken,
            bot: false,
            channel_id: record.roomId,
            channel_name: record.roomName,
            message_id: record.messageId,
            timestamp: record.sentAt,
            user_id: `u${record.userName}`.slice(0, 17),
            user_name: record.userName,
            text: record.text,
            siteUrl: "https://chat.example.com",
            ...(record.threadId ? { tmid: record.threadId } : {}),
          }),
        },
      ];
  }
}

/** The document ids search may answer `record` with (a thread's root is also in its window). */
export function documentIdsOf(record: CorpusRecord): string[] {
  switch (record.kind) {
    case "call":
      return [`call:${record.callId}`];
    case "reservation":
      return [`reservation:${record.reservationId}`];
    case "guest-message":
      return [windowGroupId("guest-conversation", record.conversationId, Date.parse(record.sentAt), GUEST_CONVERSATION_WINDOW_MS)];
    case "chat":
      return record.threadId
        ? [`chat-thread:${record.threadId}`]
        : [windowGroupId("chat-window", record.roomId, Date.parse(record.sentAt), CHAT_WINDOW_MS), `chat-thread:${record.messageId}`];
  }
}
