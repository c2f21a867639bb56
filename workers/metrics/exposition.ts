// The snapshot in the Prometheus text exposition format, version 0.0.4. Checked against the
// format's specification (prometheus/docs content/docs/instrumenting/exposition_formats.md,
// "Text format details", commit 005490b, read 2026-12-06): a family's HELP and TYPE lines come
// before its samples, which form one uninterrupted group; HELP escapes `\` and line feed; label
// values escape `\`, `"` and line feed; a histogram has cumulative `_bucket{le}` samples in
// increasing order ending with le="+Inf" equal to `_count`, plus `_sum`; values are Go floats
// (`+Inf`, `-Inf`, `NaN`); the last line ends with a line feed. docs/metrics.md lists every family.
import type { MetricsSnapshot } from "./snapshot";
import { BOT_LATENCY_BOUNDS } from "./series";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const PREFIX = "edgeops_";

type Labels = Record<string, string>;
type Sample = { suffix?: string; labels?: Labels; value: number };
type FamilyType = "counter" | "gauge" | "histogram";

export const escapeLabelValue = (value: string) => value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
export const escapeHelp = (value: string) => value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

class Exposition {
  private readonly lines: string[] = [];
  family(name: string, type: FamilyType, help: string, samples: readonly Sample[]): void {
    const full = `${PREFIX}${name}`;
    this.lines.push(`# HELP ${full} ${escapeHelp(help)}`, `# TYPE ${full} ${type}`);
    for (const sample of samples) {
      const labels = Object.entries(sample.labels ?? {});
      const labelText = labels.length > 0 ? `{${labels.map(([key, value]) => `${key}="${escapeLabelValue(value)}"`).join(",")}}` : "";
      this.lines.push(`${full}${sample.suffix ?? ""}${labelText} ${formatValue(sample.value)}`);
    }
  }
  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

const seconds = (ms: number) => ms / 1000;
const label = (value: string | null | undefined) => value ?? "";

/** Total series whose name is `name`, as [label values, value]. */
function seriesNamed(snapshot: MetricsSnapshot, name: string, from: "totals" | "maxima" = "totals"): { labels: (string | null)[]; value: number }[] {
  return snapshot[from].filter((row) => row.series[0] === name).map((row) => ({ labels: row.series.slice(1), value: row.value }));
}

/** Sums by the label values `pick` keeps; `always` lists keys present even at 0. */
function sumBy(rows: { labels: (string | null)[]; value: number }[], pick: (labels: (string | null)[]) => string[] | null, always: string[][] = []): Map<string, { labels: string[]; value: number }> {
  const out = new Map<string, { labels: string[]; value: number }>();
  for (const labels of always) out.set(JSON.stringify(labels), { labels, value: 0 });
  for (const row of rows) {
    const labels = pick(row.labels);
    if (!labels) continue;
    const key = JSON.stringify(labels);
    const entry = out.get(key) ?? { labels, value: 0 };
    entry.value += row.value;
    out.set(key, entry);
  }
  return out;
}

const BOT_OUTCOMES = ["answered", "extractive", "refused", "help", "failed"];
const BACKUP_KINDS = ["backup", "restore-test"];
const BACKUP_OUTCOMES = ["done", "partial", "failed"];
const DEAD_LETTER_QUEUES = ["edge-ops-vectorize", "edge-ops-bot"];
const ALERT_DELIVERIES = ["posted", "failed", "suppressed"];

export function renderExposition(snapshot: MetricsSnapshot): string {
  const out = new Exposition();
  const now = snapshot.now;

  // ---- webhook intake
  const events = seriesNamed(snapshot, "webhook_events");
  const received = sumBy(events, ([source, type]) => [label(source), label(type)]);
  out.family("webhook_events_received_total", "counter", "Webhook events stored, by source and event type (a duplicate delivery is stored once).", [...received.values()].map(({ labels: [source, type], value }) => ({ labels: { source: source!, type: type! }, value })));
  out.family(
    "webhook_events",
    "gauge",
    "Stored webhook events by current status: received (not yet processed), processed, ignored, failed.",
    events.map(({ labels: [source, type, status], value }) => ({ labels: { source: label(source), type: label(type), status: label(status) }, value })),
  );
  out.family("intake_unprocessed_events", "gauge", "Webhook events still received, not yet processed.", [{ value: events.filter((row) => row.labels[2] === "received").reduce((sum, row) => sum + row.value, 0) }]);
  out.family("intake_oldest_unprocessed_age_seconds", "gauge", "Age of the oldest webhook event not yet processed; 0 when none.", [{ value: snapshot.intakeOldestAt === null ? 0 : Math.max(0, seconds(now - snapshot.intakeOldestAt)) }]);

  // ---- documents
  out.family("documents_stale", "gauge", "Documents whose indexed text is not their current text.", [{ value: snapshot.documentsStale }]);
  out.family("vectorize_lag_seconds", "gauge", "Age of the oldest stale document since its last change; 0 when none.", [{ value: snapshot.documentsOldestStaleAt === null ? 0 : Math.max(0, seconds(now - snapshot.documentsOldestStaleAt)) }]);

  // ---- dead letters
  const queues = DEAD_LETTER_QUEUES.map((queue) => [queue]);
  const deadOpen = sumBy(seriesNamed(snapshot, "dead_letters_open"), ([queue]) => [label(queue)], queues);
  const deadTotal = sumBy(seriesNamed(snapshot, "dead_letters"), ([queue]) => [label(queue)], queues);
  out.family("dead_letters_open", "gauge", "Dead letters neither replayed nor closed, by queue.", [...deadOpen.values()].map(({ labels: [queue], value }) => ({ labels: { queue: queue! }, value })));
  out.family("dead_letters_total", "counter", "Dead letters recorded, by queue.", [...deadTotal.values()].map(({ labels: [queue], value }) => ({ labels: { queue: queue! }, value })));

  // ---- bot
  const questions = seriesNamed(snapshot, "bot_questions");
  const outcomes = sumBy(questions, ([outcome]) => (outcome === "pending" ? null : [label(outcome)]), BOT_OUTCOMES.map((outcome) => [outcome]));
  out.family("bot_questions_total", "counter", "Questions to the bot with an outcome: answered (model answer), extractive, refused, help, failed.", [...outcomes.values()].map(({ labels: [outcome], value }) => ({ labels: { outcome: outcome! }, value })));
  out.family("bot_questions_pending", "gauge", "Questions to the bot without an outcome yet.", [{ value: questions.filter((row) => row.labels[0] === "pending").reduce((sum, row) => sum + row.value, 0) }]);
  const latency = sumBy(seriesNamed(snapshot, "bot_latency"), ([le]) => [label(le)]);
  let cumulative = 0;
  const buckets: Sample[] = [];
  for (const le of [...BOT_LATENCY_BOUNDS, "+Inf"]) {
    cumulative += latency.get(JSON.stringify([le]))?.value ?? 0;
    buckets.push({ suffix: "_bucket", labels: { le }, value: cumulative });
  }
  const latencySumMs = seriesNamed(snapshot, "bot_latency_ms_sum").reduce((sum, row) => sum + row.value, 0);
  out.family("bot_answer_duration_seconds", "histogram", "Time from a question to its answer (or its honest failure), for questions with an outcome.", [
    ...buckets,
    { suffix: "_sum", value: seconds(latencySumMs) },
    { suffix: "_count", value: cumulative },
  ]);
  const tokens = sumBy(seriesNamed(snapshot, "bot_tokens"), ([kind]) => [label(kind)], [["prompt"], ["completion"]]);
  out.family("bot_tokens_total", "counter", "Language model tokens the bot's answers used, by kind.", [...tokens.values()].map(({ labels: [kind], value }) => ({ labels: { kind: kind! }, value })));
  const feedback = sumBy(seriesNamed(snapshot, "bot_feedback"), ([value]) => [label(value)], [["good"], ["bad"]]);
  out.family("bot_feedback_total", "counter", "Feedback on the bot's answers, good or bad.", [...feedback.values()].map(({ labels: [value], value: count }) => ({ labels: { feedback: value! }, value: count })));

  // ---- backups
  const runs = seriesNamed(snapshot, "backup_runs");
  const finished = sumBy(runs, ([kind, status]) => (BACKUP_OUTCOMES.includes(label(status)) ? [label(kind), label(status)] : null), BACKUP_KINDS.flatMap((kind) => BACKUP_OUTCOMES.map((outcome) => [kind, outcome])));
  out.family("backup_runs_total", "counter", "Backup runs finished, by kind and outcome (done, partial, failed).", [...finished.values()].map(({ labels: [kind, outcome], value }) => ({ labels: { kind: kind!, outcome: outcome! }, value })));
  const inProgress = sumBy(runs, ([kind, status]) => (BACKUP_OUTCOMES.includes(label(status)) ? null : [label(kind)]), BACKUP_KINDS.map((kind) => [kind]));
  out.family("backup_runs_in_progress", "gauge", "Backup runs not finished yet, by kind.", [...inProgress.values()].map(({ labels: [kind], value }) => ({ labels: { kind: kind! }, value })));
  const parts = sumBy(seriesNamed(snapshot, "backup_parts"), ([kind, part, result]) => [label(kind), label(part), label(result)]);
  out.family("backup_parts_total", "counter", "Parts of backup runs as the runner reported them, by kind, part (target name) and result.", [...parts.values()].map(({ labels: [kind, part, result], value }) => ({ labels: { kind: kind!, part: part!, result: result! }, value })));
  const serverMs = sumBy(seriesNamed(snapshot, "backup_server_ms"), ([kind]) => [label(kind)], BACKUP_KINDS.map((kind) => [kind]));
  out.family("backup_server_seconds_total", "counter", "Seconds backup servers existed, from creation to deletion, by kind.", [...serverMs.values()].map(({ labels: [kind], value }) => ({ labels: { kind: kind! }, value: seconds(value) })));
  const lastDone = new Map(seriesNamed(snapshot, "backup_last_done", "maxima").map((row) => [label(row.labels[0]), row.value]));
  out.family("backup_last_done_timestamp_seconds", "gauge", "When the last backup run ending done finished (Unix seconds), by kind; 0 when never.", BACKUP_KINDS.map((kind) => ({ labels: { kind }, value: seconds(lastDone.get(kind) ?? 0) })));
  out.family(
    "backup_last_done_age_seconds",
    "gauge",
    "Seconds since the last backup run ending done finished, by kind; absent until one has.",
    [...lastDone].map(([kind, at]) => ({ labels: { kind }, value: Math.max(0, seconds(now - at)) })),
  );

  // ---- secrets
  out.family("secret_sets", "gauge", "Secret sets (apps) stored, by environment.", snapshot.secretEnvs.map((row) => ({ labels: { env: row.env }, value: row.sets })));
  out.family("secrets_last_sync_timestamp_seconds", "gauge", "When the newest version of an environment's sets was written (a sync or a rollback), Unix seconds.", snapshot.secretEnvs.map((row) => ({ labels: { env: row.env }, value: seconds(row.lastUpdatedAt) })));
  out.family("secrets_last_sync_age_seconds", "gauge", "Seconds since the newest version of an environment's sets was written.", snapshot.secretEnvs.map((row) => ({ labels: { env: row.env }, value: Math.max(0, seconds(now - row.lastUpdatedAt)) })));

  // ---- capabilities
  out.family("capability_status", "gauge", "Capability configuration: 1 configured, 0 not configured (none of its variables set), -1 misconfigured.", snapshot.capabilities.map((row) => ({ labels: { capability: row.name }, value: row.status })));
  out.family("capability_degraded", "gauge", "1 when a configured capability runs degraded (see /healthz for what to fix), else 0.", snapshot.capabilities.map((row) => ({ labels: { capability: row.name }, value: row.degraded ? 1 : 0 })));

  // ---- edge routing
  out.family("edge_origin_up", "gauge", "1 when requests may go to the origin (healthy, or no verdict yet), 0 while it is marked down; by public host, origin and pool (primary, failover).", (snapshot.edgeOrigins ?? []).map((row) => ({ labels: { host: row.host, origin: row.origin, pool: row.pool }, value: row.state === "down" ? 0 : 1 })));

  // ---- alerts
  const alerts = sumBy(seriesNamed(snapshot, "alerts"), ([message]) => [label(message)]);
  out.family("alerts_total", "counter", "Alerts raised, by alert message.", [...alerts.values()].map(({ labels: [message], value }) => ({ labels: { alert: message! }, value })));
  const posts = sumBy(seriesNamed(snapshot, "alert_webhook_posts"), ([result]) => [label(result)], ALERT_DELIVERIES.map((result) => [result]));
  out.family("alert_webhook_posts_total", "counter", "Alerts delivered to ALERT_WEBHOOK_URL, by result (posted, failed, suppressed as a repeat).", [...posts.values()].map(({ labels: [result], value }) => ({ labels: { result: result! }, value })));

  // ---- the scrape itself
  out.family("info", "gauge", "Always 1; env is the deployment (EDGE_OPS_ENV).", [{ labels: { env: snapshot.env }, value: 1 }]);
  out.family(
    "metrics_rollup_lag_seconds",
    "gauge",
    "How far behind now each table's rollup cursor is (rows newer than it are read live); grows when the metrics cron job stops.",
    Object.entries(snapshot.cursors).map(([table, cursor]) => ({ labels: { table }, value: Math.max(0, seconds(now - cursor)) })),
  );
  out.family("metrics_d1_queries", "gauge", "D1 statements this scrape ran (capability checks excluded).", [{ value: snapshot.d1.queries }]);
  out.family("metrics_d1_rows_read", "gauge", "Rows D1 read for this scrape (capability checks excluded).", [{ value: snapshot.d1.rowsRead }]);
  return out.text();
}
