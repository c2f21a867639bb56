// Fetching the Access team's signing keys: unknown key ids refresh them at most once a minute per
// team domain, concurrent requests share one fetch, a fetch has a timeout, and a failed fetch
// keeps the keys already cached. Each test has a team domain of its own on the fake (a path
// prefix), so its key cache and its count of certs requests are its own; the cache's clock is
// injected.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AccessDenied, verifyAccessJwt, type AccessKeyOptions } from "../workers/access/access-jwt";
import { AppError } from "../workers/http/errors";
import { accessJwt } from "./support/access";
import { fetchWith } from "./support/faults";

async function newTeam(behaviour: { hangMs?: number; status?: number } = {}) {
  const team = `/team-${crypto.randomUUID()}`;
  await setTeam(team, behaviour);
  const clock = { now: Date.now() };
  return {
    team,
    settings: { teamDomain: `${env.FAKE_ACCESS_URL}${team}`, audience: env.FAKE_ACCESS_AUD },
    clock,
    options: { now: () => clock.now, certsTimeoutMs: 300 } satisfies AccessKeyOptions,
  };
}
const setTeam = (team: string, behaviour: { hangMs?: number; status?: number }) =>
  fetch(`${env.FAKE_ACCESS_URL}/__fake/teams`, { method: "POST", body: JSON.stringify({ team, ...behaviour }) });
const certsRequests = async (team: string) => ((await (await fetch(`${env.FAKE_ACCESS_URL}/__fake/certs-requests?team=${team}`)).json()) as { count: number }).count;
const randomKid = () => crypto.randomUUID().replaceAll("-", "");
const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => "accepted",
    (error: unknown) => (error instanceof AccessDenied ? error.reason : error instanceof AppError ? `${error.status}` : "other error"),
  );

describe("the Access signing keys", () => {
  it("costs at most one certs fetch a minute for a flood of tokens with unknown key ids", async () => {
    const { team, settings, clock, options } = await newTeam();
    const forged = await Promise.all(Array.from({ length: 50 }, () => accessJwt({ iss: settings.teamDomain }, { kid: randomKid() })));
    // All at once, then one after another.
    const concurrent = await Promise.all(forged.slice(0, 25).map((token) => outcome(verifyAccessJwt(token, settings, undefined, options))));
    const sequential: string[] = [];
    for (const token of forged.slice(25)) sequential.push(await outcome(verifyAccessJwt(token, settings, undefined, options)));
    expect(new Set([...concurrent, ...sequential])).toEqual(new Set(["signed by an unknown key"]));
    expect(await certsRequests(team)).toBe(1);
    // The team's real tokens still get in, from the cache.
    expect(await verifyAccessJwt(await accessJwt({ iss: settings.teamDomain }), settings, undefined, options)).toEqual({ email: "ops@example.com", subject: "user-1" });
    expect(await certsRequests(team)).toBe(1);

    // A minute later an unknown kid may refresh the keys once more (Access may have rotated).
    clock.now += 61_000;
    for (const token of forged.slice(0, 10)) expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("signed by an unknown key");
    expect(await certsRequests(team)).toBe(2);
  });

  it("shares one fetch among concurrent first requests", async () => {
    const { team, settings, options } = await newTeam();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => accessJwt({ iss: settings.teamDomain })));
    const results = await Promise.all(tokens.map((token) => outcome(verifyAccessJwt(token, settings, undefined, options))));
    expect(results).toEqual(Array(10).fill("accepted"));
    expect(await certsRequests(team)).toBe(1);
  });

  it("refuses with 503 after the timeout when the certs endpoint hangs, and does not ask again within the minute", async () => {
    const { team, settings, options } = await newTeam({ hangMs: 30_000 });
    const token = await accessJwt({ iss: settings.teamDomain });
    expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("503");
    expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("503");
    expect(await certsRequests(team)).toBe(1);
  });

  it("keeps the cached keys when a refresh fails, for up to an hour", async () => {
    const { team, settings, clock, options } = await newTeam();
    const token = await accessJwt({ iss: settings.teamDomain });
    expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("accepted");
    await setTeam(team, { status: 503 });

    // Due for a refresh: the refresh fails, the cached keys still verify.
    clock.now += 11 * 60_000;
    expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("accepted");
    expect(await certsRequests(team)).toBe(2);
    // A forged kid after the failure: still refused as unknown, not let in, and no new fetch.
    expect(await outcome(verifyAccessJwt(await accessJwt({ iss: settings.teamDomain }, { kid: randomKid() }), settings, undefined, options))).toBe("signed by an unknown key");
    expect(await certsRequests(team)).toBe(2);

    // An hour after the last good fetch nothing is trusted any more: fail closed.
    clock.now += 50 * 60_000;
    expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("503");
    // Once the endpoint is back, the next attempt (a minute on) recovers.
    await setTeam(team, {});
    clock.now += 61_000;
    expect(await outcome(verifyAccessJwt(token, settings, undefined, options))).toBe("accepted");
    expect(await certsRequests(team)).toBe(4);
  });

  it("makes the admin page answer 503, not let in or send to the login page, when the team's keys cannot be had", async () => {
    const { team, settings } = await newTeam({ status: 502 });
    const accessEnv = { ACCESS_TEAM_DOMAIN: settings.teamDomain, ACCESS_AUD: settings.audience };
    const response = await fetchWith(accessEnv, "http://edge/admin/secrets", { headers: { "cf-access-jwt-assertion": await accessJwt({ iss: settings.teamDomain }) }, redirect: "manual" });
    expect(response.status).toBe(503);
    expect(await certsRequests(team)).toBe(1);
  });
});
