// Builds signed Guesty deliveries following the documented envelopes.
import { env, exports } from "cloudflare:workers";
import { settled } from "./settle";
import { firstGuestySecret, signStandardWebhook } from "./sign-guesty";

export type GuestyDelivery = {
  id: string;
  body: Record<string, unknown>;
  /** Unix seconds used for the signature; defaults to now. */
  timestamp?: number;
  secret?: string;
  headerPrefix?: "svix" | "webhook";
  /** Replaces the computed signature header. */
  signature?: string;
  rawBody?: string;
};

/** The signed request Guesty would send for `delivery`. */
export async function guestyRequest(delivery: GuestyDelivery): Promise<{ url: string; init: RequestInit }> {
  const raw = delivery.rawBody ?? JSON.stringify(delivery.body);
  const timestamp = delivery.timestamp ?? Math.floor(Date.now() / 1000);
  const prefix = delivery.headerPrefix ?? "svix";
  const signature =
    delivery.signature ??
    (await signStandardWebhook(delivery.secret ?? firstGuestySecret(env.GUESTY_WEBHOOK_SECRETS), delivery.id, timestamp, raw));
  return {
    url: "http://intake/webhooks/guesty",
    init: {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [`${prefix}-id`]: delivery.id,
        [`${prefix}-timestamp`]: String(timestamp),
        [`${prefix}-signature`]: signature,
      },
      body: raw,
    },
  };
}

/** Posts a signed Guesty delivery and, when it is accepted, waits until its event is processed. */
export async function postGuesty(delivery: GuestyDelivery): Promise<Response> {
  const { url, init } = await guestyRequest(delivery);
  return settled(await exports.default.fetch(url, init));
}

/** Lean v2 updates of one reservation, oldest first, each carrying only what changed. */
export const LEAN_RESERVATION_UPDATES = [
  { at: "2026-11-20T10:00:00.000Z", fields: { status: "confirmed", guestsCount: 2, nightsCount: 7 } },
  { at: "2026-11-20T11:00:00.000Z", fields: { guestsCount: 4 } },
  { at: "2026-11-20T12:00:00.000Z", fields: { status: "canceled" } },
  { at: "2026-11-20T13:00:00.000Z", fields: { nightsCount: 5, checkIn: "2026-12-21" } },
] as const;

export function leanReservationUpdate(reservationId: string, update: (typeof LEAN_RESERVATION_UPDATES)[number]) {
  return { event: "reservation.updated.v2", publishedAt: update.at, reservation: { _id: reservationId, lastUpdatedAt: update.at, ...update.fields } };
}

export function reservationBody(
  event: string,
  reservation: Partial<Record<string, unknown>> & { _id: string },
  extra: Record<string, unknown> = {},
) {
  return {
    event,
    reservation: {
      confirmationCode: `HM${reservation._id.slice(-6).toUpperCase()}`,
      status: "confirmed",
      checkIn: "2026-12-20T15:00:00.000Z",
      checkOut: "2026-12-27T10:00:00.000Z",
      checkInDateLocalized: "2026-12-20",
      checkOutDateLocalized: "2026-12-27",
      nightsCount: 7,
      guestsCount: 2,
      listingId: "listing-1",
      guestId: "guest-1",
      source: "airbnb2",
      lastUpdatedAt: "2026-11-20T10:00:00.000Z",
      ...reservation,
    },
    ...extra,
  };
}
