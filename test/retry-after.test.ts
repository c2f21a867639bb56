// Retry-After as vendors send it: delta-seconds, decimal seconds (`1.5`) and HTTP dates, read
// exactly by parseRetryAfter and rounded up to whole seconds only where a queue delay is made.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_QUEUE_DELAY_SECONDS, queueDelaySeconds } from "../queues/retry-delay";
import { RocketChatApi, RocketChatApiError } from "../workers/chat/rocketchat-api";
import { parseRetryAfter, ProviderRateLimited, requestedRetryDelay } from "../workers/http/provider-errors";

afterEach(() => vi.restoreAllMocks());

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-12-06T12:00:00Z");

  it("reads delta-seconds, decimal ones included, as seconds", () => {
    expect(parseRetryAfter("1.5", now)).toBe(1.5);
    expect(parseRetryAfter("0.25", now)).toBe(0.25);
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter(" 7 ", now)).toBe(7);
    expect(parseRetryAfter("0", now)).toBe(0);
  });

  it("reads only a non-numeric value as an HTTP date, never in the past", () => {
    expect(parseRetryAfter("Sun, 06 Dec 2026 12:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter("Sun, 06 Dec 2026 11:00:00 GMT", now)).toBe(0);
  });

  it("answers null for nothing, garbage and numbers that are not seconds (Date.parse would take them as years)", () => {
    for (const value of [null, "", "  ", "soon", "-5", "1e3", "+3", ".5", "1.5.2", "1,5"]) expect(parseRetryAfter(value, now), String(value)).toBeNull();
  });
});

describe("whole seconds for the queues", () => {
  it("rounds a fractional wait up in ProviderRateLimited and RocketChatApiError, and keeps whole ones", () => {
    expect(new ProviderRateLimited("groq", 1.5).retryAfterSeconds).toBe(2);
    expect(new ProviderRateLimited("groq", 42).retryAfterSeconds).toBe(42);
    expect(new ProviderRateLimited("groq", null).retryAfterSeconds).toBeNull();
    expect(requestedRetryDelay(new Error("batch failed", { cause: new ProviderRateLimited("qdrant", 0.2) }))).toBe(1);
    expect(new RocketChatApiError(429, "error-too-many-requests", 1.5).retryAfterSeconds).toBe(2);
    expect(new RocketChatApiError(400, "error").retryAfterSeconds).toBeNull();
  });

  it("turns Rocket.Chat's `Retry-After: 1.5` into a 2-second delay, not a date in 2001", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(
      new Response(JSON.stringify({ success: false, error: "too many requests [error-too-many-requests]" }), { status: 429, headers: { "retry-after": "1.5" } }),
    );
    const api = new RocketChatApi({ url: "https://chat.example.test", userId: "u", authToken: "t" });
    const error = await api.roomInfo("room1").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RocketChatApiError);
    expect(error).toMatchObject({ status: 429, code: "error-too-many-requests", retryAfterSeconds: 2 });
  });

  it("caps a queue delay at the day Cloudflare Queues accept, and never below zero", () => {
    expect(queueDelaySeconds(1.5)).toBe(2);
    expect(queueDelaySeconds(3 * 86_400)).toBe(MAX_QUEUE_DELAY_SECONDS);
    expect(MAX_QUEUE_DELAY_SECONDS).toBe(86_400);
    expect(queueDelaySeconds(-4)).toBe(0);
  });
});
