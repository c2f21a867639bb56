// `npm run bundle-size [-- --outdir <dir>]`: the production Worker's upload, gzip'd, against a
// budget of 500 KiB. Without --outdir it builds the upload with
// `wrangler deploy --dry-run --env production --outdir <temporary folder>` (nothing is deployed,
// no account needed); with --outdir it measures a folder such a build wrote.
//
// Measured the way wrangler prints "Total Upload: … / gzip: …": one gzip stream of every uploaded
// module concatenated (checked against wrangler 4.156.2, `getSize` in
// deploy-helpers/src/deploy/helpers/bundle-reporter.ts, 2026-12-06). Sourcemaps and the README.md
// wrangler writes into --outdir are not modules, so they are left out.
//
// Exit codes: 0 within the budget, 1 above it or on error. In GitHub Actions the result is also
// added to the job summary.
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { processIo, runIfEntryPoint, UsageError, type Io } from "../infra/cli-io.ts";

export const BUDGET_BYTES = 500 * 1024;
const ENVIRONMENT = "production";
const KIB = 1024;

const USAGE = `usage: npm run bundle-size [-- --outdir <dir>]

  Builds the ${ENVIRONMENT} Worker with wrangler deploy --dry-run (or measures <dir>, written by
  wrangler deploy --dry-run --outdir <dir>) and fails when its modules, gzip'd, exceed ${BUDGET_BYTES / KIB} KiB.`;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export type BundleSize = { modules: string[]; bytes: number; gzipBytes: number };

/** The README.md wrangler leaves in --outdir ("This folder contains the built output assets…"). */
function isWranglerReadme(dir: string, name: string): boolean {
  return name === "README.md" && readFileSync(join(dir, name), "utf8").startsWith("This folder contains the built output");
}

/** Sizes the modules in a `wrangler deploy --dry-run --outdir` folder. */
export function measureBundle(dir: string): BundleSize {
  const modules = readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => statSync(join(dir, name)).isFile() && !name.endsWith(".map") && !isWranglerReadme(dir, name))
    .sort();
  if (modules.length === 0) throw new Error(`${dir} holds no modules: expected the output of wrangler deploy --dry-run --outdir`);
  const contents = modules.map((name) => readFileSync(join(dir, name)));
  const all = Buffer.concat(contents);
  return { modules, bytes: all.byteLength, gzipBytes: gzipSync(all).byteLength };
}

const kib = (bytes: number) => `${(bytes / KIB).toFixed(1)} KiB`;

/** Runs the dry-run build into `outdir`; wrangler's output is shown only when it fails. */
function build(outdir: string, env: NodeJS.ProcessEnv, io: Io): void {
  const wrangler = join(root, "node_modules", ".bin", "wrangler");
  const result = spawnSync(process.execPath, [wrangler, "deploy", "--dry-run", "--env", ENVIRONMENT, "--outdir", outdir], {
    cwd: root,
    encoding: "utf8",
    env: { ...env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    io.err(`${result.stdout ?? ""}${result.stderr ?? ""}`.trimEnd());
    const why = result.error ? result.error.message : result.signal ? `signal ${result.signal}` : `exit ${result.status}`;
    throw new Error(`wrangler deploy --dry-run --env ${ENVIRONMENT} failed (${why})`);
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = processIo): Promise<number> {
  let temporary: string | null = null;
  try {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: { outdir: { type: "string" }, help: { type: "boolean", short: "h", default: false } } }));
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    let dir = values.outdir;
    if (dir === undefined) {
      temporary = mkdtempSync(join(tmpdir(), "bundle-size-"));
      dir = temporary;
      build(dir, env, io);
    }
    const size = measureBundle(dir);
    const within = size.gzipBytes <= BUDGET_BYTES;
    const line =
      `bundle (${ENVIRONMENT}): ${kib(size.gzipBytes)} gzip, ${kib(size.bytes)} uncompressed, ${size.modules.length} module${size.modules.length === 1 ? "" : "s"}; ` +
      (within ? `within the ${kib(BUDGET_BYTES)} budget (${kib(BUDGET_BYTES - size.gzipBytes)} left)` : `over the ${kib(BUDGET_BYTES)} budget by ${kib(size.gzipBytes - BUDGET_BYTES)}`);
    if (within) io.out(line);
    else io.err(`error: ${line}`);
    if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, `${within ? "✅" : "❌"} ${line}\n`);
    return within ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError) io.err(`error: ${error.message}\n\n${USAGE}`);
    else io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    if (temporary !== null) rmSync(temporary, { recursive: true, force: true });
  }
}

await runIfEntryPoint(import.meta.url, main);
