// A fake Cloudflare Access team domain: `GET /cdn-cgi/access/certs` answers the team's signing keys
// as Access publishes them (`{keys: [RSA JWKs with kid, alg RS256, use sig], public_cert: {kid,
// cert}, public_certs: [{kid, cert}]}`, per Cloudflare's "Validate JWTs" page, read 2026-12-06),
// and the test side signs Access JWTs (RS256, `aud`, `iss` = the team domain, `email`, `exp`) with
// the private key, passed to workerd suites as a binding.
//
// Every path prefix is a team domain of its own with the same keys: `<url>/<team>` publishes at
// `<url>/<team>/cdn-cgi/access/certs`, so a test gets a team (and a key cache) nobody else uses.
// Tests drive it through /__fake/*: POST /__fake/teams {team: "/<team>", hangMs?, status?} makes that
// team's certs answer only after hangMs (a hanging endpoint) or with an error status;
// GET /__fake/certs-requests?team=/<team> answers `{count}`, the certs requests that team got.
import { createSign, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { startFake, type RunningFake } from "./http-fake.ts";

export type FakeAccess = RunningFake & { audience: string; privateKeyPem(): string; kid(): string; sign(claims: Record<string, unknown>): string };

const CERTS_PATH = "/cdn-cgi/access/certs";

type TeamBehaviour = { hangMs?: number; status?: number };

export async function startFakeAccess(port = 0): Promise<FakeAccess> {
  const audience = randomBytes(32).toString("hex");
  const current = newKey();
  const published: { kid: string; publicKey: KeyObject }[] = [current];
  const behaviours = new Map<string, TeamBehaviour>();
  const certsRequests = new Map<string, number>();
  function newKey() {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    return { kid: randomBytes(32).toString("hex"), publicKey, privateKey };
  }
  const fake = await startFake(async (request) => {
    if (request.method === "POST" && request.url.pathname === "/__fake/teams") {
      const { team, ...behaviour } = request.body as { team: string } & TeamBehaviour;
      behaviours.set(team, behaviour);
      return { status: 204 };
    }
    if (request.method === "GET" && request.url.pathname === "/__fake/certs-requests") {
      return { status: 200, body: { count: certsRequests.get(request.url.searchParams.get("team") ?? "") ?? 0 } };
    }
    if (request.method === "GET" && request.url.pathname.endsWith(CERTS_PATH)) {
      const team = request.url.pathname.slice(0, -CERTS_PATH.length);
      certsRequests.set(team, (certsRequests.get(team) ?? 0) + 1);
      const behaviour = behaviours.get(team) ?? {};
      // An unref'd timer: a hung request never keeps the test process alive.
      if (behaviour.hangMs) await new Promise((resolve) => setTimeout(resolve, behaviour.hangMs).unref());
      if (behaviour.status) return { status: behaviour.status, body: { error: "fake certs failure" } };
      const keys = published.map(({ kid, publicKey }) => ({ ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }));
      return { status: 200, body: { keys, public_cert: { kid: current.kid, cert: "" }, public_certs: published.map(({ kid }) => ({ kid, cert: "" })) } };
    }
    return { status: 404, body: { error: "not found" } };
  }, port);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return {
    ...fake,
    audience,
    privateKeyPem: () => current.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    kid: () => current.kid,
    sign(claims) {
      const now = Math.floor(Date.now() / 1000);
      const body = `${encode({ alg: "RS256", kid: current.kid, typ: "JWT" })}.${encode({ aud: [audience], iss: fake.url, iat: now, exp: now + 3600, email: "ops@example.com", sub: "user-1", ...claims })}`;
      return `${body}.${createSign("RSA-SHA256").update(body).sign(current.privateKey).toString("base64url")}`;
    },
  };
}
