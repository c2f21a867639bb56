// Every Cloudflare change goes through one program, called like wrangler: `<WRANGLER> <args>`,
// in the repository root (so it reads wrangler.toml), inheriting the CLI's environment
// (CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID travel there, never on a command line). Tests
// stand a recording fake in for it, as `infra` runs ssh through INFRA_SSH.
//
// Its output formats, checked against wrangler 4.156.2 (its bundled sources, and the commands run
// against a local stand-in of the Cloudflare API through CLOUDFLARE_API_BASE_URL), 2026-12-06:
// - `queues list [--page N]`: a cli-table3 box table (id, name, created_on, modified_on,
//   producers, consumers; a jurisdiction column when any queue has one), one API page per call,
//   an empty page printing no table; no JSON option.
// - `d1 list --json`: the API's database objects as a JSON array (all pages).
// - `kv namespace list`: always a JSON array of {id, title, supports_url_encoding}.
// - `deployments status --json`: the latest deployment ({id, versions: [{version_id, percentage}],
//   …}); a Worker never deployed exits 1 with "This Worker does not exist on your account.
//   [code: 10007]" (or "has no deployments").
// - `deploy`: with WRANGLER_OUTPUT_FILE_PATH set, appends an ND-JSON entry {"type":"deploy",
//   "version_id", "targets": ["https://<worker>.<subdomain>.workers.dev", "<host> (custom
//   domain)", "schedule: …", …]} to that file.
// - stdin that is not a terminal makes wrangler non-interactive: confirmations take their
//   fallback (yes for `d1 migrations apply` and `rollback`), nothing waits for an answer.
import { spawn } from "node:child_process";
import { z } from "zod";

export type WranglerResult = { exitCode: number; stdout: string; stderr: string };

export type WranglerOptions = {
  /** The program (WRANGLER, default the repository's node_modules/.bin/wrangler). */
  program: string;
  /** Where it runs: the folder holding wrangler.toml. */
  cwd: string;
  /** The environment it runs with: the CLI's own. */
  env: NodeJS.ProcessEnv;
  /** Kill a command that runs longer; default 10 minutes (a deploy uploads a bundle). */
  timeoutMs?: number;
};

/** A wrangler command that failed: its arguments, exit code and wrangler's own error lines. */
export class WranglerError extends Error {
  constructor(
    readonly args: string[],
    readonly result: WranglerResult,
    readonly secrets: string[],
  ) {
    const lines = errorLines(result, secrets);
    super(`\`wrangler ${args.join(" ")}\` exited ${result.exitCode}${lines.length > 0 ? `:\n${lines.map((line) => `    ${line}`).join("\n")}` : ""}`);
    this.name = "WranglerError";
  }
}

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
export const stripAnsi = (text: string) => text.replace(ANSI, "");

/**
 * Wrangler's error block (from its "✘ [ERROR]" line), at most 12 lines, without its log-file and
 * bug-report lines; any secret value replaced, should one ever be echoed.
 */
function errorLines(result: WranglerResult, secrets: string[]): string[] {
  const text = stripAnsi(`${result.stderr}\n${result.stdout}`);
  const lines = text.split("\n").map((line) => line.trimEnd());
  const start = lines.findIndex((line) => line.includes("[ERROR]"));
  const block = (start >= 0 ? lines.slice(start) : lines.filter((line) => line.trim() !== "").slice(-6))
    .filter((line) => line.trim() !== "" && !/Logs were written to|please open an issue|report this issue/i.test(line))
    .slice(0, 12);
  return block.map((line) => secrets.reduce((shown, secret) => (secret ? shown.split(secret).join("****") : shown), line));
}

export class Wrangler {
  /** Commands run, in order (arguments only), for the summary and for tests. */
  readonly commands: string[][] = [];

  constructor(private readonly options: WranglerOptions) {}

  /** The API token in wrangler's environment: masked should wrangler ever print it. */
  get token(): string {
    return this.options.env.CLOUDFLARE_API_TOKEN ?? "";
  }

  /** Runs `wrangler <args>`; never throws on a non-zero exit. `extraEnv` is added to its environment. */
  run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<WranglerResult> {
    this.commands.push(args);
    return new Promise((resolve, reject) => {
      // stdin closed (not a terminal): wrangler never prompts.
      const child = spawn(this.options.program, args, { cwd: this.options.cwd, env: { ...this.options.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const timer = setTimeout(() => child.kill("SIGTERM"), this.options.timeoutMs ?? 600_000);
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot run wrangler as ${JSON.stringify(this.options.program)} (WRANGLER): ${error.message}`));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ exitCode: code ?? (signal ? 124 : 1), stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
      });
    });
  }

  /** Runs `wrangler <args>` and answers its stdout; a non-zero exit throws WranglerError. */
  async check(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
    const result = await this.run(args, extraEnv);
    if (result.exitCode !== 0) throw new WranglerError(args, result, [this.token]);
    return result.stdout;
  }
}

// ---------------------------------------------------------------------------------------------
// Output parsers

/** Box-drawing table rows (cli-table3's default characters), each as its cells. */
function tableRows(text: string): string[][] {
  return stripAnsi(text)
    .split("\n")
    .filter((line) => line.trimStart().startsWith("│"))
    .map((line) =>
      line
        .trim()
        .replace(/^│|│$/g, "")
        .split("│")
        .map((cell) => cell.trim()),
    );
}

/** The queue names of one `wrangler queues list` page (none for an empty page). */
export function parseQueuesPage(stdout: string): string[] {
  const rows = tableRows(stdout);
  if (rows.length === 0) return [];
  const nameColumn = rows[0]!.indexOf("name");
  if (nameColumn < 0) throw new Error("`wrangler queues list` printed a table without a name column");
  return rows.slice(1).map((row) => row[nameColumn] ?? "").filter((name) => name !== "");
}

/** The first JSON array in wrangler's stdout (a banner may precede it). */
function jsonArray(stdout: string, command: string): unknown {
  const text = stripAnsi(stdout);
  const start = text.indexOf("[");
  const end = text.lastIndexOf("]");
  if (start < 0 || end < start) throw new Error(`\`wrangler ${command}\` printed no JSON array`);
  try {
    return JSON.parse(text.slice(start, end + 1));
  } catch {
    throw new Error(`\`wrangler ${command}\` printed JSON that does not parse`);
  }
}

const d1ListSchema = z.array(z.object({ uuid: z.string(), name: z.string() }).loose());
const kvListSchema = z.array(z.object({ id: z.string(), title: z.string() }).loose());

export type NamedResource = { id: string; name: string };

export function parseD1List(stdout: string): NamedResource[] {
  return d1ListSchema.parse(jsonArray(stdout, "d1 list --json")).map((database) => ({ id: database.uuid, name: database.name }));
}

export function parseKvList(stdout: string): NamedResource[] {
  return kvListSchema.parse(jsonArray(stdout, "kv namespace list")).map((namespace) => ({ id: namespace.id, name: namespace.title }));
}

const deploymentSchema = z.object({ id: z.string(), versions: z.array(z.object({ version_id: z.string(), percentage: z.number() }).loose()) }).loose();

/** The version serving 100% of the latest deployment, or null when the traffic is split. */
export function parseLiveVersion(stdout: string): string | null {
  const text = stripAnsi(stdout);
  const start = text.indexOf("{");
  if (start < 0) throw new Error("`wrangler deployments status --json` printed no JSON object");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice(start, text.lastIndexOf("}") + 1));
  } catch {
    throw new Error("`wrangler deployments status --json` printed JSON that does not parse");
  }
  const deployment = deploymentSchema.parse(parsed);
  return deployment.versions.find((version) => version.percentage === 100)?.version_id ?? null;
}

/** `deployments status` for a Worker that does not exist yet (a first deploy). */
export const isMissingWorker = (result: WranglerResult) => /\[code: 10007\]|has no deployments/.test(stripAnsi(`${result.stderr}\n${result.stdout}`));

const deployRecordSchema = z.object({ type: z.literal("deploy"), version_id: z.string().optional(), targets: z.array(z.string()).optional() }).loose();

export type DeployRecord = { versionId: string | null; targets: string[] };

/** The last `deploy` entry of a WRANGLER_OUTPUT_FILE_PATH file (ND-JSON), or null. */
export function parseDeployRecord(ndjson: string): DeployRecord | null {
  let found: DeployRecord | null = null;
  for (const line of ndjson.split("\n")) {
    if (line.trim() === "") continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = deployRecordSchema.safeParse(entry);
    if (parsed.success) found = { versionId: parsed.data.version_id ?? null, targets: parsed.data.targets ?? [] };
  }
  return found;
}

/**
 * The address to smoke-test among a deploy's targets: the workers.dev URL, else the first custom
 * domain (`<host> (custom domain)`); route patterns (`example.com/*`) name no single URL.
 */
export function smokeTestBase(targets: string[]): string | null {
  const workersDev = targets.find((target) => /^https:\/\/[^\s/]+\.workers\.dev$/.test(target));
  if (workersDev) return workersDev;
  const customDomain = targets.map((target) => /^([a-z0-9.-]+) \(custom domain\)$/i.exec(target)?.[1]).find((host) => host !== undefined);
  return customDomain ? `https://${customDomain}` : null;
}

/** Migration files `d1 migrations apply` reported applied (✅ in its status table), or null for "No migrations to apply!". */
export function parseAppliedMigrations(stdout: string): string[] | null {
  if (stdout.includes("No migrations to apply")) return null;
  const applied = new Set<string>();
  for (const row of tableRows(stdout)) if (row.length >= 2 && row[1]!.startsWith("✅")) applied.add(row[0]!);
  return [...applied];
}
