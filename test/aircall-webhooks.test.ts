import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { accepted, aircallEvent, aircallTokens, answered, callData, ended, postAircall } from "./support/aircall";
import { eventsMentioning, row } from "./support/d1";

const callRow = (id: number) =>
  row(
    "SELECT status, direction, answered_at, ended_at, duration_seconds, tags, comments, has_voicemail, missed_call_reason, user_name FROM aircall_calls WHERE id = ?",
    id,
  );

describe("Aircall authenticity", () => {
  it("accepts the old and the new token during rotation", async () => {
    for (const [index, token] of aircallTokens.entries()) {
      const response = await postAircall(aircallEvent("call.created", 1_763_000_001 + index, callData(100 + index), token));
      expect(response.status).toBe(200);
    }
  });

  it("rejects a wrong or missing token with 401 and stores nothing", async () => {
    const wrong = await postAircall(aircallEvent("call.created", 1, { ...callData(110), marker: "auth-401" }, "not-the-token"));
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: "unauthorized" });
    const { token: _omitted, ...withoutToken } = aircallEvent("call.created", 1, { ...callData(111), marker: "auth-401" });
    expect((await postAircall(withoutToken)).status).toBe(401);
    expect((await postAircall({ ...withoutToken, token: 12345 })).status).toBe(401);
    expect(await eventsMentioning("auth-401")).toBe(0);
    expect(await callRow(110)).toBeNull();
    expect(await callRow(111)).toBeNull();
  });

  it("does not accept a token that only shares a prefix with a real one", async () => {
    const prefix = aircallTokens[0]!.slice(0, -1);
    expect((await postAircall(aircallEvent("call.created", 1, callData(112), prefix))).status).toBe(401);
  });
});

describe("Aircall idempotency and ordering", () => {
  it("stores a redelivered body once and says it is a duplicate", async () => {
    const body = aircallEvent("call.created", 1_763_000_010, callData(200));
    const first = await accepted(body);
    const second = await accepted(body);
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ id: first.id, duplicate: true });
    expect(first.id).toMatch(/^aircall_[0-9a-f]{64}$/);
    expect(await row("SELECT count(*) AS n FROM webhook_events WHERE id = ?", first.id)).toEqual({ n: 1 });
  });

  it("keeps the ended call when call.created arrives late", async () => {
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(300)));
    await accepted(aircallEvent("call.answered", 1_763_000_004, answered(300)));
    await accepted(aircallEvent("call.created", 1_763_000_000, callData(300)));
    expect(await callRow(300)).toMatchObject({ status: "done", answered_at: 1_763_000_004, ended_at: 1_763_000_064, duration_seconds: 64 });
  });

  it("lets a later call.ended win over call.hungup, but not a redelivered call.hungup", async () => {
    await accepted(aircallEvent("call.hungup", 1_763_000_064, ended(301, { duration: 60 })));
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(301, { duration: 64 })));
    await accepted(aircallEvent("call.hungup", 1_763_000_065, ended(301, { duration: 60 })));
    expect((await callRow(301))?.duration_seconds).toBe(64);
  });

  it("applies tags, comments and voicemail from later events", async () => {
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(302)));
    await accepted(
      aircallEvent("call.tagged", 1_763_000_200, ended(302, { tags: [{ id: 1, name: "Maintenance", tagged_at: 1_763_000_199 }] })),
    );
    await accepted(
      aircallEvent(
        "call.commented",
        1_763_000_300,
        ended(302, {
          tags: [{ id: 1, name: "Maintenance" }],
          comments: [{ id: 9, content: "Boiler broken in flat 2", posted_by: { id: 731416, name: "Ana Agent" }, posted_at: 1_763_000_299 }],
        }),
      ),
    );
    expect(await callRow(302)).toMatchObject({
      tags: '["Maintenance"]',
      comments: JSON.stringify([{ id: 9, content: "Boiler broken in flat 2", postedBy: "Ana Agent", postedAt: 1_763_000_299 }]),
    });
    await accepted(
      aircallEvent(
        "call.voicemail_left",
        1_763_000_100,
        ended(303, { answered_at: null, missed_call_reason: "agents_did_not_answer", voicemail: "https://example.com/v.mp3?X-Amz-Signature=abc" }),
      ),
    );
    expect(await callRow(303)).toMatchObject({ has_voicemail: 1, missed_call_reason: "agents_did_not_answer" });
  });
});

describe("Aircall contacts, users and numbers", () => {
  const contact = (id: number, overrides: Record<string, unknown> = {}) => ({
    id,
    first_name: "Gerald",
    last_name: "Charlton",
    company_name: "Charlton Ltd",
    information: "Prefers SMS",
    is_shared: true,
    emails: [{ id: 1, label: "Work", value: "gerald@example.com" }],
    phone_numbers: [{ id: 2, label: "Mobile", value: "+44 7700 900123" }],
    ...overrides,
  });

  it("creates a contact document and blanks it when the contact is deleted", async () => {
    await accepted(aircallEvent("contact.created", 1_763_000_000, contact(400)));
    expect(await row("SELECT text, title, header, source FROM documents WHERE id = 'contact:400'")).toEqual({
      text: "Company: Charlton Ltd\nPhone: +44 7700 900123\nEmail: gerald@example.com\nNotes: Prefers SMS",
      title: "Contact Gerald Charlton",
      header: "Aircall contact Gerald Charlton · Charlton Ltd",
      source: "aircall",
    });
    await accepted(aircallEvent("contact.deleted", 1_763_000_500, contact(400, { emails: [] })));
    // A late update for a deleted contact must not bring it back.
    await accepted(aircallEvent("contact.updated", 1_763_000_900, contact(400)));
    expect(await row("SELECT deleted FROM aircall_contacts WHERE id = 400")).toEqual({ deleted: 1 });
    expect(await row("SELECT text FROM documents WHERE id = 'contact:400'")).toEqual({ text: "" });
  });

  it("upserts users and numbers by timestamp", async () => {
    const user = { id: 500, name: "Ana Agent", email: "ana@example.com", available: true, availability_status: "available", language: "en-US" };
    await accepted(aircallEvent("user.disconnected", 1_763_000_100, { ...user, available: false, availability_status: "offline" }));
    await accepted(aircallEvent("user.connected", 1_763_000_050, user));
    expect(await row("SELECT available, availability_status FROM aircall_users WHERE id = 500")).toEqual({ available: 0, availability_status: "offline" });

    const number = { id: 600, name: "Front desk", digits: "+31 85 107 0844", country: "NL", time_zone: "Europe/Amsterdam", open: true };
    await accepted(aircallEvent("number.created", 1_763_000_000, number));
    await accepted(aircallEvent("number.closed", 1_763_000_100, { ...number, open: false }));
    expect(await row("SELECT open, digits FROM aircall_numbers WHERE id = 600")).toEqual({ open: 0, digits: "+31 85 107 0844" });
    // Users and numbers are context, not searchable documents.
    expect(await row("SELECT count(*) AS n FROM documents WHERE id IN ('aircall_user:500', 'aircall_number:600')")).toEqual({ n: 0 });
  });
});

describe("Aircall event types", () => {
  it("stores an unknown type raw as ignored and answers 200", async () => {
    const { id, duplicate } = await accepted({ resource: "insight", event: "insight.created", timestamp: 1, token: aircallTokens[0], data: { foo: 1 } });
    expect(duplicate).toBe(false);
    expect(await row("SELECT status, type, source FROM webhook_events WHERE id = ?", id)).toEqual({ status: "ignored", type: "insight.created", source: "aircall" });
  });

  it("stores a body without an event name as type unknown", async () => {
    const { id } = await accepted({ token: aircallTokens[0], data: {} });
    expect(await row("SELECT status, type FROM webhook_events WHERE id = ?", id)).toEqual({ status: "ignored", type: "unknown" });
  });

  it("keeps a known type with the wrong shape as failed, with the path in the reason", async () => {
    const { id } = await accepted(aircallEvent("call.created", 1, { ...callData(0), id: "not-a-number" }));
    const stored = await row("SELECT status, error FROM webhook_events WHERE id = ?", id);
    expect(stored?.status).toBe("failed");
    expect(stored?.error).toMatch(/^call\.created: data\.id /);
    expect(await row("SELECT count(*) AS n FROM aircall_calls WHERE id = 0")).toEqual({ n: 0 });
  });
});

describe("documents", () => {
  it("builds the call document from the stored row", async () => {
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(700, { tags: [{ id: 1, name: "Checkout" }] })));
    const document = await row("SELECT kind, entity_id, text, title, header, occurred_at, content_hash, enqueued_hash FROM documents WHERE id = 'call:700'");
    expect(document).toMatchObject({
      kind: "call",
      entity_id: "700",
      title: "Call from +44 20 7946 0018 on 2025-11-13",
      // Who, where and when: the first line of every chunk of this call.
      header: "Aircall inbound call 700 · with +44 20 7946 0018 · agent Ana Agent · line Front desk · 2025-11-13 02:13 UTC",
      occurred_at: Date.parse("2025-11-13T02:13:20.000Z"),
    });
    expect(document?.text).toBe(
      [
        "Status: done",
        "Started: 2025-11-13T02:13:20.000Z",
        "Duration: 64 s",
        "Agent: Ana Agent",
        "Line: Front desk (+44 330 818 6690)",
        "External party: +44 20 7946 0018",
        "Tags: Checkout",
      ].join("\n"),
    );
    expect(document?.content_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(document?.enqueued_hash).toBe(document?.content_hash);
  });

  it("re-enqueues only when the text changes", async () => {
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(701)));
    const first = await row("SELECT content_hash, updated_at FROM documents WHERE id = 'call:701'");
    // A later event with identical call data: same text, same hash.
    await accepted(aircallEvent("call.unhold", 1_763_000_095, ended(701)));
    expect((await row("SELECT content_hash FROM documents WHERE id = 'call:701'"))?.content_hash).toBe(first?.content_hash);
    await accepted(aircallEvent("call.tagged", 1_763_000_096, ended(701, { tags: [{ id: 2, name: "VIP" }] })));
    const changed = await row("SELECT content_hash, enqueued_hash FROM documents WHERE id = 'call:701'");
    expect(changed?.content_hash).not.toBe(first?.content_hash);
    expect(changed?.enqueued_hash).toBe(changed?.content_hash);
  });
});

describe("the Aircall token is never stored", () => {
  it("stores the body without its token, and keys the delivery on that", async () => {
    const raw = `{"resource":"call","event":"call.created","timestamp":5,"token":"${aircallTokens[1]}","data":{"id":900,"status":"initial"},"extra":"\\u00e9"}`;
    const { id } = await accepted(raw);
    const stored = await row("SELECT payload FROM webhook_events WHERE id = ?", id);
    expect(stored).toEqual({ payload: '{"resource":"call","event":"call.created","timestamp":5,"data":{"id":900,"status":"initial"},"extra":"é"}' });
    const withoutToken = new TextEncoder().encode(String(stored?.payload));
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", withoutToken)), (b) => b.toString(16).padStart(2, "0")).join("");
    expect(id).toBe(`aircall_${digest}`);
  });

  it("treats the same delivery under a rotated token as a duplicate", async () => {
    const [oldToken, newToken] = aircallTokens as [string, string];
    const first = await accepted(aircallEvent("call.ended", 1_763_000_094, ended(901), oldToken));
    const rotated = await accepted(aircallEvent("call.ended", 1_763_000_094, ended(901), newToken));
    expect(rotated).toEqual({ id: first.id, duplicate: true });
  });

  it("the admin API returns the payload without the token", async () => {
    const { id } = await accepted(aircallEvent("call.ended", 1_763_000_094, ended(902)));
    const response = await exports.default.fetch(`http://admin/api/events/${id}`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ id, payload: { event: "call.ended", data: { id: 902 } } });
    for (const token of aircallTokens) expect(text).not.toContain(token);
    expect(text).not.toContain('"token"');
  });
});
