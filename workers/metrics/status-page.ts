// GET /admin: the operators' status page. The same door as the secrets page
// (access/operator.ts): a person's Cloudflare Access identity where Access is configured, else
// `Authorization: Bearer <ADMIN_TOKEN>` or the token login's session (no session: 302 to
// /admin/login). Server-rendered from the same snapshot as /api/metrics, charts as inline SVG, no
// script and no external resource (CSP default-src 'none'); it reloads itself every minute
// (meta refresh) and reflows to one column on a phone. What an on-call operator needs first
// comes first: the list of what needs attention, then the figures, the charts and the tables.
import { Hono, type Context as HonoContext } from "hono";
import { getCookie } from "hono/cookie";
import { html } from "hono/html";
import { readSession, SESSION_COOKIE } from "../access/admin-session";
import { identifyOperator } from "../access/operator";
import type { Capability } from "../config/capability";
import { EVENT_SOURCES } from "../db/schema";
import type { AppEnv } from "../http/app-env";
import { AppError } from "../http/errors";
import { logError, logWarn } from "../log";
import { secretsConfig } from "../secrets/config";
import { lineChart, stackedBars } from "./charts";
import { PREFIX } from "./exposition";
import { DAY_MS, HOUR_MS, MINUTE_MS, ROLLUP_SOURCE_NAMES, ROLLUP_SOURCES } from "./series";
import { PAGE_DAYS, PAGE_HOURS, PAGE_SAMPLE_HOURS, readSnapshot, type MetricsSnapshot } from "./snapshot";

export const REFRESH_SECONDS = 60;
/** Thresholds of the "needs attention" list. */
export const ATTENTION = {
  intakeLagSeconds: 10 * 60,
  vectorizeLagSeconds: 60 * 60,
  backupAgeSeconds: 26 * 3600,
  rollupLagSeconds: 30 * 60,
  alertWindowMs: DAY_MS,
} as const;

const COLORS: Record<string, string> = {
  aircall: "#2563eb",
  guesty: "#16a34a",
  rocketchat: "#dc2626",
  answered: "#16a34a",
  extractive: "#0891b2",
  refused: "#ca8a04",
  help: "#7c3aed",
  failed: "#dc2626",
  pending: "#9ca3af",
  intake: "#2563eb",
  vectorize: "#16a34a",
  bot: "#dc2626",
};
const BOT_OUTCOMES = ["answered", "extractive", "refused", "help", "failed", "pending"] as const;

type PageContext = HonoContext<AppEnv>;

const sum = (snapshot: MetricsSnapshot, match: (series: (string | null)[]) => boolean) =>
  snapshot.totals.filter((row) => match(row.series)).reduce((total, row) => total + row.value, 0);

export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/** A figure on the page, tied to the metric (and labels) /api/metrics exposes it as. */
type Figure = { label: string; metric: string; labels: Record<string, string>; value: number; text?: string };

export function keyFigures(snapshot: MetricsSnapshot): { group: string; figures: Figure[] }[] {
  const events = (source: string) => sum(snapshot, (series) => series[0] === "webhook_events" && series[1] === source);
  const unprocessed = sum(snapshot, (series) => series[0] === "webhook_events" && series[3] === "received");
  const open = (queue: string) => sum(snapshot, (series) => series[0] === "dead_letters_open" && series[1] === queue);
  const outcome = (name: string) => sum(snapshot, (series) => series[0] === "bot_questions" && series[1] === name);
  const feedback = (name: string) => sum(snapshot, (series) => series[0] === "bot_feedback" && series[1] === name);
  const backups = (status: string) => sum(snapshot, (series) => series[0] === "backup_runs" && series[1] === "backup" && series[2] === status);
  return [
    {
      group: "Webhooks",
      figures: [
        ...EVENT_SOURCES.map((source) => ({ label: `Received · ${source}`, metric: "webhook_events_received_total", labels: { source }, value: events(source) })),
        { label: "Not yet processed", metric: "intake_unprocessed_events", labels: {}, value: unprocessed },
      ],
    },
    {
      group: "Indexing",
      figures: [
        { label: "Stale documents", metric: "documents_stale", labels: {}, value: snapshot.documentsStale },
        { label: "Dead letters open · vectorize", metric: "dead_letters_open", labels: { queue: "edge-ops-vectorize" }, value: open("edge-ops-vectorize") },
        { label: "Dead letters open · bot", metric: "dead_letters_open", labels: { queue: "edge-ops-bot" }, value: open("edge-ops-bot") },
      ],
    },
    {
      group: "Bot",
      figures: [
        ...(["answered", "extractive", "refused", "help", "failed"] as const).map((name) => ({ label: `Questions · ${name}`, metric: "bot_questions_total", labels: { outcome: name }, value: outcome(name) })),
        { label: "Questions · pending", metric: "bot_questions_pending", labels: {}, value: outcome("pending") },
        { label: "Feedback · good", metric: "bot_feedback_total", labels: { feedback: "good" }, value: feedback("good") },
        { label: "Feedback · bad", metric: "bot_feedback_total", labels: { feedback: "bad" }, value: feedback("bad") },
      ],
    },
    {
      group: "Backups",
      figures: (["done", "partial", "failed"] as const).map((status) => ({ label: `Runs · ${status}`, metric: "backup_runs_total", labels: { kind: "backup", outcome: status }, value: backups(status) })),
    },
  ];
}

/** What an on-call operator should look at, most urgent first; [] when nothing. */
export function attention(snapshot: MetricsSnapshot): string[] {
  const items: string[] = [];
  const now = snapshot.now;
  const ageOf = (at: number | null) => (at === null ? 0 : (now - at) / 1000);
  const edge = edgeAttention(snapshot);
  items.push(...edge.hostsDown);
  const intakeAge = ageOf(snapshot.intakeOldestAt);
  if (intakeAge > ATTENTION.intakeLagSeconds) items.push(`Webhook intake behind: the oldest unprocessed event is ${duration(intakeAge)} old.`);
  const misconfigured = snapshot.capabilities.filter((row) => row.status === -1);
  for (const row of misconfigured) items.push(`${row.name} is misconfigured: ${row.problems.join("; ")}.`);
  items.push(...edge.originsDown);
  for (const [queue, label] of [["edge-ops-vectorize", "vectorize"], ["edge-ops-bot", "bot"]] as const) {
    const open = sum(snapshot, (series) => series[0] === "dead_letters_open" && series[1] === queue);
    if (open > 0) items.push(`${open} open dead letter${open === 1 ? "" : "s"} on the ${label} queue.`);
  }
  const backupsOn = snapshot.capabilities.some((row) => row.name === "backups" && row.status === 1);
  const lastDone = snapshot.maxima.find((row) => row.series[0] === "backup_last_done" && row.series[1] === "backup")?.value ?? null;
  if (backupsOn && (lastDone === null || ageOf(lastDone) > ATTENTION.backupAgeSeconds)) items.push(lastDone === null ? "No backup run has ended done yet." : `The last backup that ended done finished ${duration(ageOf(lastDone))} ago.`);
  const lastRun = snapshot.backups.find((run) => run.kind === "backup" && ["done", "partial", "failed"].includes(run.status));
  if (lastRun && lastRun.status !== "done") {
    const failed = lastRun.parts.filter((part) => !part.ok).map((part) => part.name);
    items.push(`The last backup run ended ${lastRun.status}${failed.length > 0 ? ` (failed: ${failed.join(", ")})` : ""}.`);
  }
  const vectorizeAge = ageOf(snapshot.documentsOldestStaleAt);
  if (vectorizeAge > ATTENTION.vectorizeLagSeconds) items.push(`Indexing behind: ${snapshot.documentsStale} stale documents, the oldest changed ${duration(vectorizeAge)} ago.`);
  for (const row of snapshot.capabilities.filter((entry) => entry.degraded)) items.push(`${row.name} is degraded: ${row.problems.join("; ")}.`);
  const recent = snapshot.alerts.filter((alert) => alert.at >= now - ATTENTION.alertWindowMs);
  if (recent.length > 0) items.push(`${recent.length}${recent.length === snapshot.alerts.length ? "" : "+"} alert${recent.length === 1 ? "" : "s"} in the last 24 h; the latest: ${recent[0]!.message}.`);
  // A cursor trails by its live window; beyond that the cron job has stopped (0: never ran, as under wrangler dev).
  for (const table of ROLLUP_SOURCE_NAMES) {
    const cursor = snapshot.cursors[table] ?? 0;
    if (cursor > 0 && (now - cursor) / 1000 > ROLLUP_SOURCES[table].liveMs / 1000 + ATTENTION.rollupLagSeconds) items.push(`The metrics rollup of ${table} is behind: is the cron trigger running?`);
  }
  return items;
}

/** Edge routing: hosts with every origin down (their visitors get the 503 page), then single origins down. */
function edgeAttention(snapshot: MetricsSnapshot): { hostsDown: string[]; originsDown: string[] } {
  const rows = snapshot.edgeOrigins ?? [];
  const hosts = [...new Set(rows.map((row) => row.host))];
  const allDown = new Set(hosts.filter((host) => rows.filter((row) => row.host === host).every((row) => row.state === "down")));
  return {
    hostsDown: [...allDown].map((host) => `${host}: every origin is down; visitors get the 503 page.`),
    originsDown: rows
      .filter((row) => row.state === "down" && !allDown.has(row.host))
      .map((row) => `${row.host}: ${row.pool} origin ${row.origin} is down${row.reason ? ` (${row.reason})` : ""}${row.since === null ? "" : ` since ${duration((snapshot.now - row.since) / 1000)}`}.`),
  };
}

function edgeTable(snapshot: MetricsSnapshot) {
  const rows = snapshot.edgeOrigins ?? [];
  const css = { healthy: "status-done", down: "status-failed", unknown: "status-partial" } as const;
  return html`<div class="scroll"><table id="edge-origins">
    <thead><tr><th>Host</th><th>Origin</th><th>Pool</th><th>State</th><th>Since</th><th>Last check</th><th>Why down</th></tr></thead>
    <tbody>${rows.map(
      (row) => html`<tr data-host="${row.host}" data-origin="${row.origin}" data-state="${row.state}">
        <td>${row.host}</td><td>${row.origin}</td><td>${row.pool}</td>
        <td class="${css[row.state]}">${row.state === "unknown" ? "no verdict yet" : row.state}</td>
        <td>${row.since === null ? "–" : `${duration((snapshot.now - row.since) / 1000)} ago`}</td>
        <td>${row.checkedAt === null ? "–" : `${duration((snapshot.now - row.checkedAt) / 1000)} ago`}</td>
        <td>${row.reason ?? "–"}</td>
      </tr>`,
    )}</tbody></table></div>`;
}

function webhooksChart(snapshot: MetricsSnapshot) {
  const firstHour = Math.floor(snapshot.now / HOUR_MS) - PAGE_HOURS + 1;
  const hours = Array.from({ length: PAGE_HOURS }, (_, index) => firstHour + index);
  const series = EVENT_SOURCES.map((source) => ({
    name: source,
    color: COLORS[source] ?? "#6b7280",
    values: hours.map((hour) => snapshot.hours.filter((row) => row.bucket === hour && row.series[0] === "webhook_hour" && row.series[1] === source).reduce((total, row) => total + row.value, 0)),
  }));
  return stackedBars("chart-webhooks", "Webhooks per hour by source, last 48 hours (UTC)", hours.map((hour) => hhmm(hour * HOUR_MS)), series, { labelEvery: 6 });
}

function lagChart(snapshot: MetricsSnapshot) {
  const from = snapshot.now - PAGE_SAMPLE_HOURS * HOUR_MS;
  const series = (["intake", "vectorize", "bot"] as const).map((queue) => ({
    name: `${queue} lag`,
    color: COLORS[queue] ?? "#6b7280",
    points: snapshot.samples
      .filter((row) => row.series[0] === "lag_seconds" && row.series[1] === queue)
      .map((row) => ({ x: row.bucket * MINUTE_MS, y: row.value }))
      .sort((a, b) => a.x - b.x),
  }));
  return lineChart("chart-lag", "Queue lag, last 24 hours (UTC)", from, snapshot.now, series, duration, hhmm);
}

function answersChart(snapshot: MetricsSnapshot) {
  const firstDay = Math.floor(snapshot.now / DAY_MS) - PAGE_DAYS + 1;
  const days = Array.from({ length: PAGE_DAYS }, (_, index) => firstDay + index);
  const of = (name: string, value: string, day: number) => snapshot.days.filter((row) => row.bucket === day && row.series[0] === name && row.series[1] === value).reduce((total, row) => total + row.value, 0);
  const series = BOT_OUTCOMES.map((outcome) => ({ name: outcome, color: COLORS[outcome] ?? "#6b7280", values: days.map((day) => of("bot_day", outcome, day)) }));
  const labels = days.map((day) => iso(day * DAY_MS).slice(5, 10));
  return html`${stackedBars("chart-answers", "Bot questions per day by outcome, last 14 days (UTC)", labels, series, { labelEvery: 2 })}
    <div class="scroll"><table id="feedback-per-day">
      <thead><tr><th>Day</th>${labels.map((label) => html`<th>${label}</th>`)}</tr></thead>
      <tbody>
        <tr><th>good</th>${days.map((day) => html`<td>${of("bot_day_feedback", "good", day)}</td>`)}</tr>
        <tr><th>bad</th>${days.map((day) => html`<td>${of("bot_day_feedback", "bad", day)}</td>`)}</tr>
      </tbody>
    </table></div>`;
}

function backupsTable(snapshot: MetricsSnapshot) {
  if (snapshot.backups.length === 0) return html`<p>No backup run yet.</p>`;
  return html`<div class="scroll"><table id="backups">
    <thead><tr><th>Started</th><th>Kind</th><th>Status</th><th>Took</th><th>Parts</th></tr></thead>
    <tbody>${snapshot.backups.map(
      (run) => html`<tr data-run="${run.id}">
        <td>${iso(run.createdAt)}</td><td>${run.kind}</td><td class="status-${run.status}">${run.status}</td>
        <td>${run.finishedAt === null ? "–" : duration((run.finishedAt - run.createdAt) / 1000)}</td>
        <td>${run.parts.length === 0 ? (run.error ?? "–") : run.parts.map((part) => html`<span class="part ${part.ok ? "ok" : "bad"}" title="${part.reason ?? ""}">${part.ok ? "✓" : "✗"} ${part.name}${part.ok ? "" : part.reason ? `: ${part.reason}` : ""}</span> `)}</td>
      </tr>`,
    )}</tbody></table></div>`;
}

function capabilitiesTable(snapshot: MetricsSnapshot) {
  const label = (status: 1 | 0 | -1, degraded: boolean) => (status === -1 ? "misconfigured" : status === 0 ? "not configured" : degraded ? "degraded" : "configured");
  return html`<div class="scroll"><table id="capabilities">
    <thead><tr><th>Capability</th><th>Status</th><th>What is missing</th></tr></thead>
    <tbody>${snapshot.capabilities.map(
      (row) => html`<tr data-capability="${row.name}" data-status="${row.status}">
        <td>${row.name}</td><td class="cap-${label(row.status, row.degraded).replace(" ", "-")}">${label(row.status, row.degraded)}</td>
        <td>${row.problems.length > 0 ? row.problems.join("; ") : row.status === 0 ? `set ${row.variables.join(", ")} to turn it on` : "–"}</td>
      </tr>`,
    )}</tbody></table></div>`;
}

function alertsTable(snapshot: MetricsSnapshot) {
  if (snapshot.alerts.length === 0) return html`<p>No alert in the last seven days.</p>`;
  return html`<div class="scroll"><table id="alerts">
    <thead><tr><th>When</th><th>Alert</th><th>Details</th><th>Webhook</th></tr></thead>
    <tbody>${snapshot.alerts.map(
      (alert) => html`<tr>
        <td>${iso(alert.at)}</td><td>${alert.message}</td>
        <td>${Object.entries(alert.fields)
          .filter(([, value]) => value !== null)
          .map(([key, value]) => `${key}: ${String(value)}`)
          .join(", ")}</td>
        <td>${alert.delivery}</td>
      </tr>`,
    )}</tbody></table></div>`;
}

const STYLE = `
  body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
  header p { margin: .2rem 0; color: #555; }
  h2 { margin: 1.6rem 0 .5rem; font-size: 1.15rem; }
  #attention { background: #fff4e5; border-left: 4px solid #d97706; padding: .6rem 1rem; border-radius: 4px; }
  #attention.calm { background: #ecfdf5; border-color: #059669; }
  #attention ul { margin: .3rem 0; padding-left: 1.2rem; }
  .groups { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: .8rem; }
  .group { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .8rem; }
  .group h3 { margin: 0 0 .3rem; font-size: 1rem; }
  .group dl { display: grid; grid-template-columns: 1fr auto; margin: 0; gap: .15rem .8rem; }
  .group dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; text-align: right; }
  figure { margin: 0; }
  svg.chart { width: 100%; height: auto; font: 12px system-ui, sans-serif; fill: #555; }
  svg.chart .axis { stroke: #bbb; }
  .legend span { margin-right: .8rem; white-space: nowrap; }
  .legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -1px; border-radius: 2px; }
  .scroll { overflow-x: auto; }
  table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e5e5e5; vertical-align: top; }
  .status-done, .cap-configured, .part.ok { color: #15803d; }
  .status-partial, .cap-degraded, .cap-not-configured { color: #a16207; }
  .status-failed, .cap-misconfigured, .part.bad { color: #b91c1c; }
  .part { display: inline-block; margin-right: .5rem; }
  @media (max-width: 40rem) { body { margin: .8rem auto; font-size: 14px; } th, td { padding: .25rem .35rem; } svg.chart { font-size: 20px; } }
`;

export function renderStatusPage(snapshot: MetricsSnapshot, who: string) {
  const items = attention(snapshot);
  const groups = keyFigures(snapshot);
  const intakeAge = snapshot.intakeOldestAt === null ? 0 : (snapshot.now - snapshot.intakeOldestAt) / 1000;
  const vectorizeAge = snapshot.documentsOldestStaleAt === null ? 0 : (snapshot.now - snapshot.documentsOldestStaleAt) / 1000;
  const lastDone = snapshot.maxima.find((row) => row.series[0] === "backup_last_done" && row.series[1] === "backup")?.value ?? null;
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <meta http-equiv="refresh" content="${REFRESH_SECONDS}" />
    <title>Status · edge-ops ${snapshot.env}</title>
    <style>${STYLE}</style>
  </head>
  <body>
    <header>
      <h1>edge-ops status <small>(${snapshot.env})</small></h1>
      <p>As of <time id="generated" datetime="${iso(snapshot.now)}">${iso(snapshot.now)}</time>; reloads every ${REFRESH_SECONDS} s. Signed in as <span id="operator">${who}</span>.</p>
      <p><a href="/admin/secrets">Secrets</a> · <a href="/healthz">/healthz</a> · Prometheus: <code>/api/metrics</code></p>
    </header>

    <section id="attention" class="${items.length === 0 ? "calm" : ""}">
      ${items.length === 0 ? html`<p><strong>Nothing needs attention.</strong></p>` : html`<p><strong>Needs attention</strong></p><ul>${items.map((item) => html`<li>${item}</li>`)}</ul>`}
    </section>

    <h2>Figures</h2>
    <div class="groups" id="figures">
      ${groups.map(
        (group) => html`<div class="group"><h3>${group.group}</h3><dl>
          ${group.figures.map((figure) => html`<dt>${figure.label}</dt><dd data-metric="${PREFIX}${figure.metric}" data-labels="${JSON.stringify(figure.labels)}">${figure.value}</dd>`)}
        </dl></div>`,
      )}
      <div class="group"><h3>Lags</h3><dl>
        <dt>Oldest unprocessed event</dt><dd id="intake-lag">${snapshot.intakeOldestAt === null ? "none" : duration(intakeAge)}</dd>
        <dt>Oldest stale document</dt><dd id="vectorize-lag">${snapshot.documentsOldestStaleAt === null ? "none" : duration(vectorizeAge)}</dd>
        <dt>Last backup done</dt><dd id="backup-age">${lastDone === null ? "never" : `${duration((snapshot.now - lastDone) / 1000)} ago`}</dd>
        ${snapshot.secretEnvs.map((row) => html`<dt>Secrets ${row.env} (${row.sets} sets)</dt><dd>${duration((snapshot.now - row.lastUpdatedAt) / 1000)} ago</dd>`)}
      </dl></div>
    </div>

    <h2>Webhooks per hour</h2>
    ${webhooksChart(snapshot)}
    <h2>Queue lag</h2>
    ${lagChart(snapshot)}
    <h2>Bot answers per day, with feedback</h2>
    ${answersChart(snapshot)}
    <h2>Last backups</h2>
    ${backupsTable(snapshot)}
    ${(snapshot.edgeOrigins ?? []).length === 0 ? "" : html`<h2>Edge routing</h2>
    ${edgeTable(snapshot)}`}
    <h2>Capabilities</h2>
    ${capabilitiesTable(snapshot)}
    <h2>Recent alerts</h2>
    ${alertsTable(snapshot)}
  </body>
</html>`;
}

const errorPage = (status: number, message: string) => html`<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" /><title>Status · ${status}</title></head>
<body><h1>${status >= 500 ? "Unavailable" : "Refused"}</h1><p id="reason">${message}</p></body></html>`;

const securityHeaders = (c: PageContext) => {
  c.header("Cache-Control", "no-store");
  c.header("X-Frame-Options", "DENY");
  c.header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
};

export function statusPageRoutes(capabilities: Readonly<Record<string, Capability<unknown>>>) {
  const routes = new Hono<AppEnv>();
  routes.get("/", async (c) => {
    securityHeaders(c);
    try {
      const check = await identifyOperator(c.env, c.req.raw.headers, {
        session: async () => {
          const secrets = await secretsConfig.loadIfConfigured(c.env);
          // Without the secrets store there are no token-login sessions: the bearer still works.
          return secrets ? await readSession(c.env.DB, secrets.sessionKeys, getCookie(c, SESSION_COOKIE)) : null;
        },
      });
      if (!check.ok) {
        if (check.login) return c.redirect("/admin/login", 302);
        logWarn("status page refused", { requestId: c.get("requestId"), status: check.status });
        return c.html(errorPage(check.status, check.reason), check.status);
      }
      const snapshot = await readSnapshot(c.env, capabilities, { page: true });
      return c.html(renderStatusPage(snapshot, check.operator.actor));
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      (error.status >= 500 ? logError : logWarn)("request failed", { requestId: c.get("requestId"), path: c.req.path, status: error.status, reason: error.internalReason });
      c.set("outcome", error.status >= 500 ? "failed" : "invalid");
      return c.html(errorPage(error.status, error.publicMessage), error.status);
    }
  });
  return routes;
}
