// `npm run secrets -- <diff|sync> --env <env> [--dir <folder>] [--check] [--dry-run] [--prune]`
//
// Syncs `<dir>/<env>/<app>.env` (default dir: secrets/ at the repository root, decrypted by
// git-crypt) to the Worker's secrets store (EDGE_OPS_URL, Authorization: Bearer SECRETS_SYNC_TOKEN).
// The Worker's manifest holds, per app, its version and an HMAC of each NAME + "\0" + value under the
// environment's HMAC key; the CLI computes the same HMACs locally, so it diffs without reading a
// value back. Output names keys, never values nor their HMACs. It never prompts (CI runs it), so
// it deletes nothing unasked: an app whose file is gone is listed, and deleted only with --prune.
//
// Exit codes: 0 done (diff: no drift, or drift without --check; sync: pushed or nothing to push;
// sync --dry-run), 2 diff --check found drift, 1 error.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { processIo, runIfEntryPoint, UsageError, type Io } from "../infra/cli-io.ts";
import { EnvFileError, readEnvFile } from "../infra/env-file.ts";

const COMMANDS = ["diff", "sync"] as const;
type Command = (typeof COMMANDS)[number];

const USAGE = `usage: npm run secrets -- <diff|sync> --env <env> [--dir <folder>] [--check] [--dry-run] [--prune]

  diff   show what differs between <dir>/<env>/*.env and the Worker (values masked)
         exit 0 (also on drift unless --check), 2 drift with --check, 1 error
  sync   push each changed app (PUT, whole set); an app whose file was removed is listed and
         left on the Worker, unless --prune: then it is deleted (an empty version)
         --dry-run prints what it would do and changes nothing; exit 0 done, 1 error

  --dir  the folder holding <env>/<app>.env files (default: secrets/ at the repository root)

environment: EDGE_OPS_URL (the Worker's base URL), SECRETS_SYNC_TOKEN (both required),
             SECRETS_RETRY_BASE_MS (backoff of network/5xx retries, default 500)`;

/** The contract's limits: names, env and app names, set size, value size. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_KEYS = 200;
const MAX_VALUE_BYTES = 32 * 1024;
/** The Worker refuses a set's request body beyond 1 MiB (413): refused here before anything is pushed. */
const MAX_SET_BODY_BYTES = 1024 * 1024;
const ATTEMPTS = 4;
const REQUEST_TIMEOUT_MS = 30_000;
const MASK = "****";

class CliError extends Error {}

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");


const manifestSchema = z.object({
  env: z.string(),
  hmacKey: z.base64().min(1),
  apps: z.record(
    z.string().regex(SLUG),
    z.object({
      version: z.number().int().nonnegative(),
      keys: z.record(z.string().regex(NAME), z.string().regex(/^[0-9a-fA-F]{64}$/)),
    }),
  ),
});
export type Manifest = z.infer<typeof manifestSchema>;
const errorBody = z.object({ error: z.string() }).loose();

// ---------------------------------------------------------------------------------------------
// Local files

/** Reads every `<app>.env` of the environment's folder. */
export function readLocalApps(dir: string, env: string): Map<string, Map<string, string>> {
  const folder = join(dir, env);
  let entries: string[];
  try {
    if (!statSync(folder).isDirectory()) throw new CliError(`${folder} is not a directory`);
    entries = readdirSync(folder);
  } catch (error) {
    if (error instanceof CliError) throw error;
    // A missing folder would read as "every app removed": refuse rather than delete them all.
    throw new CliError(`no folder ${folder}: expected ${join(dir, env, "<app>.env")} files (see secrets/README.md)`);
  }
  const apps = new Map<string, Map<string, string>>();
  for (const entry of entries.filter((name) => name.endsWith(".env")).sort()) {
    const path = join(folder, entry);
    if (!statSync(path).isFile()) continue;
    const app = entry.slice(0, -".env".length);
    if (!SLUG.test(app)) throw new CliError(`${path}: the app name "${app}" must match ${SLUG} (lowercase letters, digits, dashes)`);
    let values: Map<string, string> | null;
    try {
      values = readEnvFile(path);
    } catch (error) {
      // EnvFileError messages name the file and line, never a value (git-crypt: "run git-crypt unlock").
      if (error instanceof EnvFileError) throw new CliError(error.message);
      throw new CliError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    if (values === null) continue;
    if (values.size > MAX_KEYS) throw new CliError(`${path}: ${values.size} keys, at most ${MAX_KEYS} per app`);
    for (const [name, value] of values) {
      if (!NAME.test(name)) throw new CliError(`${path}: ${name} is not a valid name`);
      if (Buffer.byteLength(value, "utf8") > MAX_VALUE_BYTES) throw new CliError(`${path}: the value of ${name} is larger than 32 KiB`);
    }
    // As sent: the largest baseVersion's digits included.
    const bodyBytes = Buffer.byteLength(JSON.stringify({ baseVersion: Number.MAX_SAFE_INTEGER, values: Object.fromEntries(values) }), "utf8");
    if (bodyBytes > MAX_SET_BODY_BYTES) throw new CliError(`${path}: the set is ${bodyBytes} bytes as JSON, the Worker takes at most ${MAX_SET_BODY_BYTES} (1 MiB) per app`);
    apps.set(app, values);
  }
  return apps;
}

// ---------------------------------------------------------------------------------------------
// Diff

export function hmacOf(key: Buffer, name: string, value: string): string {
  return createHmac("sha256", key).update(`${name}\0${value}`, "utf8").digest("hex");
}

function sameHmac(a: string, b: string): boolean {
  const left = Buffer.from(a.toLowerCase(), "utf8");
  const right = Buffer.from(b.toLowerCase(), "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

export type AppDiff = {
  app: string;
  /** new: no version on the Worker (or an empty one); deleted: file removed, keys on the Worker. */
  status: "new" | "changed" | "unchanged" | "deleted";
  /** The Worker's version (0 when the app is unknown): PUT's baseVersion. */
  version: number;
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
};

export function diffApps(local: Map<string, Map<string, string>>, manifest: Manifest): AppDiff[] {
  const key = Buffer.from(manifest.hmacKey, "base64");
  const names = new Set([...local.keys(), ...Object.keys(manifest.apps)]);
  const result: AppDiff[] = [];
  for (const app of [...names].sort()) {
    const values = local.get(app);
    const remote = manifest.apps[app];
    const remoteKeys = remote?.keys ?? {};
    const version = remote?.version ?? 0;
    const diff: AppDiff = { app, status: "unchanged", version, added: [], changed: [], removed: [], unchanged: [] };
    if (values === undefined) {
      diff.removed = Object.keys(remoteKeys).sort();
      // A deleted app keeps an empty version on the Worker: nothing left to delete.
      if (diff.removed.length > 0) diff.status = "deleted";
      else continue;
    } else {
      for (const [name, value] of [...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const stored = remoteKeys[name];
        if (stored === undefined) diff.added.push(name);
        else if (sameHmac(hmacOf(key, name, value), stored)) diff.unchanged.push(name);
        else diff.changed.push(name);
      }
      diff.removed = Object.keys(remoteKeys).filter((name) => !values.has(name)).sort();
      if (remote === undefined) diff.status = "new";
      else if (diff.added.length + diff.changed.length + diff.removed.length > 0) diff.status = "changed";
    }
    result.push(diff);
  }
  return result;
}

const drifted = (diff: AppDiff) => diff.status !== "unchanged";

/** The change, masked: names only. */
export function formatDiff(env: string, diffs: AppDiff[]): string[] {
  const lines: string[] = [];
  for (const diff of diffs) {
    const keyCount = `${diff.unchanged.length} unchanged`;
    switch (diff.status) {
      case "unchanged":
        lines.push(`  ${diff.app}: unchanged (${diff.unchanged.length} keys, version ${diff.version})`);
        continue;
      case "new":
        lines.push(`+ ${diff.app}: new app`);
        break;
      case "deleted":
        lines.push(`- ${diff.app}: file removed; sync --prune deletes the app (version ${diff.version})`);
        break;
      case "changed":
        lines.push(`~ ${diff.app}: changed (version ${diff.version}, ${keyCount})`);
        break;
    }
    diff.added.forEach((name) => lines.push(`    + ${name} = ${MASK}`));
    diff.changed.forEach((name) => lines.push(`    ~ ${name} = ${MASK} (changed)`));
    diff.removed.forEach((name) => lines.push(`    - ${name} = ${MASK}`));
  }
  const pending = diffs.filter(drifted);
  lines.push(
    pending.length === 0
      ? `${env}: no drift (${diffs.length} app${diffs.length === 1 ? "" : "s"} in sync).`
      : `${env}: ${pending.length} app${pending.length === 1 ? "" : "s"} differ (${pending.filter((d) => d.status !== "deleted").length} to push, ${pending.filter((d) => d.status === "deleted").length} with the file removed).`,
  );
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The Worker

type Reply = { status: number; body: unknown };

class SecretsApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly retryBaseMs: number,
  ) {}

  /** One request; network errors, 429 and 5xx are retried with backoff, then fail. */
  async request(method: string, path: string, body?: unknown): Promise<Reply> {
    let last = "";
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (attempt > 1) await new Promise((done) => setTimeout(done, this.retryBaseMs * 2 ** (attempt - 2)));
      let response: Response;
      try {
        response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: "application/json",
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        // fetch's TypeError carries the network cause (ECONNREFUSED, ENOTFOUND, "bad port"); a
        // timeout is a TimeoutError. Neither quotes the request.
        const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
        const detail = typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : error instanceof Error ? error.message : "";
        last = `${error instanceof Error ? error.name : "error"}${detail ? ` (${detail.slice(0, 200)})` : ""}`;
        continue;
      }
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
      } catch {
        parsed = undefined;
      }
      if (response.status >= 500 || response.status === 429) {
        last = describe(response.status, parsed);
        continue;
      }
      return { status: response.status, body: parsed };
    }
    throw new CliError(`${method} ${path} failed after ${ATTEMPTS} attempts: ${last}`);
  }

  async manifest(env: string): Promise<Manifest> {
    const path = `/api/secrets/${env}/manifest`;
    const reply = await this.request("GET", path);
    if (reply.status !== 200) throw new CliError(`GET ${path}: ${describe(reply.status, reply.body)}${authHint(reply.status)}`);
    const parsed = manifestSchema.safeParse(reply.body);
    if (!parsed.success) throw new CliError(`GET ${path}: unexpected manifest (${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")})`);
    if (parsed.data.env !== env) throw new CliError(`GET ${path}: the manifest is for "${parsed.data.env}", not "${env}"`);
    return parsed.data;
  }
}

/** The Worker's `{"error"}` (it never holds a value), cut short. */
function describe(status: number, body: unknown): string {
  const parsed = errorBody.safeParse(body);
  return parsed.success ? `${status} ${parsed.data.error.slice(0, 300)}` : `HTTP ${status}`;
}

const authHint = (status: number) => (status === 401 || status === 403 ? " (check SECRETS_SYNC_TOKEN: the Worker's sync token)" : "");

// ---------------------------------------------------------------------------------------------
// Sync

type PutResult = { kind: "pushed"; version: number; changed: boolean } | { kind: "conflict" };

async function put(api: SecretsApi, env: string, app: string, baseVersion: number, values: Map<string, string>): Promise<PutResult> {
  const path = `/api/secrets/${env}/${app}`;
  const reply = await api.request("PUT", path, { baseVersion, values: Object.fromEntries(values) });
  if (reply.status === 409) return { kind: "conflict" };
  const parsed = z.object({ version: z.number().int(), changed: z.boolean() }).loose().safeParse(reply.body);
  if (reply.status !== 200 || !parsed.success) throw new CliError(`PUT ${path}: ${describe(reply.status, reply.body)}${authHint(reply.status)} (app ${app} not synced)`);
  return { kind: "pushed", version: parsed.data.version, changed: parsed.data.changed };
}

async function sync(io: Io, api: SecretsApi, env: string, local: Map<string, Map<string, string>>, first: Manifest, diffs: AppDiff[], prune: boolean): Promise<void> {
  let manifest = first;
  let pushed = 0;
  for (const diff of diffs.filter((d) => d.status === "new" || d.status === "changed")) {
    const values = local.get(diff.app) as Map<string, string>;
    let result = await put(api, env, diff.app, diff.version, values);
    if (result.kind === "conflict") {
      // Another sync won: re-read the manifest once, and push again only if still needed.
      io.out(`${diff.app}: version ${diff.version} is no longer current (a concurrent sync); re-reading the manifest`);
      manifest = await api.manifest(env);
      const again = diffApps(new Map([[diff.app, values]]), manifest).find((d) => d.app === diff.app);
      if (again === undefined || !drifted(again)) {
        io.out(`${diff.app}: already in sync at version ${again?.version ?? 0}`);
        continue;
      }
      result = await put(api, env, diff.app, again.version, values);
      if (result.kind === "conflict") throw new CliError(`${diff.app}: conflict again (409) after re-reading the manifest: another sync is running; run sync again (${pushed} app(s) pushed so far)`);
    }
    pushed++;
    io.out(result.changed ? `${diff.app}: pushed version ${result.version}` : `${diff.app}: unchanged on the Worker (version ${result.version})`);
  }
  const removed = diffs.filter((d) => d.status === "deleted");
  if (!prune) {
    for (const diff of removed) io.out(`${diff.app}: left on the Worker (its file is gone; sync --prune deletes it)`);
    return;
  }
  for (const diff of removed) {
    const path = `/api/secrets/${env}/${diff.app}`;
    const reply = await api.request("DELETE", path);
    const parsed = z.object({ version: z.number().int() }).loose().safeParse(reply.body);
    if (reply.status !== 200 || !parsed.success) throw new CliError(`DELETE ${path}: ${describe(reply.status, reply.body)}${authHint(reply.status)} (app ${diff.app} not deleted)`);
    io.out(`${diff.app}: deleted (empty version ${parsed.data.version})`);
  }
}

/** The last line of a sync: done, or done with apps left that only --prune deletes. */
function syncedLine(env: string, diffs: AppDiff[], prune: boolean): string {
  const left = prune ? 0 : diffs.filter((d) => d.status === "deleted").length;
  return left === 0 ? `${env}: synced.` : `${env}: synced; ${left} app${left === 1 ? " is" : "s are"} left on the Worker with the file removed (sync --prune deletes ${left === 1 ? "it" : "them"}).`;
}

// ---------------------------------------------------------------------------------------------

function required(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === "") throw new CliError(`${name} is not set (${what})`);
  return value.trim();
}

function retryBaseMs(env: NodeJS.ProcessEnv): number {
  const raw = env.SECRETS_RETRY_BASE_MS;
  if (raw === undefined || raw === "") return 500;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new UsageError("SECRETS_RETRY_BASE_MS must be a number of milliseconds");
  return value;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = processIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          env: { type: "string" },
          dir: { type: "string" },
          check: { type: "boolean", default: false },
          "dry-run": { type: "boolean", default: false },
          prune: { type: "boolean", default: false },
          help: { type: "boolean", short: "h", default: false },
        },
      });
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const { positionals, values } = parsed;
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const [command, ...extra] = positionals;
    if (!command || !(COMMANDS as readonly string[]).includes(command) || extra.length > 0) throw new UsageError(`expected one command of ${COMMANDS.join(", ")}`);
    if (!values.env) throw new UsageError("--env <env> is required (a folder of <dir>, e.g. secrets/production)");
    if (!SLUG.test(values.env)) throw new UsageError(`--env must match ${SLUG}`);
    if (values.check && command !== "diff") throw new UsageError("--check applies to diff");
    if (values["dry-run"] && command !== "sync") throw new UsageError("--dry-run applies to sync");
    if (values.prune && command !== "sync") throw new UsageError("--prune applies to sync");
    const dir = values.dir ? resolve(values.dir) : join(repositoryRoot, "secrets");

    const baseUrl = required(env, "EDGE_OPS_URL", "the Worker's base URL, e.g. https://edge-ops.example.com").replace(/\/+$/, "");
    if (!/^https?:\/\//.test(baseUrl)) throw new CliError("EDGE_OPS_URL must start with https:// (or http:// for a local Worker)");
    const token = required(env, "SECRETS_SYNC_TOKEN", "the Worker's sync token");
    const api = new SecretsApi(baseUrl, token, retryBaseMs(env));

    const local = readLocalApps(dir, values.env);
    const manifest = await api.manifest(values.env);
    const diffs = diffApps(local, manifest);
    formatDiff(values.env, diffs).forEach((line) => io.out(line));
    const drift = diffs.some(drifted);

    switch (command as Command) {
      case "diff":
        return drift && values.check ? 2 : 0;
      case "sync":
        if (!drift) return 0;
        if (values["dry-run"]) {
          for (const diff of diffs.filter(drifted)) {
            io.out(
              diff.status !== "deleted"
                ? `dry run: would PUT ${diff.app} (${local.get(diff.app)?.size ?? 0} keys, baseVersion ${diff.version})`
                : values.prune
                  ? `dry run: would DELETE ${diff.app}`
                  : `dry run: would leave ${diff.app} (file removed; --prune deletes it)`,
            );
          }
          io.out("dry run: nothing pushed.");
          return 0;
        }
        await sync(io, api, values.env, local, manifest, diffs, values.prune);
        io.out(syncedLine(values.env, diffs, values.prune));
        return 0;
    }
  } catch (error) {
    if (error instanceof UsageError) io.err(`error: ${error.message}\n\n${USAGE}`);
    else if (error instanceof CliError) io.err(`error: ${error.message}`);
    // A system error (a path, an errno) is safe to print; anything else by its class only (its
    // message might quote input).
    else if (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === "string") io.err(`error: ${error.message}`);
    else io.err(`error: unexpected ${error instanceof Error ? error.name : "failure"}`);
    return 1;
  }
  return 1;
}

await runIfEntryPoint(import.meta.url, main);
