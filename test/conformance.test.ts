// Feeds every real captured vendor delivery in ../shared/fixtures through intake and
// normalization. Those files are not part of this repository; without them this suite skips.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { firstGuestySecret, signStandardWebhook } from "./support/sign-guesty";
import { settled, waitIndexed } from "./support/settle";
import type { SharedFixture } from "./support/shared-fixture";

const fixtures = env.SHARED_FIXTURES;
const aircall = fixtures.filter((fixture) => fixture.source === "aircall");
const guesty = fixtures.filter((fixture) => fixture.source === "guesty");
// The outgoing integration's body; the other Rocket.Chat files are API shapes, not deliveries.
const rocketChatOutgoing = fixtures.filter((fixture) => fixture.source === "rocketchat" && fixture.name === "outgoing-webhook");

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
  await settled(response);
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
  await settled(response);
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

const TABLE_OF_RESOURCE: Record<string, string> = {
  call: "aircall_calls",
  contact: "aircall_contacts",
  user: "aircall_users",
  number: "aircall_numbers",
};

const entityOf = (fixture: SharedFixture) => {
  const body = fixture.body as { resource: string; data: { id: number } };
  return { table: TABLE_OF_RESOURCE[body.resource]!, id: body.data.id };
};

/** Removes what the captures stored, so a test starts from nothing whatever ran before it. */
async function forgetCaptures(eventIds: readonly string[]) {
  const statements = [...new Set(aircall.map((fixture) => JSON.stringify(entityOf(fixture))))].map((key) => {
    const { table, id } = JSON.parse(key) as { table: string; id: number };
    return env.DB.prepare(`DELETE FROM ${table} WHERE id = ?`).bind(id);
  });
  for (const id of eventIds) statements.push(env.DB.prepare("DELETE FROM webhook_events WHERE id = ?").bind(id));
  await env.DB.batch(statements);
}

async function deliverAll(order: readonly SharedFixture[]): Promise<string[]> {
  const ids: string[] = [];
  for (const fixture of order) {
    const answer = await deliverAircall(fixture);
    expect(answer.status, fixture.file).toBe(200);
    ids.push(answer.body.id!);
  }
  return ids;
}

const callIds = [...new Set(aircall.filter((fixture) => fixture.name.startsWith("call.")).map((fixture) => entityOf(fixture).id))];

describe.skipIf(aircall.length === 0)(`Aircall captured deliveries from ${env.SHARED_FIXTURES_DIR}`, () => {
  it("accepts and normalizes every captured delivery, none failed, and stores each once", async () => {
    const ids = await deliverAll(aircall);
    for (const [index, fixture] of aircall.entries()) {
      expect(await eventStatus(ids[index]!), fixture.file).toBe("processed");
      const { table, id } = entityOf(fixture);
      expect(await env.DB.prepare(`SELECT id FROM ${table} WHERE id = ?`).bind(id).first("id"), fixture.file).toBe(id);
    }
    // Redelivered: every one a duplicate of the event it repeats, nothing stored twice.
    for (const [index, fixture] of aircall.entries()) {
      const answer = await deliverAircall(fixture);
      expect(answer.body, fixture.file).toEqual({ id: ids[index], duplicate: true });
    }
    for (const id of new Set(ids)) {
      expect(await env.DB.prepare("SELECT count(*) AS n FROM webhook_events WHERE id = ?").bind(id).first("n")).toBe(1);
    }
  });

  it("ends with the same calls whatever the delivery order", async () => {
    await forgetCaptures(await deliverAll(aircall));
    const ids = await deliverAll(aircall);
    const inOrder = await Promise.all(callIds.map(callSnapshot));
    await forgetCaptures(ids);
    await deliverAll([...aircall].reverse());
    expect(await Promise.all(callIds.map(callSnapshot))).toEqual(inOrder);
    // The captured call.ended is final: a late call.created must not have reopened it.
    expect(inOrder.every((call) => call?.status === "done")).toBe(true);
    // Three full deliveries of every capture, each waited through the queue: about 3–5 s on 2 cores.
  }, 30_000);
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

describe.skipIf(rocketChatOutgoing.length === 0)(`Rocket.Chat outgoing integration body from ${env.SHARED_FIXTURES_DIR}`, () => {
  it("ingests it as a chat message and makes it searchable", async () => {
    const body = rocketChatOutgoing[0]!.body as { token: string; message_id: string; channel_id: string; text: string; user_name: string };
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request("http://intake/webhooks/rocketchat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      // The example carries a placeholder token; accept it for this delivery only.
      { ...env, ROCKETCHAT_INGEST_TOKEN: body.token },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(response.status).toBe(200);
    await settled(response);
    expect(await env.DB.prepare("SELECT room_id, user_name, text FROM rocketchat_messages WHERE id = ?").bind(body.message_id).first()).toEqual({
      room_id: body.channel_id,
      user_name: body.user_name,
      text: body.text,
    });
    await waitIndexed([`chat_message:${body.message_id}`]);
  });
});
