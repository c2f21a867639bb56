// Feeds every real captured vendor delivery in ../shared/fixtures through intake and
// normalization. Those files are not part of this repository; without them this suite skips.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { firstGuestySecret, signStandardWebhook } from "./support/sign-guesty";
import type { SharedFixture } from "./support/shared-fixture";

const fixtures = env.SHARED_FIXTURES;
const aircall = fixtures.filter((fixture) => fixture.source === "aircall");
const guesty = fixtures.filter((fixture) => fixture.source === "guesty");

type Answer = { status: number; body: { id?: string; duplicate?: boolean } };

async function deliverAircall(fixture: SharedFixture): Promise<Answer> {
  const body = fixture.body as { token?: unknown };
  // The captures carry the sender's own token; accept it for this delivery only.
  const testEnv = { ...env, AIRCALL_WEBHOOK_TOKENS: String(body.token) };
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request("http://intake/webhooks/aircall", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(fixture.body),
    }),
    testEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: await response.json() };
}

async function deliverGuesty(fixture: SharedFixture, id: string): Promise<Answer> {
  const raw = JSON.stringify(fixture.body);
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await worker.fetch(
    new Request("http://intake/webhooks/guesty", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(timestamp),
        "svix-signature": await signStandardWebhook(firstGuestySecret(env.GUESTY_WEBHOOK_SECRETS), id, timestamp, raw),
      },
      body: raw,
    }),
    env,
    createExecutionContext(),
  );
  return { status: response.status, body: await response.json() };
}

async function eventStatus(id: string): Promise<string | null> {
  return env.DB.prepare("SELECT status FROM webhook_events WHERE id = ?").bind(id).first<string>("status");
}

async function callSnapshot(id: number) {
  return env.DB.prepare(
    "SELECT status, direction, started_at, answered_at, ended_at, duration_seconds, tags, comments, has_voicemail, missed_call_reason FROM aircall_calls WHERE id = ?",
  )
    .bind(id)
    .first();
}

describe.skipIf(aircall.length === 0)(`Aircall captured deliveries from ${env.SHARED_FIXTURES_DIR}`, () => {
  it("accepts and normalizes every captured delivery, none failed", async () => {
    for (const fixture of aircall) {
      const answer = await deliverAircall(fixture);
      expect(answer.status, fixture.file).toBe(200);
      expect(answer.body.duplicate, fixture.file).toBe(false);
      expect(await eventStatus(answer.body.id!), fixture.file).toBe("processed");
    }
    const counts = await env.DB.prepare(
      "SELECT (SELECT count(*) FROM aircall_calls) AS calls, (SELECT count(*) FROM aircall_contacts) AS contacts, (SELECT count(*) FROM aircall_users) AS users, (SELECT count(*) FROM aircall_numbers) AS numbers",
    ).first<Record<string, number>>();
    expect(counts?.calls).toBeGreaterThan(0);
    expect(counts?.contacts).toBeGreaterThan(0);
    expect(counts?.users).toBeGreaterThan(0);
    expect(counts?.numbers).toBeGreaterThan(0);
  });

  it("redelivering every capture stores nothing twice", async () => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM webhook_events").first<number>("n");
    for (const fixture of aircall) {
      const answer = await deliverAircall(fixture);
      expect(answer.body.duplicate, fixture.file).toBe(true);
    }
    expect(await env.DB.prepare("SELECT count(*) AS n FROM webhook_events").first<number>("n")).toBe(before);
  });

  it("ends with the same calls whatever the delivery order", async () => {
    const callIds = [
      ...new Set(
        aircall
          .filter((fixture) => fixture.name.startsWith("call."))
          .map((fixture) => (fixture.body as { data: { id: number } }).data.id),
      ),
    ];
    // The first test delivered in capture order; reset the calls and deliver in reverse.
    const inOrder = await Promise.all(callIds.map(callSnapshot));
    await env.DB.batch([env.DB.prepare("DELETE FROM aircall_calls"), env.DB.prepare("DELETE FROM webhook_events")]);
    for (const fixture of [...aircall].reverse()) expect((await deliverAircall(fixture)).status).toBe(200);
    expect(await Promise.all(callIds.map(callSnapshot))).toEqual(inOrder);
    // The captured call.ended is final: a late call.created must not have reopened it.
    expect(inOrder.every((call) => call?.status === "done")).toBe(true);
  });
});

describe.skipIf(guesty.length === 0)(`Guesty documented examples from ${env.SHARED_FIXTURES_DIR}`, () => {
  it("accepts and normalizes every example", async () => {
    for (const [index, fixture] of guesty.entries()) {
      const answer = await deliverGuesty(fixture, `msg_conformance_${index}`);
      expect(answer.status, fixture.file).toBe(200);
      expect(await eventStatus(answer.body.id!), fixture.file).toBe("processed");
    }
  });
});
