// Guesty webhook bodies as documented (open-api-docs.guesty.com, "Webhooks: ..."). The
// envelope differs by event; every object is loose because Guesty adds fields, and the v2
// reservation events are lean (only what changed may be present).
import { z } from "zod";

const optionalString = z.string().nullish();
const optionalNumber = z.number().nullish();

export const reservationSchema = z.looseObject({
  _id: z.string().min(1),
  confirmationCode: optionalString,
  status: optionalString,
  checkIn: optionalString,
  checkOut: optionalString,
  checkInDateLocalized: optionalString,
  checkOutDateLocalized: optionalString,
  nightsCount: optionalNumber,
  guestsCount: optionalNumber,
  listingId: optionalString,
  guestId: optionalString,
  source: optionalString,
  lastUpdatedAt: optionalString,
  updatedAt: optionalString,
  listing: z.looseObject({ title: optionalString, nickname: optionalString }).nullish(),
  guest: z.looseObject({ fullName: optionalString, firstName: optionalString, lastName: optionalString }).nullish(),
});

export const listingSchema = z.looseObject({
  _id: z.string().min(1),
  title: optionalString,
  nickname: optionalString,
  address: z.looseObject({ full: optionalString, city: optionalString, country: optionalString }).nullish(),
  propertyType: optionalString,
  bedrooms: optionalNumber,
  bathrooms: optionalNumber,
  accommodates: optionalNumber,
  active: z.boolean().nullish(),
  lastUpdatedAt: optionalString,
  updatedAt: optionalString,
});

export const guestSchema = z.looseObject({
  _id: z.string().min(1),
  fullName: optionalString,
  firstName: optionalString,
  lastName: optionalString,
  email: optionalString,
  phone: optionalString,
  emails: z.array(z.string()).nullish(),
  phones: z.array(z.string()).nullish(),
  lastUpdatedAt: optionalString,
  updatedAt: optionalString,
});

export const conversationSchema = z.looseObject({
  _id: optionalString,
  guestId: optionalString,
  meta: z.looseObject({ guestName: optionalString }).nullish(),
});

const messageSchema = z.looseObject({
  _id: optionalString,
  postId: optionalString,
  body: optionalString,
  module: z.union([z.string(), z.looseObject({ type: optionalString })]).nullish(),
  type: optionalString,
  createdAt: optionalString,
  sentAt: optionalString,
});

/** Guesty posts carry `_id`; some integrations name it `postId`. Either identifies the message. */
export const messageWithIdSchema = messageSchema
  .transform((message, ctx) => {
    const id = message._id ?? message.postId;
    if (!id) {
      ctx.addIssue({ code: "custom", path: ["_id"], message: "is missing" });
      return z.NEVER;
    }
    return { ...message, _id: id };
  });

export const taskSchema = z.looseObject({
  _id: z.string().min(1),
  title: optionalString,
  description: optionalString,
  status: optionalString,
  type: optionalString,
  listingId: optionalString,
  reservationId: optionalString,
  assigneeId: optionalString,
  startTime: optionalString,
  endTime: optionalString,
  lastUpdatedAt: optionalString,
  updatedAt: optionalString,
});
