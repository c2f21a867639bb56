// Aircall event -> entity changes. Aircall delivers unordered and at least once, so every
// snapshot carries an order key: for calls the lifecycle stage first (a late call.created
// never overrides call.ended), then the webhook timestamp.
import type { z } from "zod";
import { DELETED_ORDER_KEY, type EntityChange } from "../../entities/registry";
import { changeFrom, ignored, type Normalization } from "../normalization";
import {
  callSchema,
  contactSchema,
  numberSchema,
  summarySchema,
  transcriptionSchema,
  userSchema,
  type AircallCall,
} from "./payloads";

const CALL_STAGE: Record<string, number> = { initial: 1, ringing: 1, answered: 2, done: 3 };
const STAGE_WEIGHT = 10_000_000_000; // above any Unix timestamp in seconds for centuries

export function callOrderKey(status: string | null | undefined, timestampSeconds: number): number {
  return (CALL_STAGE[status ?? ""] ?? 0) * STAGE_WEIGHT + timestampSeconds;
}

const values = (items: { value: string }[] | null | undefined) => (items ?? []).map((item) => item.value);
const fullName = (first: string | null | undefined, last: string | null | undefined) =>
  [first, last].filter((part) => part && part.trim()).join(" ") || null;

function callChange(call: AircallCall, timestamp: number): EntityChange {
  return {
    kind: "call",
    mode: "snapshot",
    orderKey: callOrderKey(call.status, timestamp),
    fields: {
      id: call.id,
      direction: call.direction ?? null,
      status: call.status ?? null,
      startedAt: call.started_at ?? null,
      answeredAt: call.answered_at ?? null,
      endedAt: call.ended_at ?? null,
      durationSeconds: call.duration ?? null,
      missedCallReason: call.missed_call_reason ?? null,
      hangupCause: call.hangup_cause ?? null,
      userId: call.user?.id ?? null,
      userName: call.user?.name ?? null,
      numberId: call.number?.id ?? null,
      numberDigits: call.number?.digits ?? null,
      numberName: call.number?.name ?? null,
      externalNumber: call.raw_digits ?? null,
      contactId: call.contact?.id ?? null,
      contactName: call.contact ? fullName(call.contact.first_name, call.contact.last_name) ?? call.contact.company_name ?? null : null,
      tags: (call.tags ?? []).map((tag) => tag.name),
      comments: (call.comments ?? []).map((comment) => ({
        id: comment.id,
        content: comment.content ?? "",
        postedBy: comment.posted_by?.name ?? null,
        postedAt: comment.posted_at ?? null,
      })),
      // Voicemail and recording URLs are short-lived signed links: keep only their presence.
      hasVoicemail: !!call.voicemail,
      hasRecording: !!call.recording,
      archived: call.archived ?? false,
    },
  };
}

const SPEAKER: Record<string, string> = { internal: "Agent", external: "Caller" };

function transcriptText(content: z.infer<typeof transcriptionSchema>["content"]): string {
  if (typeof content === "string") return content;
  if (content.utterances && content.utterances.length > 0) {
    return content.utterances
      .map((utterance) => `${SPEAKER[utterance.participant_type ?? ""] ?? "Speaker"}: ${utterance.text.trim()}`)
      .join("\n");
  }
  return content.text ?? "";
}

/**
 * AI output belongs to the call whatever its lifecycle stage, so it is a patch, ordered by
 * the AI event's own webhook timestamp: an older transcript never replaces a newer one.
 */
function callPatch(callId: number, timestamp: number, patch: { transcription?: string; summary?: string }): EntityChange {
  return { kind: "call", mode: "patch", orderKey: timestamp, fields: { id: callId, ...patch } };
}

const summaryText = (content: z.infer<typeof summarySchema>["content"]) =>
  typeof content === "string" ? content : content.text ?? content.content ?? "";

export function normalizeAircall(type: string, body: Record<string, unknown>): Normalization {
  const timestamp = typeof body.timestamp === "number" ? body.timestamp : 0;
  const [resource] = type.split(".");
  const deleted = type.endsWith(".deleted");
  const orderKey = deleted ? DELETED_ORDER_KEY : timestamp;

  switch (resource) {
    case "call":
      return changeFrom(callSchema, body.data, "data", type, (call) => callChange(call, timestamp));
    case "contact":
      return changeFrom(contactSchema, body.data, "data", type, (contact) => ({
        kind: "contact",
        mode: "snapshot",
        orderKey,
        fields: {
          id: contact.id,
          firstName: contact.first_name ?? null,
          lastName: contact.last_name ?? null,
          companyName: contact.company_name ?? null,
          information: contact.information ?? null,
          emails: values(contact.emails),
          phoneNumbers: values(contact.phone_numbers),
          deleted,
        },
      }));
    case "user":
      return changeFrom(userSchema, body.data, "data", type, (user) => ({
        kind: "aircall_user",
        mode: "snapshot",
        orderKey,
        fields: {
          id: user.id,
          name: user.name ?? null,
          email: user.email ?? null,
          available: user.available ?? null,
          availabilityStatus: user.availability_status ?? null,
          language: user.language ?? null,
          deleted,
        },
      }));
    case "number":
      return changeFrom(numberSchema, body.data, "data", type, (number) => ({
        kind: "aircall_number",
        mode: "snapshot",
        orderKey,
        fields: {
          id: number.id,
          name: number.name ?? null,
          digits: number.digits ?? null,
          country: number.country ?? null,
          timeZone: number.time_zone ?? null,
          open: number.open ?? null,
          availabilityStatus: number.availability_status ?? null,
          deleted,
        },
      }));
    case "transcription":
      return changeFrom(transcriptionSchema, body.data, "data", type, (transcription) =>
        callPatch(transcription.call_id, timestamp, { transcription: transcriptText(transcription.content) }),
      );
    case "summary":
      return changeFrom(summarySchema, body.data, "data", type, (summary) =>
        callPatch(summary.call_id, timestamp, { summary: summaryText(summary.content) }),
      );
    default:
      return ignored;
  }
}
