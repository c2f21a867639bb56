// Edge routing (workers/edge/): a host EDGE_ROUTES lists is proxied to its origins, here real
// node:http servers on 127.0.0.1 (test/node/fakes/origins.ts, one set per test), spread over the
// healthy ones; a failing origin is skipped by requests that can be sent again and never by one
// that cannot; the failover origins serve only when no primary is healthy; everything down is a
// 503 page with Retry-After, answered without trying the dead origins again; WebSockets pass; the
// origin sees the public host; health comes back through the active check; a broken entry answers
// 503 for its host only and a broken value routes nothing while the Worker's own routes work.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../workers/index";
import { originTarget } from "../workers/edge/origin-request";
import { routeEdgeRequest, type RouterOptions } from "../workers/edge/router";
import { readEdgeOrigins } from "../workers/edge/snapshot";
import { RECHECK_MS } from "../workers/edge/health-state";
import { forgetHealthViews } from "../workers/edge/health-view";
import { cronJobs } from "../workers/scheduled-jobs";
import { runTick, TICK_MS } from "../workers/scheduler/dispatch";

type Mode = "ok" | "fail" | "slow" | "down";
type Received = { method: string; path: string; host: string | null; forwardedHost: string | null; forwardedProto: string | null; forwardedFor: string | null; via: string | null; userAgent: string | null; body: string; upgrade: boolean; bodyComplete: boolean };
type Answer = { origin: string; method: string; path: string; body: string };

/** An origin of the test's own on the fake. */
async function makeOrigin() {
  const made = (await (await fetch(`${env.FAKE_ORIGINS_URL}/__fake/origins`, { method: "POST" })).json()) as { id: string; url: string };
  return {
    ...made,
    set: async (mode: Mode, extra: { status?: number; delayMs?: number } = {}) => {
      const response = await fetch(`${env.FAKE_ORIGINS_URL}/__fake/origins/${made.id}`, { method: "POST", body: JSON.stringify({ mode, ...extra }) });
      expect(response.status).toBe(204);
    },
    received: async (): Promise<Received[]> => (await fetch(`${env.FAKE_ORIGINS_URL}/__fake/origins/${made.id}/requests`)).json(),
  };
}

const uniqueHost = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}.edge.test`;
const edgeEnv = (routes: unknown): Env => ({ ...env, EDGE_ROUTES: typeof routes === "string" ? routes : JSON.stringify(routes) });

/** A request through the Worker's entry, its background work (health reports) settled. */
async function send(testEnv: Env, input: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(input, init), testEnv, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** The router itself, with a steering choice or a clock of the test's. */
async function route(testEnv: Env, input: string, init: RequestInit | undefined, options: RouterOptions): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await routeEdgeRequest(new Request(input, init), testEnv, ctx, options);
  await waitOnExecutionContext(ctx);
  if (!response) throw new Error("the router did not take the request");
  return response;
}

/** The edge health check as the cron dispatcher runs it on a tick (the other jobs left out: they are not this suite's). */
async function tickEdgeChecks(testEnv: Env) {
  const ctx = createExecutionContext();
  const report = await runTick(
    cronJobs.filter((job) => job.name === "edge-health-check"),
    testEnv,
    ctx,
    Date.now() - (Date.now() % TICK_MS),
  );
  await waitOnExecutionContext(ctx);
  return report;
}

/** Polls `done` (a test's own fake, no clock involved) until it holds; fails after `tries`. */
async function until(done: () => Promise<boolean>, what: string, tries = 200): Promise<void> {
  for (let tried = 0; tried < tries; tried++) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

const stateOf = async (testEnv: Env, host: string, origin: string) => (await readEdgeOrigins(testEnv)).find((row) => row.host === host && row.origin === origin);

describe("edge routing", () => {
  it("spreads requests over the healthy origins, each request sent once", async () => {
    const [a, b] = [await makeOrigin(), await makeOrigin()];
    const host = uniqueHost("spread");
    const testEnv = edgeEnv({ [host]: { origins: [a.url, b.url] } });
    const served: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const response = await send(testEnv, `https://${host}/page?i=${i}`);
      expect(response.status).toBe(200);
      const answer = (await response.json()) as Answer;
      served[answer.origin] = (served[answer.origin] ?? 0) + 1;
    }
    // 30 coin flips all landing on one side: one chance in half a billion.
    expect(served[a.id]).toBeGreaterThan(0);
    expect(served[b.id]).toBeGreaterThan(0);
    const paths = [...(await a.received()), ...(await b.received())].map((request) => request.path);
    expect(paths.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `/page?i=${i}`).sort());
  });

  it("skips an origin that refuses connections for every GET; a POST that met it is answered 502 and not sent elsewhere", async () => {
    const [up, down] = [await makeOrigin(), await makeOrigin()];
    await down.set("down");
    const host = uniqueHost("refused");
    const testEnv = edgeEnv({ [host]: { origins: [up.url, down.url] } });
    const toDown: RouterOptions = { random: () => 0.99 };

    // Steered to the dead origin first: its body is streamed there, so it is not sent again.
    const post = await route(testEnv, `https://${host}/messages`, { method: "POST", body: "first-post" }, toDown);
    expect(post.status).toBe(502);
    expect(await post.text()).toContain("not repeated");
    expect((await up.received()).map((request) => request.body)).not.toContain("first-post");

    // GETs steered to it first are answered by the other origin; the client sees no error.
    const down2 = await makeOrigin();
    await down2.set("down");
    const host2 = uniqueHost("refused-get");
    const env2 = edgeEnv({ [host2]: { origins: [up.url, down2.url] } });
    const first = await route(env2, `https://${host2}/a`, undefined, toDown);
    expect(first.status).toBe(200);
    expect(((await first.json()) as Answer).origin).toBe(up.id);
    expect((await stateOf(env2, host2, down2.url))?.state).toBe("down");
    for (let i = 0; i < 10; i++) {
      const response = await send(env2, `https://${host2}/get-${i}`);
      expect(response.status).toBe(200);
    }
    // Known down now: POSTs go to the live origin, each once.
    for (let i = 0; i < 5; i++) expect((await send(env2, `https://${host2}/messages`, { method: "POST", body: `post-${i}` })).status).toBe(200);
    const bodies = (await up.received()).map((request) => request.body).filter((body) => body.startsWith("post-"));
    expect(bodies.sort()).toEqual(["post-0", "post-1", "post-2", "post-3", "post-4"]);
  });

  it("marks an origin answering 5xx down when the other answers the same GET, and never sends a POST to both", async () => {
    const [good, failing] = [await makeOrigin(), await makeOrigin()];
    await failing.set("fail", { status: 502 });
    const host = uniqueHost("fivexx");
    const testEnv = edgeEnv({ [host]: { origins: [good.url, failing.url] } });
    const toFailing: RouterOptions = { random: () => 0.99 };

    const post = await route(testEnv, `https://${host}/orders`, { method: "POST", body: "order-1" }, toFailing);
    // The origin's own 5xx, passed on: the request reached it and may have taken effect.
    expect(post.status).toBe(502);
    expect(await post.text()).toBe("Bad Gateway");
    expect((await failing.received()).filter((request) => request.body === "order-1")).toHaveLength(1);
    expect((await good.received()).filter((request) => request.body === "order-1")).toHaveLength(0);
    // One 5xx to a request that was not retried says nothing about the origin.
    expect((await stateOf(testEnv, host, failing.url))?.state).toBe("unknown");

    const get = await route(testEnv, `https://${host}/orders/1`, undefined, toFailing);
    expect(get.status).toBe(200);
    expect(((await get.json()) as Answer).origin).toBe(good.id);
    expect(await stateOf(testEnv, host, failing.url)).toMatchObject({ state: "down", reason: "status 502" });
    // Down: even steered to it, requests no longer reach it.
    const before = (await failing.received()).length;
    expect((await route(testEnv, `https://${host}/orders`, { method: "POST", body: "order-2" }, toFailing)).status).toBe(200);
    expect((await failing.received()).length).toBe(before);
    expect((await good.received()).filter((request) => request.body === "order-2")).toHaveLength(1);
  });

  it("passes on a 5xx every origin answers, marking none of them", async () => {
    const [a, b] = [await makeOrigin(), await makeOrigin()];
    await a.set("fail", { status: 500 });
    await b.set("fail", { status: 500 });
    const host = uniqueHost("app-bug");
    const testEnv = edgeEnv({ [host]: { origins: [a.url, b.url] } });
    const response = await send(testEnv, `https://${host}/broken`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("Bad Gateway");
    expect((await stateOf(testEnv, host, a.url))?.state).toBe("unknown");
    expect((await stateOf(testEnv, host, b.url))?.state).toBe("unknown");
  });

  it("counts an origin that sends no headers within the timeout as failed and answers from the other", async () => {
    const [slow, quick] = [await makeOrigin(), await makeOrigin()];
    await slow.set("slow", { delayMs: 20_000 });
    const host = uniqueHost("slow");
    const testEnv = edgeEnv({ [host]: { origins: [quick.url, slow.url], timeoutSeconds: 1 } });
    const response = await route(testEnv, `https://${host}/report`, undefined, { random: () => 0.99 });
    expect(response.status).toBe(200);
    expect(((await response.json()) as Answer).origin).toBe(quick.id);
    expect(await stateOf(testEnv, host, slow.url)).toMatchObject({ state: "down", reason: "timed out" });
  });

  it("serves from the failover only while no primary is healthy, and from the primaries again once one passes a check", async () => {
    const [p1, p2, dr] = [await makeOrigin(), await makeOrigin(), await makeOrigin()];
    await p1.set("down");
    await p2.set("down");
    const host = uniqueHost("failover");
    const testEnv = edgeEnv({ [host]: { origins: [p1.url, p2.url], failover: [dr.url], healthPath: "/health" } });

    const first = await send(testEnv, `https://${host}/home`);
    expect(first.status).toBe(200);
    expect(((await first.json()) as Answer).origin).toBe(dr.id);
    // The primaries are known down: a POST goes straight to the failover.
    const post = await send(testEnv, `https://${host}/messages`, { method: "POST", body: "while-down" });
    expect(((await post.json()) as Answer).origin).toBe(dr.id);

    await p1.set("ok");
    // The active check, from the cron dispatcher's tick.
    expect((await tickEdgeChecks(testEnv)).ran).toEqual(["edge-health-check"]);
    expect((await p1.received()).filter((request) => request.path === "/health")).toHaveLength(1);
    expect((await stateOf(testEnv, host, p1.url))?.state).toBe("healthy");
    expect((await stateOf(testEnv, host, p2.url))?.state).toBe("down");
    // The failover is checked too (nobody else sends it traffic while the primaries serve).
    expect((await stateOf(testEnv, host, dr.url))?.state).toBe("healthy");

    for (let i = 0; i < 3; i++) {
      const response = await send(testEnv, `https://${host}/back-${i}`);
      expect(((await response.json()) as Answer).origin).toBe(p1.id);
    }
  });

  it("answers a clear 503 with Retry-After when every origin is down, without trying them again until a check is due", async () => {
    const [a, dr] = [await makeOrigin(), await makeOrigin()];
    await a.set("down");
    await dr.set("down");
    const host = uniqueHost("all-down");
    const testEnv = edgeEnv({ [host]: { origins: [a.url], failover: [dr.url], healthPath: "/health" } });

    const first = await send(testEnv, `https://${host}/`);
    expect(first.status).toBe(503);
    expect(first.headers.get("content-type")).toContain("text/html");
    expect(first.headers.get("cache-control")).toBe("no-store");
    const retryAfter = Number(first.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(RECHECK_MS / 1000);
    const page = await first.text();
    expect(page).toContain(`${host} is temporarily unavailable`);
    expect(page).toContain(`try again in about ${retryAfter} seconds`);

    // Back, but nobody knows yet: the next request is answered from the health state, not by trying.
    await a.set("ok");
    const second = await send(testEnv, `https://${host}/`);
    expect(second.status).toBe(503);
    expect(await a.received()).toEqual([]);

    // Once its check is due, a request checks it (briefly) and is served.
    const later = Date.now() + RECHECK_MS + 1_000;
    const third = await route(testEnv, `https://${host}/after`, undefined, { now: () => later });
    expect(third.status).toBe(200);
    expect((await a.received()).map((request) => request.path)).toEqual(["/health", "/after"]);
  });

  it("passes a WebSocket upgrade through: a round trip to the origin's echo", async () => {
    const origin = await makeOrigin();
    const host = uniqueHost("ws");
    const testEnv = edgeEnv({ [host]: { origins: [origin.url] } });
    const response = await send(testEnv, `https://${host}/websocket`, { headers: { upgrade: "websocket" } });
    expect(response.status).toBe(101);
    const socket = response.webSocket!;
    expect(socket).toBeTruthy();
    socket.binaryType = "arraybuffer";
    socket.accept();
    const messages: (string | number[])[] = [];
    const echoed = new Promise<void>((resolve) =>
      socket.addEventListener("message", (event) => {
        messages.push(typeof event.data === "string" ? event.data : [...new Uint8Array(event.data as ArrayBuffer)]);
        if (messages.length === 3) resolve();
      }),
    );
    // A text frame, one past the 16-bit length (the 64-bit form), and a binary one.
    const long = "x".repeat(70_000);
    socket.send("hello through the edge");
    socket.send(long);
    socket.send(new Uint8Array([1, 2, 250]));
    await echoed;
    expect(messages).toEqual(["hello through the edge", long, [1, 2, 250]]);
    socket.close(1000, "done");
    const [upgrade] = await origin.received();
    expect(upgrade).toMatchObject({ upgrade: true, path: "/websocket", forwardedHost: host });
  });

  it("gives the origin the public host, scheme and client address, and streams a body through", async () => {
    const origin = await makeOrigin();
    const host = uniqueHost("headers");
    const testEnv = edgeEnv({ [host]: { origins: [origin.url] } });
    const response = await send(testEnv, `https://${host}/submit?x=1`, {
      method: "POST",
      body: "a body, streamed",
      headers: { "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.1", "x-forwarded-host": "spoofed.example" },
    });
    expect(response.status).toBe(200);
    const [received] = await origin.received();
    expect(received).toMatchObject({
      method: "POST",
      path: "/submit?x=1",
      forwardedHost: host,
      forwardedProto: "https",
      forwardedFor: "198.51.100.1, 203.0.113.7",
      via: "edge-ops",
      body: "a body, streamed",
    });
  });

  it("reaches a hostname origin at the public host with cf.resolveOverride, and an IP origin at its own address", () => {
    const publicUrl = new URL("https://chat.example.com/api/v1/info?x=1");
    expect(originTarget(publicUrl, { url: "https://node1.example.com", pool: "primary", resolveOverride: true })).toEqual({
      url: "https://chat.example.com/api/v1/info?x=1",
      cf: { resolveOverride: "node1.example.com" },
    });
    expect(originTarget(publicUrl, { url: "https://node1.example.com:8443", pool: "primary", resolveOverride: true }).url).toBe("https://chat.example.com:8443/api/v1/info?x=1");
    expect(originTarget(publicUrl, { url: "http://127.0.0.1:8080", pool: "failover", resolveOverride: false })).toEqual({ url: "http://127.0.0.1:8080/api/v1/info?x=1" });
  });

  it("answers 503 naming EDGE_ROUTES for a host whose entry is invalid, and routes the others", async () => {
    const origin = await makeOrigin();
    const [good, empty, malformed, outside] = [uniqueHost("good"), uniqueHost("empty"), uniqueHost("malformed"), "chat.example.com"];
    const testEnv = edgeEnv({
      [good]: { origins: [origin.url] },
      [empty]: { origins: [] },
      [malformed]: { origins: ["not a url"], fallback: [] },
      [outside]: { origins: ["https://node1.elsewhere.net"] },
    });
    expect((await send(testEnv, `https://${good}/`)).status).toBe(200);
    for (const [host, problem] of [
      [empty, "origins: must list at least one origin"],
      [malformed, "origins.0: must be an http(s) URL"],
      [outside, "origins.0: must be a hostname in the public host's zone"],
    ] as const) {
      const response = await send(testEnv, `https://${host}/`);
      expect(response.status, host).toBe(503);
      const body = (await response.json()) as { error: string };
      expect(body.error).toContain(`edge routing for ${host} is not configured: EDGE_ROUTES: ${host}: `);
      expect(body.error).toContain(`EDGE_ROUTES: ${host}: ${problem}`);
    }
    const health = await send(testEnv, "https://edge.example.test/healthz");
    expect(health.status).toBe(200);
    const edgeRouting = ((await health.json()) as { capabilities: Record<string, { configured: boolean; degraded?: boolean; problems?: string[] }> }).capabilities.edgeRouting;
    expect(edgeRouting).toMatchObject({ configured: true, degraded: true });
    expect(edgeRouting?.problems?.join("\n")).toContain(`EDGE_ROUTES: ${malformed}: Unrecognized key`);
  });

  it("routes nothing while EDGE_ROUTES does not parse: /healthz names it and the Worker's own routes answer", async () => {
    for (const value of ["{not json", "[]"]) {
      const testEnv = edgeEnv(value);
      const health = await send(testEnv, "https://edge.example.test/healthz");
      expect(health.status).toBe(200);
      const edgeRouting = ((await health.json()) as { capabilities: Record<string, { configured: boolean; problems?: string[] }> }).capabilities.edgeRouting;
      expect(edgeRouting?.configured, value).toBe(false);
      expect(edgeRouting?.problems?.[0], value).toMatch(/^EDGE_ROUTES: must be (JSON: )?an? (JSON )?object/);
      const other = await send(testEnv, "https://chat.example.com/anything");
      expect(other.status).toBe(404);
      expect(await other.json()).toMatchObject({ error: "not found" });
    }
    const unset = await send(env, "https://edge.example.test/healthz");
    expect(((await unset.json()) as { capabilities: Record<string, { configured: boolean; problems?: string[] }> }).capabilities.edgeRouting).toEqual({ configured: false, problems: ["EDGE_ROUTES is not set"] });
  });

  it("refuses a request of its own that came back to it (an origin resolving to this Worker)", async () => {
    const origin = await makeOrigin();
    const host = uniqueHost("loop");
    const testEnv = edgeEnv({ [host]: { origins: [origin.url] } });
    const response = await send(testEnv, `https://${host}/`, { headers: { "edge-ops-via": "edge-ops" } });
    expect(response.status).toBe(508);
    expect(response.headers.get("edge-ops-router")).toBe("loop");
    expect(await origin.received()).toEqual([]);
  });

  it("exports each origin's state in /api/metrics and shows it on the status page", async () => {
    const [up, down, dead] = [await makeOrigin(), await makeOrigin(), await makeOrigin()];
    await down.set("down");
    await dead.set("down");
    const [host, deadHost] = [uniqueHost("metrics"), uniqueHost("metrics-dead")];
    const testEnv = edgeEnv({ [host]: { origins: [up.url], failover: [down.url], healthPath: "/health" }, [deadHost]: { origins: [dead.url] } });
    expect((await tickEdgeChecks(testEnv)).ran).toEqual(["edge-health-check"]);

    const metrics = await (await send(testEnv, "https://edge.example.test/api/metrics", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })).text();
    expect(metrics).toContain("# TYPE edgeops_edge_origin_up gauge");
    expect(metrics).toContain(`edgeops_edge_origin_up{host="${host}",origin="${up.url}",pool="primary"} 1`);
    expect(metrics).toContain(`edgeops_edge_origin_up{host="${host}",origin="${down.url}",pool="failover"} 0`);

    const page = await (await send(testEnv, "https://edge.example.test/admin", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })).text();
    expect(page).toContain("<h2>Edge routing</h2>");
    expect(page).toContain(`<tr data-host="${host}" data-origin="${down.url}" data-state="down">`);
    expect(page).toContain(`${host}: failover origin ${down.url} is down (connection failed)`);
    // A host with no origin left is named as such (its visitors get the 503 page), not origin by origin.
    expect(page).toContain(`${deadHost}: every origin is down; visitors get the 503 page.`);
    expect(page).not.toContain(`${deadHost}: primary origin`);
    expect(metrics).toContain(`edgeops_edge_origin_up{host="${deadHost}",origin="${dead.url}",pool="primary"} 0`);
  });

  it("registers its check with the cron dispatcher only where EDGE_ROUTES is set", async () => {
    const job = cronJobs.find((candidate) => candidate.name === "edge-health-check")!;
    expect(await job.schedule(env)).toBeNull();
    expect(await job.schedule(edgeEnv({}))).toBe("*/5 * * * *");
    // Unset: the tick does not run it at all.
    expect(await tickEdgeChecks(env)).toEqual({ ran: [], failed: [], missed: [] });
  });

  it("shares an origin's health across isolates: one isolate's finding keeps a fresh isolate's requests off the origin", async () => {
    const [good, failing] = [await makeOrigin(), await makeOrigin()];
    await failing.set("fail", { status: 503 });
    const host = uniqueHost("shared");
    const testEnv = edgeEnv({ [host]: { origins: [good.url, failing.url] } });
    const toFailing: RouterOptions = { random: () => 0.99 };

    const first = await route(testEnv, `https://${host}/one`, undefined, toFailing);
    expect(((await first.json()) as Answer).origin).toBe(good.id);
    expect((await failing.received()).map((request) => request.path)).toEqual(["/one"]);

    // Another isolate: no copy of its own, only what the shared Durable Object holds.
    forgetHealthViews();
    const second = await route(testEnv, `https://${host}/two`, undefined, toFailing);
    expect(((await second.json()) as Answer).origin).toBe(good.id);
    expect((await failing.received()).map((request) => request.path)).toEqual(["/one"]);

    // It comes back once a check passes, seen by yet another isolate.
    await failing.set("ok");
    await tickEdgeChecks(testEnv);
    forgetHealthViews();
    const third = await route(testEnv, `https://${host}/three`, undefined, toFailing);
    expect(((await third.json()) as Answer).origin).toBe(failing.id);
  });

  it("streams a request body to the origin as the client sends it, never buffering it first", async () => {
    const origin = await makeOrigin();
    const host = uniqueHost("stream");
    const testEnv = edgeEnv({ [host]: { origins: [origin.url] } });
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    // Not awaited: a write settles only once the Worker reads it.
    void writer.write(encoder.encode("first part;"));
    const answer = send(testEnv, `https://${host}/upload`, { method: "POST", body: readable });
    // The origin holds the first part while the client has not finished sending: a Worker that
    // read the whole body before forwarding would never get here.
    await until(async () => (await origin.received())[0]?.body === "first part;", "the origin received the first part before the body ended");
    expect((await origin.received())[0]?.bodyComplete).toBe(false);
    await writer.write(encoder.encode("second part"));
    await writer.close();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(((await response.json()) as Answer).body).toBe("first part;second part");
  });
});
