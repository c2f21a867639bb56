// Workers Analytics Engine, where the ANALYTICS binding is declared (staging and production,
// like AI). Points are written by the metrics cron job only, never on a webhook's path: one per
// series the job folded (the increment of that tick) and one per queue-lag sample. Limits checked
// against Cloudflare's "Limits" page of Analytics Engine (developers.cloudflare.com/analytics/
// analytics-engine/limits/, last updated 2026-04-23, read 2026-12-06): 20 blobs, 20 doubles and one
// index of at most 96 bytes per point, 16 KB of blobs per point, 250 points per invocation.
import { logWarn } from "../log";

export const MAX_POINTS_PER_RUN = 200;
const MAX_BLOB_CHARS = 512;

export type AnalyticsPoint = { name: string; labels: (string | null)[]; value: number };

/** Writes up to MAX_POINTS_PER_RUN points; returns how many were written. No binding: none. */
export function writeAnalytics(dataset: AnalyticsEngineDataset | undefined, env: string, points: readonly AnalyticsPoint[]): number {
  if (!dataset || points.length === 0) return 0;
  const kept = points.slice(0, MAX_POINTS_PER_RUN);
  if (kept.length < points.length) logWarn("analytics points dropped", { written: kept.length, dropped: points.length - kept.length });
  for (const point of kept) {
    // blob1 the figure, blob2.. its labels; double1 the value; index the environment (sampling key).
    dataset.writeDataPoint({
      indexes: [env.slice(0, 96)],
      blobs: [point.name, ...point.labels.slice(0, 18).map((label) => (label ?? "").slice(0, MAX_BLOB_CHARS))],
      doubles: [point.value],
    });
  }
  return kept.length;
}
