// Guesty event -> entity changes. Guesty entities carry their own update time, which is the
// order key; fields absent from a (lean) payload are left as stored rather than cleared.
import type { z } from "zod";
import { DELETED_ORDER_KEY, type EntityChange } from "../../entities/registry";
import { ignored, type Normalization } from "../normalization";
import {
  conversationSchema,
  guestSchema,
  listingSchema,
  messageSchema,
  reservationSchema,
  taskSchema,
} from "./payloads";

type Parsed<S extends z.ZodType> = { ok: true; value: z.infer<S> } | { ok: false; error: string };

function parse<S extends z.ZodType>(schema: S, value: unknown, path: string, event: string): Parsed<S> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const where = [path, ...(issue?.path ?? [])].join(".");
  return { ok: false, error: `${event}: ${where} ${issue?.message ?? "is invalid"}` };
}

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

const processed = (change: EntityChange): Normalization => ({ status: "processed", changes: [change] });

export function normalizeGuesty(type: string, body: Record<string, unknown>): Normalization {
  const publishedAt = typeof body.publishedAt === "string" ? body.publishedAt : undefined;

  if (RESERVATION_EVENTS.has(type)) {
    const parsed = parse(reservationSchema, body.reservation, "reservation", type);
    if (!parsed.ok) return { status: "failed", error: parsed.error };
    const r = parsed.value;
    return processed({
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
    });
  }

  const direction = MESSAGE_EVENTS[type];
  if (direction) {
    const message = parse(messageSchema, body.message, "message", type);
    if (!message.ok) return { status: "failed", error: message.error };
    const conversation = parse(conversationSchema.nullish(), body.conversation, "conversation", type);
    if (!conversation.ok) return { status: "failed", error: conversation.error };
    const m = message.value;
    const id = m._id ?? m.postId;
    if (!id) return { status: "failed", error: `${type}: message._id is missing` };
    const c = conversation.value;
    return processed({
      kind: "message",
      mode: "snapshot",
      orderKey: orderKeyFrom(m.createdAt, m.sentAt),
      fields: present({
        id,
        conversationId: c?._id,
        reservationId: typeof body.reservationId === "string" ? body.reservationId : undefined,
        guestId: c?.guestId,
        guestName: c?.meta?.guestName,
        direction,
        channel: typeof m.module === "string" ? m.module : m.module?.type ?? m.type,
        body: m.body,
        sentAt: m.sentAt ?? m.createdAt,
      }),
    });
  }

  const [resource, action] = type.split(".");
  const deleted = action === "deleted" || action === "removed";
  switch (resource) {
    case "listing": {
      if (type === "listing.calendar.updated") return ignored;
      const parsed = parse(listingSchema, body.listing, "listing", type);
      if (!parsed.ok) return { status: "failed", error: parsed.error };
      const l = parsed.value;
      return processed({
        kind: "listing",
        mode: "snapshot",
        orderKey: deleted ? DELETED_ORDER_KEY : orderKeyFrom(l.lastUpdatedAt, l.updatedAt, publishedAt),
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
      });
    }
    case "guest": {
      const parsed = parse(guestSchema, body.guest, "guest", type);
      if (!parsed.ok) return { status: "failed", error: parsed.error };
      const g = parsed.value;
      const emails = g.emails ?? (g.email ? [g.email] : undefined);
      const phones = g.phones ?? (g.phone ? [g.phone] : undefined);
      return processed({
        kind: "guest",
        mode: "snapshot",
        orderKey: deleted ? DELETED_ORDER_KEY : orderKeyFrom(g.lastUpdatedAt, g.updatedAt, publishedAt),
        fields: present({
          id: g._id,
          fullName: nameOf(g),
          firstName: g.firstName,
          lastName: g.lastName,
          emails,
          phones,
          deleted,
        }),
      });
    }
    case "task": {
      const parsed = parse(taskSchema, body.task, "task", type);
      if (!parsed.ok) return { status: "failed", error: parsed.error };
      const t = parsed.value;
      return processed({
        kind: "task",
        mode: "snapshot",
        orderKey: deleted ? DELETED_ORDER_KEY : orderKeyFrom(t.lastUpdatedAt, t.updatedAt, publishedAt),
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
      });
    }
    default:
      return ignored;
  }
}
