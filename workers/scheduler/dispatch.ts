// One cron trigger per environment (Workers Free allows five per account, so two environments
// with a trigger per job would not fit): it fires every five minutes and this dispatcher runs
// the jobs whose time falls within the five minutes up to the tick. Knows no feature: the jobs
// are registered in workers/scheduled-jobs.ts.
//
// - Every job runs on its own: one job's failure never skips another. A failure logs the job's
//   name with `alert: true`; the tick itself never throws.
// - A timed job (the daily backup) runs an occurrence only on the tick within five minutes
//   after its time, claimed in D1 so a redelivered tick never runs it twice. A later tick never
//   starts a missed occurrence (a Worker deployed at noon does not start the 03:17 backup): when
//   the ticks around an occurrence never came, the next tick reports it missed, once.
import { sql } from "drizzle-orm";
import { CRONS } from "../crons";
import { openDatabase, type Database } from "../db/client";
import { inIdList } from "../db/id-list";
import { prepare } from "../db/prepare";
import { cronJobState } from "../db/schema";
import { raiseAlert } from "../alerts/raise";
import { failureReason, logError, logInfo } from "../log";
import { parseCron, previousOccurrence, type CronExpression } from "./cron-expression";

/** The one cron trigger every environment declares in wrangler.toml, and the time between its ticks. */
export const TICK_CRON = CRONS.tick;
export const TICK_MS = 5 * 60_000;

export type CronJobRun = { env: Env; ctx: ExecutionContext; /** The tick's scheduled time (ms). */ tickTime: number; /** The occurrence being run (ms, on a minute). */ dueAt: number };

export type CronJob = {
  /** Stable: it names the job in logs and keys a timed job's state. */
  readonly name: string;
  /** When the job runs, as a cron expression (UTC); null when this installation switched it off. */
  schedule(env: Env): string | null | Promise<string | null>;
  /** Timed jobs run each occurrence at most once and report the ones no tick ran. */
  readonly timed: boolean;
  run(job: CronJobRun): Promise<void>;
  /** Told once of a timed occurrence that no tick ran, to raise its own alert (default: an alert log line). */
  missed?(env: Env, dueAt: number): Promise<void>;
};

export type TickReport = { ran: string[]; failed: string[]; missed: string[] };

const MINUTE_MS = 60_000;
export const MISSED_REASON = "no cron tick came within five minutes of its time, and it is never started late";
const parsed = new Map<string, CronExpression>();
function cronOf(expression: string): CronExpression {
  let cron = parsed.get(expression);
  if (!cron) {
    cron = parseCron(expression);
    parsed.set(expression, cron);
  }
  return cron;
}

type StateRow = { name: string; lastDueAt: number; lastTickAt: number };

/**
 * The occurrence of `expression` this tick is responsible for (null: none in its five minutes),
 * and the latest occurrence at or before it.
 */
export function occurrenceAt(expression: string, tickTime: number): { latest: number | null; due: number | null } {
  const tick = Math.floor(tickTime / MINUTE_MS) * MINUTE_MS;
  const latest = previousOccurrence(cronOf(expression), tick);
  return { latest, due: latest !== null && latest > tick - TICK_MS ? latest : null };
}

async function readState(db: Database, names: readonly string[]): Promise<Map<string, StateRow>> {
  const rows = await db
    .select({ name: cronJobState.name, lastDueAt: cronJobState.lastDueAt, lastTickAt: cronJobState.lastTickAt })
    .from(cronJobState)
    .where(inIdList(cronJobState.name, names));
  return new Map(rows.map((row) => [row.name, row]));
}

/** Claims the occurrence `dueAt` unless a tick already did; true when this tick won it. */
function claimStatement(db: Database, name: string, dueAt: number, tick: number, outcome: "started" | "missed") {
  return prepare(
    db,
    sql`INSERT INTO ${cronJobState} ("name", "last_due_at", "last_outcome", "last_tick_at", "updated_at") VALUES (${name}, ${dueAt}, ${outcome}, ${tick}, ${Date.now()})
      ON CONFLICT ("name") DO UPDATE SET "last_due_at" = excluded."last_due_at", "last_outcome" = excluded."last_outcome",
        "last_tick_at" = max("last_tick_at", excluded."last_tick_at"), "updated_at" = excluded."updated_at"
      WHERE "last_due_at" < excluded."last_due_at"
      RETURNING "name"`,
  );
}

/** Records that this tick looked at the job (nothing was due). */
function touchStatement(db: Database, name: string, tick: number) {
  return prepare(
    db,
    sql`INSERT INTO ${cronJobState} ("name", "last_due_at", "last_outcome", "last_tick_at", "updated_at") VALUES (${name}, 0, 'none', ${tick}, ${Date.now()})
      ON CONFLICT ("name") DO UPDATE SET "last_tick_at" = max("last_tick_at", excluded."last_tick_at"), "updated_at" = excluded."updated_at"`,
  );
}

async function guarded(env: Env, name: string, work: () => Promise<void>, report: TickReport): Promise<void> {
  try {
    await work();
    report.ran.push(name);
  } catch (error) {
    report.failed.push(name);
    await raiseAlert(env, "cron job failed", { job: name, reason: failureReason(error) });
  }
}

/** Runs one tick: every job due at `tickTime`, each on its own. Never throws. */
export async function runTick(jobs: readonly CronJob[], env: Env, ctx: ExecutionContext, tickTime: number): Promise<TickReport> {
  const report: TickReport = { ran: [], failed: [], missed: [] };
  const tick = Math.floor(tickTime / MINUTE_MS) * MINUTE_MS;
  const planned: { job: CronJob; latest: number | null; due: number | null }[] = [];
  for (const job of jobs) {
    try {
      const expression = await job.schedule(env);
      if (expression !== null) planned.push({ job, ...occurrenceAt(expression, tick) });
    } catch (error) {
      report.failed.push(job.name);
      await raiseAlert(env, "cron job failed", { job: job.name, reason: `schedule: ${failureReason(error)}` });
    }
  }

  const runs: { job: CronJob; dueAt: number }[] = planned.filter((plan) => !plan.job.timed && plan.due !== null).map((plan) => ({ job: plan.job, dueAt: plan.due! }));
  const timed = planned.filter((plan) => plan.job.timed);
  if (timed.length > 0) {
    try {
      const db = openDatabase(env.DB);
      const state = await readState(db, timed.map((plan) => plan.job.name));
      const decisions = timed.map((plan) => {
        const row = state.get(plan.job.name);
        if (plan.due !== null && (!row || row.lastDueAt < plan.due)) return { plan, action: "run" as const, statement: claimStatement(db, plan.job.name, plan.due, tick, "started") };
        // Ticks came before the occurrence and none since, until after its five minutes.
        const skipped = plan.due === null && plan.latest !== null && row !== undefined && row.lastDueAt < plan.latest && row.lastTickAt < plan.latest;
        if (skipped) return { plan, action: "missed" as const, statement: claimStatement(db, plan.job.name, plan.latest!, tick, "missed") };
        return { plan, action: "none" as const, statement: touchStatement(db, plan.job.name, tick) };
      });
      const results = await db.$client.batch<{ name: string }>(decisions.map((decision) => decision.statement));
      for (const [index, decision] of decisions.entries()) {
        const won = (results[index]?.results.length ?? 0) > 0;
        if (decision.action === "run" && won) runs.push({ job: decision.plan.job, dueAt: decision.plan.due! });
        if (decision.action === "missed" && won) {
          const dueAt = decision.plan.latest!;
          report.missed.push(decision.plan.job.name);
          const missed = decision.plan.job.missed;
          if (missed) runs.push({ job: { ...decision.plan.job, timed: false, name: `${decision.plan.job.name} (missed)`, run: () => missed(env, dueAt) }, dueAt });
          else await raiseAlert(env, "cron job missed", { job: decision.plan.job.name, dueAt: new Date(dueAt).toISOString(), reason: MISSED_REASON });
        }
      }
    } catch (error) {
      // Without its state a timed job cannot be claimed: skipping it, loudly, is safer than
      // starting a backup twice.
      for (const plan of timed) report.failed.push(plan.job.name);
      await raiseAlert(env, "cron job failed", { job: timed.map((plan) => plan.job.name).join(","), reason: `reading the timed jobs' state: ${failureReason(error)}` });
    }
  }

  await Promise.all(runs.map(({ job, dueAt }) => guarded(env, job.name, () => job.run({ env, ctx, tickTime, dueAt }), report)));
  const failedTimed = runs.filter(({ job }) => job.timed && report.failed.includes(job.name));
  if (failedTimed.length > 0) {
    try {
      const db = openDatabase(env.DB);
      await db.$client.batch(
        failedTimed.map(({ job, dueAt }) =>
          prepare(db, sql`UPDATE ${cronJobState} SET "last_outcome" = 'failed', "updated_at" = ${Date.now()} WHERE "name" = ${job.name} AND "last_due_at" = ${dueAt}`),
        ),
      );
    } catch (error) {
      logError("cron job outcome not recorded", { reason: failureReason(error), alert: false });
    }
  }
  logInfo("cron tick", { tick: new Date(tick).toISOString(), ran: report.ran.join(","), failed: report.failed.join(","), missed: report.missed.join(",") });
  return report;
}
