// Aircall webhook bodies in the documented envelope {resource, event, timestamp, token, data}.
import { env, exports } from "cloudflare:workers";
import { settled } from "./settle";

export const aircallTokens = env.AIRCALL_WEBHOOK_TOKENS.split(",");

type CallData = Record<string, unknown> & { id: number };

export function callData(id: number, overrides: Partial<CallData> = {}): CallData {
  return {
    id,
    direct_link: `https://api.aircall.io/v1/calls/${id}`,
    direction: "inbound",
    status: "initial",
    missed_call_reason: null,
    started_at: 1_763_000_000,
    answered_at: null,
    ended_at: null,
    duration: 0,
    cost: "0.0",
    hangup_cause: null,
    voicemail: null,
    recording: null,
    asset: null,
    raw_digits: "+44 20 7946 0018",
    user: { id: 731416, name: "Ana Agent", email: "ana@example.com", available: true, availability_status: "available" },
    number: { id: 397375, name: "Front desk", digits: "+44 330 818 6690", country: "GB", time_zone: "Europe/London" },
    archived: false,
    teams: [],
    comments: [],
    tags: [],
    ...overrides,
  };
}

export const answered = (id: number) =>
  callData(id, { status: "answered", answered_at: 1_763_000_004 });
export const ended = (id: number, overrides: Partial<CallData> = {}) =>
  callData(id, { status: "done", answered_at: 1_763_000_004, ended_at: 1_763_000_064, duration: 64, ...overrides });

export function aircallEvent(event: string, timestamp: number, data: unknown, token = aircallTokens[0]) {
  const [resource] = event.split(".");
  return { resource, event, timestamp, token, data };
}

/** The request Aircall would send with `body`. */
export const aircallRequestInit = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** Posts an Aircall delivery and, when it is accepted, waits until its event is processed. */
export async function postAircall(body: unknown, init: RequestInit = {}): Promise<Response> {
  const response = await exports.default.fetch("http://intake/webhooks/aircall", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  return settled(response);
}

export async function accepted(body: unknown): Promise<{ id: string; duplicate: boolean }> {
  const response = await postAircall(body);
  if (response.status !== 200) throw new Error(`expected 200, got ${response.status}: ${await response.text()}`);
  return response.json();
}
