// `npm run dev`: local development on embedded defaults, no account and no network, in a screenful.
//   1. .dev.vars from .dev.vars.example when it is missing,
//   2. local D1 migrations (non-interactive), summed up in a line; their output only if they fail,
//   3. wrangler dev on http://127.0.0.1:8787 with any extra arguments (`npm run dev -- --port 8788`),
//      at log level "info": request lines, warnings and errors, without the banner and the
//      bindings table (printed again on every reload) or the Worker's info lines
//      (`npm run dev -- --log-level log` shows all of them),
//   4. once /healthz answers: the URL, and which capabilities are configured and which are not,
//      naming the missing variables (never a value).
//
// Wrangler is run with the Node that runs this script (Node 24 from the `node` devDependency
// under npm scripts, through tsx), so a different system `node` on PATH does not matter.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Health, healthSchema } from "./deploy/smoke.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
// Offline by default: no metrics, no `Request.cf` sample download (which fails without network
// and prints a stack trace on every start) and no banner (which also asks npm for a newer wrangler).
const env = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", ...process.env, WRANGLER_SEND_METRICS: "false" };
const args = process.argv.slice(2);
const HEALTH_WAIT_MS = 120_000;

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`dev: wrangler needs Node >= 22.12, this is ${process.version}; run it as \`npm run dev\``);
  process.exit(1);
}
if (!existsSync(wrangler)) {
  console.error("dev: node_modules/.bin/wrangler is missing; run `npm ci` first");
  process.exit(1);
}

if (!existsSync(join(root, ".dev.vars"))) {
  copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
  console.log("dev: created .dev.vars from .dev.vars.example (local-only values)");
}

/** The value of the last `--name value` / `--name=value` among `argv`, if any. */
function optionValue(argv: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  argv.forEach((arg, i) => {
    if (arg === name && i + 1 < argv.length) value = argv[i + 1];
    else if (arg.startsWith(`${name}=`)) value = arg.slice(name.length + 1);
  });
  return value;
}
const given = (name: string) => args.some((arg) => arg === name || arg.startsWith(`${name}=`));

// Options of `wrangler dev` that also decide which local database the migrations must reach.
function sharedOptions(argv: readonly string[]): string[] {
  const shared: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const name = arg.split("=")[0]!;
    if (!["--persist-to", "--env", "-e", "--config", "-c"].includes(name)) continue;
    if (arg.includes("=")) shared.push(arg);
    else if (i + 1 < argv.length) shared.push(arg, argv[++i]!);
  }
  return shared;
}

// Wrangler asks "continue?" before applying migrations and, when the answer is no, still exits 0
// without applying them. In a CI or non-TTY context it takes the fallback answer, yes, instead of
// prompting: CI=true plus a closed stdin guarantees that. Its output (a table per migration
// applied) is kept for when it fails.
const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", ...sharedOptions(args)], {
  cwd: root,
  stdio: ["ignore", "pipe", "pipe"],
  encoding: "utf8",
  env: { ...env, CI: "true", NO_COLOR: "1" },
});
if (migrate.status !== 0) {
  const why = migrate.error ? migrate.error.message : migrate.signal ? `signal ${migrate.signal}` : `exit ${migrate.status}`;
  console.error(`${migrate.stdout ?? ""}${migrate.stderr ?? ""}`.trim());
  console.error(`dev: applying local D1 migrations failed (${why})`);
  process.exit(migrate.status || 1);
}
const known = readdirSync(join(root, "migrations")).filter((file) => file.endsWith(".sql")).length;
const applied = /About to apply (\d+) migration/.exec(migrate.stdout)?.[1];
console.log(applied ? `dev: local database: ${applied} of ${known} migrations applied now` : `dev: local database: up to date (${known} migrations)`);

const ip = optionValue(args, "--ip") ?? "127.0.0.1";
const port = optionValue(args, "--port") ?? "8787";
const protocol = optionValue(args, "--local-protocol") ?? "http";
// Where to reach it from here: an address that listens everywhere is reached on loopback.
const host = ip === "0.0.0.0" ? "127.0.0.1" : ip === "::" ? "[::1]" : ip.includes(":") ? `[${ip}]` : ip;
const url = `${protocol}://${host}:${port}`;
const devArgs = [
  "dev",
  ...(given("--ip") ? [] : ["--ip", ip]),
  // Explicit, so a busy 8787 fails loudly instead of moving to a port nobody expects.
  ...(given("--port") ? [] : ["--port", port]),
  ...(given("--log-level") || process.env.WRANGLER_LOG ? [] : ["--log-level", "info"]),
  ...args,
];
console.log(`dev: starting wrangler dev on ${url} (requests, warnings and errors; \`npm run dev -- --log-level log\` shows everything)`);

const dev = spawn(process.execPath, [wrangler, ...devArgs], { cwd: root, stdio: "inherit", env });
dev.on("error", (error) => {
  console.error(`dev: could not start wrangler dev: ${error.message}`);
  process.exit(1);
});
const running = () => dev.exitCode === null && dev.signalCode === null;

// Ctrl-C in a terminal already reaches wrangler (same process group); a signal sent to this
// process alone (kill, a process manager, an IDE) is forwarded. If wrangler has not stopped
// 10 s after the first signal, it is killed.
let killTimer: NodeJS.Timeout | undefined;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (!running()) return;
    dev.kill(signal);
    killTimer ??= setTimeout(() => dev.kill("SIGKILL"), 10_000).unref();
  });
}

dev.on("exit", (code, signal) => {
  clearTimeout(killTimer);
  process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
});

/** /healthz once it answers (200, or 503 when storage is down), or null when wrangler stopped or it never did. */
async function waitForHealth(): Promise<Health | null> {
  const until = Date.now() + HEALTH_WAIT_MS;
  while (running() && Date.now() < until) {
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
      const parsed = healthSchema.safeParse(await response.json());
      if (parsed.success) return parsed.data;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (running()) console.error(`dev: ${url}/healthz has not answered within ${HEALTH_WAIT_MS / 1000} s; wrangler dev is still running`);
  return null;
}

/** "A, B not set; <other problem>": the unset variables named together, other problems as said. */
function problemsLine(problems: readonly string[]): string {
  const unset = problems.flatMap((problem) => /^([A-Z0-9_]+) is not set$/.exec(problem)?.[1] ?? []);
  const others = problems.filter((problem) => !/^[A-Z0-9_]+ is not set$/.test(problem));
  return [...(unset.length > 0 ? [`${unset.join(", ")} not set`] : []), ...others].join("; ");
}

function summary(health: Health): string[] {
  const capabilities = Object.entries(health.capabilities);
  const configured = capabilities.filter(([, status]) => status.configured && !status.degraded).map(([name]) => name);
  const failing = Object.entries(health.checks).filter(([, check]) => !check.ok);
  const variablesFrom = optionValue(args, "--env-file") ?? ".dev.vars";
  return [
    "",
    `edge-ops is running at ${url} (variables from ${variablesFrom}; storage ${failing.length === 0 ? "ok" : "FAILING"})`,
    ...failing.map(([name, check]) => `  failing          ${name}: ${check.detail ?? "not ok"}`),
    `  configured       ${configured.join(", ") || "none"}`,
    ...capabilities
      .filter(([, status]) => status.configured && status.degraded)
      .map(([name, status]) => `  degraded         ${name}: ${problemsLine(status.problems ?? [])}`),
    ...capabilities
      .filter(([, status]) => !status.configured)
      .map(([name, status]) => `  not configured   ${name}: ${problemsLine(status.problems ?? [])}`),
    `  try              npm run send-samples -- --url ${url}`,
    `  admin            ${url}/admin/login (ADMIN_TOKEN from ${variablesFrom}); API ${url}/api/openapi.json`,
    "  Ctrl-C stops it; a change to the code reloads it.",
    "",
  ];
}

if (protocol === "http") {
  const health = await waitForHealth();
  if (health) console.log(summary(health).join("\n"));
} else {
  console.log(`dev: serving on ${url}; the capability summary needs http (see ${url}/healthz)`);
}
