// The secrets capability end to end under `wrangler dev`: the real sync CLI pushes a set, then a
// real headless Chromium (Debian's, driven by playwright-core) signs in to /admin/secrets, sees the
// value masked, reveals it, issues an app token and reads the set with it. Screenshots go to
// test/artifacts/. Skips, saying why, where Chromium is missing (`.ci/run` installs it).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main as secretsCli } from "../../scripts/secrets.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test", "artifacts");
const available = existsSync(CHROMIUM);
if (!available) process.stderr.write(`secrets admin browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`);

const ADMIN_TOKEN = `admin-${crypto.randomUUID()}`;
const SYNC_TOKEN = `sync-${crypto.randomUUID()}`;
const MASTER_KEY = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const SECRET = `db-${crypto.randomUUID()}`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function run(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), ...args], { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
}

describe.skipIf(!available)("the admin page in Chromium against wrangler dev", { shuffle: false }, () => {
  let dev: ChildProcess | undefined;
  let browser: Browser | undefined;
  let base = "";
  const persist = mkdtempSync(join(tmpdir(), "secrets-browser-"));

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const migrate = run(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {});
    expect(await new Promise((resolve) => migrate.on("exit", resolve))).toBe(0);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const vars = { ADMIN_TOKEN, SECRETS_SYNC_TOKEN: SYNC_TOKEN, SECRETS_MASTER_KEY: MASTER_KEY };
    dev = run(["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()), "--persist-to", persist, "--show-interactive-dev-session=false", "--log-level", "warn", ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`])], {});
    const until = Date.now() + 90_000;
    for (;;) {
      const ok = await fetch(`${base}/healthz`).then((response) => response.ok).catch(() => false);
      if (ok) break;
      if (Date.now() > until) throw new Error("wrangler dev did not start");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (dev?.pid) process.kill(-dev.pid, "SIGTERM");
  });

  it("the sync CLI pushes a set, and diff then finds no drift", async () => {
    const dir = mkdtempSync(join(tmpdir(), "secrets-files-"));
    mkdirSync(join(dir, "staging"));
    writeFileSync(join(dir, "staging", "billing.env"), `DB_PASSWORD=${SECRET}\nAPI_URL=https://api.example.com\n`);
    const env = { EDGE_OPS_URL: base, SECRETS_SYNC_TOKEN: SYNC_TOKEN };
    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line), interactive: false };
    expect(await secretsCli(["sync", "--env", "staging", "--dir", dir], env, io)).toBe(0);
    expect(await secretsCli(["diff", "--env", "staging", "--dir", dir, "--check"], env, io)).toBe(0);
    expect(lines.join("\n")).not.toContain(SECRET);
  });

  it("signs in, sees the value masked, reveals it, issues a token that reads the set", async () => {
    const page = await browser!.newPage();
    await page.goto(`${base}/admin/secrets`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await page.click('button[type="submit"]');
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname, await page.content()).toBe("/admin/secrets");
    await page.screenshot({ path: join(ARTIFACTS, "secrets-index.png"), fullPage: true });
    await Promise.all([page.waitForURL(`${base}/admin/secrets/staging/billing`), page.click('a[href="/admin/secrets/staging/billing"]')]);
    expect(await page.textContent("#keys")).toContain("DB_PASSWORD");
    expect(await page.content()).not.toContain(SECRET);
    await page.screenshot({ path: join(ARTIFACTS, "secrets-masked.png"), fullPage: true });
    await Promise.all([page.waitForLoadState(), page.click("#reveal")]);
    expect(await page.textContent("#keys")).toContain(SECRET);
    await page.screenshot({ path: join(ARTIFACTS, "secrets-revealed.png"), fullPage: true });
    await Promise.all([page.waitForLoadState(), page.click("#issue-token")]);
    const token = (await page.textContent("#issued-token"))!.trim();
    await page.screenshot({ path: join(ARTIFACTS, "secrets-token.png"), fullPage: true });
    const read = await fetch(`${base}/api/secrets/staging/billing`, { headers: { authorization: `Bearer ${token}` } });
    expect(await read.json()).toMatchObject({ env: "staging", app: "billing", values: { DB_PASSWORD: SECRET } });
    const cookies = await page.context().cookies();
    expect(cookies.find((cookie) => cookie.name === "edge_ops_admin")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
  }, 60_000);
});
