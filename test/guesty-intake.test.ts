import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { importSigningSecret, MAX_SIGNATURE_ENTRIES, verifyStandardWebhook } from "../workers/auth/standard-webhooks";
import { row } from "./support/d1";
import { LEAN_RESERVATION_UPDATES, leanReservationUpdate, postGuesty, reservationBody } from "./support/guesty";
import { signStandardWebhook, signStandardWebhookRaw } from "./support/sign-guesty";

const [oldSecret, newSecret] = env.GUESTY_WEBHOOK_SECRETS.split(",") as [string, string];
const now = () => Math.floor(Date.now() / 1000);

async function eventCount(id: string) {
  return (await row("SELECT count(*) AS n FROM webhook_events WHERE id = ?", id))?.n;
}

describe("Guesty signatures", () => {
  it("accepts svix-* and webhook-* header names", async () => {
    const svix = await postGuesty({ id: "msg_hdr_svix", body: { event: "guest.created", guest: { _id: "g-hdr-1" } } });
    expect(svix.status).toBe(200);
    expect(await svix.json()).toEqual({ id: "guesty_msg_hdr_svix", duplicate: false });
    const standard = await postGuesty({
      id: "msg_hdr_webhook",
      headerPrefix: "webhook",
      body: { event: "guest.created", guest: { _id: "g-hdr-2" } },
    });
    expect(standard.status).toBe(200);
  });

  it("accepts either secret during rotation", async () => {
    for (const [index, secret] of [oldSecret, newSecret].entries()) {
      const response = await postGuesty({ id: `msg_rot_${index}`, secret, body: { event: "guest.created", guest: { _id: `g-rot-${index}` } } });
      expect(response.status).toBe(200);
    }
  });

  it("accepts a header with several entries when any one matches", async () => {
    const body = { event: "guest.created", guest: { _id: "g-multi" } };
    const timestamp = now();
    const good = await signStandardWebhook(newSecret, "msg_multi", timestamp, JSON.stringify(body));
    const response = await postGuesty({
      id: "msg_multi",
      body,
      timestamp,
      signature: `v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v2,ignored ${good}`,
    });
    expect(response.status).toBe(200);
  });

  it("rejects a secret it does not know, storing nothing", async () => {
    const stranger = `whsec_${btoa("someone-elses-secret-0123456789")}`;
    const response = await postGuesty({ id: "msg_forged", secret: stranger, body: { event: "guest.created", guest: { _id: "g-x" } } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: "unauthorized" });
    expect(await eventCount("guesty_msg_forged")).toBe(0);
  });

  it("rejects a tampered body", async () => {
    const body = { event: "guest.created", guest: { _id: "g-tamper", fullName: "Ann" } };
    const timestamp = now();
    const signature = await signStandardWebhook(oldSecret, "msg_tamper", timestamp, JSON.stringify(body));
    const tampered = JSON.stringify({ ...body, guest: { _id: "g-tamper", fullName: "Mallory" } });
    const response = await postGuesty({ id: "msg_tamper", body, timestamp, signature, rawBody: tampered });
    expect(response.status).toBe(401);
    expect(await eventCount("guesty_msg_tamper")).toBe(0);
  });

  it("rejects a signature replayed under another message id", async () => {
    const body = { event: "guest.created", guest: { _id: "g-replay" } };
    const timestamp = now();
    const signature = await signStandardWebhook(oldSecret, "msg_original", timestamp, JSON.stringify(body));
    expect((await postGuesty({ id: "msg_other", body, timestamp, signature })).status).toBe(401);
  });

  it("rejects timestamps more than 5 minutes old or ahead, and accepts just inside", async () => {
    const body = { event: "guest.created", guest: { _id: "g-time" } };
    expect((await postGuesty({ id: "msg_stale", body, timestamp: now() - 301 })).status).toBe(401);
    expect((await postGuesty({ id: "msg_future", body, timestamp: now() + 301 })).status).toBe(401);
    expect((await postGuesty({ id: "msg_edge", body, timestamp: now() - 290 })).status).toBe(200);
    expect(await eventCount("guesty_msg_stale")).toBe(0);
    expect(await eventCount("guesty_msg_future")).toBe(0);
  });

  it("verifies the official Standard Webhooks test vector", async () => {
    // From the Standard Webhooks specification's reference libraries (also Svix's docs).
    const headers = new Headers({
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    });
    const key = await importSigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const body = new TextEncoder().encode('{"test": 2432232314}');
    expect(await verifyStandardWebhook(headers, body, [key!], 1614265330)).toEqual({ ok: true, messageId: "msg_p5jXN8AQM9LWM0D4loKWxJek" });
    const tampered = new TextEncoder().encode('{"test": 2432232315}');
    expect(await verifyStandardWebhook(headers, tampered, [key!], 1614265330)).toEqual({ ok: false, reason: "no matching signature" });
  });

  it("rejects a malformed timestamp even when the signature over it is valid", async () => {
    const body = { event: "guest.created", guest: { _id: "g-ts-malformed" } };
    for (const [index, timestamp] of [`${now()}.0`, ` ${now()}`, `+${now()}`, `${now()}e0`].entries()) {
      const id = `msg_ts_malformed_${index}`;
      const raw = JSON.stringify(body);
      const signature = await signStandardWebhookRaw(oldSecret, `${id}.${timestamp}.${raw}`);
      const response = await exports.default.fetch("http://intake/webhooks/guesty", {
        method: "POST",
        headers: { "content-type": "application/json", "svix-id": id, "svix-timestamp": timestamp, "svix-signature": signature },
        body: raw,
      });
      expect(response.status, timestamp).toBe(401);
      expect(await eventCount(`guesty_${id}`)).toBe(0);
    }
  });

  it("refuses a header with more signature entries than a real sender uses, before computing any", async () => {
    const body = { event: "guest.created", guest: { _id: "g-many" } };
    const timestamp = now();
    const good = await signStandardWebhook(oldSecret, "msg_many", timestamp, JSON.stringify(body));
    const filler = Array.from({ length: 200 }, () => "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").join(" ");
    expect((await postGuesty({ id: "msg_many", body, timestamp, signature: `${filler} ${good}` })).status).toBe(401);
    expect(await eventCount("guesty_msg_many")).toBe(0);
    // The same valid signature among a handful of entries passes.
    const few = Array.from({ length: MAX_SIGNATURE_ENTRIES - 1 }, () => "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").join(" ");
    expect((await postGuesty({ id: "msg_many", body, timestamp, signature: `${few} ${good}` })).status).toBe(200);
  });

  it("signs the raw bytes: a body with a leading BOM and a valid signature is accepted and kept", async () => {
    const json = JSON.stringify({ event: "guest.created", guest: { _id: "g-bom", fullName: "Zoë Bom" } });
    const response = await postGuesty({ id: "msg_bom", body: {}, rawBody: `\uFEFF${json}` });
    expect(response.status).toBe(200);
    expect(await row("SELECT payload FROM webhook_events WHERE id = 'guesty_msg_bom'")).toEqual({ payload: json });
    expect(await row("SELECT full_name FROM guesty_guests WHERE id = 'g-bom'")).toEqual({ full_name: "Zoë Bom" });
  });

  it("rejects missing headers and malformed timestamps", async () => {
    const missing = await postGuesty({ id: "", body: { event: "guest.created" } });
    expect(missing.status).toBe(401);
    const response = await postGuesty({ id: "msg_badts", body: { event: "x" }, signature: "v1,abc", timestamp: Number.NaN });
    expect(response.status).toBe(401);
  });
});

describe("Guesty intake", () => {
  it("stores a retried message id once", async () => {
    const body = { event: "guest.created", guest: { _id: "g-dup", fullName: "Dup Licate" } };
    const first = await postGuesty({ id: "msg_dup", body });
    const retry = await postGuesty({ id: "msg_dup", body, timestamp: now() + 5 });
    expect(await first.json()).toEqual({ id: "guesty_msg_dup", duplicate: false });
    expect(await retry.json()).toEqual({ id: "guesty_msg_dup", duplicate: true });
    expect(await eventCount("guesty_msg_dup")).toBe(1);
  });

  it("normalizes a legacy reservation and builds its document", async () => {
    const body = reservationBody("reservation.new", {
      _id: "res-legacy-1",
      guest: { fullName: "Gerald Charlton" },
      listing: { title: "Sea View Loft" },
    });
    expect((await postGuesty({ id: "msg_res_legacy", body })).status).toBe(200);
    expect(await row("SELECT status, guest_name, listing_name, check_in, nights_count FROM guesty_reservations WHERE id = 'res-legacy-1'")).toEqual({
      status: "confirmed",
      guest_name: "Gerald Charlton",
      listing_name: "Sea View Loft",
      check_in: "2026-12-20",
      nights_count: 7,
    });
    const document = await row("SELECT text FROM documents WHERE id = 'reservation:res-legacy-1'");
    expect(document?.text).toContain("Guest: Gerald Charlton");
    expect(document?.text).toContain("Stay: 2026-12-20 to 2026-12-27 (7 nights)");
  });

  it("applies lean v2 updates per field: omitted fields keep their value, older values never win, older news still lands", async () => {
    await postGuesty({
      id: "msg_v2_create",
      body: reservationBody("reservation.created.v2", { _id: "res-v2", guest: { fullName: "Vera Two" } }, { publishedAt: "2026-11-20T10:00:00.000Z" }),
    });
    const cancel = {
      event: "reservation.updated.v2",
      publishedAt: "2026-11-21T09:00:00.000Z",
      reservation: { _id: "res-v2", status: "canceled", lastUpdatedAt: "2026-11-21T09:00:00.000Z" },
    };
    expect((await postGuesty({ id: "msg_v2_cancel", body: cancel })).status).toBe(200);
    // An update published before the cancellation arrives late: its status is older than the
    // cancellation's, but its guest count is newer than anything stored for that field.
    const late = {
      event: "reservation.updated.v2",
      publishedAt: "2026-11-20T12:00:00.000Z",
      reservation: { _id: "res-v2", status: "confirmed", guestsCount: 3, lastUpdatedAt: "2026-11-20T12:00:00.000Z" },
    };
    expect((await postGuesty({ id: "msg_v2_late", body: late })).status).toBe(200);
    expect(await row("SELECT status, guest_name, guests_count FROM guesty_reservations WHERE id = 'res-v2'")).toEqual({
      status: "canceled",
      guest_name: "Vera Two",
      guests_count: 3,
    });
    // An even older update changes nothing, not even the version.
    const version = (await row("SELECT version FROM guesty_reservations WHERE id = 'res-v2'"))?.version;
    const stale = {
      event: "reservation.updated.v2",
      publishedAt: "2026-11-19T12:00:00.000Z",
      reservation: { _id: "res-v2", status: "inquiry", guestsCount: 1, lastUpdatedAt: "2026-11-19T12:00:00.000Z" },
    };
    expect((await postGuesty({ id: "msg_v2_stale", body: stale })).status).toBe(200);
    expect(await row("SELECT status, guests_count, version FROM guesty_reservations WHERE id = 'res-v2'")).toEqual({ status: "canceled", guests_count: 3, version });
  });

  it("ends in the same state whatever order lean v2 updates arrive in", async () => {
    const finalStates = [];
    for (const [run, order] of [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]].entries()) {
      const id = `res-order-${run}`;
      for (const index of order) {
        const body = leanReservationUpdate(id, LEAN_RESERVATION_UPDATES[index]!);
        expect((await postGuesty({ id: `msg_order_${run}_${index}`, body })).status).toBe(200);
      }
      finalStates.push(await row("SELECT status, guests_count, nights_count, check_in FROM guesty_reservations WHERE id = ?", id));
    }
    expect(finalStates).toEqual(Array(3).fill({ status: "canceled", guests_count: 4, nights_count: 5, check_in: "2026-12-21" }));
  });

  it("stores received and sent conversation messages", async () => {
    const conversation = { _id: "conv-1", guestId: "guest-9", meta: { guestName: "Moshe Test" } };
    const received = {
      event: "reservation.messageReceived",
      reservationId: "res-msg",
      conversation,
      message: { _id: "post-1", body: "Is early check-in possible?", module: { type: "airbnb2" }, createdAt: "2026-11-21T08:00:00.000Z" },
    };
    const sent = {
      event: "reservation.messageSent",
      reservationId: "res-msg",
      conversation,
      message: { _id: "post-2", body: "Yes, from 1 pm.", module: { type: "airbnb2" }, createdAt: "2026-11-21T08:05:00.000Z" },
    };
    expect((await postGuesty({ id: "msg_conv_1", body: received })).status).toBe(200);
    expect((await postGuesty({ id: "msg_conv_2", body: sent })).status).toBe(200);
    const rows = await env.DB.prepare("SELECT id, direction, body, guest_name, channel FROM guesty_messages WHERE reservation_id = 'res-msg' ORDER BY id").all();
    expect(rows.results).toEqual([
      { id: "post-1", direction: "received", body: "Is early check-in possible?", guest_name: "Moshe Test", channel: "airbnb2" },
      { id: "post-2", direction: "sent", body: "Yes, from 1 pm.", guest_name: "Moshe Test", channel: "airbnb2" },
    ]);
    expect((await row("SELECT text FROM documents WHERE id = 'message:post-1'"))?.text).toContain("Is early check-in possible?");
  });

  it("normalizes listings and tasks, and a deletion is final", async () => {
    const listing = {
      event: "listing.updated",
      listing: { _id: "lst-1", title: "Old Town Flat", nickname: "OTF", address: { full: "1 Main St, Lisbon", city: "Lisbon", country: "Portugal" }, bedrooms: 2, active: true },
      meta: { updatedFields: ["title"] },
    };
    expect((await postGuesty({ id: "msg_lst_1", body: listing })).status).toBe(200);
    expect(await row("SELECT title, text FROM documents WHERE id = 'listing:lst-1'")).toEqual({
      title: "Listing Old Town Flat (OTF)",
      text: "Address: 1 Main St, Lisbon\nLocation: Lisbon, Portugal\nBedrooms: 2",
    });

    const task = { event: "task.created", task: { _id: "task-1", title: "Deep clean", status: "pending", listingId: "lst-1", description: "Before the 20th" } };
    expect((await postGuesty({ id: "msg_task_1", body: task })).status).toBe(200);
    expect(await row("SELECT title, status, listing_id FROM guesty_tasks WHERE id = 'task-1'")).toEqual({ title: "Deep clean", status: "pending", listing_id: "lst-1" });

    await postGuesty({ id: "msg_task_del", body: { event: "task.deleted", task: { _id: "task-1" } } });
    await postGuesty({ id: "msg_task_late", body: { ...task, event: "task.updated" } });
    expect(await row("SELECT deleted FROM guesty_tasks WHERE id = 'task-1'")).toEqual({ deleted: 1 });
    expect(await row("SELECT text FROM documents WHERE id = 'task:task-1'")).toEqual({ text: "" });
  });

  it("stores unknown types raw and acknowledges them", async () => {
    const response = await postGuesty({ id: "msg_unknown", body: { event: "payments.received", payment: { _id: "p1" } } });
    expect(await response.json()).toEqual({ id: "guesty_msg_unknown", duplicate: false });
    expect(await row("SELECT status, type FROM webhook_events WHERE id = 'guesty_msg_unknown'")).toEqual({ status: "ignored", type: "payments.received" });
  });

  it("keeps a known type with an undocumented shape as failed, with the reason", async () => {
    const response = await postGuesty({ id: "msg_bad_shape", body: { event: "reservation.new", reservation: { status: "confirmed" } } });
    expect(response.status).toBe(200);
    const stored = await row("SELECT status, error FROM webhook_events WHERE id = 'guesty_msg_bad_shape'");
    expect(stored?.status).toBe("failed");
    expect(stored?.error).toContain("reservation._id");
  });

  it("rejects a signed body that is not JSON with 400", async () => {
    const response = await postGuesty({ id: "msg_not_json", body: {}, rawBody: "{not json" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("malformed JSON at position 1");
  });
});
