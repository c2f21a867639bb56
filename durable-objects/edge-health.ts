// Edge routing's origin health, shared by every isolate: one instance per public hostname of
// EDGE_ROUTES (`idFromName(host)`), its origins' states in SQLite storage. Isolates read it every
// few seconds and report what their requests and health checks found (workers/edge/health-view.ts);
// the rules of a report are workers/edge/health-state.ts. Why a Durable Object and not KV:
// docs/edge-routing.md, "Where the health lives".
//
// Every method runs without an await between its read and its write, so two reports never
// interleave. State changes are told here, once: an origin going down and a host left with no
// origin at all are alerts (ALERT_WEBHOOK_URL leaves outside the Swarm that may be the cause); an
// origin coming back is a log line.
import { DurableObject } from "cloudflare:workers";
import { raiseAlert } from "../workers/alerts/raise";
import { edgeRoutesConfig, originsOf } from "../workers/edge/config";
import { applyReport, isRoutable, RECHECK_MS, type HealthReport, type HealthSource, type OriginHealth } from "../workers/edge/health-state";
import { logInfo } from "../workers/log";

type Row = {
  origin: string;
  healthy: number;
  changed_at: number;
  checked_at: number | null;
  reason: string | null;
  recheck_at: number;
  source: string;
};

const toState = (row: Row): OriginHealth => ({
  origin: row.origin,
  healthy: row.healthy === 1,
  changedAt: row.changed_at,
  checkedAt: row.checked_at,
  reason: row.reason,
  recheckAt: row.recheck_at,
  source: (row.source === "check" ? "check" : "live") satisfies HealthSource,
});

export class EdgeHealth extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS origins (
        origin TEXT PRIMARY KEY, healthy INTEGER NOT NULL, changed_at INTEGER NOT NULL, checked_at INTEGER,
        reason TEXT, recheck_at INTEGER NOT NULL, source TEXT NOT NULL)`,
    );
  }

  private states(): Map<string, OriginHealth> {
    return new Map(this.sql.exec<Row>("SELECT origin, healthy, changed_at, checked_at, reason, recheck_at, source FROM origins").toArray().map((row) => [row.origin, toState(row)]));
  }

  private save(state: OriginHealth): void {
    this.sql.exec(
      `INSERT INTO origins (origin, healthy, changed_at, checked_at, reason, recheck_at, source) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (origin) DO UPDATE SET healthy = excluded.healthy, changed_at = excluded.changed_at, checked_at = excluded.checked_at,
         reason = excluded.reason, recheck_at = excluded.recheck_at, source = excluded.source`,
      state.origin,
      state.healthy ? 1 : 0,
      state.changedAt,
      state.checkedAt,
      state.reason,
      state.recheckAt,
      state.source,
    );
  }

  /** Every origin reported on so far (an origin never reported on is healthy). */
  async view(): Promise<OriginHealth[]> {
    return [...this.states().values()];
  }

  /** Applies what requests or checks found; answers the states after. */
  async report(host: string, reports: HealthReport[]): Promise<OriginHealth[]> {
    const states = this.states();
    const wentDown: OriginHealth[] = [];
    for (const report of reports) {
      const before = states.get(report.origin);
      const after = applyReport(before, report);
      if (after === before) continue;
      states.set(report.origin, after);
      this.save(after);
      if (isRoutable(before) && !after.healthy) wentDown.push(after);
      else if (before && !before.healthy && after.healthy) logInfo("edge origin up", { host, origin: after.origin, source: after.source });
    }
    if (wentDown.length > 0) this.ctx.waitUntil(this.alert(host, wentDown, states));
    return [...states.values()];
  }

  /**
   * The unhealthy origins among `origins` due for a check at `now`, claimed for the caller: their
   * next check moves on by RECHECK_MS, so isolates do not all check the same dead origin at once.
   */
  async claimRecheck(origins: string[], now: number): Promise<string[]> {
    const states = this.states();
    const claimed: string[] = [];
    for (const origin of origins) {
      const state = states.get(origin);
      if (!state || state.healthy || state.recheckAt > now) continue;
      this.save({ ...state, recheckAt: now + RECHECK_MS });
      claimed.push(origin);
    }
    return claimed;
  }

  private async alert(host: string, wentDown: OriginHealth[], states: Map<string, OriginHealth>): Promise<void> {
    for (const state of wentDown) await raiseAlert(this.env, "edge origin down", { host, origin: state.origin, reason: state.reason, source: state.source });
    let configured: string[] | null = null;
    const entry = (await edgeRoutesConfig.loadIfConfigured(this.env))?.entries.get(host);
    if (entry?.ok) configured = originsOf(entry.route).map((origin) => origin.url);
    // Requests to the host now get the 503 page until an origin passes a check.
    if (configured && configured.length > 0 && configured.every((origin) => !isRoutable(states.get(origin)))) {
      await raiseAlert(this.env, "edge host unavailable: every origin is down", { host, origins: configured.length });
    }
  }
}
