// A fake Cloudflare Access team domain: `GET /cdn-cgi/access/certs` answers the team's signing keys
// as Access publishes them (`{keys: [RSA JWKs with kid], public_cert, public_certs}`), and the test
// side signs Access JWTs (RS256, `aud`, `iss` = the team domain, `email`, `exp`) with the private
// key, passed to workerd suites as a binding.
import { createSign, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { startFake, type RunningFake } from "./http-fake.ts";

export type FakeAccess = RunningFake & { audience: string; privateKeyPem(): string; kid(): string; sign(claims: Record<string, unknown>): string };

export async function startFakeAccess(port = 0): Promise<FakeAccess> {
  const audience = randomBytes(32).toString("hex");
  const current = newKey();
  const published: { kid: string; publicKey: KeyObject }[] = [current];
  function newKey() {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    return { kid: randomBytes(32).toString("hex"), publicKey, privateKey };
  }
  const fake = await startFake((request) => {
    if (request.method === "GET" && request.url.pathname === "/cdn-cgi/access/certs") {
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
