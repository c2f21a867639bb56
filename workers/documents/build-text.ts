// Searchable documents for each entity kind, built only from the stored row so that the same
// row always yields the same document (and the same content hash). A document is its text plus
// what search shows and filters on: source, title, a header line naming who, where and when
// (the first line of every chunk), room, link and time. An empty text means "nothing to
// search": the vectorize consumer removes that document's vectors.
//
// Messages (guest conversations, Rocket.Chat) are one document each, but they belong to a
// group (a thread, or a window of a conversation) that is indexed as one unit, so a reply is
// found with the question it answers. Their text is one line: "[time] author: words".
import type { EntityKind, EntityRow, StoredEntity } from "../entities/registry";

type Line = string | null | undefined | false;

function lines(...parts: Line[]): string {
  return parts.filter((part): part is string => typeof part === "string" && part.trim().length > 0).join("\n");
}

/** Joins the parts that are set, e.g. the fields of a header line. */
const joinNonEmpty = (values: (string | null | undefined | false)[], separator = " ") =>
  values.filter((value): value is string => typeof value === "string" && value.trim().length > 0).join(separator);

const isoFromSeconds = (seconds: number | null) => (seconds === null ? null : new Date(seconds * 1000).toISOString());
/** "2026-05-01 10:02 UTC": minutes are what a reader needs. */
export const readableTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
const readableDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** ms of an ISO date or time, or null when it is missing or not a date. */
const msOf = (value: string | null | undefined) => {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
};

export type DocumentSource = "aircall" | "guesty" | "rocketchat";

export type DocumentContent = {
  source: DocumentSource;
  title: string;
  header: string;
  text: string;
  room: string | null;
  url: string | null;
  occurredAt: number | null;
  groupId: string | null;
};

type Built = Omit<DocumentContent, "room" | "url" | "occurredAt" | "groupId"> & Partial<DocumentContent>;

/** Guest conversations are indexed in windows of a week, chat outside threads in six hours. */
export const GUEST_CONVERSATION_WINDOW_MS = 7 * 24 * 3600 * 1000;
export const CHAT_WINDOW_MS = 6 * 3600 * 1000;

/** "<prefix>:<key>:<window start>": a group of messages close in time. */
export function windowGroupId(prefix: string, key: string, occurredAt: number | null, windowMs: number): string {
  const start = occurredAt === null ? "undated" : new Date(Math.floor(occurredAt / windowMs) * windowMs).toISOString();
  return `${prefix}:${key}:${start}`;
}

export const GROUP_KINDS = {
  "chat-thread": "chat_thread",
  "chat-window": "chat_window",
  "guest-conversation": "guest_conversation",
} as const;

/** The entity type search reports for a document id: a group's kind, or the entity kind. */
export function entityTypeOf(documentId: string, kind?: string): string {
  const prefix = documentId.slice(0, documentId.indexOf(":"));
  return GROUP_KINDS[prefix as keyof typeof GROUP_KINDS] ?? kind ?? prefix;
}

/** The root message of a thread group ("chat-thread:<root id>"), which opens the thread. */
export function threadRootDocumentId(groupId: string): string | null {
  return groupId.startsWith("chat-thread:") ? documentId("chat_message", groupId.slice("chat-thread:".length)) : null;
}

/** A permalink to a Rocket.Chat message, when the server's URL is known. */
function chatPermalink(message: EntityRow<"chat_message">): string | null {
  if (!message.siteUrl) return null;
  const base = message.siteUrl.replace(/\/+$/, "");
  const room = message.roomName ? `channel/${encodeURIComponent(message.roomName)}` : `direct/${encodeURIComponent(message.roomId ?? "")}`;
  return `${base}/${room}?msg=${encodeURIComponent(message.id)}`;
}

const builders: { [K in EntityKind]: ((row: EntityRow<K>) => Built) | null } = {
  call: (call) => {
    const party = joinNonEmpty([call.contactName, call.externalNumber]) || "unknown caller";
    const startedAt = call.startedAt === null ? null : call.startedAt * 1000;
    return {
      source: "aircall",
      title: joinNonEmpty([`${call.direction === "outbound" ? "Call to" : "Call from"} ${party}`, startedAt !== null && `on ${readableDate(startedAt)}`]),
      header: joinNonEmpty(
        [
          `Aircall ${call.direction ?? ""} call ${call.id}`.replace(/\s+/g, " "),
          `with ${party}`,
          call.userName && `agent ${call.userName}`,
          call.numberName && `line ${call.numberName}`,
          startedAt !== null && readableTime(startedAt),
        ],
        " · ",
      ),
      occurredAt: startedAt,
      text: lines(
        `Status: ${call.status ?? "unknown"}`,
        call.startedAt !== null && `Started: ${isoFromSeconds(call.startedAt)}`,
        call.durationSeconds !== null && `Duration: ${call.durationSeconds} s`,
        call.answeredAt === null && call.endedAt !== null && "Not answered",
        call.missedCallReason && `Missed reason: ${call.missedCallReason}`,
        call.userName && `Agent: ${call.userName}`,
        call.numberDigits && `Line: ${joinNonEmpty([call.numberName, `(${call.numberDigits})`])}`,
        call.externalNumber && `External party: ${joinNonEmpty([call.contactName, call.externalNumber])}`,
        call.hasVoicemail && "Voicemail left",
        call.hasRecording && "Recorded",
        call.tags.length > 0 && `Tags: ${call.tags.join(", ")}`,
        ...call.comments.map((comment) => `Comment${comment.postedBy ? ` by ${comment.postedBy}` : ""}: ${comment.content}`),
        call.summary && `Summary: ${call.summary}`,
        // A transcript's lines are its speaker turns, the units the chunker packs.
        call.transcription && `Transcript:\n${call.transcription}`,
      ),
    };
  },
  contact: (contact) => {
    const name = joinNonEmpty([contact.firstName, contact.lastName]) || `#${contact.id}`;
    return {
      source: "aircall",
      title: `Contact ${name}`,
      header: joinNonEmpty([`Aircall contact ${name}`, contact.companyName], " · "),
      text: contact.deleted
        ? ""
        : lines(
            contact.companyName && `Company: ${contact.companyName}`,
            contact.phoneNumbers.length > 0 && `Phone: ${contact.phoneNumbers.join(", ")}`,
            contact.emails.length > 0 && `Email: ${contact.emails.join(", ")}`,
            contact.information && `Notes: ${contact.information}`,
          ),
    };
  },
  aircall_user: null,
  aircall_number: null,
  reservation: (reservation) => {
    const code = reservation.confirmationCode ?? reservation.id;
    const stay = (reservation.checkIn || reservation.checkOut) && `${reservation.checkIn ?? "?"} to ${reservation.checkOut ?? "?"}`;
    return {
      source: "guesty",
      title: joinNonEmpty([`Reservation ${code}`, reservation.guestName, reservation.listingName && `at ${reservation.listingName}`]),
      header: joinNonEmpty(
        [`Guesty reservation ${code}`, reservation.guestName && `guest ${reservation.guestName}`, reservation.listingName, stay],
        " · ",
      ),
      occurredAt: msOf(reservation.checkIn),
      text: lines(
        `Status: ${reservation.status ?? "unknown"}`,
        reservation.guestName && `Guest: ${reservation.guestName}`,
        reservation.listingName && `Listing: ${reservation.listingName}`,
        stay && `Stay: ${stay}${reservation.nightsCount !== null ? ` (${reservation.nightsCount} nights)` : ""}`,
        reservation.guestsCount !== null && `Guests: ${reservation.guestsCount}`,
        reservation.channel && `Channel: ${reservation.channel}`,
      ),
    };
  },
  listing: (listing) => {
    const name = joinNonEmpty([listing.title, listing.nickname && `(${listing.nickname})`]) || listing.id;
    const place = joinNonEmpty([listing.city, listing.country], ", ");
    return {
      source: "guesty",
      title: `Listing ${name}`,
      header: joinNonEmpty([`Guesty listing ${name}`, place], " · "),
      text: listing.deleted
        ? ""
        : lines(
            listing.address && `Address: ${listing.address}`,
            place && `Location: ${place}`,
            listing.propertyType && `Type: ${listing.propertyType}`,
            listing.bedrooms !== null && `Bedrooms: ${listing.bedrooms}`,
            listing.bathrooms !== null && `Bathrooms: ${listing.bathrooms}`,
            listing.accommodates !== null && `Sleeps: ${listing.accommodates}`,
            listing.active === false && "Inactive",
          ),
    };
  },
  guest: (guest) => {
    const name = guest.fullName || joinNonEmpty([guest.firstName, guest.lastName]) || guest.id;
    return {
      source: "guesty",
      title: `Guest ${name}`,
      header: `Guesty guest ${name}`,
      text: guest.deleted
        ? ""
        : lines(guest.phones.length > 0 && `Phone: ${guest.phones.join(", ")}`, guest.emails.length > 0 && `Email: ${guest.emails.join(", ")}`),
    };
  },
  message: (message) => {
    const guest = message.guestName ?? "guest";
    const occurredAt = msOf(message.sentAt);
    const conversation = message.conversationId ?? message.reservationId ?? message.guestId ?? message.id;
    const author = message.direction === "received" ? guest : "Host";
    return {
      source: "guesty",
      title: `Conversation with ${guest}`,
      header: joinNonEmpty(
        [`Guesty conversation with ${guest}`, message.reservationId && `reservation ${message.reservationId}`, message.channel && `via ${message.channel}`],
        " · ",
      ),
      occurredAt,
      groupId: windowGroupId("guest-conversation", conversation, occurredAt, GUEST_CONVERSATION_WINDOW_MS),
      text: message.body?.trim() ? `[${occurredAt !== null ? readableTime(occurredAt) : "undated"}] ${author}: ${message.body.trim()}` : "",
    };
  },
  task: (task) => {
    const when = (task.startTime || task.endTime) && `${task.startTime ?? "?"} to ${task.endTime ?? "?"}`;
    return {
      source: "guesty",
      title: `Task ${task.title ?? task.id}`,
      header: joinNonEmpty([`Guesty task ${task.title ?? task.id}`, task.listingId && `listing ${task.listingId}`, when], " · "),
      occurredAt: msOf(task.startTime),
      text: task.deleted
        ? ""
        : lines(
            task.status && `Status: ${task.status}`,
            task.taskType && `Type: ${task.taskType}`,
            task.description,
            task.reservationId && `Reservation: ${task.reservationId}`,
            when && `When: ${when}`,
          ),
    };
  },
  chat_message: (message) => {
    const room = message.roomName ? `#${message.roomName}` : "a direct conversation";
    const occurredAt = message.sentAt;
    return {
      source: "rocketchat",
      title: `Rocket.Chat ${room}`,
      header: `Rocket.Chat ${room}`,
      room: message.roomId,
      url: chatPermalink(message),
      occurredAt,
      groupId: message.threadId
        ? `chat-thread:${message.threadId}`
        : windowGroupId("chat-window", message.roomId ?? "unknown", occurredAt, CHAT_WINDOW_MS),
      text:
        message.deleted || !message.text?.trim()
          ? ""
          : `[${occurredAt !== null ? readableTime(occurredAt) : "undated"}] ${message.userName ?? "someone"}${message.edited ? " (edited)" : ""}: ${message.text.trim()}`,
    };
  },
};

export type DocumentDraft = DocumentContent & { id: string; kind: EntityKind; entityId: string; entityVersion: number };

export const documentId = (kind: EntityKind, entityId: string | number) => `${kind}:${entityId}`;

/** The document for a stored entity, or null for kinds that are not searchable. */
export function documentFor(entity: StoredEntity): DocumentDraft | null {
  const build = builders[entity.kind] as ((row: StoredEntity["row"]) => Built) | null;
  if (!build) return null;
  const entityId = String(entity.row.id);
  const built = build(entity.row);
  return {
    id: documentId(entity.kind, entityId),
    kind: entity.kind,
    entityId,
    entityVersion: entity.row.version,
    room: null,
    url: null,
    occurredAt: null,
    groupId: null,
    ...built,
  };
}

/** What the content hash covers: everything the index holds of a document. */
export function hashedContent(content: DocumentContent): string {
  const { source, title, header, text, room, url, occurredAt, groupId } = content;
  return JSON.stringify([source, title, header, text, room, url, occurredAt, groupId]);
}
