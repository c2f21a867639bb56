// npm run bench:cost: every billable operation the platform performs for a realistic mix of
// webhooks and bot questions, counted from what the code does, and the price per million events
// at Cloudflare's published Workers Paid prices (scripts/bench/cloudflare-prices.ts).
//
// How it counts, and why there: inside workerd (the @cloudflare/vitest-plugin pool, the same
// workerd as `wrangler dev`), test/cost-bench-driver.ts calls the Worker's own fetch, queue and
// scheduled handlers with its real local bindings wrapped by counters
// (scripts/bench/cost-counters.ts). Counting outside the Worker keeps workers/ free of any bench
// switch; counting in the same isolate sees what no outside observer can: D1's own
// `meta.rows_read`/`rows_written` for every statement (raw() and first() included), each queue
// message's size, each KV, Durable Object and AI call, and the tokens of each Groq answer.
// `wrangler dev`'s local D1 file would give the final rows but not the rows read. The driver
// delivers queue messages itself in batches of `--batch` (Cloudflare's batch fills up to
// max_batch_size within max_batch_timeout: at a few events a second most batches hold one
// message, the default here), so every consumer invocation, retry and queue operation is one it
// made. The embedder is the deployed default (Workers AI, @cf/baai/bge-m3) through a counting
// stand-in for the AI binding; Groq is the contract fake, counted from its answers' `usage`.
// Not measured: CPU time and Durable Object duration (a local isolate's time is not what
// Cloudflare bills), storage.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CHARS_PER_TOKEN, CLOUDFLARE_PRICES, dollars, NEURONS_PER_MILLION_INPUT_TOKENS, PRICES_READ_ON } from "./bench/cloudflare-prices.ts";
import { emptyCounts, type CostReport, type Counts } from "./bench/cost-counters.ts";
import { root } from "./bench/wrangler-run.ts";


const HELP = `npm run bench:cost [-- options]
Counts every billable operation of a realistic mix of webhooks and bot questions (Worker
invocations, D1 rows read and written, Queues operations, KV, Durable Objects, Workers AI, Groq
tokens) inside workerd, and prices them per million events at Cloudflare's Workers Paid prices.
Options (each also an environment variable of that name):
  --webhooks N   webhooks in the mix (WEBHOOKS, default 1000)
  --questions N  bot questions (QUESTIONS, default 100)
  --batch N      messages per queue consumer invocation (BATCH, default 1: light traffic;
                 100 is a busy minute)
  --timeout S    give up after S seconds (TIMEOUT, default 300)
  --detail       also list each kind's statements with the most rows written and read
BENCH_DEBUG=1 shows the Worker's log lines.`;

const { values: args } = parseArgs({
  options: {
    webhooks: { type: "string" },
    questions: { type: "string" },
    batch: { type: "string" },
    timeout: { type: "string" },
    detail: { type: "boolean" },
    help: { type: "boolean" },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const positive = (name: string, value: string | undefined, fallback: number, min = 1) => {
  const number = Number(value ?? fallback);
  if (!Number.isInteger(number) || number < min) {
    console.error(`bench: ${name} must be an integer >= ${min}`);
    process.exit(2);
  }
  return number;
};
const webhooks = positive("--webhooks", args.webhooks ?? process.env.WEBHOOKS, 1000);
const questions = positive("--questions", args.questions ?? process.env.QUESTIONS, 100, 0);
const batch = positive("--batch", args.batch ?? process.env.BATCH, 1);
const timeoutSeconds = positive("--timeout", args.timeout ?? process.env.TIMEOUT, 300);

/** The money and the operations of some counts, priced at the published rates. */
function priced(counts: Counts) {
  const requests = counts.invocations.fetch + counts.invocations.queue + counts.invocations.scheduled;
  const queueOperations = Object.values(counts.queues).reduce((sum, queue) => sum + queue.operations, 0);
  const kvWrites = counts.kv.writes + counts.kv.deletes + counts.kv.lists;
  const aiTokens = counts.ai.characters / CHARS_PER_TOKEN;
  const neurons = Object.entries(counts.ai.byModel).length > 0 ? (aiTokens * (NEURONS_PER_MILLION_INPUT_TOKENS["@cf/baai/bge-m3"] ?? 0)) / 1_000_000 : 0;
  const usd = {
    requests: dollars(CLOUDFLARE_PRICES.workerRequests, requests),
    d1Read: dollars(CLOUDFLARE_PRICES.d1RowsRead, counts.d1.rowsRead),
    d1Written: dollars(CLOUDFLARE_PRICES.d1RowsWritten, counts.d1.rowsWritten),
    queues: dollars(CLOUDFLARE_PRICES.queueOperations, queueOperations),
    kv: dollars(CLOUDFLARE_PRICES.kvReads, counts.kv.reads) + dollars(CLOUDFLARE_PRICES.kvWrites, kvWrites),
    durableObjects: dollars(CLOUDFLARE_PRICES.durableObjectRequests, counts.durableObjectRequests),
    ai: dollars(CLOUDFLARE_PRICES.workersAiNeurons, neurons),
  };
  const total = Object.values(usd).reduce((sum, value) => sum + value, 0);
  return { requests, queueOperations, kvWrites, neurons, usd, total, groqTokens: counts.groq.promptTokens + counts.groq.completionTokens };
}

function sumCounts(all: readonly Counts[]): Counts {
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof b === "number") return (typeof a === "number" ? a : 0) + b;
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [key, value] of Object.entries(b as Record<string, unknown>)) out[key] = add(out[key] ?? (typeof value === "number" ? 0 : {}), value);
    return out;
  };
  return all.reduce<Counts>((total, counts) => add(total, counts) as Counts, emptyCounts());
}

const fmt = (value: number, digits = 0) => value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const money = (value: number) => `$${value.toFixed(value < 1 ? 4 : 2)}`;

function row(label: string, counts: Counts, events: number): string {
  const p = priced(counts);
  const per = 1000 / events;
  const cells = [
    fmt(p.requests * per),
    fmt(counts.d1.rowsRead * per),
    fmt(counts.d1.rowsWritten * per),
    fmt(p.queueOperations * per),
    fmt((counts.kv.reads + p.kvWrites) * per),
    fmt(counts.durableObjectRequests * per),
    fmt(counts.ai.calls * per),
    fmt(p.groqTokens * per),
    money(p.total * per),
  ];
  return `${label.padEnd(44)} ${cells.map((cell, index) => cell.padStart([9, 10, 10, 9, 5, 5, 8, 11, 9][index]!)).join(" ")}`;
}

async function runDriver(reportFile: string): Promise<void> {
  const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
  const child = spawn(process.execPath, [vitest, "run", "--config", join(root, "scripts", "bench", "cost-vitest.config.ts")], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", COST_REPORT_FILE: reportFile, COST_WEBHOOKS: String(webhooks), COST_QUESTIONS: String(questions), COST_BATCH: String(batch) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    if (process.env.BENCH_DEBUG) process.stderr.write(text);
    tail.push(...text.split("\n"));
    tail.splice(0, Math.max(0, tail.length - 60));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const stop = () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const watchdog = setTimeout(() => {
    console.error(`bench: no report after ${timeoutSeconds} s, stopping`);
    stop();
  }, timeoutSeconds * 1000);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearTimeout(watchdog);
  if (code !== 0) throw new Error(`the cost driver exited ${code}:\n${tail.join("\n")}`);
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "edge-ops-cost-"));
  const reportFile = join(dir, "report.json");
  const started = Date.now();
  let report: CostReport;
  try {
    await runDriver(reportFile);
    report = JSON.parse(readFileSync(reportFile, "utf8")) as CostReport;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  const webhookPhases = report.phases.filter((phase) => phase.kind !== "bot question");
  const mixEvents = report.phases.reduce((sum, phase) => sum + phase.events, 0);
  const mix = sumCounts(report.phases.map((phase) => phase.counts));
  const mixPrice = priced(mix);

  console.log(`npm run bench:cost  (WEBHOOKS=${webhooks} QUESTIONS=${questions} BATCH=${batch})`);
  console.log(`machine      ${cpus()[0]?.model.trim() ?? "unknown"}, ${cpus().length} cores, node ${process.version}; ${fmt(seconds, 1)} s`);
  console.log(`prices       Cloudflare Workers Paid, read ${PRICES_READ_ON} (scripts/bench/cloudflare-prices.ts); overage rates, allowances not deducted`);
  console.log(`providers    embedder Workers AI @cf/baai/bge-m3 (counting stand-in), store D1, Groq (fake) for answers and summaries; consumer batches of ${batch}`);
  console.log("");
  console.log(`per 1,000 events of a kind                    requests    D1 read D1 written queue ops    KV   DO AI calls Groq tokens   $/1,000`);
  for (const phase of report.phases) console.log(row(`${phase.kind} (${phase.events})`, phase.counts, phase.events));
  console.log(row(`mix (${mixEvents} events)`, mix, mixEvents));
  console.log("");
  const perMillion = (value: number) => (value / mixEvents) * 1_000_000;
  console.log(
    `price        ${money(perMillion(mixPrice.total))} per million events of this mix: D1 writes ${money(perMillion(mixPrice.usd.d1Written))}, D1 reads ${money(perMillion(mixPrice.usd.d1Read))}, requests ${money(perMillion(mixPrice.usd.requests))}, queues ${money(perMillion(mixPrice.usd.queues))}, Workers AI ${money(perMillion(mixPrice.usd.ai))} (${fmt(perMillion(mixPrice.neurons))} neurons, tokens estimated at ${CHARS_PER_TOKEN} characters), KV ${money(perMillion(mixPrice.usd.kv))}, Durable Objects ${money(perMillion(mixPrice.usd.durableObjects))}`,
  );
  console.log(`groq         ${fmt(perMillion(mix.groq.promptTokens))} prompt + ${fmt(perMillion(mix.groq.completionTokens))} completion tokens per million events (${fmt(perMillion(mix.groq.calls))} calls; Groq's prices not in the file: not priced)`);
  const webhookCounts = sumCounts(webhookPhases.map((phase) => phase.counts));
  const webhookEvents = webhookPhases.reduce((sum, phase) => sum + phase.events, 0);
  console.log(`webhooks     ${money((priced(webhookCounts).total / webhookEvents) * 1_000_000)} per million webhooks alone`);
  const tick = priced(report.tick);
  console.log(
    `cron tick    ${fmt(report.tick.d1.rowsRead)} rows read, ${fmt(report.tick.d1.rowsWritten)} written, ${fmt(tick.requests)} invocations per tick after the mix; ${money(tick.total * 8640)} a month at one tick every 5 minutes`,
  );
  console.log("");
  const top = (counts: Counts, events: number, key: "rowsWritten" | "rowsRead", n: number, unit = "event") =>
    Object.entries(counts.d1.bySql)
      .filter(([, entry]) => entry[key] > 0)
      .sort(([, a], [, b]) => b[key] - a[key])
      .slice(0, n)
      .map(([sql, entry]) => `  ${fmt(entry[key] / events, 1).padStart(7)} per ${unit.padEnd(5)}  ${fmt(entry.statements).padStart(6)} stmts  ${sql}`);
  console.log("most rows written (statement, first 90 characters):");
  for (const line of top(mix, mixEvents, "rowsWritten", 6)) console.log(line);
  console.log("most rows read:");
  for (const line of top(mix, mixEvents, "rowsRead", 6)) console.log(line);
  if (args.detail) {
    for (const phase of report.phases) {
      console.log(`\n${phase.kind}: rows written`);
      for (const line of top(phase.counts, phase.events, "rowsWritten", 8)) console.log(line);
      console.log(`${phase.kind}: rows read`);
      for (const line of top(phase.counts, phase.events, "rowsRead", 8)) console.log(line);
    }
    console.log("\ncron tick: rows read");
    for (const line of top(report.tick, 1, "rowsRead", 12, "tick")) console.log(line);
  }
  console.log("");
  console.log(`events       stored: ${Object.entries(report.eventStatuses).map(([status, n]) => `${n} ${status}`).join(", ")}; ${report.retries} queue redeliveries, ${report.deadLettered} dead-lettered`);
  for (const failure of [...new Set(report.failures)].slice(0, 10)) console.log(`failure      ${failure}`);
  const ok = report.failures.length === 0 && seconds < 300;
  console.log(`result       ${ok ? "PASS" : "FAIL"}${seconds >= 300 ? " (over 5 minutes)" : ""}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
