// The secrets capability end to end under `wrangler dev`, driven by a real headless Chromium
// (Debian's, through playwright-core); screenshots go to test/artifacts/. Three Workers, one after
// another, each with its own local storage:
// - without Cloudflare Access (local development): the real sync CLI pushes a set, the browser
//   signs in with the admin token, sees the value masked, reveals it, issues an app token that
//   reads the set, and signs out (the session ends: its cookie opens nothing any more);
// - with Access through the fake team domain: the browser carries the Access JWT the edge would
//   add (Cf-Access-Jwt-Assertion) and operates as that person; without it, with the admin token
//   alone, or at the token login, it is refused with 403 and the reason;
// - with half an Access configuration: every operator page answers 503 naming the missing
//   variable, never the token login.
// Skips, saying why, where Chromium is missing (`.ci/run` installs it).
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker } from "../../scripts/bench/wrangler-run.ts";
import { main as secretsCli } from "../../scripts/secrets.ts";
import { startFakeAccess, type FakeAccess } from "./fakes/cloudflare-access.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test", "artifacts");
const available = existsSync(CHROMIUM);
if (!available) process.stderr.write(`secrets admin browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`);

const ADMIN_TOKEN = `admin-${crypto.randomUUID()}`;
const SYNC_TOKEN = `sync-${crypto.randomUUID()}`;
const MASTER_KEY = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const SECRET = `db-${crypto.randomUUID()}`;
const io = (lines: string[]) => ({ out: (line: string) => lines.push(line), err: (line: string) => lines.push(line), interactive: false });

/** A `wrangler dev` with migrated local storage of its own, the secrets capability's variables and these; resolves once /healthz answers. */
const startWorker = (vars: Record<string, string>) => startLocalWorker("secrets-browser", { ADMIN_TOKEN, SECRETS_SYNC_TOKEN: SYNC_TOKEN, SECRETS_MASTER_KEY: MASTER_KEY, ...vars });

async function syncStaging(base: string) {
  const dir = mkdtempSync(join(tmpdir(), "secrets-files-"));
  mkdirSync(join(dir, "staging"));
  writeFileSync(join(dir, "staging", "billing.env"), `DB_PASSWORD=${SECRET}\nAPI_URL=https://api.example.com\n`);
  const env = { EDGE_OPS_URL: base, SECRETS_SYNC_TOKEN: SYNC_TOKEN };
  const lines: string[] = [];
  expect(await secretsCli(["sync", "--env", "staging", "--dir", dir], env, io(lines))).toBe(0);
  expect(await secretsCli(["diff", "--env", "staging", "--dir", dir, "--check"], env, io(lines))).toBe(0);
  expect(lines.join("\n")).not.toContain(SECRET);
}

/** On the set's page: masked, then revealed, then a new app token that reads the set. */
async function revealAndIssue(page: Page, base: string, shots: string) {
  await Promise.all([page.waitForURL(`${base}/admin/secrets/staging/billing`), page.click('a[href="/admin/secrets/staging/billing"]')]);
  expect(await page.textContent("#keys")).toContain("DB_PASSWORD");
  expect(await page.content()).not.toContain(SECRET);
  await page.screenshot({ path: join(ARTIFACTS, `${shots}-masked.png`), fullPage: true });
  await Promise.all([page.waitForLoadState(), page.click("#reveal")]);
  expect(await page.textContent("#keys")).toContain(SECRET);
  await page.screenshot({ path: join(ARTIFACTS, `${shots}-revealed.png`), fullPage: true });
  await Promise.all([page.waitForLoadState(), page.click("#issue-token")]);
  const token = (await page.textContent("#issued-token"))!.trim();
  const read = await fetch(`${base}/api/secrets/staging/billing`, { headers: { authorization: `Bearer ${token}` } });
  expect(await read.json()).toMatchObject({ env: "staging", app: "billing", values: { DB_PASSWORD: SECRET } });
}

let browser: Browser | undefined;

describe.skipIf(!available)("the admin page in Chromium against wrangler dev", { shuffle: false }, () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  describe("without Cloudflare Access (local development)", { shuffle: false }, () => {
    let worker: { base: string; stop(): Promise<void> } | undefined;
    beforeAll(async () => {
      worker = await startWorker({});
    }, 120_000);
    afterAll(() => worker?.stop());

    it("the sync CLI pushes a set, and diff then finds no drift", async () => {
      await syncStaging(worker!.base);
    }, 60_000);

    it("signs in with the admin token, reveals, issues a token that reads the set, and signs out for good", async () => {
      const { base } = worker!;
      const context = await browser!.newContext();
      const page = await context.newPage();
      await page.goto(`${base}/admin/secrets`);
      expect(new URL(page.url()).pathname).toBe("/admin/login");
      await page.fill('input[name="token"]', ADMIN_TOKEN);
      await page.click('button[type="submit"]');
      await page.waitForLoadState();
      expect(new URL(page.url()).pathname, await page.content()).toBe("/admin/secrets");
      await page.screenshot({ path: join(ARTIFACTS, "secrets-index.png"), fullPage: true });
      const cookie = (await context.cookies()).find((candidate) => candidate.name === "edge_ops_admin");
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
      await revealAndIssue(page, base, "secrets");

      await page.goto(`${base}/admin/secrets`);
      await Promise.all([page.waitForURL(`${base}/admin/login`), page.click("#sign-out")]);
      // The cookie the browser held, replayed: its session is over.
      const replayed = await fetch(`${base}/admin/secrets`, { headers: { cookie: `edge_ops_admin=${cookie!.value}` }, redirect: "manual" });
      expect(replayed.status).toBe(302);
      expect(replayed.headers.get("location")).toBe("/admin/login");
      await context.close();
    }, 60_000);
  });

  describe("behind Cloudflare Access (the fake team domain)", { shuffle: false }, () => {
    let worker: { base: string; stop(): Promise<void> } | undefined;
    let access: FakeAccess | undefined;
    beforeAll(async () => {
      access = await startFakeAccess();
      worker = await startWorker({ ACCESS_TEAM_DOMAIN: access.url, ACCESS_AUD: access.audience });
      await syncStaging(worker.base);
    }, 120_000);
    afterAll(async () => {
      await worker?.stop();
      await access?.close();
    });

    it("operates as the Access identity: its email on the page, reveal and token issue", async () => {
      const { base } = worker!;
      const context = await browser!.newContext({ extraHTTPHeaders: { "cf-access-jwt-assertion": access!.sign({ email: "alice@example.com" }) } });
      const page = await context.newPage();
      const index = await page.goto(`${base}/admin/secrets`);
      expect(index?.status()).toBe(200);
      expect(await page.textContent("#operator")).toBe("alice@example.com");
      await page.screenshot({ path: join(ARTIFACTS, "secrets-access-index.png"), fullPage: true });
      await revealAndIssue(page, base, "secrets-access");
      expect(await page.textContent("#history")).toContain("sync");
      await context.close();
    }, 60_000);

    it("refuses the admin token alone, the token login, and no identity, with 403 and the reason", async () => {
      const { base } = worker!;
      const cases: [string, Record<string, string>, string, string][] = [
        ["/admin/secrets", {}, "a Cloudflare Access identity is required", "secrets-access-none"],
        ["/admin/secrets", { authorization: `Bearer ${ADMIN_TOKEN}` }, "bearer tokens (ADMIN_TOKEN) are not accepted", "secrets-access-admin-token"],
        ["/admin/login", {}, "token sign-in is off", "secrets-access-login"],
      ];
      for (const [path, headers, reason, shot] of cases) {
        const context = await browser!.newContext({ extraHTTPHeaders: headers });
        const page = await context.newPage();
        const response = await page.goto(`${base}${path}`);
        expect(response?.status(), path).toBe(403);
        expect(await page.textContent("#reason")).toContain(reason);
        await page.screenshot({ path: join(ARTIFACTS, `${shot}.png`), fullPage: true });
        await context.close();
      }
      const api = await fetch(`${base}/api/secrets/tokens`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ env: "staging", app: "billing" }) });
      expect(api.status).toBe(403);
      // The machine endpoints still take it.
      expect((await fetch(`${base}/api/events?limit=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
    }, 60_000);
  });

  describe("with half an Access configuration", { shuffle: false }, () => {
    let worker: { base: string; stop(): Promise<void> } | undefined;
    let access: FakeAccess | undefined;
    beforeAll(async () => {
      access = await startFakeAccess();
      worker = await startWorker({ ACCESS_TEAM_DOMAIN: access.url });
    }, 120_000);
    afterAll(async () => {
      await worker?.stop();
      await access?.close();
    });

    it("answers 503 naming ACCESS_AUD on every operator page, and never offers the token login", async () => {
      const { base } = worker!;
      for (const [path, headers] of [
        ["/admin/secrets", { "cf-access-jwt-assertion": access!.sign({}) }],
        ["/admin/secrets", { authorization: `Bearer ${ADMIN_TOKEN}` }],
        ["/admin/login", {}],
      ] as const) {
        const context = await browser!.newContext({ extraHTTPHeaders: headers });
        const page = await context.newPage();
        const response = await page.goto(`${base}${path}`);
        expect(response?.status(), path).toBe(503);
        expect(await page.textContent("#reason")).toContain("Cloudflare Access is not configured: ACCESS_AUD is not set");
        expect(await page.locator('input[name="token"]').count()).toBe(0);
        await context.close();
      }
      const context = await browser!.newContext();
      const page = await context.newPage();
      await page.goto(`${base}/admin/secrets`);
      await page.screenshot({ path: join(ARTIFACTS, "secrets-access-half.png"), fullPage: true });
      await context.close();
      const health = (await (await fetch(`${base}/healthz`)).json()) as { capabilities: Record<string, unknown> };
      expect(health.capabilities.access).toEqual({ configured: false, problems: [expect.stringContaining("ACCESS_AUD is not set")] });
    }, 60_000);
  });
});
