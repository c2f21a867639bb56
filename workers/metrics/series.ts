// What the rollup tables hold: the source tables folded into metric_rollups (each read through
// its view, migrations/0019_metrics_rollup.sql) and how a series is named there.
import { z } from "zod";

/**
 * The tables folded into metric_rollups, with how long a row stays "live" (read from the table
 * itself by every scrape) before the cron job folds it. A row changes most while it is live;
 * a change after its fold costs a trigger's write, so a table whose rows change on a webhook's
 * path (a question's feedback) keeps them live longer.
 */
export const ROLLUP_SOURCES = {
  // Processed within seconds, by the intake consumer (off the response path).
  webhook_events: { view: "metric_rows_webhook_events", liveMs: 10 * 60_000 },
  // Answered within minutes; feedback arrives later, through the bot's webhook.
  bot_queries: { view: "metric_rows_bot_queries", liveMs: 24 * 3_600_000 },
  // A run lasts hours at most (its deadline).
  backup_runs: { view: "metric_rows_backup_runs", liveMs: 24 * 3_600_000 },
  dead_letters: { view: "metric_rows_dead_letters", liveMs: 10 * 60_000 },
} as const;
export type RollupSource = keyof typeof ROLLUP_SOURCES;
export const ROLLUP_SOURCE_NAMES = Object.keys(ROLLUP_SOURCES) as RollupSource[];

/** Upper bounds (seconds) of the answer latency histogram; the view's CASE uses the same. */
export const BOT_LATENCY_BOUNDS = ["0.5", "1", "2", "3", "5", "8", "13", "20", "30", "60"] as const;

/** A series as stored: its figure's name, then label values. */
const seriesSchema = z.tuple([z.string()], z.string().nullable());
export type Series = [string, ...(string | null)[]];

export function parseSeries(text: string): Series | null {
  try {
    const parsed = seriesSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const MINUTE_MS = 60_000;
