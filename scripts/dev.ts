// `npm run dev`: local development on embedded defaults, no account and no network.
//   1. .dev.vars from .dev.vars.example when it is missing,
//   2. local D1 migrations (non-interactive),
//   3. wrangler dev, with any extra arguments: `npm run dev -- --port 8788`.
//
// Wrangler is run with the Node that runs this script (Node 24 from the `node` devDependency
// under npm scripts, through tsx), so a different system `node` on PATH does not matter.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
// Offline by default: no metrics, and no attempt to download the `Request.cf` sample (which
// fails without network and prints a stack trace on every start).
const env = { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env, WRANGLER_SEND_METRICS: "false" };
const args = process.argv.slice(2);

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
// prompting: CI=true plus a closed stdin guarantees that.
console.log("dev: applying local D1 migrations");
const migrate = spawnSync(
  process.execPath,
  [wrangler, "d1", "migrations", "apply", "DB", "--local", ...sharedOptions(args)],
  { cwd: root, stdio: ["ignore", "inherit", "inherit"], env: { ...env, CI: "true" } },
);
if (migrate.status !== 0) {
  const why = migrate.error ? migrate.error.message : migrate.signal ? `signal ${migrate.signal}` : `exit ${migrate.status}`;
  console.error(`dev: applying local D1 migrations failed (${why})`);
  process.exit(migrate.status || 1);
}

const dev = spawn(process.execPath, [wrangler, "dev", ...args], { cwd: root, stdio: "inherit", env });
dev.on("error", (error) => {
  console.error(`dev: could not start wrangler dev: ${error.message}`);
  process.exit(1);
});

// Ctrl-C in a terminal already reaches wrangler (same process group); a signal sent to this
// process alone (kill, a process manager, an IDE) is forwarded. If wrangler has not stopped
// 10 s after the first signal, it is killed.
let killTimer: NodeJS.Timeout | undefined;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (dev.exitCode !== null || dev.signalCode !== null) return;
    dev.kill(signal);
    killTimer ??= setTimeout(() => dev.kill("SIGKILL"), 10_000).unref();
  });
}

dev.on("exit", (code, signal) => {
  clearTimeout(killTimer);
  process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
});
