// /api/metrics and /admin: known webhooks and bot questions found again in the Prometheus
// exposition (parsed by a Prometheus text parser from the npm registry, never by regex) and on the
// status page; the rollup folding history into a few rows, and a scrape's D1 cost with 100,000
// events; METRICS_TOKEN opening this endpoint only; the page's door.
//
// Suites run shuffled and share this file's D1: every count is a difference measured around the
// test's own requests, or the series of an event type only this test sends.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { rollUpMetrics } from "../workers/metrics/rollup";
import { ROLLUP_SOURCE_NAMES } from "../workers/metrics/series";
import { readSnapshot, type MetricsSnapshot } from "../workers/metrics/snapshot";
import { attention } from "../workers/metrics/status-page";
import { capabilities } from "../workers/capabilities";
import { accessJwt } from "./support/access";
import { aircallEvent, callData, postAircall } from "./support/aircall";
import { ask } from "./support/bot";
import { countingD1, fetchWith, recordingQueue } from "./support/faults";
import { postGuesty } from "./support/guesty";
import { family, parseExposition, valueOf, type MetricFamily } from "./support/prometheus-text";
import { rocketChatId } from "./support/rocketchat";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };
const METRICS_TOKEN = "test-metrics-token-0123456789abcdef";

async function scrape(overrides: Partial<Env> = {}, headers: Record<string, string> = ADMIN): Promise<MetricFamily[]> {
  const response = await fetchWith(overrides, "http://admin/api/metrics", { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await response.text());
}

type PageFigure = { metric: string; labels: Record<string, string>; value: number };

/** The status page's figures (dd[data-metric]), read with workerd's HTML parser. */
async function pageFigures(response: Response): Promise<PageFigure[]> {
  const figures: PageFigure[] = [];
  let current: PageFigure | null = null;
  await new HTMLRewriter()
    .on("dd[data-metric]", {
      element(element) {
        // Attribute values come as written, entities and all.
        const labels = (element.getAttribute("data-labels") ?? "{}").replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
        current = { metric: element.getAttribute("data-metric") ?? "", labels: JSON.parse(labels) as Record<string, string>, value: 0 };
        figures.push(current);
      },
      text(chunk) {
        if (current && chunk.text.trim() !== "") current.value = Number(chunk.text.trim());
      },
    })
    .transform(response)
    .text();
  return figures;
}

/** What the bot's outcome label is for a question row (the view's CASE, restated). */
function outcomeOf(row: { status: string; mode: string | null }): string {
  if (row.status === "pending") return "pending";
  if (row.status === "failed" || row.mode === "error") return "failed";
  return ({ groq: "answered", extractive: "extractive", refusal: "refused", help: "help" } as Record<string, string>)[row.mode ?? ""] ?? "failed";
}

/**
 * Folds every table from the start, as the first ticks after a deploy do (the cursors back at 0,
 * the folded totals dropped): tests that place rows in the past call it after writing them.
 */
async function refoldFromScratch(chunkRows?: number) {
  await env.DB.batch([
    env.DB.prepare("DELETE FROM metric_rollups WHERE scope IN ('total', 'max', 'hour', 'day') AND json_extract(series, '$[0]') NOT IN ('alerts', 'alert_webhook_posts')"),
    env.DB.prepare("UPDATE metric_rollup_cursors SET rolled_until = 0"),
  ]);
  for (let round = 0; round < 10; round += 1) {
    const report = await rollUpMetrics(env, Date.now(), chunkRows ? { chunkRows } : {});
    if (report.folds.every((fold) => fold.caughtUp)) return;
  }
  throw new Error("the rollup did not catch up in ten rounds");
}

async function guestyEvent(type: string) {
  const response = await postGuesty({ id: `msg_${crypto.randomUUID()}`, body: { event: type, marker: crypto.randomUUID() } });
  expect(response.status).toBe(200);
}

describe("GET /api/metrics and /admin", () => {
  // 20 s: bot answers and the queues settling take a few seconds when four suites share two cores.
  it("count the webhooks and bot questions a test sends, the same in the exposition and on the page", async () => {
    const room = rocketChatId("r");
    const before = await scrape();
    const aircallBefore = valueOf(before, "edgeops_webhook_events_received_total", { source: "aircall", type: "call.created" });
    const guestyBefore = valueOf(before, "edgeops_webhook_events_received_total", { source: "guesty" });
    const outcomesBefore = Object.fromEntries(family(before, "edgeops_bot_questions_total").metrics.map((sample) => [sample.labels?.outcome ?? "", Number(sample.value)]));
    const goodBefore = valueOf(before, "edgeops_bot_feedback_total", { feedback: "good" });
    const histogramBefore = family(before, "edgeops_bot_answer_duration_seconds").metrics[0]!;

    // Three Guesty events of a type only this test sends (stored as ignored), two Aircall calls.
    const ownType = `metrics.known.${crypto.randomUUID().slice(0, 8)}`;
    for (let index = 0; index < 3; index += 1) await guestyEvent(ownType);
    for (const id of [Date.now() % 1_000_000_000, (Date.now() % 1_000_000_000) + 1]) {
      expect((await postAircall(aircallEvent("call.created", Math.floor(Date.now() / 1000), callData(id)))).status).toBe(200);
    }
    // Two questions and feedback on the first answer.
    const first = await ask("!ask zzmetrics which boiler shows error 42?", { roomId: room });
    const second = await ask("!ask zzmetrics where is the spare key?", { roomId: room });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect((await ask("!good", { roomId: room, tmid: first.messageId })).status).toBe(200);
    const rows = (
      await env.DB.prepare("SELECT status, mode, total_ms FROM bot_queries WHERE message_id IN (?, ?)").bind(first.messageId, second.messageId).all<{ status: string; mode: string | null; total_ms: number | null }>()
    ).results;
    expect(rows).toHaveLength(2);

    const after = await scrape();
    expect(valueOf(after, "edgeops_webhook_events_received_total", { source: "guesty", type: ownType })).toBe(3);
    expect(valueOf(after, "edgeops_webhook_events", { source: "guesty", type: ownType, status: "ignored" })).toBe(3);
    expect(valueOf(after, "edgeops_webhook_events_received_total", { source: "guesty" }) - guestyBefore).toBe(3);
    expect(valueOf(after, "edgeops_webhook_events_received_total", { source: "aircall", type: "call.created" }) - aircallBefore).toBe(2);
    expect(family(after, "edgeops_webhook_events_received_total").type).toBe("COUNTER");
    for (const row of rows) {
      const outcome = outcomeOf(row);
      if (outcome === "pending") continue;
      const expected = rows.filter((other) => outcomeOf(other) === outcome).length;
      expect(valueOf(after, "edgeops_bot_questions_total", { outcome }) - (outcomesBefore[outcome] ?? 0)).toBe(expected);
    }
    expect(valueOf(after, "edgeops_bot_feedback_total", { feedback: "good" }) - goodBefore).toBe(1);
    const histogram = family(after, "edgeops_bot_answer_duration_seconds");
    expect(histogram.type).toBe("HISTOGRAM");
    const timed = rows.filter((row) => row.status !== "pending" && row.total_ms !== null);
    expect(Number(histogram.metrics[0]!.count) - Number(histogramBefore.count)).toBe(timed.length);
    expect(Number(histogram.metrics[0]!.buckets!["+Inf"])).toBe(Number(histogram.metrics[0]!.count));

    // The page shows the same figures as a scrape made right after it, once the queues are idle
    // (the vectorize consumer indexes the calls' documents meanwhile).
    for (let round = 0; round < 200; round += 1) {
      const now = await scrape();
      if (valueOf(now, "edgeops_documents_stale") + valueOf(now, "edgeops_intake_unprocessed_events") === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const page = await exports.default.fetch("http://admin/admin", { headers: ADMIN });
    expect(page.status).toBe(200);
    const figures = await pageFigures(page);
    const api = await scrape();
    expect(figures.length).toBeGreaterThanOrEqual(15);
    for (const figure of figures) expect({ ...figure, value: valueOf(api, figure.metric, figure.labels) }).toEqual(figure);
    expect(figures.find((figure) => figure.metric === "edgeops_webhook_events_received_total" && figure.labels.source === "guesty")?.value).toBe(valueOf(after, "edgeops_webhook_events_received_total", { source: "guesty" }));
  }, 20_000);

  it("writes HELP and TYPE before every family, escapes label values, and ends its histogram at +Inf = count", async () => {
    // A vendor's event type is whatever its body says (up to 200 characters): quotes, a backslash, a line feed.
    const awkward = `metrics "quoted" \\ back\nslash ${crypto.randomUUID().slice(0, 8)}`;
    await guestyEvent(awkward);
    const response = await exports.default.fetch("http://admin/api/metrics", { headers: ADMIN });
    const text = await response.text();
    expect(text.endsWith("\n")).toBe(true);
    const families = parseExposition(text);
    expect(valueOf(families, "edgeops_webhook_events_received_total", { source: "guesty", type: awkward })).toBe(1);
    const lines = text.split("\n");
    const seen = new Set<string>();
    for (const [index, line] of lines.entries()) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
      if (!type) continue;
      const name = type[1]!;
      expect(seen.has(name)).toBe(false);
      seen.add(name);
      expect(lines[index - 1]).toMatch(new RegExp(`^# HELP ${name} \\S`));
    }
    expect(seen.size).toBe(families.length);
    const buckets = family(families, "edgeops_bot_answer_duration_seconds").metrics[0]!.buckets!;
    // Integer-like keys ("1", "5", "10") come first in a JS object whatever the text's order, so
    // order the samples by their bound before checking that the counts are cumulative.
    const samples = Object.entries(buckets)
      .map(([le, value]) => ({ bound: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), value: Number(value) }))
      .sort((a, b) => a.bound - b.bound);
    expect(samples.at(-1)!.bound).toBe(Number.POSITIVE_INFINITY);
    const values = samples.map((sample) => sample.value);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    const textOrder = [...text.matchAll(/^edgeops_bot_answer_duration_seconds_bucket\{le="([^"]+)"\}/gm)].map((match) => match[1]!);
    expect(textOrder).toEqual(samples.map((sample) => (sample.bound === Number.POSITIVE_INFINITY ? "+Inf" : textOrder.find((le) => Number(le) === sample.bound))));
  });

  it("reports each capability as configured (1), not configured (0) or misconfigured (-1)", async () => {
    const families = await scrape({ METRICS_TOKEN: "too-short", ALERT_WEBHOOK_URL: "" });
    expect(valueOf(families, "edgeops_capability_status", { capability: "adminApi" })).toBe(1);
    expect(valueOf(families, "edgeops_capability_status", { capability: "metrics" })).toBe(-1);
    expect(valueOf(families, "edgeops_capability_status", { capability: "alertWebhook" })).toBe(0);
    const page = await (await fetchWith({ METRICS_TOKEN: "too-short" }, "http://admin/admin", { headers: ADMIN })).text();
    expect(page).toContain("METRICS_TOKEN: must be at least 32 characters");
  });
});

describe("METRICS_TOKEN", () => {
  const withToken = { METRICS_TOKEN } satisfies Partial<Env>;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it("opens /api/metrics and nothing else", async () => {
    expect((await fetchWith(withToken, "http://admin/api/metrics", { headers: bearer(METRICS_TOKEN) })).status).toBe(200);
    for (const path of ["/api/events", "/api/vectorize/status", "/api/queries", "/api/backups", "/api/secrets/tokens"]) {
      expect((await fetchWith(withToken, `http://admin${path}`, { headers: bearer(METRICS_TOKEN) })).status, path).toBe(401);
    }
    expect((await fetchWith(withToken, "http://admin/admin", { headers: bearer(METRICS_TOKEN) })).status).toBe(401);
    expect((await fetchWith(withToken, "http://admin/admin/secrets", { headers: bearer(METRICS_TOKEN) })).status).toBe(401);
  });

  it("is refused when unset, wrong or too short; ADMIN_TOKEN scrapes all the same", async () => {
    expect((await fetchWith({}, "http://admin/api/metrics", { headers: bearer(METRICS_TOKEN) })).status).toBe(401);
    expect((await fetchWith(withToken, "http://admin/api/metrics", { headers: bearer(`${METRICS_TOKEN}x`) })).status).toBe(401);
    expect((await fetchWith(withToken, "http://admin/api/metrics")).status).toBe(401);
    const short = await fetchWith({ METRICS_TOKEN: "short-token" }, "http://admin/api/metrics", { headers: bearer("short-token") });
    expect(short.status).toBe(503);
    expect(((await short.json()) as { error: string }).error).toContain("METRICS_TOKEN");
    expect((await fetchWith({ METRICS_TOKEN: "short-token" }, "http://admin/api/metrics", { headers: ADMIN })).status).toBe(200);
    const closed = await fetchWith({ ADMIN_TOKEN: "", METRICS_TOKEN: "" }, "http://admin/api/metrics", { headers: ADMIN });
    expect(closed.status).toBe(503);
    expect(((await closed.json()) as { error: string }).error).toContain("ADMIN_TOKEN");
  });
});

describe("GET /admin", () => {
  it("has the secrets page's door: bearer or session without Access, an Access identity with it", async () => {
    const anonymous = await exports.default.fetch("http://admin/admin", { redirect: "manual" });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("location")).toBe("/admin/login");
    expect((await exports.default.fetch("http://admin/admin", { headers: { authorization: "Bearer wrong-token" } })).status).toBe(401);

    const access = { ACCESS_TEAM_DOMAIN: env.FAKE_ACCESS_URL, ACCESS_AUD: env.FAKE_ACCESS_AUD };
    expect((await fetchWith(access, "http://admin/admin", { headers: ADMIN })).status).toBe(403);
    const person = await fetchWith(access, "http://admin/admin", { headers: { "cf-access-jwt-assertion": await accessJwt({ email: "oncall@example.com" }, {}) } });
    expect(person.status).toBe(200);
    expect(await person.text()).toContain("oncall@example.com");
  });

  it("is self-contained: inline SVG charts, no script, a strict CSP, a reload, a phone viewport", async () => {
    const response = await exports.default.fetch("http://admin/admin", { headers: ADMIN });
    expect(response.headers.get("content-security-policy")).toBe("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const page = await response.text();
    for (const id of ["chart-webhooks", "chart-lag", "chart-answers", "capabilities", "attention"]) expect(page).toContain(`id="${id}"`);
    expect(page).toContain("<svg");
    expect(page).not.toMatch(/<script|src="http|href="http/i);
    expect(page).toContain('<meta http-equiv="refresh"');
    expect(page).toContain('name="viewport"');
  });
});

describe("the rollup", () => {
  it("folds the history into the same totals, and corrects them when a folded row changes", async () => {
    const type = `metrics.fold.${crypto.randomUUID().slice(0, 8)}`;
    const now = Date.now();
    const ids = Array.from({ length: 5 }, () => `guesty_${crypto.randomUUID()}`);
    // Five events received two days ago, still unprocessed.
    await env.DB.batch(
      ids.map((id, index) =>
        env.DB.prepare("INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES (?, 'guesty', ?, ?, 'received', '{}')").bind(id, type, now - 2 * 86_400_000 + index),
      ),
    );
    await refoldFromScratch();
    const cursors = (await env.DB.prepare("SELECT source, rolled_until FROM metric_rollup_cursors").all<{ source: string; rolled_until: number }>()).results;
    expect(cursors.map((row) => row.source).sort()).toEqual([...ROLLUP_SOURCE_NAMES].sort());
    const folded = await env.DB.prepare("SELECT value FROM metric_rollups WHERE scope = 'total' AND bucket = 0 AND series = json_array('webhook_events', 'guesty', ?, 'received')").bind(type).first<number>("value");
    expect(folded).toBe(5);
    let families = await scrape();
    expect(valueOf(families, "edgeops_webhook_events", { type, status: "received" })).toBe(5);

    // Two of them processed after the fold: the trigger moves them between statuses.
    await env.DB.prepare("UPDATE webhook_events SET status = 'processed' WHERE id IN (?, ?)").bind(ids[0], ids[1]).run();
    families = await scrape();
    expect(valueOf(families, "edgeops_webhook_events", { type, status: "received" })).toBe(3);
    expect(valueOf(families, "edgeops_webhook_events", { type, status: "processed" })).toBe(2);
    expect(valueOf(families, "edgeops_webhook_events_received_total", { type })).toBe(5);

    // And a fresh fold of everything agrees with the corrected totals.
    await refoldFromScratch();
    families = await scrape();
    expect(valueOf(families, "edgeops_webhook_events", { type, status: "received" })).toBe(3);
    expect(valueOf(families, "edgeops_webhook_events", { type, status: "processed" })).toBe(2);
  });

  it("corrects folded bot questions, backup runs and dead letters as they change", async () => {
    const day = 86_400_000;
    const now = Date.now();
    const query = crypto.randomUUID();
    const run = `run-${crypto.randomUUID()}`;
    const letter = `dl-${crypto.randomUUID()}`;
    await env.DB.batch([
      env.DB.prepare("INSERT INTO bot_queries (id, message_id, room_id, thread_id, question, status, mode, total_ms, created_at) VALUES (?, ?, 'r', 't', '?', 'answered', 'groq', 1500, ?)").bind(query, rocketChatId("m"), now - 3 * day),
      env.DB.prepare(
        "INSERT INTO backup_runs (id, kind, status, trigger, token_hash, server_name, created_at, deadline, server_created_at) VALUES (?, 'restore-test', 'running', 'cron', 'h', 's', ?, ?, ?)",
      ).bind(run, now - 2 * day, now - 2 * day + 3_600_000, now - 2 * day + 60_000),
      env.DB.prepare("INSERT INTO dead_letters (id, queue, body, attempts, dead_at) VALUES (?, 'edge-ops-vectorize', '{}', 6, ?)").bind(letter, now - day),
    ]);
    await refoldFromScratch();
    const before = await scrape();
    const partBefore = valueOf(before, "edgeops_backup_parts_total", { kind: "restore-test", part: "zz-fold-part", result: "failed" });

    await env.DB.batch([
      env.DB.prepare("UPDATE bot_queries SET feedback = 'bad', feedback_at = ? WHERE id = ?").bind(now, query),
      env.DB.prepare("UPDATE backup_runs SET status = 'partial', finished_at = ?, server_deleted_at = ?, parts = ? WHERE id = ?").bind(
        now - 2 * day + 1_800_000,
        now - 2 * day + 1_860_000,
        JSON.stringify([{ name: "zz-fold-part", kind: "path", ok: false, reason: "unreadable", bytes: 0, seconds: 1 }]),
        run,
      ),
      env.DB.prepare("UPDATE dead_letters SET replayed_at = ? WHERE id = ?").bind(now, letter),
    ]);
    const after = await scrape();
    expect(valueOf(after, "edgeops_bot_feedback_total", { feedback: "bad" }) - valueOf(before, "edgeops_bot_feedback_total", { feedback: "bad" })).toBe(1);
    expect(valueOf(after, "edgeops_bot_questions_total", { outcome: "answered" })).toBe(valueOf(before, "edgeops_bot_questions_total", { outcome: "answered" }));
    expect(valueOf(after, "edgeops_backup_runs_total", { kind: "restore-test", outcome: "partial" }) - valueOf(before, "edgeops_backup_runs_total", { kind: "restore-test", outcome: "partial" })).toBe(1);
    expect(valueOf(after, "edgeops_backup_runs_in_progress", { kind: "restore-test" }) - valueOf(before, "edgeops_backup_runs_in_progress", { kind: "restore-test" })).toBe(-1);
    expect(valueOf(after, "edgeops_backup_parts_total", { kind: "restore-test", part: "zz-fold-part", result: "failed" }) - partBefore).toBe(1);
    expect(valueOf(after, "edgeops_backup_server_seconds_total", { kind: "restore-test" }) - valueOf(before, "edgeops_backup_server_seconds_total", { kind: "restore-test" })).toBe(1800);
    expect(valueOf(after, "edgeops_dead_letters_open", { queue: "edge-ops-vectorize" }) - valueOf(before, "edgeops_dead_letters_open", { queue: "edge-ops-vectorize" })).toBe(-1);
    expect(valueOf(after, "edgeops_dead_letters_total", { queue: "edge-ops-vectorize" })).toBe(valueOf(before, "edgeops_dead_letters_total", { queue: "edge-ops-vectorize" }));
  });

  it("never folds a row twice when two ticks overlap", async () => {
    const type = `metrics.twice.${crypto.randomUUID().slice(0, 8)}`;
    const receivedAt = Date.now() - 86_400_000;
    await env.DB.prepare("INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES (?, 'guesty', ?, ?, 'ignored', '{}')").bind(`guesty_${crypto.randomUUID()}`, type, receivedAt).run();
    // Folding from just before this event: another test of this file may have stored 100,000
    // older events, whose series would otherwise fill the 200 points of this run.
    await env.DB.batch([
      env.DB.prepare("DELETE FROM metric_rollups WHERE scope IN ('total', 'max', 'hour', 'day') AND json_extract(series, '$[0]') NOT IN ('alerts', 'alert_webhook_posts')"),
      env.DB.prepare("UPDATE metric_rollup_cursors SET rolled_until = ?").bind(receivedAt - 1),
    ]);
    const now = Date.now();
    await Promise.all([rollUpMetrics(env, now), rollUpMetrics(env, now), rollUpMetrics(env, now)]);
    expect(valueOf(await scrape(), "edgeops_webhook_events_received_total", { type })).toBe(1);
  });

  it("writes what it folds to Analytics Engine when the binding is there, never more than 250 points a run", async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const analytics: AnalyticsEngineDataset = { writeDataPoint: (point) => void (point && points.push(point)) };
    const type = `metrics.ae.${crypto.randomUUID().slice(0, 8)}`;
    const receivedAt = Date.now() - 86_400_000;
    await env.DB.prepare("INSERT INTO webhook_events (id, source, type, received_at, status, payload) VALUES (?, 'guesty', ?, ?, 'ignored', '{}')").bind(`guesty_${crypto.randomUUID()}`, type, receivedAt).run();
    // Folding from just before this event: another test of this file may have stored 100,000
    // older events, whose series would otherwise fill the 200 points of this run.
    await env.DB.batch([
      env.DB.prepare("DELETE FROM metric_rollups WHERE scope IN ('total', 'max', 'hour', 'day') AND json_extract(series, '$[0]') NOT IN ('alerts', 'alert_webhook_posts')"),
      env.DB.prepare("UPDATE metric_rollup_cursors SET rolled_until = ?").bind(receivedAt - 1),
    ]);
    const report = await rollUpMetrics({ ...env, ANALYTICS: analytics }, Date.now());
    expect(report.analyticsPoints).toBe(points.length);
    expect(points.length).toBeLessThanOrEqual(250);
    expect(points).toContainEqual({ indexes: ["dev"], blobs: ["webhook_events", "guesty", type, "ignored"], doubles: [1] });
    expect(points.filter((point) => point.blobs?.[0] === "lag_seconds").map((point) => point.blobs?.[1])).toEqual(["intake", "vectorize", "bot"]);
  });
});

describe("what a scrape costs", () => {
  it("reads a bounded number of rows with 100,000 events in the history, and a webhook still costs one statement", async () => {
    // 100,000 events over the last 60 days, in ten types of this test's own.
    const prefix = `metrics.cost.${crypto.randomUUID().slice(0, 8)}`;
    const now = Date.now();
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
       INSERT INTO webhook_events (id, source, type, received_at, status, payload)
       SELECT ?1 || '-' || i, 'guesty', ?1 || '.' || (i % 10), ?2 - 3600000 - (i * 51840), CASE WHEN i % 7 = 0 THEN 'failed' ELSE 'processed' END, '{}' FROM n`,
    )
      .bind(prefix, now)
      .run();

    // Before any fold every one of them is read live: this is what the rollup saves.
    await env.DB.prepare("UPDATE metric_rollup_cursors SET rolled_until = 0").run();
    await env.DB.prepare("DELETE FROM metric_rollups WHERE scope IN ('total', 'max', 'hour', 'day') AND json_extract(series, '$[0]') NOT IN ('alerts', 'alert_webhook_posts')").run();
    const unfolded = await readSnapshot(env, capabilities);
    expect(unfolded.d1.rowsRead).toBeGreaterThan(100_000);

    // Folded (two chunks of 50,000), a scrape reads a few hundred rows.
    await refoldFromScratch(50_000);
    const counting = countingD1();
    const response = await fetchWith({ DB: counting.db }, "http://admin/api/metrics", { headers: ADMIN });
    expect(response.status).toBe(200);
    const families = parseExposition(await response.text());
    expect(valueOf(families, "edgeops_webhook_events_received_total", { source: "guesty" })).toBeGreaterThanOrEqual(100_000);
    let ours = 0;
    for (let type = 0; type < 10; type += 1) ours += valueOf(families, "edgeops_webhook_events_received_total", { type: `${prefix}.${type}` });
    expect(ours).toBe(100_000);
    expect(valueOf(families, "edgeops_webhook_events", { type: `${prefix}.0`, status: "failed" })).toBe(Math.ceil(10_000 / 7));
    // One batch of a fixed number of statements, and the capability checks' few reads.
    expect(counting.counts.batches).toBe(1);
    expect(counting.statements.length).toBeLessThanOrEqual(12);
    const rowsRead = valueOf(families, "edgeops_metrics_d1_rows_read");
    // The folded totals (a row per series) and the few live rows: not the 100,000.
    expect(rowsRead).toBeLessThan(500);

    // A webhook is still one D1 statement, and no trigger fires on its INSERT.
    const intake = countingD1();
    const delivered = await fetchWith(
      { DB: intake.db, INTAKE_QUEUE: recordingQueue().queue },
      "http://intake/webhooks/aircall",
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(aircallEvent("call.created", Math.floor(now / 1000), callData((now % 1_000_000_000) + 7))) },
    );
    expect(delivered.status).toBe(200);
    expect(intake.statements.filter((sql) => !/^select/i.test(sql.trim()))).toHaveLength(1);
    const insertTriggers = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('webhook_events', 'bot_queries') AND sql LIKE '%INSERT ON%'").all();
    expect(insertTriggers.results).toEqual([]);
  }, 60_000);
});

describe("the status page's attention list", () => {
  const calm: MetricsSnapshot = {
    now: Date.parse("2026-12-06T12:00:00Z"),
    env: "production",
    totals: [],
    maxima: [{ series: ["backup_last_done", "backup"], value: Date.parse("2026-12-06T03:30:00Z") }],
    cursors: { webhook_events: Date.parse("2026-12-06T11:48:00Z") },
    intakeOldestAt: null,
    documentsStale: 0,
    documentsOldestStaleAt: null,
    secretEnvs: [],
    capabilities: [{ name: "backups", variables: ["HCLOUD_TOKEN"], status: 1, degraded: false, problems: [] }],
    hours: [],
    days: [],
    samples: [],
    backups: [],
    alerts: [],
    d1: { queries: 0, rowsRead: 0 },
  };

  it("is empty when nothing is wrong, and names what an on-call operator must act on first", () => {
    expect(attention(calm)).toEqual([]);
    const hour = 3_600_000;
    const items = attention({
      ...calm,
      intakeOldestAt: calm.now - hour,
      totals: [{ series: ["dead_letters_open", "edge-ops-vectorize"], value: 2 }],
      maxima: [{ series: ["backup_last_done", "backup"], value: calm.now - 30 * hour }],
      backups: [{ id: "r1", kind: "backup", status: "partial", createdAt: calm.now - 9 * hour, finishedAt: calm.now - 8 * hour, parts: [{ name: "mongodb", ok: false, reason: "dump failed", seconds: 3 }, { name: "files", ok: true, reason: null, seconds: 9 }], error: null }],
      capabilities: [...calm.capabilities, { name: "alertWebhook", variables: ["ALERT_WEBHOOK_URL"], status: -1, degraded: false, problems: ["ALERT_WEBHOOK_URL: must be an https URL (http only to a loopback address)"] }],
      cursors: { webhook_events: calm.now - 2 * hour },
    });
    expect(items).toEqual([
      "Webhook intake behind: the oldest unprocessed event is 60 min old.",
      "alertWebhook is misconfigured: ALERT_WEBHOOK_URL: must be an https URL (http only to a loopback address).",
      "2 open dead letters on the vectorize queue.",
      "The last backup that ended done finished 30.0 h ago.",
      "The last backup run ended partial (failed: mongodb).",
      "The metrics rollup of webhook_events is behind: is the cron trigger running?",
    ]);
  });
});
