// Everything /api/metrics and /admin show, read from D1 in one batch (one transaction, so the
// rolled-up totals and the live rows agree), whatever isolate answers. A scrape's cost does not
// grow with the history: the totals are a few rows of metric_rollups (one per series), the live
// rows are those newer than each table's cursor (minutes to a day of traffic), and the gauges
// read backlogs through their indexes (unprocessed events, stale documents).
import type { Capability } from "../config/capability";
import { withStorage } from "../db/with-storage";
import { readEdgeOrigins, type EdgeOriginRow } from "../edge/snapshot";
import { ROLLUP_SOURCE_NAMES, ROLLUP_SOURCES, parseSeries, type RollupSource, type Series, DAY_MS, HOUR_MS, MINUTE_MS } from "./series";

export type CapabilityHealth = { name: string; variables: readonly string[]; status: 1 | 0 | -1; degraded: boolean; problems: string[] };
export type BucketRow = { bucket: number; series: Series; value: number };
export type RecentBackup = {
  id: string;
  kind: string;
  status: string;
  createdAt: number;
  finishedAt: number | null;
  parts: { name: string; ok: boolean; reason: string | null; seconds: number }[];
  error: string | null;
};
export type RecentAlert = { at: number; message: string; fields: Record<string, unknown>; delivery: string };

export type MetricsSnapshot = {
  now: number;
  env: string;
  /** scope total (sums) and max (latest), rolled up and live together, by series. */
  totals: { series: Series; value: number }[];
  maxima: { series: Series; value: number }[];
  cursors: Partial<Record<RollupSource, number>>;
  intakeOldestAt: number | null;
  documentsStale: number;
  documentsOldestStaleAt: number | null;
  secretEnvs: { env: string; sets: number; lastUpdatedAt: number }[];
  capabilities: CapabilityHealth[];
  /** The status page's extras (empty for a scrape). */
  hours: BucketRow[];
  days: BucketRow[];
  samples: BucketRow[];
  backups: RecentBackup[];
  alerts: RecentAlert[];
  /** What this snapshot cost D1: statements and rows read (the capability checks excluded). */
  d1: { queries: number; rowsRead: number };
  /** Edge routing's origins and their health (workers/edge/snapshot.ts); absent or empty without EDGE_ROUTES. */
  edgeOrigins?: EdgeOriginRow[];
};

export const PAGE_HOURS = 48;
/** The queue-lag chart: 24 hours of five-minute samples. */
export const PAGE_SAMPLE_HOURS = 24;
export const PAGE_DAYS = 14;
export const PAGE_BACKUPS = 8;
export const PAGE_ALERTS = 20;

type Row = Record<string, unknown>;
const isRollupSource = (value: unknown): value is RollupSource => typeof value === "string" && Object.hasOwn(ROLLUP_SOURCES, value);
const num = (value: unknown): number => (typeof value === "number" ? value : Number(value ?? 0));
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : num(value));
const str = (value: unknown): string => (typeof value === "string" ? value : String(value ?? ""));

function parseJson(text: unknown): unknown {
  if (typeof text !== "string") return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The deployment's name: set everywhere, it says nothing about whether a capability was meant to be on. */
const DEPLOYMENT_VARIABLES = new Set(["EDGE_OPS_ENV"]);
const ABSENT = /^[A-Z][A-Z0-9_]* is not set$/;

/**
 * 1 configured; 0 not configured: its problems only say variables are not set, and none of the
 * variables that are its alone (no other capability reads them) is set, so the operator left it
 * off; −1 misconfigured: a value is malformed, a pair is half set, or a variable of its own is set
 * while others it needs are not.
 */
async function capabilityHealth(env: Env, name: string, capability: Capability<unknown>, shared: ReadonlySet<string>): Promise<CapabilityHealth> {
  const status = await capability.status(env);
  if (status.configured) return { name, variables: capability.variables, status: 1, degraded: "degraded" in status, problems: "problems" in status ? status.problems : [] };
  const ownSet = capability.variables.some((variable) => {
    if (shared.has(variable) || DEPLOYMENT_VARIABLES.has(variable)) return false;
    const value: unknown = Reflect.get(env, variable);
    return value !== undefined && value !== null && value !== "";
  });
  const onlyAbsent = status.problems.every((problem) => ABSENT.test(problem));
  return { name, variables: capability.variables, status: onlyAbsent && !ownSet ? 0 : -1, degraded: false, problems: status.problems };
}

/** Variables more than one capability reads (ROCKETCHAT_URL, GROQ_API_KEY, ...). */
function sharedVariables(capabilities: Readonly<Record<string, Capability<unknown>>>): Set<string> {
  const seen = new Set<string>();
  const shared = new Set<string>();
  for (const capability of Object.values(capabilities)) {
    for (const variable of capability.variables) (seen.has(variable) ? shared : seen).add(variable);
  }
  return shared;
}

function liveStatement(db: D1Database, source: RollupSource): D1PreparedStatement {
  // The view's `at` filter reaches every branch of its UNION ALL, on the table's time index.
  return db.prepare(
    `SELECT scope, bucket, series, CASE WHEN scope = 'max' THEN max(value) ELSE sum(value) END AS value FROM ${ROLLUP_SOURCES[source].view}
     WHERE at >= (SELECT rolled_until FROM metric_rollup_cursors WHERE source = ?) GROUP BY scope, bucket, series`,
  ).bind(source);
}

export async function readSnapshot(
  env: Env,
  capabilities: Readonly<Record<string, Capability<unknown>>>,
  options: { now?: number; page?: boolean } = {},
): Promise<MetricsSnapshot> {
  const now = options.now ?? Date.now();
  const db = env.DB;
  const statements: D1PreparedStatement[] = [
    db.prepare("SELECT scope, series, value FROM metric_rollups WHERE scope IN ('total', 'max') AND bucket = 0"),
    ...ROLLUP_SOURCE_NAMES.map((source) => liveStatement(db, source)),
    db.prepare("SELECT source, rolled_until FROM metric_rollup_cursors"),
    db.prepare("SELECT received_at FROM webhook_events WHERE status = 'received' ORDER BY received_at LIMIT 1"),
    // The stale documents' partial index answers this (the condition is the index's own).
    db.prepare(`SELECT count(*) AS stale, min(updated_at) AS oldest FROM documents WHERE "indexed_hash" IS NULL OR "indexed_hash" <> "content_hash"`),
    db.prepare("SELECT env, count(*) AS sets, max(updated_at) AS last FROM secret_sets GROUP BY env ORDER BY env"),
  ];
  const page = options.page === true;
  if (page) {
    statements.push(
      db.prepare("SELECT bucket, series, value FROM metric_rollups WHERE scope = 'hour' AND bucket >= ?").bind(Math.floor(now / HOUR_MS) - PAGE_HOURS + 1),
      db.prepare("SELECT bucket, series, value FROM metric_rollups WHERE scope = 'day' AND bucket >= ?").bind(Math.floor(now / DAY_MS) - PAGE_DAYS + 1),
      db.prepare("SELECT bucket, series, value FROM metric_rollups WHERE scope = 'sample' AND bucket >= ?").bind(Math.floor((now - PAGE_SAMPLE_HOURS * HOUR_MS) / MINUTE_MS)),
      db.prepare("SELECT id, kind, status, created_at, finished_at, parts, error FROM backup_runs ORDER BY created_at DESC, id DESC LIMIT ?").bind(PAGE_BACKUPS),
      db.prepare("SELECT at, message, fields, delivery FROM alerts ORDER BY at DESC LIMIT ?").bind(PAGE_ALERTS),
    );
  }
  const results = await withStorage("reading the metrics", () => db.batch<Row>(statements));
  const rowsOf = (index: number): Row[] => results[index]?.results ?? [];
  const rowsRead = results.reduce((sum, result) => sum + num(result.meta.rows_read), 0);

  // Totals and maxima: the rolled-up rows, plus the live rows of each table.
  const totals = new Map<string, number>();
  const maxima = new Map<string, number>();
  const hourly = new Map<string, number>();
  const daily = new Map<string, number>();
  const add = (scope: string, series: string, bucket: number, value: number) => {
    if (scope === "total") totals.set(series, (totals.get(series) ?? 0) + value);
    else if (scope === "max") maxima.set(series, Math.max(maxima.get(series) ?? Number.NEGATIVE_INFINITY, value));
    else if (scope === "hour") hourly.set(`${bucket}\u0000${series}`, (hourly.get(`${bucket}\u0000${series}`) ?? 0) + value);
    else if (scope === "day") daily.set(`${bucket}\u0000${series}`, (daily.get(`${bucket}\u0000${series}`) ?? 0) + value);
  };
  for (const row of rowsOf(0)) add(str(row.scope), str(row.series), 0, num(row.value));
  ROLLUP_SOURCE_NAMES.forEach((_, index) => {
    for (const row of rowsOf(1 + index)) add(str(row.scope), str(row.series), num(row.bucket), num(row.value));
  });
  let next = 1 + ROLLUP_SOURCE_NAMES.length;
  const cursors: Partial<Record<RollupSource, number>> = {};
  for (const row of rowsOf(next++)) if (isRollupSource(row.source)) cursors[row.source] = num(row.rolled_until);
  const intakeOldestAt = numOrNull(rowsOf(next++)[0]?.received_at);
  const documents = rowsOf(next++)[0];
  const secretEnvs = rowsOf(next++).map((row) => ({ env: str(row.env), sets: num(row.sets), lastUpdatedAt: num(row.last) }));

  const toRows = (map: Map<string, number>) =>
    [...map].flatMap(([key, value]) => {
      const series = parseSeries(key);
      return series ? [{ series, value }] : [];
    });
  const toBuckets = (map: Map<string, number>, extra: Row[], minBucket: number) => {
    for (const row of extra) {
      const key = `${num(row.bucket)}\u0000${str(row.series)}`;
      map.set(key, (map.get(key) ?? 0) + num(row.value));
    }
    return [...map].flatMap(([key, value]) => {
      const [bucketText, seriesText] = key.split("\u0000") as [string, string];
      const bucket = Number(bucketText);
      const series = parseSeries(seriesText);
      return series && bucket >= minBucket ? [{ bucket, series, value }] : [];
    });
  };

  const shared = sharedVariables(capabilities);
  const [capabilityEntries, edgeOrigins] = await Promise.all([
    Promise.all(Object.entries(capabilities).map(([name, capability]) => capabilityHealth(env, name, capability, shared))),
    readEdgeOrigins(env),
  ]);

  const snapshot: MetricsSnapshot = {
    now,
    env: env.EDGE_OPS_ENV,
    totals: toRows(totals),
    maxima: toRows(maxima),
    cursors,
    intakeOldestAt,
    documentsStale: num(documents?.stale),
    documentsOldestStaleAt: numOrNull(documents?.oldest),
    secretEnvs,
    capabilities: capabilityEntries,
    hours: [],
    days: [],
    samples: [],
    backups: [],
    alerts: [],
    d1: { queries: statements.length, rowsRead },
    edgeOrigins,
  };
  if (page) {
    snapshot.hours = toBuckets(hourly, rowsOf(next++), Math.floor(now / HOUR_MS) - PAGE_HOURS + 1);
    snapshot.days = toBuckets(daily, rowsOf(next++), Math.floor(now / DAY_MS) - PAGE_DAYS + 1);
    snapshot.samples = toBuckets(new Map(), rowsOf(next++), 0);
    snapshot.backups = rowsOf(next++).map((row) => {
      const parts = parseJson(row.parts);
      return {
        id: str(row.id),
        kind: str(row.kind),
        status: str(row.status),
        createdAt: num(row.created_at),
        finishedAt: numOrNull(row.finished_at),
        parts: Array.isArray(parts)
          ? parts.flatMap((part: unknown) =>
              typeof part === "object" && part !== null && "name" in part
                ? [{ name: str(part.name), ok: "ok" in part && part.ok === true, reason: "reason" in part && typeof part.reason === "string" ? part.reason : null, seconds: "seconds" in part ? num(part.seconds) : 0 }]
                : [],
            )
          : [],
        error: typeof row.error === "string" ? row.error : null,
      };
    });
    snapshot.alerts = rowsOf(next++).map((row) => {
      const fields = parseJson(row.fields);
      return { at: num(row.at), message: str(row.message), fields: typeof fields === "object" && fields !== null ? Object.fromEntries(Object.entries(fields)) : {}, delivery: str(row.delivery) };
    });
  }
  return snapshot;
}
