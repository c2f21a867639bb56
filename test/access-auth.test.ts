// The admin pages' two ways in: a Cloudflare Access JWT verified against the team's keys (the fake
// team domain on 127.0.0.1 publishes them), and the local login session with its CSRF token.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AccessDenied, verifyAccessJwt } from "../workers/access/access-jwt";
import { createSession, csrfToken, readSession, sessionCookie, validCsrf } from "../workers/access/admin-session";
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
  const adminToken = "test-admin-token";

  it("reads back a session it created, until it expires", async () => {
    const now = 1_800_000_000;
    const { value, session } = await createSession(adminToken, now);
    expect(await readSession(adminToken, value, now + 60)).toEqual(session);
    expect(await readSession(adminToken, value, session.expires + 1)).toBeNull();
    expect(sessionCookie(value, { secure: true })).toMatch(/HttpOnly; Secure; SameSite=Strict/);
    expect(sessionCookie(value, { secure: false })).not.toMatch(/Secure/);
  });

  it("refuses an altered or foreign cookie, and every session once the admin token changes", async () => {
    const { value } = await createSession(adminToken);
    const [id, expires, signature] = value.split(".");
    expect(await readSession(adminToken, `${id}.${Number(expires) + 86_400}.${signature}`)).toBeNull();
    expect(await readSession(adminToken, `${id!.slice(0, -1)}A.${expires}.${signature}`)).toBeNull();
    expect(await readSession("another-admin-token", value)).toBeNull();
    expect(await readSession(adminToken, undefined)).toBeNull();
  });

  it("binds the CSRF token to the session", async () => {
    const one = (await createSession(adminToken)).session;
    const two = (await createSession(adminToken)).session;
    const token = await csrfToken(adminToken, one);
    expect(await validCsrf(adminToken, one, token)).toBe(true);
    expect(await validCsrf(adminToken, two, token)).toBe(false);
    expect(await validCsrf(adminToken, one, undefined)).toBe(false);
  });
});
