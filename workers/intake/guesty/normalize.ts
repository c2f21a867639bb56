// Guesty event -> entity changes. Guesty entities carry their own update time, which is the
// order key; fields absent from a (lean) payload are left as stored rather than cleared.
import { DELETED_ORDER_KEY, type EntityChange } from "../../entities/registry";
import { changeFrom, ignored, type Normalization } from "../normalization";
import {
  conversationSchema,
  guestSchema,
  listingSchema,
  messageWithIdSchema,
  reservationSchema,
  taskSchema,
} from "./payloads";

/** Milliseconds of the latest parseable ISO time among `times`, or 0 when none is. */
export function orderKeyFrom(...times: (string | null | undefined)[]): number {
  const parsed = times.map((time) => (time ? Date.parse(time) : Number.NaN)).filter((ms) => Number.isFinite(ms));
  return parsed.length > 0 ? Math.max(...parsed) : 0;
}

/** Drops keys whose value is undefined, so the upsert leaves those columns untouched. */
function present<T extends Record<string, unknown>>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}

const nameOf = (person: { fullName?: string | null; firstName?: string | null; lastName?: string | null } | null | undefined) =>
  person ? person.fullName ?? ([person.firstName, person.lastName].filter(Boolean).join(" ") || undefined) : undefined;

const RESERVATION_EVENTS = new Set([
  "reservation.new",
  "reservation.updated",
  "reservation_update_shortlist",
  "reservation.created.v2",
  "reservation.updated.v2",
]);
const MESSAGE_EVENTS: Record<string, "received" | "sent"> = {
  "reservation.messageReceived": "received",
  "reservation.messageSent": "sent",
};

export function normalizeGuesty(type: string, body: Record<string, unknown>): Normalization {
  const publishedAt = typeof body.publishedAt === "string" ? body.publishedAt : undefined;

  if (RESERVATION_EVENTS.has(type)) {
    return changeFrom(reservationSchema, body.reservation, "reservation", type, (r) => ({
      kind: "reservation",
      mode: "snapshot",
      orderKey: orderKeyFrom(r.lastUpdatedAt, r.updatedAt, publishedAt),
      fields: present({
        id: r._id,
        confirmationCode: r.confirmationCode,
        status: r.status,
        checkIn: r.checkInDateLocalized ?? r.checkIn,
        checkOut: r.checkOutDateLocalized ?? r.checkOut,
        nightsCount: r.nightsCount,
        guestsCount: r.guestsCount,
        listingId: r.listingId,
        listingName: r.listing ? r.listing.title ?? r.listing.nickname : undefined,
        guestId: r.guestId,
        guestName: nameOf(r.guest),
        channel: r.source,
      }),
    }));
  }

  const direction = MESSAGE_EVENTS[type];
  if (direction) return normalizeMessage(type, direction, body);

  const [resource, action] = type.split(".");
  const deleted = action === "deleted" || action === "removed";
  // Deletions are final; otherwise the entity's own update time orders snapshots.
  const orderKey = (entity: { lastUpdatedAt?: string | null; updatedAt?: string | null }) =>
    deleted ? DELETED_ORDER_KEY : orderKeyFrom(entity.lastUpdatedAt, entity.updatedAt, publishedAt);

  switch (resource) {
    case "listing":
      if (type === "listing.calendar.updated") return ignored;
      return changeFrom(listingSchema, body.listing, "listing", type, (l) => ({
        kind: "listing",
        mode: "snapshot",
        orderKey: orderKey(l),
        fields: present({
          id: l._id,
          title: l.title,
          nickname: l.nickname,
          address: l.address?.full,
          city: l.address?.city,
          country: l.address?.country,
          propertyType: l.propertyType,
          bedrooms: l.bedrooms,
          bathrooms: l.bathrooms,
          accommodates: l.accommodates,
          active: l.active,
          deleted,
        }),
      }));
    case "guest":
      return changeFrom(guestSchema, body.guest, "guest", type, (g) => ({
        kind: "guest",
        mode: "snapshot",
        orderKey: orderKey(g),
        fields: present({
          id: g._id,
          fullName: nameOf(g),
          firstName: g.firstName,
          lastName: g.lastName,
          emails: g.emails ?? (g.email ? [g.email] : undefined),
          phones: g.phones ?? (g.phone ? [g.phone] : undefined),
          deleted,
        }),
      }));
    case "task":
      return changeFrom(taskSchema, body.task, "task", type, (t) => ({
        kind: "task",
        mode: "snapshot",
        orderKey: orderKey(t),
        fields: present({
          id: t._id,
          title: t.title,
          description: t.description,
          status: t.status,
          taskType: t.type,
          listingId: t.listingId,
          reservationId: t.reservationId,
          assigneeId: t.assigneeId,
          startTime: t.startTime,
          endTime: t.endTime,
          deleted,
        }),
      }));
    default:
      return ignored;
  }
}

function normalizeMessage(type: string, direction: "received" | "sent", body: Record<string, unknown>): Normalization {
  const conversation = conversationSchema.nullish().safeParse(body.conversation);
  const c = conversation.success ? conversation.data : null;
  return changeFrom(messageWithIdSchema, body.message, "message", type, (m): EntityChange => ({
    kind: "message",
    mode: "snapshot",
    orderKey: orderKeyFrom(m.createdAt, m.sentAt),
    fields: present({
      id: m._id,
      conversationId: c?._id,
      reservationId: typeof body.reservationId === "string" ? body.reservationId : undefined,
      guestId: c?.guestId,
      guestName: c?.meta?.guestName,
      direction,
      channel: typeof m.module === "string" ? m.module : m.module?.type ?? m.type,
      body: m.body,
      sentAt: m.sentAt ?? m.createdAt,
    }),
  }));
}
