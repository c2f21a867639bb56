// `npm run bench:intake`: starts the Worker locally (wrangler dev, fresh local D1), sends N signed
// webhooks (Aircall and Guesty, some exact redeliveries) at concurrency C, prints throughput and
// latency, then checks through the admin API that stored events == unique events sent.
//
//   N=2000 C=16 DUP=0.1 npm run bench:intake
import { spawn, spawnSync } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const N = Number(process.env.N ?? 2000);
const C = Number(process.env.C ?? 16);
const DUP = Number(process.env.DUP ?? 0.1);
const TOTAL_TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 5 * 60_000);

const aircallToken = randomBytes(16).toString("hex");
const guestySecret = `whsec_${randomBytes(32).toString("base64")}`;
const adminToken = randomBytes(24).toString("hex");

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

// ---- the deliveries ----

let seq = 0;
function aircallCall() {
  const id = 9_000_000 + seq;
  const stage = ["call.created", "call.answered", "call.ended", "call.tagged"][seq % 4];
  const status = { "call.created": "initial", "call.answered": "answered" }[stage] ?? "done";
  const started = 1_763_000_000 + seq;
  return {
    resource: "call",
    event: stage,
    timestamp: started + 60,
    token: aircallToken,
    data: {
      id,
      direction: seq % 2 ? "inbound" : "outbound",
      status,
      started_at: started,
      answered_at: status === "initial" ? null : started + 4,
      ended_at: status === "done" ? started + 60 : null,
      duration: status === "done" ? 56 : 0,
      raw_digits: `+44 20 7946 ${String(seq % 10_000).padStart(4, "0")}`,
      user: { id: 10 + (seq % 5), name: `Agent ${seq % 5}`, email: `agent${seq % 5}@example.com` },
      number: { id: 3, name: "Front desk", digits: "+44 20 7946 0000" },
      tags: stage === "call.tagged" ? [{ id: 1, name: "maintenance" }] : [],
      comments: [],
    },
  };
}

function aircallContact() {
  return {
    resource: "contact",
    event: "contact.created",
    timestamp: 1_763_000_000 + seq,
    token: aircallToken,
    data: {
      id: 5_000_000 + seq,
      first_name: "Guest",
      last_name: `No${seq}`,
      company_name: null,
      information: "",
      emails: [{ id: seq, label: "Work", value: `guest${seq}@example.com` }],
      phone_numbers: [],
    },
  };
}

function guestyGuest() {
  return {
    event: "guest.created",
    by: "host@example.com",
    guest: { _id: `g${seq}`, fullName: `Guest ${seq}`, firstName: "Guest", lastName: String(seq), emails: [`g${seq}@example.com`], phones: [] },
  };
}

function guestyReservation() {
  return {
    event: "reservation.new",
    reservation: {
      _id: `r${seq}`,
      confirmationCode: `HM${seq}`,
      status: "confirmed",
      checkIn: "2026-12-20T15:00:00.000Z",
      checkOut: "2026-12-27T10:00:00.000Z",
      listingId: "listing-1",
      guestId: `g${seq}`,
      lastUpdatedAt: new Date(1_763_000_000_000 + seq * 1000).toISOString(),
      guestsCount: 2,
      nightsCount: 7,
      source: "airbnb2",
    },
  };
}

function newDelivery() {
  seq += 1;
  switch (seq % 4) {
    case 0:
      return { source: "aircall", body: JSON.stringify(aircallContact()) };
    case 1:
    case 2:
      return { source: "aircall", body: JSON.stringify(aircallCall()) };
    default:
      return { source: "guesty", id: `msg_bench_${seq}`, body: JSON.stringify(seq % 8 === 3 ? guestyGuest() : guestyReservation()) };
  }
}

function requestFor(delivery) {
  const headers = { "content-type": "application/json" };
  if (delivery.source === "guesty") {
    // Signed at send time, as Svix does on every attempt.
    const timestamp = String(Math.floor(Date.now() / 1000));
    const key = Buffer.from(guestySecret.slice("whsec_".length), "base64");
    const signature = createHmac("sha256", key).update(`${delivery.id}.${timestamp}.${delivery.body}`).digest("base64");
    Object.assign(headers, { "svix-id": delivery.id, "svix-timestamp": timestamp, "svix-signature": `v1,${signature}` });
  }
  return { method: "POST", headers, body: delivery.body };
}

const keyOf = (delivery) =>
  delivery.source === "guesty" ? `guesty_${delivery.id}` : `aircall_${createHash("sha256").update(delivery.body).digest("hex")}`;

function buildPlan() {
  const plan = [];
  for (let i = 0; i < N; i += 1) {
    const redeliver = plan.length > 0 && Math.random() < DUP;
    plan.push(redeliver ? plan[Math.floor(Math.random() * plan.length)] : newDelivery());
  }
  return plan;
}

// ---- running ----

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function waitForHealth(base, deadline) {
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("wrangler dev did not become healthy in time");
}

async function storedEventCount(base) {
  let count = 0;
  let cursor = null;
  do {
    const url = `${base}/api/events?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const response = await fetch(url, { headers: { authorization: `Bearer ${adminToken}` } });
    if (!response.ok) throw new Error(`GET /api/events answered ${response.status}`);
    const page = await response.json();
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

async function main() {
  const started = Date.now();
  const deadline = started + TOTAL_TIMEOUT_MS;
  const persist = mkdtempSync(join(tmpdir(), "bench-intake-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  let dev;
  const stop = () => {
    if (dev && dev.exitCode === null) {
      try {
        process.kill(-dev.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    rmSync(persist, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });
  const watchdog = setTimeout(() => {
    console.error(`bench: aborted after ${TOTAL_TIMEOUT_MS} ms`);
    stop();
    process.exit(2);
  }, TOTAL_TIMEOUT_MS);

  try {
    const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {
      cwd: root,
      env,
      encoding: "utf8",
    });
    if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stderr}`);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const vars = [`AIRCALL_WEBHOOK_TOKENS:${aircallToken}`, `GUESTY_WEBHOOK_SECRETS:${guestySecret}`, `ADMIN_TOKEN:${adminToken}`];
    dev = spawn(
      wrangler,
      ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--log-level", "error", ...vars.flatMap((v) => ["--var", v])],
      { cwd: root, env, detached: true, stdio: ["ignore", "ignore", "pipe"] },
    );
    let devErrors = "";
    dev.stderr.on("data", (chunk) => {
      devErrors = (devErrors + chunk).slice(-4000);
    });
    await waitForHealth(base, deadline);

    const plan = buildPlan();
    const unique = new Set(plan.map(keyOf));
    const latencies = [];
    const failures = new Map();
    let reportedDuplicates = 0;
    let next = 0;
    const sendStarted = performance.now();
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (next < plan.length) {
          const delivery = plan[next++];
          const t0 = performance.now();
          const response = await fetch(`${base}/webhooks/${delivery.source}`, requestFor(delivery));
          const body = await response.text();
          latencies.push(performance.now() - t0);
          if (response.status !== 200) failures.set(response.status, (failures.get(response.status) ?? 0) + 1);
          else if (JSON.parse(body).duplicate) reportedDuplicates += 1;
        }
      }),
    );
    const elapsedMs = performance.now() - sendStarted;
    const stored = await storedEventCount(base);

    latencies.sort((a, b) => a - b);
    const ms = (value) => `${value.toFixed(1)} ms`;
    const pass = failures.size === 0 && stored === unique.size;
    console.log(
      [
        "bench:intake",
        `  machine      ${cpus()[0]?.model ?? "unknown"} x${cpus().length}, node ${process.version}`,
        `  requests     N=${plan.length} at C=${C} (DUP=${DUP})`,
        `  throughput   ${(plan.length / (elapsedMs / 1000)).toFixed(0)} events/s over ${(elapsedMs / 1000).toFixed(2)} s`,
        `  latency      p50 ${ms(percentile(latencies, 50))}  p90 ${ms(percentile(latencies, 90))}  p99 ${ms(percentile(latencies, 99))}  max ${ms(latencies.at(-1))}`,
        `  sent         ${unique.size} unique, ${plan.length - unique.size} redeliveries; server reported ${reportedDuplicates} duplicates`,
        `  non-200      ${failures.size === 0 ? "none" : JSON.stringify(Object.fromEntries(failures))}`,
        `  stored       ${stored} events (expected ${unique.size}): ${pass ? "PASS" : "FAIL"}`,
      ].join("\n"),
    );
    if (!pass && devErrors) console.error(`wrangler stderr (tail):\n${devErrors}`);
    process.exitCode = pass ? 0 : 1;
  } finally {
    clearTimeout(watchdog);
    stop();
  }
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
