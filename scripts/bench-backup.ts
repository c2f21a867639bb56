// `npm run bench:backup`: backup runs end to end under `wrangler dev` (the BackupScheduler
// Durable Object with real alarms) against the Hetzner fake on 127.0.0.1, with a simulated
// runner that fetches its config (version 2) with the run's token, "runs restic" for a while and
// reports every target as a part (version 2). Its servers get the public IPv4 127.0.0.1 from the
// fake, so the runner's calls pass the config endpoint's address check honestly: it sends no
// CF-Connecting-IP of its own, and `wrangler dev` sets the connection's address there (as
// Cloudflare's edge would set the real one). Each run gets a fault (seeded): none, a report that
// never arrives, Hetzner 503s on delete, a duplicate report, a 503 on create, a failed part, an
// older runner's report. Prints, per run and overall, its outcome and parts, the server-seconds
// beyond the restic run (target at most 120 s for runs that report), Hetzner calls per run, and
// the backup servers left behind at the end (target 0).
//
//   npm run bench:backup                      RUNS=7 SEED=1
//   npm run bench:backup -- --runs 10 --seed 7
import { randomBytes } from "node:crypto";
import { cpus, platform, release } from "node:os";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "../test/node/fakes/hetzner.ts";
import { prng } from "./bench/prng.ts";
import { createWranglerRun, freePort, sleep } from "./bench/wrangler-run.ts";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(`usage: npm run bench:backup [-- --runs N --seed SEED --timeout SECONDS]
  or RUNS, SEED, TIMEOUT in the environment; defaults: 7 runs (one per fault), seed 1, 600 s`);
  process.exit(0);
}

const flag = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  const raw = index >= 0 ? process.argv[index + 1] : process.env[name.toUpperCase()];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`bench: --${name} must be a non-negative integer`);
    process.exit(1);
  }
  return value;
};
const FAULTS = ["none", "no-report", "delete-503", "duplicate-report", "create-503", "part-failed", "old-report"] as const;
type Fault = (typeof FAULTS)[number];
/** What each fault's run must end as. */
const EXPECTED: Record<Fault, string> = { none: "done", "no-report": "failed", "delete-503": "done", "duplicate-report": "done", "create-503": "done", "part-failed": "partial", "old-report": "failed" };

const runs = flag("runs", FAULTS.length);
const seed = flag("seed", 1);
const run = createWranglerRun({ name: "bench-backup", timeoutMs: flag("timeout", 600) * 1000 });
const adminToken = randomBytes(24).toString("hex");
/** Short, so the run whose report never comes ends within the benchmark. */
const DEADLINE_SECONDS = 20;

/** The environment's targets: the runner reports one part per target, in this order. */
const TARGETS = [
  { name: "mongodb", kind: "mongodb", uri: "mongodb://backup:bench-password@10.42.1.2:27017/?directConnection=true&authSource=admin" },
  { name: "keycloak-postgres", kind: "postgres", host: "10.42.1.4", database: "keycloak", user: "backup", password: "bench-password" },
];
type Part = { name: string; kind: string; ok: boolean; reason: string | null; bytes: number; seconds: number };

async function main(): Promise<number> {
  // The simulated runner calls from this machine: its servers' public address is 127.0.0.1.
  const hetzner = await startFakeHetzner({ actionMs: 500, serverIpv4: "127.0.0.1" });
  const fake = (path: string, init?: RequestInit) => fetch(`${hetzner.url}${path}`, init);
  await fake("/__fake/images", { method: "POST", body: JSON.stringify({ description: "backup runner", labels: { role: "backup-runner" } }) });
  await run.applyMigrations();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ADMIN_TOKEN: adminToken,
    HCLOUD_TOKEN: FAKE_HCLOUD_TOKEN,
    HCLOUD_ENDPOINT: `${hetzner.url}/v1`,
    RESTIC_REPOSITORY: "s3:https://0123456789abcdef.r2.cloudflarestorage.com/edge-ops-backups/swarm",
    RESTIC_PASSWORD: randomBytes(16).toString("hex"),
    R2_ACCESS_KEY_ID: "bench-r2-access-key",
    R2_SECRET_ACCESS_KEY: randomBytes(16).toString("hex"),
    PUBLIC_BASE_URL: base,
    BACKUP_DEADLINE_MINUTES: String(DEADLINE_SECONDS / 60),
    BACKUP_TARGETS: JSON.stringify(TARGETS),
  };
  const { dev, exited } = await run.startWranglerDev(port, ["--persist-to", run.persistDir, ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`])]);
  await run.waitForHealth(base, "/healthz", dev, exited);
  const admin = async <T>(path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${base}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const servers = async (selector: string) =>
    (await (await fake(`/__fake/servers?label_selector=${encodeURIComponent(selector)}`)).json()) as { id: number; user_data: string | null }[];

  const random = prng(seed);
  const results: { fault: Fault; status: string; parts: Part[]; serverSeconds: number; resticSeconds: number; beyond: number; calls: number }[] = [];
  for (let index = 0; index < runs; index += 1) {
    const fault = FAULTS[index < FAULTS.length ? index : Math.floor(random() * FAULTS.length)]!;
    if (fault === "create-503") await fake("/__fake/faults", { method: "POST", body: JSON.stringify({ method: "POST", path: "^/v1/servers$", status: 503, code: "unavailable", count: 1 }) });
    const started = await admin<{ id: string }>("/api/backups/run", { kind: "backup" });
    if (started.status !== 202) throw new Error(`starting run ${index} answered ${started.status}`);
    const id = started.body.id;
    let server: { id: number; user_data: string | null } | undefined;
    for (const until = Date.now() + 60_000; !server && Date.now() < until; await sleep(100)) [server] = await servers(`run=${id}`);
    if (!server) throw new Error(`run ${id}: no server within 60 s`);
    const token = /RUN_TOKEN=(\S+)/.exec(server.user_data ?? "")?.[1] ?? "";
    const resticSeconds = 1 + Math.round(random() * 20) / 10;
    if (fault !== "no-report") {
      // No CF-Connecting-IP from the runner: wrangler dev sets the connection's address.
      const config = await fetch(`${base}/backups/runs/${id}/config`, { headers: { authorization: `Bearer ${token}` } });
      if (config.status !== 200) throw new Error(`run ${id}: config answered ${config.status}`);
      const { version, targets } = (await config.json()) as { version: number; targets: { name: string; kind: string }[] };
      if (version !== 2) throw new Error(`run ${id}: config version ${version}`);
      await sleep(resticSeconds * 1000);
      if (fault === "delete-503") await fake("/__fake/faults", { method: "POST", body: JSON.stringify({ method: "DELETE", path: `^/v1/servers/${server.id}$`, status: 503, code: "unavailable", count: 2 }) });
      const parts: Part[] = targets.map((target, position) =>
        fault === "part-failed" && position === 0
          ? { name: target.name, kind: target.kind, ok: false, reason: "mongodump exited 1: connection refused", bytes: 0, seconds: 0.4 }
          : { name: target.name, kind: target.kind, ok: true, reason: null, bytes: 500_000, seconds: resticSeconds / 2 },
      );
      const snapshot = randomBytes(4).toString("hex");
      const report =
        fault === "old-report"
          ? { message_type: "summary", snapshot_id: snapshot, data_added: 1_000_000, total_duration: resticSeconds, exit_code: 0 }
          : {
              version: 2,
              parts,
              restic: { exit_code: 0, snapshot_id: snapshot, summary: { message_type: "summary", data_added: 1_000_000, total_duration: resticSeconds } },
              forget: { exit_code: 0 },
              restore_test: null,
              error: null,
            };
      for (let copy = 0; copy < (fault === "duplicate-report" ? 2 : 1); copy += 1) {
        await fetch(`${base}/backups/runs/${id}/report`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(report) });
      }
    }
    let final: { status: string; parts: Part[] | null; serverSeconds: number | null; hetznerCalls: number } | null = null;
    for (const until = Date.now() + 120_000; Date.now() < until; await sleep(250)) {
      const { body } = await admin<{ status: string; parts: Part[] | null; serverSeconds: number | null; hetznerCalls: number }>(`/api/backups/runs/${id}`);
      if (body.status === "done" || body.status === "partial" || body.status === "failed") {
        final = body;
        break;
      }
    }
    if (!final) throw new Error(`run ${id} did not finish within 120 s`);
    const serverSeconds = final.serverSeconds ?? 0;
    const beyond = serverSeconds - (fault === "no-report" ? 0 : resticSeconds);
    results.push({ fault, status: final.status, parts: final.parts ?? [], serverSeconds, resticSeconds: fault === "no-report" ? 0 : resticSeconds, beyond, calls: final.hetznerCalls });
    console.log(`bench: run ${index + 1}/${runs} ${fault}: ${final.status} (${describeParts(final.parts ?? [])}), server ${serverSeconds} s, beyond restic ${beyond.toFixed(1)} s, ${final.hetznerCalls} Hetzner calls`);
  }
  // Deletions finish with their actions; then nothing labelled role=backup may remain.
  await sleep(2000);
  const left = await servers("role=backup");
  const reported = results.filter((result) => result.fault !== "no-report");
  const maxBeyond = Math.max(...reported.map((result) => result.beyond));
  const pass = left.length === 0 && maxBeyond <= 120 && results.every((result) => result.status === EXPECTED[result.fault]);
  console.log(`\`\`\`
npm run bench:backup  (RUNS=${runs} SEED=${seed}, deadline ${DEADLINE_SECONDS} s, fake Hetzner actions 500 ms)
machine      ${cpus()[0]?.model.split(" ").slice(0, 2).join(" ")}, ${cpus().length} cores, ${platform()} ${release()}, node ${process.version}
${results.map((result) => `run          ${result.fault.padEnd(16)} ${result.status.padEnd(7)} server ${String(result.serverSeconds).padStart(3)} s, restic ${result.resticSeconds.toFixed(1)} s, beyond ${result.beyond.toFixed(1)} s, ${String(result.calls).padStart(2)} Hetzner calls; parts: ${describeParts(result.parts)}`).join("\n")}
outcomes     ${FAULTS.filter((fault) => results.some((result) => result.fault === fault)).map((fault) => `${fault} → ${EXPECTED[fault]}`).join(", ")} (expected)
beyond       max ${maxBeyond.toFixed(1)} s server time beyond the restic run, over runs that reported (target <= 120 s)
calls        ${(results.reduce((sum, result) => sum + result.calls, 0) / results.length).toFixed(1)} Hetzner calls per run on average (budget: 3600 per hour per project)
left         ${left.length} backup servers left behind (target 0)
result       ${pass ? "PASS" : "FAIL"}
\`\`\``);
  await hetzner.close();
  return pass ? 0 : 1;
}

/** "mongodb ok, keycloak-postgres FAILED (reason)", or "none" (no report, or an unreadable one). */
function describeParts(parts: Part[]): string {
  if (parts.length === 0) return "none";
  return parts.map((part) => (part.ok ? `${part.name} ok` : `${part.name} FAILED (${part.reason ?? "no reason"})`)).join(", ");
}

void run.finish(main);
