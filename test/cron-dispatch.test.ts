// The one cron trigger and its dispatcher (workers/scheduler/dispatch.ts): jobs run by their
// own schedules, each on its own; a timed job runs an occurrence once, on the tick within five
// minutes after its time, and a skipped occurrence is reported, never started late.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runTick, type CronJob } from "../workers/scheduler/dispatch";
import { row } from "./support/d1";
import { faultyD1, tickWith, touches } from "./support/faults";

afterEach(() => vi.restoreAllMocks());

const at = (time: string) => Date.parse(`2030-06-03T${time}:00Z`);
const errorsLogged = () => {
  const lines: string[] = [];
  vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
  return () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
};

/** Jobs that record the occurrences they ran; `fail` names jobs that throw. */
function recordingJobs(specs: { name: string; schedule: string; timed?: boolean; fail?: boolean }[]) {
  const ran: { name: string; dueAt: string }[] = [];
  const jobs: CronJob[] = specs.map((spec) => ({
    name: spec.name,
    timed: spec.timed ?? false,
    schedule: () => spec.schedule,
    run: async ({ dueAt }) => {
      ran.push({ name: spec.name, dueAt: new Date(dueAt).toISOString().slice(11, 16) });
      if (spec.fail) throw new Error(`${spec.name} broke`);
    },
  }));
  return { jobs, ran };
}

const uniqueName = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
const tick = (jobs: readonly CronJob[], time: string, overrides: Partial<Env> = {}) => runTick(jobs, { ...env, ...overrides }, createExecutionContext(), at(time));

describe("interval jobs", () => {
  it("run on the ticks their expression falls in", async () => {
    const { jobs, ran } = recordingJobs([
      { name: "every-tick", schedule: "*/5 * * * *" },
      { name: "every-ten", schedule: "*/10 * * * *" },
    ]);
    for (const time of ["12:00", "12:05", "12:10"]) await tick(jobs, time);
    expect(ran).toEqual([
      { name: "every-tick", dueAt: "12:00" },
      { name: "every-ten", dueAt: "12:00" },
      { name: "every-tick", dueAt: "12:05" },
      { name: "every-tick", dueAt: "12:10" },
      { name: "every-ten", dueAt: "12:10" },
    ]);
  });

  it("each run on their own: one throwing skips nothing, is logged by name with an alert, and the tick completes", async () => {
    const errors = errorsLogged();
    const { jobs, ran } = recordingJobs([
      { name: "first", schedule: "*/5 * * * *", fail: true },
      { name: "second", schedule: "*/5 * * * *" },
      { name: "third", schedule: "*/5 * * * *", fail: true },
    ]);
    const report = await tick(jobs, "12:00");
    expect(ran.map((entry) => entry.name).sort()).toEqual(["first", "second", "third"]);
    expect(report).toMatchObject({ ran: ["second"], failed: expect.arrayContaining(["first", "third"]) });
    expect(errors()).toEqual([
      expect.objectContaining({ message: "cron job failed", job: "first", reason: "Error: first broke", alert: true }),
      expect.objectContaining({ message: "cron job failed", job: "third", reason: "Error: third broke", alert: true }),
    ]);
  });

  it("a job whose schedule cannot be read fails alone", async () => {
    const errors = errorsLogged();
    const { jobs, ran } = recordingJobs([{ name: "fine", schedule: "*/5 * * * *" }]);
    const broken: CronJob = { name: "unreadable", timed: false, schedule: () => "every now and then", run: async () => undefined };
    const report = await tick([broken, ...jobs], "12:00");
    expect(ran).toEqual([{ name: "fine", dueAt: "12:00" }]);
    expect(report.failed).toEqual(["unreadable"]);
    expect(errors()).toEqual([expect.objectContaining({ job: "unreadable", alert: true })]);
  });
});

describe("timed jobs", () => {
  it("run on the one tick within five minutes after their time, once, even when the tick is delivered twice", async () => {
    const name = uniqueName("daily");
    const { jobs, ran } = recordingJobs([{ name, schedule: "17 3 * * *", timed: true }]);
    for (const time of ["03:10", "03:15", "03:20", "03:20", "03:25"]) await tick(jobs, time);
    expect(ran).toEqual([{ name, dueAt: "03:17" }]);
    expect(await row("SELECT last_outcome, last_due_at, last_tick_at FROM cron_job_state WHERE name = ?", name)).toEqual({
      last_outcome: "started",
      last_due_at: at("03:17"),
      last_tick_at: at("03:25"),
    });
  });

  it("never start late: a skipped tick is reported once as missed, and the next occurrence runs", async () => {
    const errors = errorsLogged();
    const name = uniqueName("daily");
    const { jobs, ran } = recordingJobs([{ name, schedule: "17 3 * * *", timed: true }]);
    for (const time of ["03:10", "03:15", "03:25", "03:30", "12:00"]) await tick(jobs, time);
    expect(ran).toEqual([]);
    expect(errors()).toEqual([expect.objectContaining({ message: "cron job missed", job: name, dueAt: "2030-06-03T03:17:00.000Z", alert: true })]);
    expect(await row("SELECT last_outcome FROM cron_job_state WHERE name = ?", name)).toEqual({ last_outcome: "missed" });
    // The next day's tick in time runs it.
    await runTick(jobs, env, createExecutionContext(), Date.parse("2030-06-04T03:20:00Z"));
    expect(ran).toEqual([{ name, dueAt: "03:17" }]);
  });

  it("a Worker first ticking after the time (deployed at noon) neither starts nor reports that morning's run", async () => {
    const errors = errorsLogged();
    const name = uniqueName("daily");
    const { jobs, ran } = recordingJobs([{ name, schedule: "17 3 * * *", timed: true }]);
    for (const time of ["12:00", "12:05"]) await tick(jobs, time);
    expect(ran).toEqual([]);
    expect(errors()).toEqual([]);
  });

  it("a missed occurrence goes to the job's own alert when it has one", async () => {
    const name = uniqueName("daily");
    const told: string[] = [];
    const job: CronJob = { name, timed: true, schedule: () => "17 3 * * *", run: async () => undefined, missed: async (_env, dueAt) => void told.push(new Date(dueAt).toISOString()) };
    const errors = errorsLogged();
    for (const time of ["03:15", "03:25"]) await tick([job], time);
    expect(told).toEqual(["2030-06-03T03:17:00.000Z"]);
    expect(errors()).toEqual([]);
  });

  it("a failed run is recorded as failed, and is not retried by the next tick", async () => {
    errorsLogged();
    const name = uniqueName("daily");
    const { jobs, ran } = recordingJobs([{ name, schedule: "17 3 * * *", timed: true, fail: true }]);
    for (const time of ["03:20", "03:25"]) await tick(jobs, time);
    expect(ran).toEqual([{ name, dueAt: "03:17" }]);
    expect(await row("SELECT last_outcome FROM cron_job_state WHERE name = ?", name)).toEqual({ last_outcome: "failed" });
  });

  it("are skipped with an alert when their state cannot be read, while interval jobs still run", async () => {
    const errors = errorsLogged();
    const timedName = uniqueName("daily");
    const { jobs, ran } = recordingJobs([
      { name: timedName, schedule: "17 3 * * *", timed: true },
      { name: "sweep", schedule: "*/5 * * * *" },
    ]);
    const report = await tick(jobs, "03:20", { DB: faultyD1((sql) => sql.toLowerCase().includes("cron_job_state")) });
    expect(ran).toEqual([{ name: "sweep", dueAt: "03:20" }]);
    expect(report.failed).toEqual([timedName]);
    expect(errors()).toEqual([expect.objectContaining({ message: "cron job failed", job: timedName, alert: true })]);
  });
});

describe("the Worker's scheduled handler", () => {
  it("runs the other jobs when the intake sweep throws, and completes", async () => {
    const errors = errorsLogged();
    const infos: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void infos.push(line));
    // 12:10: the sweep, the bot sweep, the backup reaper, the chat sync, the metrics rollup and the catch-up are all due.
    await expect(tickWith({ DB: faultyD1(touches("webhook_events", "update")) }, Date.now() - (Date.now() % 600_000))).resolves.toBeUndefined();
    expect(errors()).toContainEqual(expect.objectContaining({ message: "cron job failed", job: "intake-sweep", alert: true }));
    const tickLine = infos.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.message === "cron tick");
    expect(String(tickLine?.ran).split(",").sort()).toEqual(["backup-reaper", "bot-sweep", "chat-sync", "metrics-rollup", "vectorize-catch-up"]);
    expect(tickLine?.failed).toBe("intake-sweep");
  });
});
