// What the webhook endpoints answer to bad requests: every case is rejected with a clear
// reason and nothing is stored.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { aircallTokens, postAircall } from "./support/aircall";
import { eventsMentioning } from "./support/d1";

const MiB = 1024 * 1024;


async function errorOf(response: Response) {
  return ((await response.json()) as { error: string }).error;
}

describe.each(["aircall", "guesty"] as const)("POST /webhooks/%s", (source) => {
  const post = (body: BodyInit | null, headers: Record<string, string> = { "content-type": "application/json" }) =>
    exports.default.fetch(`http://intake/webhooks/${source}`, { method: "POST", headers, body });

  it("answers 415 for a non-JSON or missing content type", async () => {
    expect((await post("{}", { "content-type": "text/plain" })).status).toBe(415);
    expect((await post("{}", {})).status).toBe(415);
    expect((await post("{}", { "content-type": "application/json; charset=utf-8" })).status).not.toBe(415);
    expect((await post("{}", { "content-type": "application/vnd.guesty+json" })).status).not.toBe(415);
  });

  it("answers 413 above 1 MiB, whether Content-Length says so or not", async () => {
    const big = `{"marker":"declared-413-${source}","token":"${aircallTokens[0]}","pad":"${"x".repeat(MiB)}"}`;
    const declared = await post(big);
    expect(declared.status).toBe(413);
    expect(await errorOf(declared)).toBe(`body exceeds ${MiB} bytes`);

    const head = new TextEncoder().encode(`{"marker":"streamed-413-${source}","token":"${aircallTokens[0]}","pad":"`);
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 2 * MiB) return controller.close();
        controller.enqueue(sent === 0 ? head : chunk);
        sent += chunk.byteLength;
      },
    });
    expect((await post(stream)).status).toBe(413);
    expect(await eventsMentioning(`declared-413-${source}`)).toBe(0);
    expect(await eventsMentioning(`streamed-413-${source}`)).toBe(0);
  });

  it("answers 405 with Allow for other methods", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const response = await exports.default.fetch(`http://intake/webhooks/${source}`, { method });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
    }
  });
});

describe("malformed Aircall bodies", () => {
  it.each([
    ["{not json", /^malformed JSON at position 1$/],
    ["[1,2]", /^body must be a JSON object, got array$/],
    ['"text"', /^body must be a JSON object, got string$/],
    ["null", /^body must be a JSON object, got null$/],
    ["", /^malformed JSON: empty body$/],
  ])("answers 400 for %j with a reason", async (body, reason) => {
    const response = await postAircall(body);
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(reason);
  });

  it("answers 400 for a body that is not UTF-8", async () => {
    const valid = new TextEncoder().encode(`{"marker":"not-utf8","token":"${aircallTokens[0]}","x":"`);
    const bytes = new Uint8Array([...valid, 0xff, 0xfe, 0x22, 0x7d]);
    const response = await postAircall(undefined, { body: bytes });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toBe("body is not valid UTF-8");
    expect(await eventsMentioning("not-utf8")).toBe(0);
  });

  it("never echoes the body in a parse error, even when it holds the token", async () => {
    const response = await postAircall(`{"token":"${aircallTokens[0]}", oops}`);
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).not.toContain(aircallTokens[0]);
    expect(JSON.parse(text)).toMatchObject({ error: expect.stringMatching(/^malformed JSON at position \d+$/) });
  });

  it("accepts a body just under the limit", async () => {
    const pad = "x".repeat(MiB - 200);
    const body = JSON.stringify({ event: "pad.test", token: aircallTokens[0], pad });
    expect(new TextEncoder().encode(body).byteLength).toBeLessThanOrEqual(MiB);
    expect((await postAircall(body)).status).toBe(200);
  });
});

describe("other paths", () => {
  it("answers unknown paths with JSON 404 and every response with x-request-id", async () => {
    const response = await exports.default.fetch("http://intake/nope");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: "not found" });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
