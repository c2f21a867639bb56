// The status page (/admin) in a real headless Chromium (Debian's, through playwright-core)
// against `wrangler dev` with local storage of its own: known Aircall webhooks and bot questions
// are sent, then every figure on the page must equal what /api/metrics says (parsed by the
// Prometheus text parser, not by regex), the page must load nothing from elsewhere and break no
// CSP rule, and it must fit a phone's width. Screenshots at desktop and phone widths are kept in
// test/artifacts/ (gitignored). Skips, saying why, where Chromium is missing.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalWorker } from "../../scripts/bench/wrangler-run.ts";
import { parseExposition, valueOf, type MetricFamily } from "../support/prometheus-text.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test", "artifacts");
const available = existsSync(CHROMIUM);
if (!available) process.stderr.write(`status page browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)\n`);

const ADMIN_TOKEN = `admin-${crypto.randomUUID()}`;
const AIRCALL_TOKEN = `aircall-${crypto.randomUUID()}`;
const BOT_TOKEN = `bot-${crypto.randomUUID()}`;
const CALLS = 3;
const QUESTIONS = 2;

const startWorker = (vars: Record<string, string>) => startLocalWorker("status-browser", vars);

async function scrape(base: string): Promise<MetricFamily[]> {
  const response = await fetch(`${base}/api/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

let browser: Browser | undefined;
let worker: { base: string; stop(): Promise<void> } | undefined;

describe.skipIf(!available)("the status page in Chromium against wrangler dev", { shuffle: false }, () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [browser, worker] = await Promise.all([
      chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] }),
      startWorker({ ADMIN_TOKEN, AIRCALL_WEBHOOK_TOKENS: AIRCALL_TOKEN, ROCKETCHAT_BOT_TOKEN: BOT_TOKEN }),
    ]);
  }, 150_000);
  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
  });

  it("receives known webhooks and bot questions, and /api/metrics counts them", async () => {
    const { base } = worker!;
    for (let index = 0; index < CALLS; index += 1) {
      const id = 880_000_000 + index;
      const response = await fetch(`${base}/webhooks/aircall`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ resource: "call", event: "call.created", timestamp: Math.floor(Date.now() / 1000), token: AIRCALL_TOKEN, data: { id, direction: "inbound", status: "initial", started_at: 1_763_000_000, raw_digits: "+44 20 7946 0018" } }),
      });
      expect(response.status).toBe(200);
    }
    for (let index = 0; index < QUESTIONS; index += 1) {
      const response = await fetch(`${base}/rocketchat/bot`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: BOT_TOKEN, bot: false, trigger_word: "!ask", channel_id: "statusroom0000001", channel_name: "ops", message_id: `statusq${index}${crypto.randomUUID().slice(0, 8)}`, timestamp: new Date().toISOString(), user_id: "statususer000001", user_name: "ana", text: `!ask where is spare key number ${index}?` }),
      });
      expect(response.status).toBe(200);
    }
    // The intake queue's consumer processes the events off the response path, and the vectorize
    // queue's indexes their documents: wait for both, so the page and the API see a still system.
    const busy = (families: MetricFamily[]) => valueOf(families, "edgeops_intake_unprocessed_events") + valueOf(families, "edgeops_documents_stale") + valueOf(families, "edgeops_bot_questions_pending");
    let families = await scrape(base);
    for (let round = 0; round < 300 && busy(families) > 0; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      families = await scrape(base);
    }
    expect(busy(families)).toBe(0);
    expect(valueOf(families, "edgeops_webhook_events_received_total", { source: "aircall", type: "call.created" })).toBe(CALLS);
    expect(valueOf(families, "edgeops_webhook_events", { source: "aircall", status: "processed" })).toBe(CALLS);
    expect(valueOf(families, "edgeops_bot_questions_total") + valueOf(families, "edgeops_bot_questions_pending")).toBe(QUESTIONS);
  }, 60_000);

  it("shows the same figures as /api/metrics, loads nothing else, and fits a desktop and a phone", async () => {
    const { base } = worker!;
    for (const [name, options] of [
      ["desktop", { viewport: { width: 1280, height: 900 } }],
      ["phone", { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
    ] as const) {
      const context = await browser!.newContext({ ...options, extraHTTPHeaders: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const page = await context.newPage();
      const problems: string[] = [];
      const foreign: string[] = [];
      page.on("console", (message) => void (message.type() === "error" && problems.push(message.text())));
      page.on("request", (request) => void (!request.url().startsWith(base) && foreign.push(request.url())));
      const response = await page.goto(`${base}/admin`);
      expect(response?.status()).toBe(200);
      const figures = await page.$$eval("dd[data-metric]", (elements) =>
        elements.map((element) => ({ metric: element.getAttribute("data-metric") ?? "", labels: JSON.parse(element.getAttribute("data-labels") ?? "{}") as Record<string, string>, value: Number(element.textContent) })),
      );
      const api = await scrape(base);
      expect(figures.length).toBeGreaterThanOrEqual(15);
      for (const figure of figures) expect({ ...figure, value: valueOf(api, figure.metric, figure.labels) }).toEqual(figure);
      expect(figures).toContainEqual({ metric: "edgeops_webhook_events_received_total", labels: { source: "aircall" }, value: CALLS });
      expect(await page.locator("#chart-webhooks svg rect").count()).toBeGreaterThan(0);
      expect(await page.locator("#capabilities tr[data-capability]").count()).toBeGreaterThanOrEqual(9);
      // Nothing wider than the screen but the tables that scroll on their own.
      const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
      expect(overflow).toBeLessThanOrEqual(0);
      expect(problems).toEqual([]);
      expect(foreign).toEqual([]);
      await page.screenshot({ path: join(ARTIFACTS, `status-page-${name}.png`), fullPage: true });
      await context.close();
    }
    expect(existsSync(join(ARTIFACTS, "status-page-desktop.png"))).toBe(true);
    expect(existsSync(join(ARTIFACTS, "status-page-phone.png"))).toBe(true);
  }, 60_000);
});
