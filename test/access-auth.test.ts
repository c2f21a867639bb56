// The admin pages' two ways in: a Cloudflare Access JWT verified against the team's keys (the fake
// team domain on 127.0.0.1 publishes them), and the local login session (signed with a key derived
// from the master key, recorded in D1) with its CSRF token.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AccessDenied, verifyAccessJwt } from "../workers/access/access-jwt";
import { createSession, csrfToken, deriveSessionKeys, endSession, readSession, sessionCookie, validCsrf } from "../workers/access/admin-session";
import { sha256Hex } from "../workers/auth/constant-time";
import { accessJwt, base64Url } from "./support/access";

const teamDomain = env.FAKE_ACCESS_URL;
const audience = env.FAKE_ACCESS_AUD;
const encoder = new TextEncoder();

const settings = { teamDomain, audience };
const denied = async (token: string, reason: RegExp) => {
  const error = await verifyAccessJwt(token, settings).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(AccessDenied);
  expect((error as AccessDenied).reason).toMatch(reason);
};

describe("Cloudflare Access JWT", () => {
  it("accepts a token the team signed for this application, with its identity", async () => {
    expect(await verifyAccessJwt(await accessJwt(), settings)).toEqual({ email: "ops@example.com", subject: "user-1" });
  });

  it("refuses another application, another team, an expired or future token", async () => {
    await denied(await accessJwt({ aud: ["another-application"] }), /another application/);
    await denied(await accessJwt({ iss: "https://other-team.cloudflareaccess.com" }), /another team/);
    await denied(await accessJwt({ exp: Math.floor(Date.now() / 1000) - 3600 }), /expired/);
    await denied(await accessJwt({ nbf: Math.floor(Date.now() / 1000) + 3600 }), /not valid yet/);
  });

  it("refuses a tampered payload, an unknown key, another algorithm and garbage", async () => {
    const token = await accessJwt();
    const [header, , signature] = token.split(".");
    const forged = base64Url(encoder.encode(JSON.stringify({ aud: [audience], iss: teamDomain, exp: Math.floor(Date.now() / 1000) + 600, email: "attacker@example.com" })));
    await denied(`${header}.${forged}.${signature}`, /bad signature/);
    await denied(await accessJwt({}, { kid: "not-a-published-key" }), /unknown key/);
    await denied(await accessJwt({}, { alg: "HS256" }), /RS256/);
    await denied("not.a.jwt", /malformed/);
    await denied("only-one-part", /malformed/);
  });
});

describe("the local admin session", () => {
  const masterKey = () => crypto.getRandomValues(new Uint8Array(new ArrayBuffer(32)));

  it("reads back a session it created until it expires, and only while its row exists", async () => {
    const keys = await deriveSessionKeys(masterKey());
    const now = Math.floor(Date.now() / 1000);
    const { value, session } = await createSession(env.DB, keys, now);
    expect(await readSession(env.DB, keys, value, now + 60)).toEqual(session);
    expect(await readSession(env.DB, keys, value, session.expires + 1)).toBeNull();
    // Logout deletes the row: the cookie, though validly signed and unexpired, opens nothing.
    await endSession(env.DB, session);
    expect(await readSession(env.DB, keys, value, now + 60)).toBeNull();
    expect(sessionCookie(value, { secure: true })).toMatch(/HttpOnly; Secure; SameSite=Strict/);
    expect(sessionCookie(value, { secure: false })).not.toMatch(/Secure/);
  });

  it("stores the id only as its SHA-256", async () => {
    const keys = await deriveSessionKeys(masterKey());
    const { session } = await createSession(env.DB, keys);
    expect(await env.DB.prepare("SELECT id_hash FROM admin_sessions WHERE id_hash = ?").bind(await sha256Hex(session.id)).first()).not.toBeNull();
    expect(await env.DB.prepare("SELECT id_hash FROM admin_sessions WHERE id_hash = ?").bind(session.id).first()).toBeNull();
  });

  it("refuses an altered or foreign cookie, and every session once the master key (so the signing key) changes", async () => {
    const master = masterKey();
    const keys = await deriveSessionKeys(master);
    const { value } = await createSession(env.DB, keys);
    const [id, expires, signature] = value.split(".");
    expect(await readSession(env.DB, keys, `${id}.${Number(expires) + 86_400}.${signature}`)).toBeNull();
    expect(await readSession(env.DB, keys, `${id!.slice(0, -1)}A.${expires}.${signature}`)).toBeNull();
    expect(await readSession(env.DB, await deriveSessionKeys(masterKey()), value)).toBeNull();
    expect(await readSession(env.DB, keys, undefined)).toBeNull();
    // The same master key derives the same keys: nothing else (no ADMIN_TOKEN) goes in.
    expect(await readSession(env.DB, await deriveSessionKeys(master), value)).not.toBeNull();
  });

  it("binds the CSRF token to the session and lets it expire", async () => {
    const keys = await deriveSessionKeys(masterKey());
    const now = Math.floor(Date.now() / 1000);
    const token = await csrfToken(keys, "session:one", now);
    expect(await validCsrf(keys, "session:one", token, now)).toBe(true);
    expect(await validCsrf(keys, "session:two", token, now)).toBe(false);
    expect(await validCsrf(keys, "session:one", undefined, now)).toBe(false);
    expect(await validCsrf(keys, "session:one", token, now + 9 * 3600)).toBe(false);
    expect(await validCsrf(await deriveSessionKeys(masterKey()), "session:one", token, now)).toBe(false);
  });
});
