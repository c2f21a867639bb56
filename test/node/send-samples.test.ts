// `npm run send-samples` against the Worker under `wrangler dev`: one Worker, started as the
// benchmarks start it (scripts/bench/wrangler-run.ts), given its secrets in an env file the way
// `npm run dev` gives them .dev.vars; send-samples reads the same file. Every sample is accepted,
// the Guesty one is stored (read back through the admin API) and no secret reaches the output.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWranglerRun, freePort, type WranglerRun } from "../../scripts/bench/wrangler-run.ts";
import { main as sendSamples } from "../../scripts/send-samples.ts";

const SECRETS = {
  AIRCALL_WEBHOOK_TOKENS: `aircall-${randomBytes(12).toString("hex")},aircall-old-${randomBytes(12).toString("hex")}`,
  GUESTY_WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString("base64")}`,
  ROCKETCHAT_INGEST_TOKEN: `ingest-${randomBytes(12).toString("hex")}`,
  ROCKETCHAT_BOT_TOKEN: `bot-${randomBytes(12).toString("hex")}`,
  ADMIN_TOKEN: `admin-${randomBytes(24).toString("hex")}`,
};

let wrangler: WranglerRun;
let base = "";
let devVars = "";

/** send-samples with no secret in its environment unless given: they come from the env file. */
async function run(env: NodeJS.ProcessEnv = {}, url = base): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const io = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
  const code = await sendSamples(["--url", url, "--dev-vars", devVars], env, io);
  return { code, output: lines.join("\n") };
}

function expectNoSecret(output: string) {
  for (const secret of Object.values(SECRETS).flatMap((value) => value.split(","))) expect(output).not.toContain(secret);
  expect(output).not.toContain(SECRETS.GUESTY_WEBHOOK_SECRETS.slice("whsec_".length));
}

describe("npm run send-samples against wrangler dev", () => {
  beforeAll(async () => {
    wrangler = createWranglerRun({ name: "send-samples", timeoutMs: 120_000 });
    // The test's own timeouts stop it; the watchdog would exit the test worker.
    clearTimeout(wrangler.watchdog);
    devVars = join(wrangler.persistDir, "dev.vars");
    writeFileSync(devVars, Object.entries(SECRETS).map(([name, value]) => `${name}=${value}`).join("\n"), { mode: 0o600 });
    await wrangler.applyMigrations();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const { dev, exited } = await wrangler.startWranglerDev(port, ["--persist-to", wrangler.persistDir, "--env-file", devVars]);
    await wrangler.waitForHealth(base, "/healthz", dev, exited);
  }, 120_000);

  afterAll(async () => {
    await wrangler?.cleanup();
  }, 30_000);

  it("sends every sample, each accepted; the Guesty one is stored, its redelivery a duplicate; the bot replies", async () => {
    const { code, output } = await run();
    expect(code, output).toBe(0);
    expect(output).toContain("send-samples: all 5 accepted");
    expect(output).toMatch(/aircall +call\.ended +200 +stored as aircall_[0-9a-f]{64}/);
    expect(output).toMatch(/rocketchat +message +200 +stored as rocketchat_[0-9a-f]{64}/);
    // Processed, not failed: every sample is in the shape its payload schema documents.
    expect(output).toMatch(/processed +3 of 3 stored events/);
    expect(output).toMatch(/bot +!ask +200 +replied:/);
    const guestyId = /guesty +reservation\.new +200 +stored as (guesty_msg_[0-9a-f]+)/.exec(output)?.[1];
    expect(guestyId, output).toBeDefined();
    expect(output).toContain(`duplicate of ${guestyId}`);
    expectNoSecret(output);

    const response = await fetch(`${base}/api/events/${guestyId}`, { headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id: guestyId,
      source: "guesty",
      type: "reservation.new",
      status: "processed",
      payload: { event: "reservation.new", reservation: { guest: { fullName: "Maria Santos" } } },
    });
  }, 60_000);

  it("prefers a secret from the environment, and says so when the Worker refuses a sample", async () => {
    const { code, output } = await run({ AIRCALL_WEBHOOK_TOKENS: "not-the-workers-token" });
    expect(code, output).toBe(1);
    expect(output).toContain("secrets from the environment: AIRCALL_WEBHOOK_TOKENS");
    expect(output).toMatch(/aircall +call\.ended +401 +unauthorized/);
    expect(output).toContain("send-samples: 1 of 5 not accepted");
    expect(output).not.toContain("not-the-workers-token");
    expectNoSecret(output);
  }, 60_000);

  it("names the address it cannot reach", async () => {
    const { code, output } = await run({}, `http://127.0.0.1:${await freePort()}`);
    expect(code).toBe(1);
    expect(output).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});
