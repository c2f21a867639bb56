// Errors and limits of the secrets store: a D1 failure answers 503 without the driver's text (its
// message can quote bound values) and logs the code only, on every kind of caller; the catch-all
// error handler never logs a driver's (or any unknown error's) message; a set's body is capped at
// 1 MiB and every other body at 16 KiB (413), whether or not Content-Length says so.
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../workers/http/app-env";
import { handleError, requestLog } from "../workers/http/request-log";
import { MAX_SET_BODY_BYTES } from "../workers/secrets/routes";
import { faultyD1, fetchWith } from "./support/faults";

const base = "http://edge";
const random = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  for (const method of ["log", "info", "warn", "error"] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
});
afterEach(() => vi.restoreAllMocks());

describe("a D1 failure", () => {
  it("answers 503 on every caller with no driver text, and logs the code without it", async () => {
    const [envName, app] = [random("env"), random("app")];
    const put = await fetchWith({}, `${base}/api/secrets/${envName}/${app}`, { method: "PUT", headers: bearer(env.SECRETS_SYNC_TOKEN), body: JSON.stringify({ baseVersion: 0, values: { A: "1" } }) });
    expect(put.status).toBe(200);
    const issued = (await (await fetchWith({}, `${base}/api/secrets/tokens`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ env: envName, app }) })).json()) as { token: string };

    // What a driver says can quote a bound value: here, a marker standing for a token's hash.
    const marker = `bound-${crypto.randomUUID()}`;
    const failing = { DB: faultyD1((sql) => /secret_|admin_sessions/.test(sql), `D1_ERROR: UNIQUE constraint failed: secret_tokens.token_hash: SQLITE_CONSTRAINT (params: ${marker})`) };
    const requests: [string, RequestInit][] = [
      [`/api/secrets/${envName}/${app}`, { method: "PUT", headers: bearer(env.SECRETS_SYNC_TOKEN), body: JSON.stringify({ baseVersion: 1, values: { A: "2" } }) }],
      [`/api/secrets/${envName}/manifest`, { headers: bearer(env.SECRETS_SYNC_TOKEN) }],
      [`/api/secrets/${envName}/${app}`, { headers: { authorization: `Bearer ${issued.token}` } }],
      ["/api/secrets/tokens", { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ env: envName, app }) }],
      ["/api/secrets/rewrap", { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: "{}" }],
      ["/admin/secrets", { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } }],
    ];
    for (const [path, init] of requests) {
      lines = [];
      const response = await fetchWith(failing, `${base}${path}`, init);
      expect(response.status, path).toBe(503);
      const text = await response.text();
      expect(text, path).not.toContain(marker);
      expect(text, path).not.toContain("UNIQUE constraint");
      expect(text, path).toContain("temporarily unavailable, retry later");
      const failure = lines.find((line) => line.includes('"message":"request failed"'));
      expect(failure, path).toMatch(/"reason":"(secrets store|admin session)[^"]* failed: D1_ERROR"/);
      expect(failure, path).toContain('"alert":true');
      for (const line of lines) {
        expect(line, path).not.toContain(marker);
        expect(line, path).not.toContain("UNIQUE constraint");
      }
    }
    // Nothing half-written: the set is still at version 1.
    const manifest = (await (await fetchWith({}, `${base}/api/secrets/${envName}/manifest`, { headers: bearer(env.SECRETS_SYNC_TOKEN) })).json()) as { apps: Record<string, { version: number }> };
    expect(manifest.apps[app]?.version).toBe(1);
  });
});

describe("the catch-all error handler", () => {
  const app = new Hono<AppEnv>();
  app.use("*", requestLog);
  app.onError(handleError);

  it("answers 500 and logs the error's code or name, never its message", async () => {
    const marker = `bound-${crypto.randomUUID()}`;
    app.get("/driver", () => {
      throw new Error(`Failed query: insert into "secret_tokens" params: ${marker}`, { cause: new Error(`D1_ERROR: UNIQUE constraint failed: ${marker}`) });
    });
    app.get("/bug", () => {
      throw new TypeError(`cannot read ${marker}`);
    });
    for (const [path, reason] of [
      ["/driver", "D1_ERROR"],
      ["/bug", "TypeError"],
    ] as const) {
      lines = [];
      const response = await app.fetch(new Request(`${base}${path}`), env);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: "internal error", requestId: expect.any(String) });
      const logged = lines.find((line) => line.includes('"message":"unhandled error"'));
      expect(JSON.parse(logged!)).toMatchObject({ level: "error", reason, alert: true });
      for (const line of lines) expect(line).not.toContain(marker);
    }
  });
});

describe("body limits", () => {
  const putSet = (envName: string, body: BodyInit, headers: Record<string, string> = {}) =>
    fetchWith({}, `${base}/api/secrets/${envName}/api`, { method: "PUT", headers: { ...bearer(env.SECRETS_SYNC_TOKEN), ...headers }, body });
  const manifestOf = async (envName: string) =>
    ((await (await fetchWith({}, `${base}/api/secrets/${envName}/manifest`, { headers: bearer(env.SECRETS_SYNC_TOKEN) })).json()) as { apps: Record<string, unknown> }).apps;

  it("takes a set of up to 1 MiB and refuses a larger one with 413, with or without Content-Length", async () => {
    expect(MAX_SET_BODY_BYTES).toBe(1024 * 1024);
    const envName = random("env");
    // 31 values of 32,000 characters: under the cap.
    const values = Object.fromEntries(Array.from({ length: 31 }, (_, index) => [`KEY_${index}`, "v".repeat(32_000)]));
    const fits = JSON.stringify({ baseVersion: 0, values });
    expect(fits.length).toBeLessThan(MAX_SET_BODY_BYTES);
    expect((await putSet(envName, fits)).status).toBe(200);

    const tooLarge = JSON.stringify({ baseVersion: 1, values: { ...values, KEY_31: "v".repeat(32_000), KEY_32: "v".repeat(32_000), KEY_33: "v".repeat(32_000) } });
    expect(tooLarge.length).toBeGreaterThan(MAX_SET_BODY_BYTES);
    const declared = await putSet(envName, tooLarge);
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: `body exceeds ${MAX_SET_BODY_BYTES} bytes`, requestId: expect.any(String) });
    // Streamed, without Content-Length: counted as it arrives.
    const bytes = new TextEncoder().encode(tooLarge);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.length; offset += 64 * 1024) controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
        controller.close();
      },
    });
    const streamed = await putSet(envName, stream);
    expect(streamed.status).toBe(413);
    expect((await manifestOf(envName)).api).toMatchObject({ version: 1 });
  });

  it("caps every other body at 16 KiB", async () => {
    const padding = "p".repeat(17 * 1024);
    const token = await fetchWith({}, `${base}/api/secrets/tokens`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ env: random("env"), app: "api", padding }) });
    expect(token.status).toBe(413);
    const rewrap = await fetchWith({}, `${base}/api/secrets/rewrap`, { method: "POST", headers: bearer(env.ADMIN_TOKEN), body: JSON.stringify({ cursor: padding }) });
    expect(rewrap.status).toBe(413);
  });
});
