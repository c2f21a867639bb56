// Searchable text for each entity kind, built only from the stored row so that the same row
// always yields the same text (and the same content hash). An empty text means "nothing to
// search": the vectorize consumer removes that document's vectors.
import type { EntityKind, EntityRow, StoredEntity } from "../entities/registry";

type Line = string | null | undefined | false;

function lines(...parts: Line[]): string {
  return parts.filter((part): part is string => typeof part === "string" && part.trim().length > 0).join("\n");
}

const isoFromSeconds = (seconds: number | null) => (seconds === null ? null : new Date(seconds * 1000).toISOString());
const joinNonEmpty = (values: (string | null | undefined)[], separator = " ") =>
  values.filter((value): value is string => !!value && value.trim().length > 0).join(separator);

const textBuilders: { [K in EntityKind]: ((row: EntityRow<K>) => string) | null } = {
  call: (call) =>
    lines(
      `Aircall call ${call.id}: ${call.direction ?? "unknown direction"}, ${call.status ?? "unknown status"}`,
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
      call.transcription && `Transcript:\n${call.transcription}`,
    ),
  contact: (contact) =>
    contact.deleted
      ? ""
      : lines(
          `Aircall contact: ${joinNonEmpty([contact.firstName, contact.lastName]) || `#${contact.id}`}`,
          contact.companyName && `Company: ${contact.companyName}`,
          contact.phoneNumbers.length > 0 && `Phone: ${contact.phoneNumbers.join(", ")}`,
          contact.emails.length > 0 && `Email: ${contact.emails.join(", ")}`,
          contact.information && `Notes: ${contact.information}`,
        ),
  aircall_user: null,
  aircall_number: null,
  reservation: (reservation) =>
    lines(
      `Guesty reservation ${reservation.confirmationCode ?? reservation.id}: ${reservation.status ?? "unknown status"}`,
      reservation.guestName && `Guest: ${reservation.guestName}`,
      reservation.listingName && `Listing: ${reservation.listingName}`,
      (reservation.checkIn || reservation.checkOut) &&
        `Stay: ${reservation.checkIn ?? "?"} to ${reservation.checkOut ?? "?"}${reservation.nightsCount !== null ? ` (${reservation.nightsCount} nights)` : ""}`,
      reservation.guestsCount !== null && `Guests: ${reservation.guestsCount}`,
      reservation.channel && `Channel: ${reservation.channel}`,
    ),
  listing: (listing) =>
    listing.deleted
      ? ""
      : lines(
          `Guesty listing: ${joinNonEmpty([listing.title, listing.nickname && `(${listing.nickname})`]) || listing.id}`,
          listing.address && `Address: ${listing.address}`,
          (listing.city || listing.country) && `Location: ${joinNonEmpty([listing.city, listing.country], ", ")}`,
          listing.propertyType && `Type: ${listing.propertyType}`,
          listing.bedrooms !== null && `Bedrooms: ${listing.bedrooms}`,
          listing.bathrooms !== null && `Bathrooms: ${listing.bathrooms}`,
          listing.accommodates !== null && `Sleeps: ${listing.accommodates}`,
          listing.active === false && "Inactive",
        ),
  guest: (guest) =>
    guest.deleted
      ? ""
      : lines(
          `Guesty guest: ${guest.fullName || joinNonEmpty([guest.firstName, guest.lastName]) || guest.id}`,
          guest.phones.length > 0 && `Phone: ${guest.phones.join(", ")}`,
          guest.emails.length > 0 && `Email: ${guest.emails.join(", ")}`,
        ),
  message: (message) =>
    lines(
      `Guesty message ${message.direction === "received" ? "from" : "to"} ${message.guestName ?? "guest"}${message.channel ? ` via ${message.channel}` : ""}`,
      message.sentAt && `At: ${message.sentAt}`,
      message.reservationId && `Reservation: ${message.reservationId}`,
      message.body ?? "",
    ),
  task: (task) =>
    task.deleted
      ? ""
      : lines(
          `Guesty task: ${task.title ?? task.id}${task.status ? ` (${task.status})` : ""}`,
          task.taskType && `Type: ${task.taskType}`,
          task.description,
          task.listingId && `Listing: ${task.listingId}`,
          task.reservationId && `Reservation: ${task.reservationId}`,
          (task.startTime || task.endTime) && `When: ${task.startTime ?? "?"} to ${task.endTime ?? "?"}`,
        ),
};

export type DocumentDraft = { id: string; kind: EntityKind; entityId: string; text: string; entityVersion: number };

export const documentId = (kind: EntityKind, entityId: string | number) => `${kind}:${entityId}`;

/** The document for a stored entity, or null for kinds that are not searchable. */
export function documentFor(entity: StoredEntity): DocumentDraft | null {
  const build = textBuilders[entity.kind] as ((row: StoredEntity["row"]) => string) | null;
  if (!build) return null;
  const entityId = String(entity.row.id);
  return { id: documentId(entity.kind, entityId), kind: entity.kind, entityId, text: build(entity.row), entityVersion: entity.row.version };
}
