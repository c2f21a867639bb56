// The metrics cron job, every tick: folds each source table's rows older than its live window
// into metric_rollups (the cursor moves on; a compare-and-set, so two overlapping ticks never fold
// a row twice), records the queue lags as samples for the status page's chart, prunes what the
// page no longer shows, and writes what it folded to Analytics Engine where that is bound.
// Nothing here runs on a webhook's path.
import { logInfo } from "../log";
import { writeAnalytics, type AnalyticsPoint } from "./analytics";
import { DAY_MS, HOUR_MS, MINUTE_MS, parseSeries, ROLLUP_SOURCE_NAMES, ROLLUP_SOURCES, type RollupSource } from "./series";

export const METRICS_ROLLUP_SCHEDULE = "*/5 * * * *";
/** Rows folded per table per tick at most: a first fold of a long history takes several ticks. */
export const FOLD_CHUNK_ROWS = 50_000;
export const KEEP_HOURS_MS = 7 * DAY_MS;
export const KEEP_DAYS_MS = 90 * DAY_MS;
export const KEEP_SAMPLES_MS = 3 * DAY_MS;
export const KEEP_ALERTS_MS = 7 * DAY_MS;

const TIME_COLUMNS: Record<RollupSource, string> = { webhook_events: "received_at", bot_queries: "created_at", backup_runs: "created_at", dead_letters: "dead_at" };

/** caughtUp: the cursor reached the live window (false while a long history is folded chunk by chunk). */
export type FoldReport = { source: RollupSource; from: number; to: number; folded: boolean; caughtUp: boolean };
export type RollupReport = { folds: FoldReport[]; analyticsPoints: number };

/** Folds one table's rows in [cursor, min(now - live window, chunk end)). */
async function fold(db: D1Database, source: RollupSource, now: number, chunkRows: number): Promise<{ report: FoldReport; points: AnalyticsPoint[] }> {
  const { view, liveMs } = ROLLUP_SOURCES[source];
  const column = TIME_COLUMNS[source];
  const from = (await db.prepare("SELECT rolled_until FROM metric_rollup_cursors WHERE source = ?").bind(source).first<{ rolled_until: number }>())?.rolled_until ?? 0;
  const target = now - liveMs;
  let to = target;
  if (to <= from) return { report: { source, from, to: from, folded: false, caughtUp: true }, points: [] };
  const chunkEnd = await db.prepare(`SELECT ${column} AS at FROM ${source} WHERE ${column} >= ? ORDER BY ${column} LIMIT 1 OFFSET ?`).bind(from, chunkRows).first<{ at: number }>();
  if (chunkEnd) to = Math.min(to, Math.max(chunkEnd.at, from + 1));
  const [, moved, increments] = await db.batch<Record<string, unknown>>([
    // Only while the cursor is still where this run read it: an overlapping run folds nothing.
    db
      .prepare(
        `INSERT INTO metric_rollups (scope, bucket, series, value)
         SELECT scope, bucket, series, CASE WHEN scope = 'max' THEN max(value) ELSE sum(value) END FROM ${view}
         WHERE at >= ?1 AND at < ?2 AND (SELECT rolled_until FROM metric_rollup_cursors WHERE source = ?3) = ?1
         GROUP BY scope, bucket, series
         ON CONFLICT (scope, bucket, series) DO UPDATE SET value = CASE WHEN excluded.scope = 'max' THEN max(value, excluded.value) ELSE value + excluded.value END`,
      )
      .bind(from, to, source),
    db.prepare("UPDATE metric_rollup_cursors SET rolled_until = ?1, updated_at = ?2 WHERE source = ?3 AND rolled_until = ?4 RETURNING source").bind(to, now, source, from),
    // What was just added (the same transaction), for Analytics Engine.
    db.prepare(`SELECT series, sum(value) AS value FROM ${view} WHERE at >= ?1 AND at < ?2 AND scope = 'total' GROUP BY series`).bind(from, to),
  ]);
  const folded = (moved?.results.length ?? 0) > 0;
  const points = folded
    ? (increments?.results ?? []).flatMap((row) => {
        const series = typeof row.series === "string" ? parseSeries(row.series) : null;
        return series ? [{ name: series[0], labels: series.slice(1), value: Number(row.value ?? 0) }] : [];
      })
    : [];
  return { report: { source, from, to: folded ? to : from, folded, caughtUp: folded && to === target }, points };
}

/** Queue lags now, kept per minute for the status page's chart (and sent to Analytics Engine). */
async function sample(db: D1Database, now: number): Promise<AnalyticsPoint[]> {
  const [intake, documents, bot] = await db.batch<Record<string, unknown>>([
    db.prepare("SELECT count(*) AS backlog, min(received_at) AS oldest FROM webhook_events WHERE status = 'received'"),
    db.prepare(`SELECT count(*) AS backlog, min(updated_at) AS oldest FROM documents WHERE "indexed_hash" IS NULL OR "indexed_hash" <> "content_hash"`),
    db.prepare(`SELECT count(*) AS backlog, min(created_at) AS oldest FROM bot_queries WHERE "delivered_at" IS NULL`),
  ]);
  const lag = (row: Record<string, unknown> | undefined) => (typeof row?.oldest === "number" ? Math.max(0, Math.round((now - row.oldest) / 1000)) : 0);
  const values: AnalyticsPoint[] = [
    { name: "lag_seconds", labels: ["intake"], value: lag(intake?.results[0]) },
    { name: "lag_seconds", labels: ["vectorize"], value: lag(documents?.results[0]) },
    { name: "lag_seconds", labels: ["bot"], value: lag(bot?.results[0]) },
    { name: "backlog", labels: ["intake"], value: Number(intake?.results[0]?.backlog ?? 0) },
    { name: "backlog", labels: ["vectorize"], value: Number(documents?.results[0]?.backlog ?? 0) },
    { name: "backlog", labels: ["bot"], value: Number(bot?.results[0]?.backlog ?? 0) },
  ];
  const minute = Math.floor(now / MINUTE_MS);
  // D1 keeps the lags only (the page's chart); the backlogs go to Analytics Engine alone.
  await db.batch(
    values.filter((point) => point.name === "lag_seconds").map((point) =>
      db
        .prepare("INSERT INTO metric_rollups (scope, bucket, series, value) VALUES ('sample', ?, ?, ?) ON CONFLICT (scope, bucket, series) DO UPDATE SET value = excluded.value")
        .bind(minute, JSON.stringify([point.name, ...point.labels]), point.value),
    ),
  );
  return values;
}

async function prune(db: D1Database, now: number): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM metric_rollups WHERE scope = 'hour' AND bucket < ?").bind(Math.floor((now - KEEP_HOURS_MS) / HOUR_MS)),
    db.prepare("DELETE FROM metric_rollups WHERE scope = 'day' AND bucket < ?").bind(Math.floor((now - KEEP_DAYS_MS) / DAY_MS)),
    db.prepare("DELETE FROM metric_rollups WHERE scope = 'sample' AND bucket < ?").bind(Math.floor((now - KEEP_SAMPLES_MS) / MINUTE_MS)),
    db.prepare("DELETE FROM alerts WHERE at < ?").bind(now - KEEP_ALERTS_MS),
  ]);
}

/** One tick of the metrics job. Throws on a storage failure (the dispatcher alerts, the next tick resumes). */
export async function rollUpMetrics(env: Env, now = Date.now(), options: { chunkRows?: number } = {}): Promise<RollupReport> {
  const db = env.DB;
  const folds: FoldReport[] = [];
  const points: AnalyticsPoint[] = [];
  for (const source of ROLLUP_SOURCE_NAMES) {
    const { report, points: folded } = await fold(db, source, now, options.chunkRows ?? FOLD_CHUNK_ROWS);
    folds.push(report);
    points.push(...folded);
  }
  points.push(...(await sample(db, now)));
  await prune(db, now);
  const analyticsPoints = writeAnalytics(env.ANALYTICS, env.EDGE_OPS_ENV, points);
  const moved = folds.filter((report) => report.folded);
  if (moved.length > 0) logInfo("metrics rolled up", { tables: moved.map((report) => report.source).join(","), analyticsPoints });
  return { folds, analyticsPoints };
}
