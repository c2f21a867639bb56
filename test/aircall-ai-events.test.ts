import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { settled } from "./support/settle";

const token = env.AIRCALL_WEBHOOK_TOKENS.split(",")[0]!;

async function post(body: Record<string, unknown>) {
  const response = await exports.default.fetch("http://intake/webhooks/aircall", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, ...body }),
  });
  return settled(response);
}

const endedCall = (id: number) => ({
  resource: "call",
  event: "call.ended",
  timestamp: 1_763_000_100,
  data: {
    id,
    direction: "inbound",
    status: "done",
    started_at: 1_763_000_000,
    answered_at: 1_763_000_005,
    ended_at: 1_763_000_065,
    duration: 65,
    raw_digits: "+33 1 23 45 67 89",
    user: { id: 7, name: "Ines Agent", email: "ines@example.com" },
    number: { id: 3, name: "Front desk", digits: "+33 9 00 00 00 00" },
    tags: [],
    comments: [],
  },
});

const transcription = (callId: number) => ({
  resource: "transcription",
  event: "transcription.created",
  timestamp: 1_763_000_200,
  data: {
    call_id: callId,
    content: {
      language: "en-US",
      utterances: [
        { start_time: 0.4, end_time: 2.1, text: "Hello, how can I help?", participant_type: "internal" },
        { start_time: 2.5, end_time: 5.0, text: "The boiler in flat 2 is broken.", participant_type: "external" },
      ],
    },
  },
});

const summary = (callId: number) => ({
  resource: "summary",
  event: "summary.created",
  timestamp: 1_763_000_300,
  data: { call_id: callId, content: "Guest reports a broken boiler in flat 2." },
});

async function call(id: number) {
  return env.DB.prepare("SELECT status, duration_seconds, transcription, summary FROM aircall_calls WHERE id = ?").bind(id).first();
}

it("attaches a transcript and summary that arrive after the call", async () => {
  for (const body of [endedCall(501), transcription(501), summary(501)]) expect((await post(body)).status).toBe(200);
  expect(await call(501)).toEqual({
    status: "done",
    duration_seconds: 65,
    transcription: "Agent: Hello, how can I help?\nCaller: The boiler in flat 2 is broken.",
    summary: "Guest reports a broken boiler in flat 2.",
  });
  const document = await env.DB.prepare("SELECT text FROM documents WHERE id = 'call:501'").first<string>("text");
  expect(document).toContain("Summary: Guest reports a broken boiler in flat 2.");
  expect(document).toContain("Caller: The boiler in flat 2 is broken.");
});

it("keeps a transcript that arrives before the call's own events", async () => {
  for (const body of [summary(502), transcription(502), endedCall(502)]) expect((await post(body)).status).toBe(200);
  expect(await call(502)).toMatchObject({ status: "done", duration_seconds: 65, summary: "Guest reports a broken boiler in flat 2." });
  expect((await call(502))?.transcription).toContain("Agent: Hello");
});

it("marks an AI event without a call id as failed", async () => {
  const response = await post({ resource: "summary", event: "summary.created", timestamp: 1, data: { content: "x" } });
  const { id } = (await response.json()) as { id: string };
  expect(await env.DB.prepare("SELECT status, error FROM webhook_events WHERE id = ?").bind(id).first()).toEqual({
    status: "failed",
    error: expect.stringContaining("data.call_id"),
  });
});

it("a redelivered older transcript does not replace a newer one", async () => {
  const first = transcription(503);
  const second = { ...transcription(503), timestamp: 1_763_000_900 };
  second.data = { call_id: 503, content: { language: "en-US", utterances: [{ start_time: 0, end_time: 1, text: "Corrected.", participant_type: "internal" }] } };
  for (const body of [endedCall(503), first, second]) expect((await post(body)).status).toBe(200);
  const version = await env.DB.prepare("SELECT version FROM aircall_calls WHERE id = 503").first<number>("version");
  const again = await post(first);
  expect(await again.json()).toMatchObject({ duplicate: true });
  expect(await call(503)).toMatchObject({ transcription: "Agent: Corrected." });
  expect(await env.DB.prepare("SELECT version FROM aircall_calls WHERE id = 503").first<number>("version")).toBe(version);
});

it("orders transcripts by their own timestamp: an older one arriving late never replaces a newer one", async () => {
  const newer = { ...transcription(504), timestamp: 1_763_000_900 };
  newer.data = { call_id: 504, content: { language: "en-US", utterances: [{ start_time: 0, end_time: 1, text: "Corrected transcript.", participant_type: "internal" }] } };
  const newerSummary = { ...summary(504), timestamp: 1_763_000_950, data: { call_id: 504, content: "Boiler replaced." } };
  for (const body of [newer, newerSummary, endedCall(504), transcription(504), summary(504)]) expect((await post(body)).status).toBe(200);
  expect(await call(504)).toMatchObject({ status: "done", transcription: "Agent: Corrected transcript.", summary: "Boiler replaced." });
});
