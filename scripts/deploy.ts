// `npm run deploy -- --env <staging|production> [--dry-run] [--url <base URL>]`
//
// From a clone to a running environment: creates what the environment lacks on the Cloudflare
// account and nothing else, applies the remote D1 migrations, deploys, smoke-tests /healthz and
// prints what each capability still lacks; a failed smoke test rolls back to the version that
// was live before. Every Cloudflare call goes through wrangler (WRANGLER, default the repository's
// own, 4.156.2), authenticated by CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID in its
// environment; it never prompts (stdin closed), so CI runs it as a person does.
//
// What is created and by whom (docs/deploying.md explains why):
// - queues and dead-letter queues: here, `wrangler queues create`, after `wrangler queues list`
//   (wrangler's provisioning creates a producer's queue but refuses to deploy a consumer of a
//   missing one, and a dead-letter queue is only ever consumed);
// - D1 databases: here, `wrangler d1 create <database_name>` after `wrangler d1 list --json`: the
//   migrations must run before the new code does, so the database must exist before the deploy;
//   wrangler.toml names it and holds no id (wrangler binds a name-only D1 binding by name);
// - KV namespaces: wrangler deploy's automatic provisioning (a KV binding has no name to look up,
//   so an explicit creation would need its id in wrangler.toml); later deploys keep the binding.
//
// Exit codes: 0 deployed and healthy (or --dry-run: the plan printed and the bundle built),
// 1 error (nothing changed, a step failed, or the smoke test failed and the deploy was rolled back).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { processIo, runIfEntryPoint, UsageError, type Io } from "../infra/cli-io.ts";
import { declaredEnvironments, readDeployEnvironment, type D1Need, type DeployEnvironment } from "./deploy/environment.ts";
import { capabilityReport, smokeTest } from "./deploy/smoke.ts";
import {
  isMissingWorker,
  parseAppliedMigrations,
  parseD1List,
  parseDeployRecord,
  parseKvList,
  parseLiveVersion,
  parseQueuesPage,
  smokeTestBase,
  stripAnsi,
  Wrangler,
  WranglerError,
  type NamedResource,
} from "./deploy/wrangler.ts";

const USAGE = `usage: npm run deploy -- --env <env> [--dry-run] [--url <base URL>]

  --env      a wrangler.toml environment ([env.staging], [env.production])
  --dry-run  print the plan and build the bundle (wrangler deploy --dry-run); change nothing
  --url      the deployed Worker's base URL for the smoke test (default: the workers.dev URL
             or custom domain wrangler deploy prints)

environment: CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID (required; never on a command line),
             WRANGLER (the wrangler program), DEPLOY_SMOKE_ATTEMPTS (default 6),
             DEPLOY_SMOKE_INTERVAL_MS (default 5000), DEPLOY_SMOKE_TIMEOUT_MS (default 10000)

exit: 0 deployed and /healthz ok (--dry-run: plan printed, bundle built), 1 error or rolled back`;

/**
 * The API token's permissions, as the dashboard names them (API docs say Write for Edit);
 * checked against Cloudflare's "API token permissions" reference, 2026-12-06.
 */
export const TOKEN_PERMISSIONS = [
  "Account · Workers Scripts · Edit (upload, deploy, rollback, secrets)",
  "Account · D1 · Edit (create the database, apply migrations)",
  "Account · Workers KV Storage · Edit (the SECRETS_KV namespace)",
  "Account · Queues · Edit (queues, dead-letter queues, consumers)",
  "Account · Account Settings · Read",
  "Account · Workers Tail · Read (only for wrangler tail)",
  "Zone · Workers Routes · Edit (only with routes or custom domains, on their zone)",
];

const ACCOUNT_ID = /^[0-9a-f]{32}$/;
const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export type DeployDependencies = {
  /** The smoke test's fetch (tests map the workers.dev address to a local server). */
  fetch?: typeof fetch;
  /** Waits between smoke-test attempts. */
  sleep?: (ms: number) => Promise<void>;
};

/** Fails before any call, naming each missing or malformed variable (never its value). */
function checkCredentials(env: NodeJS.ProcessEnv): void {
  const problems: string[] = [];
  if (!env.CLOUDFLARE_API_TOKEN) {
    problems.push(
      [
        "CLOUDFLARE_API_TOKEN is not set: an API token of the account (dash.cloudflare.com → My Profile → API Tokens → Create Custom Token) with",
        ...TOKEN_PERMISSIONS.map((permission) => `  - ${permission}`),
        "  (for --dry-run, the same with Read instead of Edit: it only lists)",
      ].join("\n"),
    );
  }
  if (!env.CLOUDFLARE_ACCOUNT_ID) problems.push("CLOUDFLARE_ACCOUNT_ID is not set: the account's id (32 hex characters; dash.cloudflare.com/<account id>)");
  else if (!ACCOUNT_ID.test(env.CLOUDFLARE_ACCOUNT_ID)) problems.push("CLOUDFLARE_ACCOUNT_ID: must be the account's id, 32 lower-case hex characters");
  // Not a command-line mistake: no usage text, just what to set.
  if (problems.length > 0) throw new Error(problems.join("\n"));
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, minimum = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < minimum) throw new UsageError(`${name} must be an integer ≥ ${minimum}`);
  return value;
}

const urlSchema = z.url({ protocol: /^https?$/ });

// ---------------------------------------------------------------------------------------------
// What exists, what to do

type Observed = {
  queues: Set<string>;
  databases: NamedResource[];
  namespaces: NamedResource[];
  /** The version serving 100% now: the rollback target; null on a first deploy or a split. */
  liveVersion: string | null;
  workerExists: boolean;
};

type Plan = { createQueues: string[]; createDatabases: D1Need[]; lines: string[]; blockers: string[] };

const MAX_QUEUE_PAGES = 100;

/** Every queue of the account: `wrangler queues list` prints one API page per call. */
async function listQueues(wrangler: Wrangler): Promise<Set<string>> {
  const names = new Set<string>();
  for (let page = 1; page <= MAX_QUEUE_PAGES; page += 1) {
    const found = parseQueuesPage(await wrangler.check(["queues", "list", "--page", String(page)]));
    // An empty page ends the list; a page of names already seen means the API repeats its last page.
    if (found.length === 0 || found.every((name) => names.has(name))) return names;
    for (const name of found) names.add(name);
  }
  throw new Error(`\`wrangler queues list\` still had queues after ${MAX_QUEUE_PAGES} pages`);
}

async function observe(wrangler: Wrangler, target: DeployEnvironment): Promise<Observed> {
  const queues = await listQueues(wrangler);
  const databases = target.d1.length > 0 ? parseD1List(await wrangler.check(["d1", "list", "--json"])) : [];
  const namespaces = target.kv.length > 0 ? parseKvList(await wrangler.check(["kv", "namespace", "list"])) : [];
  const status = await wrangler.run(["deployments", "status", "--json", "--env", target.env]);
  if (status.exitCode === 0) return { queues, databases, namespaces, liveVersion: parseLiveVersion(status.stdout), workerExists: true };
  if (isMissingWorker(status)) return { queues, databases, namespaces, liveVersion: null, workerExists: false };
  throw new WranglerError(["deployments", "status", "--json", "--env", target.env], status, [wrangler.token]);
}

function plan(target: DeployEnvironment, observed: Observed): Plan {
  const lines: string[] = [];
  const blockers: string[] = [];
  const createQueues = target.queues.filter((queue) => !observed.queues.has(queue));
  for (const queue of target.queues) lines.push(observed.queues.has(queue) ? `  = queue ${queue}` : `  + queue ${queue}`);

  const createDatabases: D1Need[] = [];
  for (const database of target.d1) {
    if (database.id !== null) {
      const pinned = observed.databases.find((found) => found.id === database.id);
      if (pinned) lines.push(`  = D1 ${database.binding}: ${pinned.name} (database_id in wrangler.toml)`);
      else blockers.push(`D1 ${database.binding}: wrangler.toml's database_id ${database.id} is no database of this account (remove it: the database is then found or created by its name)`);
      continue;
    }
    const existing = observed.databases.find((found) => found.name === database.name);
    if (existing) lines.push(`  = D1 ${database.binding}: ${database.name}`);
    else {
      createDatabases.push(database);
      lines.push(`  + D1 ${database.binding}: ${database.name}`);
    }
  }

  for (const namespace of target.kv) {
    if (namespace.id !== null) {
      if (observed.namespaces.some((found) => found.id === namespace.id)) lines.push(`  = KV ${namespace.binding}: ${namespace.id} (id in wrangler.toml)`);
      else blockers.push(`KV ${namespace.binding}: wrangler.toml's id ${namespace.id} is no KV namespace of this account (remove it: wrangler deploy provisions one)`);
      continue;
    }
    const titled = observed.namespaces.find((found) => found.name === namespace.provisionedTitle);
    if (observed.workerExists) {
      lines.push(
        titled
          ? `  = KV ${namespace.binding}: ${namespace.provisionedTitle}, kept bound by wrangler deploy (automatic provisioning)`
          : `  = KV ${namespace.binding}: wrangler deploy keeps the Worker's binding, or creates ${namespace.provisionedTitle} if it has none (automatic provisioning)`,
      );
    } else if (titled) {
      // wrangler 4.156.2 would create it again and fail: "a namespace with this account ID and
      // title already exists [code: 10014]" (workers-sdk#13242).
      blockers.push(
        `KV ${namespace.binding}: a namespace titled ${namespace.provisionedTitle} (id ${titled.id}) exists but no Worker ${target.workerName} is deployed, so wrangler deploy would try to create it again and fail. ` +
          `If an earlier first deploy stopped after creating it, delete it (npx wrangler kv namespace delete --namespace-id ${titled.id}) and run this again; see docs/deploying.md.`,
      );
    } else {
      lines.push(`  + KV ${namespace.binding}: ${namespace.provisionedTitle}, created by wrangler deploy (automatic provisioning)`);
    }
  }

  for (const database of target.d1) if (database.migrations) lines.push(`  · apply the remote D1 migrations of ${database.name} not applied yet`);
  lines.push(
    observed.workerExists
      ? `  · deploy ${target.workerName} (live now: ${observed.liveVersion ?? "a split deployment, no single version"})`
      : `  · deploy ${target.workerName} (its first deploy)`,
  );
  lines.push(
    observed.liveVersion
      ? `  · smoke test /healthz; if it fails, roll back to ${observed.liveVersion}`
      : "  · smoke test /healthz (nothing to roll back to if it fails)",
  );
  return { createQueues, createDatabases, lines, blockers };
}

// ---------------------------------------------------------------------------------------------
// Steps

/** `wrangler deploy --env <env>`; answers its deploy record (version, targets) from WRANGLER_OUTPUT_FILE_PATH. */
async function deploy(wrangler: Wrangler, env: string, io: Io): Promise<{ versionId: string | null; targets: string[] }> {
  const folder = mkdtempSync(join(tmpdir(), "edge-ops-deploy-"));
  try {
    const outputFile = join(folder, "wrangler-output.ndjson");
    const args = ["deploy", "--env", env];
    const result = await wrangler.run(args, { WRANGLER_OUTPUT_FILE_PATH: outputFile });
    if (result.exitCode !== 0) {
      if (/\[code: 10014\]/.test(stripAnsi(result.stderr + result.stdout))) {
        io.err("hint: wrangler's automatic provisioning tried to create a KV namespace whose title exists (workers-sdk#13242): see docs/deploying.md, \"A KV namespace that already exists\".");
      }
      throw new WranglerError(args, result, [wrangler.token]);
    }
    let record = null;
    try {
      record = parseDeployRecord(readFileSync(outputFile, "utf8"));
    } catch {
      // no file: wrangler wrote no record
    }
    return record ?? { versionId: null, targets: [] };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** `wrangler deploy --dry-run`: bundles the Worker as deployed, uploads nothing. */
async function dryRunBundle(wrangler: Wrangler, env: string): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), "edge-ops-deploy-dry-run-"));
  try {
    await wrangler.check(["deploy", "--dry-run", "--env", env, "--outdir", folder]);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

async function rollback(wrangler: Wrangler, target: DeployEnvironment, observed: Observed, reason: string, io: Io): Promise<void> {
  const liveVersion = observed.liveVersion;
  if (!liveVersion) {
    io.err(
      observed.workerExists
        ? `error: the smoke test failed (${reason}); no single version served all traffic before this deploy (a gradual deployment), so nothing was rolled back: the failing version stays live (docs/deploying.md, "Rolling back").`
        : `error: the smoke test failed (${reason}); this was ${target.workerName}'s first deploy, so there is no earlier version to roll back to: the failing version stays live.`,
    );
    return;
  }
  // The version recorded before the deploy, named: `wrangler rollback` alone picks "the deployment
  // before the latest", wrong if anything else deployed meanwhile. Non-interactive: --message
  // answers its prompt, --yes (and the closed stdin) its confirmations.
  const args = ["rollback", liveVersion, "--env", target.env, "--message", "npm run deploy: smoke test failed", "--yes"];
  const result = await wrangler.run(args);
  if (result.exitCode !== 0) {
    io.err(`error: the smoke test failed (${reason}) and the rollback to ${liveVersion} failed too: the new version is live.`);
    io.err(new WranglerError(args, result, [wrangler.token]).message);
    return;
  }
  io.err(`error: the smoke test failed (${reason}); rolled back to ${liveVersion}, the version live before this deploy.`);
}

// ---------------------------------------------------------------------------------------------

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = processIo, dependencies: DeployDependencies = {}): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: false,
        options: {
          env: { type: "string" },
          "dry-run": { type: "boolean", default: false },
          url: { type: "string" },
          help: { type: "boolean", short: "h", default: false },
        },
      });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const { values } = parsed;
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (!values.env) throw new UsageError("--env <env> is required (staging or production)");
    if (values.url !== undefined && !urlSchema.safeParse(values.url).success) throw new UsageError("--url must be an http(s) URL, e.g. https://edge-ops.example.com");
    checkCredentials(env);
    const attempts = positiveInteger(env, "DEPLOY_SMOKE_ATTEMPTS", 6);
    const intervalMs = positiveInteger(env, "DEPLOY_SMOKE_INTERVAL_MS", 5000, 0);
    const timeoutMs = positiveInteger(env, "DEPLOY_SMOKE_TIMEOUT_MS", 10_000);

    const configPath = join(repositoryRoot, "wrangler.toml");
    const declared = declaredEnvironments(configPath);
    if (!declared.includes(values.env)) throw new UsageError(`--env ${values.env}: wrangler.toml has no [env.${values.env}] (it has ${declared.join(", ") || "none"})`);
    const target = readDeployEnvironment(configPath, values.env);
    const wrangler = new Wrangler({
      program: env.WRANGLER || join(repositoryRoot, "node_modules", ".bin", "wrangler"),
      cwd: repositoryRoot,
      env: { ...env, WRANGLER_SEND_METRICS: env.WRANGLER_SEND_METRICS ?? "false" },
    });

    io.out(`${target.workerName} ([env.${target.env}] of wrangler.toml)${values["dry-run"] ? ", dry run" : ""}:`);
    const observed = await observe(wrangler, target);
    const changes = plan(target, observed);
    changes.lines.forEach((line) => io.out(line));
    if (changes.blockers.length > 0) {
      changes.blockers.forEach((blocker) => io.err(`error: ${blocker}`));
      io.err("Nothing was changed.");
      return 1;
    }
    if (values["dry-run"]) {
      await dryRunBundle(wrangler, target.env);
      io.out(`Dry run: the bundle builds; nothing was changed (${changes.createQueues.length} queues and ${changes.createDatabases.length} D1 databases to create).`);
      return 0;
    }

    for (const queue of changes.createQueues) {
      await wrangler.check(["queues", "create", queue]);
      io.out(`Created queue ${queue}.`);
    }
    for (const database of changes.createDatabases) {
      await wrangler.check(["d1", "create", database.name]);
      io.out(`Created D1 database ${database.name}.`);
    }
    for (const database of target.d1) {
      if (!database.migrations) continue;
      const applied = parseAppliedMigrations(await wrangler.check(["d1", "migrations", "apply", database.migrationsTarget, "--remote", "--env", target.env]));
      const names = applied && applied.length > 3 ? `${applied[0]} … ${applied.at(-1)}` : applied?.join(", ");
      io.out(applied === null ? `Migrations of ${database.name}: none to apply.` : `Migrations of ${database.name}: applied ${applied.length} (${names}).`);
    }

    const deployed = await deploy(wrangler, target.env, io);
    const base = values.url ?? smokeTestBase(deployed.targets);
    io.out(`Deployed ${target.workerName}: version ${deployed.versionId ?? "(wrangler wrote no deploy record)"}${base ? ` at ${base}` : ""}.`);
    if (!base) {
      await rollback(wrangler, target, observed, "wrangler printed no workers.dev or custom-domain address to test: pass --url", io);
      return 1;
    }

    io.out(`Smoke test: GET ${new URL("/healthz", base).toString()}`);
    const smoke = await smokeTest(base, {
      fetch: dependencies.fetch ?? fetch,
      sleep: dependencies.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms))),
      attempts,
      intervalMs,
      timeoutMs,
      log: io.out,
    });
    if (!smoke.ok) {
      await rollback(wrangler, target, observed, smoke.reason, io);
      return 1;
    }
    const report = capabilityReport(smoke.health, target.env);
    io.out(`Healthy. Capabilities: ${report.configured} of ${report.total} configured.`);
    report.lines.forEach((line) => io.out(line));
    io.out(`Done: ${changes.createQueues.length} queues and ${changes.createDatabases.length} D1 databases created; ${wrangler.commands.length} wrangler commands.`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) io.err(`error: ${error.message}\n\n${USAGE}`);
    else io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

await runIfEntryPoint(import.meta.url, main);
