// The backup scheduler under test: the Hetzner fake's controls, the scheduler's alarms and
// storage, a run started through the admin API, and the runner's calls as the backup server
// makes them (its token from user data, its public address as Cloudflare's CF-Connecting-IP).
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { backupScheduler } from "../../durable-objects/backup-scheduler";
import { row } from "./d1";
import { fetchWith } from "./faults";

export type FakeServer = { id: number; name: string; labels: Record<string, string>; status: string; user_data: string | null; networks: number[]; ipv4: string | null; ipv6: string | null };
export const hetzner = (path: string, init?: RequestInit) => fetch(`${env.FAKE_HETZNER_URL}${path}`, init);
export const fakeServers = async (selector: string): Promise<FakeServer[]> => {
  const body = (await (await hetzner(`/__fake/servers?label_selector=${encodeURIComponent(selector)}`)).json()) as FakeServer[] | { servers: FakeServer[] };
  return Array.isArray(body) ? body : body.servers;
};
export const fault = (spec: Record<string, unknown>) => hetzner("/__fake/faults", { method: "POST", body: JSON.stringify(spec) });
export const hetznerRequests = async (pathPattern: string) =>
  (await (await hetzner(`/__fake/requests?path=${encodeURIComponent(pathPattern)}`)).json()) as { method: string; path: string; body: unknown }[];

export const scheduler = () => backupScheduler(env);
export const alarm = () => runDurableObjectAlarm(scheduler());

/**
 * Wakes the scheduler until the run's status is one of `statuses`. Alarms also fire on their
 * own in the test runtime, so a step may already be under way: poll the state, not the alarm.
 */
export async function until(runId: string, statuses: readonly string[], timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = String((await row("SELECT status FROM backup_runs WHERE id = ?", runId))?.status);
    if (statuses.includes(status)) return status;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${status}, expected ${statuses.join(" or ")}`);
    await alarm();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
/** Makes the run's next step due now (its backoff or deadline), as time passing would. */
export const due = (runId: string, column: "next_attempt_at" | "deadline") =>
  runInDurableObject(scheduler(), (_instance, state) => {
    state.storage.sql.exec(`UPDATE runs SET ${column} = ? WHERE id = ?`, Date.now() - 1, runId);
  });

export async function startRun(kind: "backup" | "restore-test" = "backup", overrides: Partial<Env> = {}): Promise<string> {
  const response = await fetchWith(overrides, "http://admin/api/backups/run", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env.ADMIN_TOKEN}` },
    body: JSON.stringify({ kind }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** What cloud-init hands the runner: the run's URL, token and deadline. */
export function runnerEnv(server: FakeServer): { url: string; token: string; deadline: number } {
  const value = (name: string) => new RegExp(`${name}=(\\S+)`).exec(server.user_data ?? "")?.[1] ?? "";
  return { url: value("RUN_URL"), token: value("RUN_TOKEN"), deadline: Number(value("DEADLINE")) };
}

/**
 * A runner's call, from its server's public address (Cloudflare's CF-Connecting-IP) unless
 * `from` says otherwise; `overrides` change the Worker's bindings for the call.
 */
export const runnerCall = (runId: string, path: "config" | "report", token: string, body?: unknown, options: { from?: string | null; overrides?: Partial<Env> } = {}) =>
  fetchWith(options.overrides ?? {}, `http://edge/backups/runs/${runId}/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(options.from ? { "cf-connecting-ip": options.from } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** The run's server's address, as Cloudflare would report a request from it. */
export const addressOf = (server: FakeServer) => server.ipv4!;

/** A version-2 report of a run whose one target (mongodb) was saved; `overrides` replace top-level fields. */
export const summary = (overrides: Record<string, unknown> = {}) => ({
  version: 2,
  parts: [{ name: "mongodb", kind: "mongodb", ok: true, reason: null, bytes: 1_234_567, seconds: 12.4 }],
  restic: {
    exit_code: 0,
    snapshot_id: "4f1c1e1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5",
    summary: { message_type: "summary", files_new: 12, files_changed: 3, data_added: 104857, total_duration: 42.5 },
  },
  forget: { exit_code: 0 },
  restore_test: null,
  error: null,
  ...overrides,
});

export const runRow = (id: string) => row("SELECT status, error, snapshot_id, exit_code, partial, server_deleted_at IS NOT NULL AS deleted FROM backup_runs WHERE id = ?", id);

/** Lets the run end: its pending step (a backoff) made due, then woken until done, partial or failed. */
export async function finish(runId: string) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const status = String((await row("SELECT status FROM backup_runs WHERE id = ?", runId))?.status);
    if (status === "done" || status === "partial" || status === "failed") return status;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${status}`);
    await due(runId, "next_attempt_at");
    await alarm();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A runner snapshot for a test file's runs. Older than any other file's, so that it never
 * changes which snapshot is newest where a file checks that (the fake is shared by every file).
 */
export async function seedRunnerImage(): Promise<number> {
  const seeded = await hetzner("/__fake/images", { method: "POST", body: JSON.stringify({ description: "runner, older", labels: { role: "backup-runner" }, created: "2025-01-01T00:00:00Z" }) });
  return ((await seeded.json()) as { image: { id: number } }).image.id;
}

/** A run started by hand and woken until its server runs: what its runner knows. */
export async function runningRun(kind: "backup" | "restore-test" = "backup", overrides: Partial<Env> = {}) {
  const id = await startRun(kind, overrides);
  await until(id, ["running"]);
  const [server] = await fakeServers(`run=${id}`);
  return { id, server: server!, token: runnerEnv(server!).token, from: addressOf(server!) };
}

/** console.error's JSON lines while the test runs: the alert log lines among them. */
export function watchAlerts(spy: { mockImplementation(fn: (line: string) => void): unknown }) {
  const lines: Record<string, unknown>[] = [];
  spy.mockImplementation((line: string) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  });
  return { alerts: () => lines.filter((line) => line.alert === true) };
}
