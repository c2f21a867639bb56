// Each capability loads only its own variables: one that is missing or malformed answers 503
// naming the variable, and every other capability keeps working.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { defineCapability } from "../workers/config/capability";
import worker from "../workers/index";
import { aircallEvent, aircallRequestInit, ended } from "./support/aircall";
import { row } from "./support/d1";
import { fetchWith } from "./support/faults";
import { guestyRequest } from "./support/guesty";

const adminRequest: RequestInit = { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } };

async function errorOf(response: Response) {
  return ((await response.json()) as { error: string }).error;
}

describe("a Guesty-only installation", () => {
  const guestyOnly: Partial<Env> = { AIRCALL_WEBHOOK_TOKENS: undefined };

  it("answers Aircall 503 naming the variable, stores nothing, and still takes Guesty and admin requests", async () => {
    const aircall = await fetchWith(guestyOnly, "http://intake/webhooks/aircall", aircallRequestInit(aircallEvent("call.ended", 1_763_000_094, ended(1500))));
    expect(aircall.status).toBe(503);
    expect(await errorOf(aircall)).toBe("aircall intake is not configured: AIRCALL_WEBHOOK_TOKENS is not set");
    expect(await row("SELECT id FROM aircall_calls WHERE id = 1500")).toBeNull();

    const { url, init } = await guestyRequest({ id: "msg_guesty_only", body: { event: "guest.created", guest: { _id: "g-only" } } });
    const guesty = await fetchWith(guestyOnly, url, init);
    expect(guesty.status).toBe(200);
    expect((await fetchWith(guestyOnly, "http://admin/api/events?limit=1", adminRequest)).status).toBe(200);
  });
});

describe("an Aircall-only installation", () => {
  it("answers Guesty 503 naming the variable and still takes Aircall requests", async () => {
    const aircallOnly: Partial<Env> = { GUESTY_WEBHOOK_SECRETS: undefined };
    const { url, init } = await guestyRequest({ id: "msg_aircall_only", body: { event: "guest.created", guest: { _id: "g-none" } } });
    const guesty = await fetchWith(aircallOnly, url, init);
    expect(guesty.status).toBe(503);
    expect(await errorOf(guesty)).toBe("guesty intake is not configured: GUESTY_WEBHOOK_SECRETS is not set");
    expect(await row("SELECT id FROM webhook_events WHERE id = 'guesty_msg_aircall_only'")).toBeNull();
    const aircall = await fetchWith(aircallOnly, "http://intake/webhooks/aircall", aircallRequestInit(aircallEvent("call.ended", 1_763_000_094, ended(1501))));
    expect(aircall.status).toBe(200);
  });
});

describe("malformed values", () => {
  it.each([
    ["AIRCALL_WEBHOOK_TOKENS", "short", "aircall intake is not configured: AIRCALL_WEBHOOK_TOKENS: must be at least 8 characters"],
    ["AIRCALL_WEBHOOK_TOKENS", " , ", "aircall intake is not configured: AIRCALL_WEBHOOK_TOKENS: must list at least one value"],
    ["GUESTY_WEBHOOK_SECRETS", "plain-secret-value", "guesty intake is not configured: GUESTY_WEBHOOK_SECRETS: entries must look like whsec_<base64>"],
    // Decodes, but to 3 bytes: not a usable HMAC key. Once this silently became an empty key.
    ["GUESTY_WEBHOOK_SECRETS", "whsec_YWJj", "guesty intake is not configured: GUESTY_WEBHOOK_SECRETS: entry 1 does not decode to a usable key"],
    ["GUESTY_WEBHOOK_SECRETS", "whsec_A", "guesty intake is not configured: GUESTY_WEBHOOK_SECRETS: entry 1 does not decode to a usable key"],
  ])("%s=%j answers 503 with the reason and without the value", async (name, value, reason) => {
    const path = name === "AIRCALL_WEBHOOK_TOKENS" ? "aircall" : "guesty";
    const response = await fetchWith({ [name]: value }, `http://intake/webhooks/${path}`, aircallRequestInit({}));
    expect(response.status).toBe(503);
    expect(await errorOf(response)).toBe(reason);
  });

  it("does not cache a secret that failed to load: fixing it takes effect on the next request", async () => {
    const mutableEnv: Env = { ...env, GUESTY_WEBHOOK_SECRETS: "whsec_YWJj" };
    const { url, init } = await guestyRequest({ id: "msg_fixed_secret", body: { event: "guest.created", guest: { _id: "g-fixed" } } });
    const call = async () => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(new Request(url, init), mutableEnv, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    expect((await call()).status).toBe(503);
    mutableEnv.GUESTY_WEBHOOK_SECRETS = env.GUESTY_WEBHOOK_SECRETS;
    expect((await call()).status).toBe(200);
  });
});

describe("the Groq variables of two capabilities", () => {
  it("a malformed GROQ_ANSWER_MODEL makes only the bot unconfigured; summaries keep their own GROQ_MODEL", async () => {
    const response = await fetchWith({ GROQ_API_KEY: env.FAKE_GROQ_API_KEY, GROQ_ANSWER_MODEL: "m".repeat(201) } as Partial<Env>, "http://admin/healthz");
    const { capabilities } = (await response.json()) as { capabilities: Record<string, unknown> };
    expect(capabilities.rocketChatBot).toEqual({ configured: false, problems: [expect.stringMatching(/^GROQ_ANSWER_MODEL: /)] });
    expect(capabilities.vectorization).toEqual({ configured: true });
  });
});

describe("a capability's degradation hook", () => {
  const capability = (degradation: () => Promise<string[]>) => defineCapability({ name: "hooked", variables: {}, build: () => ({}), degradation });

  it("reports what the hook names, and nothing when the hook itself fails", async () => {
    expect(await capability(async () => ["SOME_VARIABLE: it stopped answering"]).status(env)).toEqual({
      configured: true,
      degraded: true,
      problems: ["SOME_VARIABLE: it stopped answering"],
    });
    expect(await capability(async () => []).status(env)).toEqual({ configured: true });
    expect(await capability(() => Promise.reject(new Error("D1_ERROR: storage down"))).status(env)).toEqual({ configured: true });
  });
});
