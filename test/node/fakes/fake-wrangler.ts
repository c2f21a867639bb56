// A fake wrangler for tests of `npm run deploy`: called exactly like `wrangler <command> [args]`
// from the folder holding wrangler.toml, it plays one Cloudflare account in a JSON state file
// (fake-wrangler-state.ts) and records every call. The wrapper `fake-wrangler` runs it with Node
// 24 (type stripping), so: erasable TypeScript only, `.ts` imports, Node built-ins, and wrangler
// itself, whose own config reader (`unstable_readConfig`) reads wrangler.toml as the real
// commands do (its result cached per file modification time, since loading wrangler takes ~1.5 s).
//
// Environment: FAKE_WRANGLER_STATE (the state file, required), CLOUDFLARE_API_TOKEN and
// CLOUDFLARE_ACCOUNT_ID (checked against the state's, as the API would), WRANGLER_OUTPUT_FILE_PATH.
//
// Checked against wrangler 4.156.2 (its bundled sources, `--help`, and the real commands run
// against a local stand-in of the Cloudflare API through CLOUDFLARE_API_BASE_URL), 2026-12-06:
// - stdout carries the banner (" ⛅️ wrangler 4.156.2" and a rule) except for `d1 list --json`,
//   `kv namespace list` and `deployments status --json`; errors go to stderr as "✘ [ERROR] …",
//   an API error as "A request to the Cloudflare API (<path>) failed." then "  <message> [code: N]".
// - Without a terminal, a missing CLOUDFLARE_API_TOKEN fails every command that needs the API.
// - `queues list [--page N]`: one API page as a cli-table3 box table (row separators included);
//   an empty page prints nothing after the banner.
// - `queues create <name>`: names must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ (code 11003).
//   A name already taken fails; that error's code and text are not copied from Cloudflare (the
//   CLI under test only reads the exit code).
// - `d1 create <name>`: "✅ Successfully created DB '<name>' in region WEUR", then the config
//   snippet (a TOML wrangler.toml is never written); an existing name: "A database with that name
//   already exists".
// - `d1 migrations apply <name|binding> --remote --env <env>`: resolves the binding in the
//   environment's config, the database by its id or else by name through the API ("Couldn't find
//   a D1 DB named '<name>' (bound as '<arg>') in the API. Run 'wrangler d1 create <name>' to
//   create it."), lists the migration files not yet applied, takes the non-interactive fallback
//   ("yes") and prints the status table after each file; none left: "✅ No migrations to apply!".
// - `deploy --env <env>`: refuses a consumer of a queue that neither exists nor is produced to
//   (`Queue "<name>" does not exist. To create it, run: wrangler queues create <name>`), then
//   provisions bindings without ids: a producer's missing queue is created; D1 inherits the
//   Worker's binding, else connects to the database named in the binding, else creates it; KV
//   inherits the Worker's binding, else creates "<worker>-<binding>" — failing with code 10014
//   when a namespace of that title exists (workers-sdk#13242). It uploads a version, deploys it
//   to 100%, prints "Deployed <worker> triggers" with its targets and "Current Version ID: <id>",
//   and appends {"type":"deploy", "version_id", "targets", …} to WRANGLER_OUTPUT_FILE_PATH.
//   `deploy --dry-run` needs no credentials and changes nothing.
// - `deployments status --json`: the latest deployment; a Worker never deployed fails with
//   "This Worker does not exist on your account. [code: 10007]".
// - `rollback [version] --env <env> --message <m> --yes`: deploys that version (default: the
//   newest earlier deployment's 100% version) and prints "Worker Version <id> has been deployed to
//   100% of traffic." and "Current Version ID: <id>".
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import {
  readFakeWranglerState,
  writeFakeWranglerState,
  type FakeBinding,
  type FakeDatabase,
  type FakeVersion,
  type FakeWorker,
  type FakeWranglerState,
} from "./fake-wrangler-state.ts";

const VERSION = "4.156.2";
const BANNER = `\n ⛅️ wrangler ${VERSION}\n${"─".repeat(20)}\n`;

type Result = { exitCode: number; stdout: string; stderr: string };

class Failure extends Error {
  readonly stdout: string;
  constructor(message: string, stdout = "") {
    super(message);
    this.stdout = stdout;
  }
}

const apiError = (path: string, message: string, code: number) => new Failure(`A request to the Cloudflare API (${path}) failed.\n\n  ${message} [code: ${code}]\n  \n  If you think this is a bug, please open an issue at: https://github.com/cloudflare/workers-sdk/issues/new/choose`);

// ---------------------------------------------------------------------------------------------
// Arguments

const VALUE_FLAGS: Record<string, string> = { "--env": "env", "-e": "env", "--config": "config", "-c": "config", "--page": "page", "--message": "message", "-m": "message", "--outdir": "outdir", "--name": "name" };
const BOOLEAN_FLAGS: Record<string, string> = { "--json": "json", "--remote": "remote", "--local": "local", "--yes": "yes", "-y": "yes", "--dry-run": "dryRun", "--preview": "preview" };

type Parsed = { words: string[]; flags: Record<string, string | true> };

function parse(argv: string[]): Parsed {
  const words: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (VALUE_FLAGS[flag]) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Failure(`Not enough arguments following: ${flag.replace(/^-+/, "")}`);
      flags[VALUE_FLAGS[flag]!] = value;
    } else if (BOOLEAN_FLAGS[flag]) flags[BOOLEAN_FLAGS[flag]!] = true;
    else if (arg.startsWith("-")) throw new Failure(`Unknown argument: ${arg.replace(/^-+/, "")}`);
    else words.push(arg);
  }
  return { words, flags };
}

// ---------------------------------------------------------------------------------------------
// wrangler.toml, through wrangler's own reader

type EnvConfig = {
  name: string;
  producers: { binding: string; queue: string }[];
  consumers: { queue: string; dead_letter_queue?: string }[];
  d1: { binding: string; database_name?: string; database_id?: string; migrations_dir?: string }[];
  kv: { binding: string; id?: string }[];
  crons: string[];
  configDir: string;
};

/** The part of wrangler's resolved config (its `Config` type) the fake reads. */
type WranglerConfig = {
  name: string;
  queues?: { producers?: { binding: string; queue: string }[]; consumers?: { queue: string; dead_letter_queue?: string }[] };
  d1_databases?: { binding: string; database_name?: string; database_id?: string; migrations_dir?: string }[];
  kv_namespaces?: { binding: string; id?: string }[];
  triggers?: { crons?: string[] };
};

type ConfigCache = { path: string; mtimeMs: number; envs: Record<string, EnvConfig> };

function loadConfig(parsed: Parsed): EnvConfig {
  const configPath = resolve(typeof parsed.flags.config === "string" ? parsed.flags.config : join(process.cwd(), "wrangler.toml"));
  if (!existsSync(configPath)) throw new Failure("No configuration file found.");
  const env = typeof parsed.flags.env === "string" ? parsed.flags.env : "";
  const mtimeMs = statSync(configPath).mtimeMs;
  const cachePath = join(tmpdir(), `edge-ops-fake-wrangler-config-${createHash("sha256").update(configPath).digest("hex").slice(0, 16)}.json`);
  let cache: ConfigCache = { path: configPath, mtimeMs, envs: {} };
  if (existsSync(cachePath)) {
    try {
      const stored = JSON.parse(readFileSync(cachePath, "utf8")) as ConfigCache;
      if (stored.mtimeMs === mtimeMs) cache = stored;
    } catch {
      // a cache half-written by another test: read the config again
    }
  }
  const cached = cache.envs[env];
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const wrangler = require("wrangler") as { unstable_readConfig: (args: { config: string; env?: string }) => WranglerConfig };
  const config = wrangler.unstable_readConfig({ config: configPath, ...(env ? { env } : {}) });
  const read: EnvConfig = {
    name: config.name,
    producers: (config.queues?.producers ?? []).map((p) => ({ binding: p.binding, queue: p.queue })),
    consumers: (config.queues?.consumers ?? []).map((c) => ({ queue: c.queue, ...(c.dead_letter_queue ? { dead_letter_queue: c.dead_letter_queue } : {}) })),
    d1: (config.d1_databases ?? []).map((d) => ({ binding: d.binding, database_name: d.database_name, database_id: d.database_id, migrations_dir: d.migrations_dir })),
    kv: (config.kv_namespaces ?? []).map((k) => ({ binding: k.binding, id: k.id })),
    crons: config.triggers?.crons ?? [],
    configDir: dirname(configPath),
  };
  cache.envs[env] = read;
  const temporary = `${cachePath}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(cache));
  renameSync(temporary, cachePath);
  return read;
}

/** wrangler's name for a resource it provisions for a binding (deployment-bundle/auto-provisioned-name.ts). */
const provisionedName = (worker: string, binding: string) => `${worker}-${binding.toLowerCase().replaceAll("_", "-")}`;

// ---------------------------------------------------------------------------------------------
// Output

/** cli-table3's default box table, as wrangler's logger.table prints it (colours off). */
function table(rows: Record<string, string>[]): string {
  if (rows.length === 0) return "";
  const head = Object.keys(rows[0]!);
  const widths = head.map((key) => Math.max([...key].length, ...rows.map((row) => [...(row[key] ?? "")].length)) + 2);
  const rule = (left: string, middle: string, right: string) => left + widths.map((width) => "─".repeat(width)).join(middle) + right;
  const line = (cells: string[]) => `│${cells.map((cell, index) => ` ${cell}${" ".repeat(widths[index]! - 1 - [...cell].length)}`).join("│")}│`;
  const lines = [rule("┌", "┬", "┐"), line(head), rule("├", "┼", "┤")];
  rows.forEach((row, index) => {
    if (index > 0) lines.push(rule("├", "┼", "┤"));
    lines.push(line(head.map((key) => row[key] ?? "")));
  });
  lines.push(rule("└", "┴", "┘"));
  return `${lines.join("\n")}\n`;
}

const now = () => new Date().toISOString();
const hex32 = () => randomBytes(16).toString("hex");

// ---------------------------------------------------------------------------------------------
// The account

function requireAuth(state: FakeWranglerState, apiPath: string): void {
  if (!process.env.CLOUDFLARE_API_TOKEN) {
    throw new Failure(
      "In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN environment variable for wrangler to work. Please go to https://developers.cloudflare.com/fundamentals/api/get-started/create-token/ for instructions on how to create an api token, and assign its value to CLOUDFLARE_API_TOKEN.",
    );
  }
  if (!process.env.CLOUDFLARE_ACCOUNT_ID) throw new Failure("More than one account available but unable to select one in non-interactive mode.");
  const path = `/accounts/${process.env.CLOUDFLARE_ACCOUNT_ID}${apiPath}`;
  if (process.env.CLOUDFLARE_API_TOKEN !== state.token) throw apiError(path, "Authentication error", 10000);
  if (process.env.CLOUDFLARE_ACCOUNT_ID !== state.accountId) throw apiError(path, "Could not route to " + path + ", perhaps your object identifier is invalid?", 7003);
}

function latestVersion(worker: FakeWorker | undefined): FakeVersion | undefined {
  const deployment = worker?.deployments.at(-1);
  const live = deployment?.versions.find((version) => version.percentage === 100)?.version_id;
  return worker?.versions.find((version) => version.id === live);
}

function createQueue(state: FakeWranglerState, name: string): void {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) throw apiError(`/accounts/${state.accountId}/queues`, `Invalid queue name: invalid queue name: ${name}. Must match ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`, 11003);
  if (state.queues.some((queue) => queue.queue_name === name)) throw apiError(`/accounts/${state.accountId}/queues`, "Queue name already taken", 11009);
  const stamp = now();
  state.queues.push({ queue_id: hex32(), queue_name: name, created_on: stamp, modified_on: stamp, producers_total_count: 0, consumers_total_count: 0 });
}

function createDatabase(state: FakeWranglerState, name: string): FakeDatabase {
  if (state.databases.some((database) => database.name === name)) throw new Failure("A database with that name already exists");
  const database: FakeDatabase = { uuid: randomUUID(), name, created_at: now(), version: "production", num_tables: 0, file_size: 0, jurisdiction: null };
  state.databases.push(database);
  return database;
}

// ---------------------------------------------------------------------------------------------
// Commands

function queuesList(state: FakeWranglerState, parsed: Parsed): string {
  requireAuth(state, "/queues");
  const page = Math.max(1, Number(parsed.flags.page ?? 1));
  const rows = state.queues.slice((page - 1) * state.queuesPerPage, page * state.queuesPerPage);
  return BANNER + table(rows.map((q) => ({ id: q.queue_id, name: q.queue_name, created_on: q.created_on, modified_on: q.modified_on, producers: String(q.producers_total_count), consumers: String(q.consumers_total_count) })));
}

function queuesCreate(state: FakeWranglerState, parsed: Parsed): string {
  const name = parsed.words[2];
  if (!name) throw new Failure("Not enough non-option arguments: got 0, need at least 1");
  requireAuth(state, "/queues");
  createQueue(state, name);
  const binding = name.replaceAll("-", "_");
  return `${BANNER}🌀 Creating queue '${name}'\n✅ Created queue '${name}'\n\nConfigure your Worker to send messages to this queue:\n\n[[queues.producers]]\nqueue = "${name}"\nbinding = "${binding}"\n\nConfigure your Worker to consume messages from this queue:\n\n[[queues.consumers]]\nqueue = "${name}"\n\n`;
}

function d1List(state: FakeWranglerState): string {
  requireAuth(state, "/d1/database");
  return `${JSON.stringify(state.databases, null, 2)}\n`;
}

function d1Create(state: FakeWranglerState, parsed: Parsed): string {
  const name = parsed.words[2];
  if (!name) throw new Failure("Not enough non-option arguments: got 0, need at least 1");
  requireAuth(state, "/d1/database");
  const database = createDatabase(state, name);
  const env = typeof parsed.flags.env === "string" ? ` in the "${parsed.flags.env}" environment` : "";
  return `${BANNER}✅ Successfully created DB '${name}' in region WEUR\nCreated your new D1 database.\n\nTo access your new D1 Database in your Worker, add the following snippet to your configuration file${env}:\n[[d1_databases]]\nbinding = "${name.replaceAll("-", "_")}"\ndatabase_name = "${name}"\ndatabase_id = "${database.uuid}"\n\n`;
}

function kvList(state: FakeWranglerState): string {
  requireAuth(state, "/storage/kv/namespaces");
  return `${JSON.stringify(state.namespaces, null, "  ")}\n`;
}

function d1MigrationsApply(state: FakeWranglerState, parsed: Parsed): string {
  const argument = parsed.words[3];
  if (!argument) throw new Failure("Not enough non-option arguments: got 0, need at least 1");
  const config = loadConfig(parsed);
  const binding = config.d1.find((database) => database.database_name === argument || database.binding === argument);
  if (!parsed.flags.remote) {
    // Local: wrangler's .wrangler/state, nothing the account sees.
    return `${BANNER}Resource location: local \n\nUse --remote if you want to access the remote instance.\n\n✅ No migrations to apply!\n`;
  }
  if (!binding) throw new Failure(`Couldn't find a D1 DB with the name or binding '${argument}' in your wrangler.toml file.`);
  requireAuth(state, "/d1/database");
  const lookupName = binding.database_name ?? provisionedName(config.name, binding.binding);
  const database = binding.database_id ? state.databases.find((found) => found.uuid === binding.database_id) : state.databases.find((found) => found.name === lookupName);
  if (!database) {
    if (binding.database_id) throw apiError(`/accounts/${state.accountId}/d1/database/${binding.database_id}`, "The database could not be found", 7404);
    throw new Failure(`Couldn't find a D1 DB named '${lookupName}' (bound as '${argument}') in the API. Run 'wrangler d1 create ${lookupName}' to create it.`);
  }
  const folder = resolve(config.configDir, binding.migrations_dir ?? "migrations");
  const files = readdirSync(folder).filter((file) => file.endsWith(".sql")).sort();
  const applied = (state.migrations[database.uuid] ??= []);
  const pending = files.filter((file) => !applied.includes(file));
  let out = `${BANNER}Resource location: remote \n\n`;
  if (pending.length === 0) return `${out}✅ No migrations to apply!\n`;
  out += `Migrations to be applied:\n${table(pending.map((name) => ({ name })))}`;
  out += `? About to apply ${pending.length} migration(s)\nYour database may not be available to serve requests during the migration, continue?\n🤖 Using fallback value in non-interactive context: yes\n`;
  const status = new Map(pending.map((name) => [name, "🕒️"]));
  for (const file of pending) {
    out += `🌀 Executing on remote database ${database.name} (${database.uuid}):\n🌀 To execute on your local development database, remove the --remote flag from your wrangler command.\n🚣 Executed 1 command in 1.00ms\n`;
    applied.push(file);
    status.set(file, "✅");
    out += table([...status].map(([name, mark]) => ({ name, status: mark })));
  }
  database.num_tables += pending.length;
  return out;
}

function deploymentsStatus(state: FakeWranglerState, parsed: Parsed): string {
  const config = loadConfig(parsed);
  requireAuth(state, `/workers/scripts/${config.name}/deployments`);
  const worker = state.workers[config.name];
  if (!worker) throw apiError(`/accounts/${state.accountId}/workers/scripts/${config.name}/deployments`, "This Worker does not exist on your account.", 10007);
  const latest = worker.deployments.at(-1);
  if (!latest) throw new Failure(`The Worker ${config.name} has no deployments.`);
  return `${JSON.stringify(latest, null, 2)}\n`;
}

function deploy(state: FakeWranglerState, parsed: Parsed): string {
  const config = loadConfig(parsed);
  if (parsed.flags.dryRun) {
    return `${BANNER}Total Upload: 1615.83 KiB / gzip: 321.86 KiB\nYour Worker has access to the following bindings:\n${config.kv.map((k) => `env.${k.binding}  KV Namespace`).join("\n")}\n--dry-run: exiting now.\n`;
  }
  requireAuth(state, `/workers/scripts/${config.name}`);
  const account = `/accounts/${state.accountId}`;
  // ensureQueuesExistByConfig with provisioning on: consumers that no producer provisions must exist.
  const produced = new Set(config.producers.map((producer) => producer.queue));
  for (const consumer of config.consumers) {
    if (!produced.has(consumer.queue) && !state.queues.some((queue) => queue.queue_name === consumer.queue)) {
      throw new Failure(`Queue "${consumer.queue}" does not exist. To create it, run: wrangler queues create ${consumer.queue}`, BANNER);
    }
  }
  const worker = state.workers[config.name];
  const previous = latestVersion(worker)?.bindings ?? {};
  const bindings: Record<string, FakeBinding> = {};
  const provisioning: string[] = [];
  for (const producer of config.producers) {
    if (!state.queues.some((queue) => queue.queue_name === producer.queue)) {
      createQueue(state, producer.queue);
      provisioning.push(`Provisioning ${producer.binding} (Queue)...\nResource name found in config: ${producer.queue}\n🌀 Creating new Queue "${producer.queue}"...\n✨ ${producer.binding} provisioned 🎉\n`);
    }
    bindings[producer.binding] = { type: "queue", queue_name: producer.queue };
  }
  for (const d1 of config.d1) {
    if (d1.database_id) {
      if (!state.databases.some((database) => database.uuid === d1.database_id)) {
        throw new Failure("You must use a real database in the database_id configuration. You can find your databases using 'wrangler d1 list', or read how to develop locally with D1 here: https://developers.cloudflare.com/d1/configuration/local-development");
      }
      bindings[d1.binding] = { type: "d1", id: d1.database_id };
      continue;
    }
    const inherited = previous[d1.binding];
    const name = d1.database_name ?? provisionedName(config.name, d1.binding);
    const inheritedDatabase = inherited?.type === "d1" ? state.databases.find((database) => database.uuid === inherited.id) : undefined;
    if (inheritedDatabase && (!d1.database_name || inheritedDatabase.name === d1.database_name)) {
      bindings[d1.binding] = { type: "d1", id: inheritedDatabase.uuid };
      continue;
    }
    const existing = state.databases.find((database) => database.name === name);
    if (existing) {
      bindings[d1.binding] = { type: "d1", id: existing.uuid };
      continue;
    }
    const created = createDatabase(state, name);
    provisioning.push(`Provisioning ${d1.binding} (D1 Database)...\nResource name found in config: ${name}\n🌀 Creating new D1 Database "${name}"...\n✨ ${d1.binding} provisioned 🎉\n`);
    bindings[d1.binding] = { type: "d1", id: created.uuid };
  }
  for (const kv of config.kv) {
    if (kv.id) {
      bindings[kv.binding] = { type: "kv_namespace", namespace_id: kv.id };
      continue;
    }
    const inherited = previous[kv.binding];
    if (inherited?.type === "kv_namespace") {
      bindings[kv.binding] = inherited;
      continue;
    }
    const title = provisionedName(config.name, kv.binding);
    if (state.namespaces.some((namespace) => namespace.title === title)) {
      throw apiError(`${account}/storage/kv/namespaces`, "a namespace with this account ID and title already exists", 10014);
    }
    const id = hex32();
    state.namespaces.push({ id, title, supports_url_encoding: true });
    provisioning.push(`Provisioning ${kv.binding} (KV Namespace)...\n🌀 Creating new KV Namespace "${title}"...\n✨ ${kv.binding} provisioned 🎉\n`);
    bindings[kv.binding] = { type: "kv_namespace", namespace_id: id };
  }
  const version: FakeVersion = { id: randomUUID(), created_on: now(), bindings };
  const deployed = (state.workers[config.name] ??= { versions: [], deployments: [] });
  deployed.versions.push(version);
  deployed.deployments.push({
    id: randomUUID(),
    source: "wrangler",
    strategy: "percentage",
    author_email: "deploy@example.com",
    created_on: version.created_on,
    annotations: { "workers/triggered_by": "deployment" },
    versions: [{ version_id: version.id, percentage: 100 }],
  });
  for (const consumer of config.consumers) {
    const queue = state.queues.find((found) => found.queue_name === consumer.queue);
    if (queue) queue.consumers_total_count = 1;
  }
  const targets = [
    `https://${config.name}.${state.subdomain}.workers.dev`,
    ...config.crons.map((cron) => `schedule: ${cron}`),
    ...config.producers.map((producer) => `Producer for ${producer.queue}`),
    ...config.consumers.map((consumer) => `Consumer for ${consumer.queue}`),
  ];
  const outputFile = process.env.WRANGLER_OUTPUT_FILE_PATH;
  if (outputFile) {
    appendFileSync(
      outputFile,
      `${JSON.stringify({ type: "deploy", version: 1, worker_name: config.name, worker_tag: hex32(), version_id: version.id, targets, wrangler_environment: parsed.flags.env, worker_name_overridden: false, timestamp: now() })}\n`,
    );
  }
  const provisioned = provisioning.length > 0 ? `\nThe following bindings need to be provisioned:\n\n${provisioning.join("\n")}\n🎉 Resources provisioned, continuing with deployment...\n\n` : "";
  return `${BANNER}Total Upload: 1615.83 KiB / gzip: 321.86 KiB\n${provisioned}Uploaded ${config.name} (1.00 sec)\nDeployed ${config.name} triggers (0.50 sec)\n${targets.map((target) => `  ${target}`).join("\n")}\nCurrent Version ID: ${version.id}\n`;
}

function rollback(state: FakeWranglerState, parsed: Parsed): string {
  const config = loadConfig(parsed);
  requireAuth(state, `/workers/scripts/${config.name}/deployments`);
  const worker = state.workers[config.name];
  if (!worker) throw apiError(`/accounts/${state.accountId}/workers/scripts/${config.name}/deployments`, "This Worker does not exist on your account.", 10007);
  let versionId = parsed.words[1];
  if (!versionId) {
    // fetchDefaultRollbackVersionId: the newest deployment but one with a version at 100%.
    const earlier = [...worker.deployments].reverse().slice(1);
    versionId = earlier.map((deployment) => deployment.versions.find((version) => version.percentage === 100)?.version_id).find((id) => id !== undefined);
    if (!versionId) throw new Failure("Could not find stable Worker Version to rollback to. Please try again with an explicit Version ID.");
  }
  if (!worker.versions.some((version) => version.id === versionId)) {
    throw apiError(`/accounts/${state.accountId}/workers/scripts/${config.name}/versions/${versionId}`, "The requested Worker version does not exist.", 10223);
  }
  const message = typeof parsed.flags.message === "string" ? parsed.flags.message : "Rollback";
  worker.deployments.push({
    id: randomUUID(),
    source: "wrangler",
    strategy: "percentage",
    author_email: "deploy@example.com",
    created_on: now(),
    annotations: { "workers/triggered_by": "rollback", "workers/message": message },
    versions: [{ version_id: versionId, percentage: 100 }],
  });
  return `${BANNER}? Please provide an optional message for this rollback (120 characters max)\n🤖 Using default value in non-interactive context: ${message}\nPerforming rollback...\n╰  SUCCESS  Worker Version ${versionId} has been deployed to 100% of traffic.\n\nCurrent Version ID: ${versionId}\n`;
}

function execute(state: FakeWranglerState, argv: string[]): string {
  const parsed = parse(argv);
  const [command, sub, action] = parsed.words;
  const key = [command, sub, action].filter(Boolean).join(" ");
  if (key === "queues list") return queuesList(state, parsed);
  if (command === "queues" && sub === "create") return queuesCreate(state, parsed);
  if (key === "d1 list") return d1List(state);
  if (command === "d1" && sub === "create") return d1Create(state, parsed);
  if (key === "kv namespace list") return kvList(state);
  if (command === "d1" && sub === "migrations" && action === "apply") return d1MigrationsApply(state, parsed);
  if (key === "deployments status") return deploymentsStatus(state, parsed);
  if (command === "deploy") return deploy(state, parsed);
  if (command === "rollback") return rollback(state, parsed);
  throw new Failure(`fake-wrangler: unsupported command: ${argv.join(" ")}`);
}

// ---------------------------------------------------------------------------------------------

function main(): number {
  const statePath = process.env.FAKE_WRANGLER_STATE;
  if (!statePath) {
    writeSync(2, "fake-wrangler: FAKE_WRANGLER_STATE is not set\n");
    return 2;
  }
  const argv = process.argv.slice(2);
  const state = readFakeWranglerState(statePath);
  const record = {
    at: Date.now(),
    argv,
    tokenInEnvironment: Boolean(process.env.CLOUDFLARE_API_TOKEN),
    accountInEnvironment: Boolean(process.env.CLOUDFLARE_ACCOUNT_ID),
    stdinIsTerminal: process.stdin.isTTY === true,
  };
  let result: Result;
  const joined = argv.join(" ");
  const fault = state.faults.find((armed) => new RegExp(armed.match).test(joined) && (armed.count ?? 1) > 0);
  if (fault) {
    fault.count = (fault.count ?? 1) - 1;
    result = { exitCode: fault.exitCode, stdout: fault.stdout ?? "", stderr: fault.stderr ?? "" };
    state.calls.push({ ...record, exitCode: result.exitCode, fault: true });
    writeFakeWranglerState(statePath, state);
  } else {
    // Changes are kept only when the command succeeds: a failed wrangler command changes nothing here.
    const working = structuredClone(state);
    try {
      result = { exitCode: 0, stdout: execute(working, argv), stderr: "" };
      working.calls.push({ ...record, exitCode: 0 });
      writeFakeWranglerState(statePath, working);
    } catch (error) {
      const failure = error instanceof Failure ? error : new Failure(error instanceof Error ? error.message : String(error));
      result = { exitCode: 1, stdout: failure.stdout, stderr: `\n✘ [ERROR] ${failure.message}\n\n\n🪵  Logs were written to "/tmp/fake-wrangler.log"\n` };
      state.calls.push({ ...record, exitCode: 1 });
      writeFakeWranglerState(statePath, state);
    }
  }
  if (result.stdout) writeSync(1, result.stdout);
  if (result.stderr) writeSync(2, result.stderr);
  return result.exitCode;
}

process.exitCode = main();
