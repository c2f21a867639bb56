// `npm run deploy` against the recording stand-in for wrangler (test/node/fakes/fake-wrangler:
// one Cloudflare account in a state file) and a local server playing the deployed Worker's
// /healthz: a first run creates the missing queues and D1 database, applies the migrations
// remotely and deploys (wrangler provisioning the KV namespace); a second run creates nothing; a
// failed smoke test rolls back to the version live before; --dry-run changes nothing; missing
// credentials are named before any call.
import { execFile } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main, type DeployDependencies } from "../../scripts/deploy.ts";
import { createFakeWranglerState as createFakeAccount, FAKE_WRANGLER_API_TOKEN, type FakeWranglerHandle, type FakeWranglerState } from "./fakes/fake-wrangler-state.ts";

const REPOSITORY_ROOT = join(import.meta.dirname, "..", "..");
const MIGRATIONS = readdirSync(join(REPOSITORY_ROOT, "migrations"))
  .filter((file) => file.endsWith(".sql"))
  .sort();
const STAGING_QUEUES = ["edge-ops-intake-staging", "edge-ops-vectorize-staging", "edge-ops-vectorize-dlq-staging", "edge-ops-bot-staging", "edge-ops-bot-dlq-staging"];

// ---------------------------------------------------------------------------------------------
// The deployed Worker's /healthz

type HealthAnswer = { status: number; body: unknown };

const HEALTHY: HealthAnswer = {
  status: 200,
  body: {
    status: "ok",
    checks: { db: { ok: true, detail: "4 ms" }, intakeQueue: { ok: true }, vectorizeQueue: { ok: true } },
    capabilities: {
      aircallIntake: { configured: true },
      guestyIntake: { configured: false, problems: ["GUESTY_WEBHOOK_SECRETS is not set"] },
      access: { configured: true, degraded: true, problems: ["ACCESS_TEAM_DOMAIN and ACCESS_AUD are not set: ADMIN_TOKEN opens the operator pages and secrets operations (local development only)"] },
    },
  },
};
const STORAGE_DOWN: HealthAnswer = { status: 503, body: { status: "degraded", checks: { db: { ok: false, detail: "query failed" }, intakeQueue: { ok: true } }, capabilities: {} } };

type HealthServer = { url: string; requests: string[]; answer: HealthAnswer };
const servers: Server[] = [];
const accounts: FakeWranglerHandle[] = [];
afterAll(() => {
  servers.forEach((server) => server.close());
  accounts.forEach((account) => rmSync(dirname(account.path), { recursive: true, force: true }));
});

/** A fake account of its own for one test (its state folder removed at the end). */
function createFakeWranglerState(seed?: (state: FakeWranglerState) => void): FakeWranglerHandle {
  const account = createFakeAccount(seed);
  accounts.push(account);
  return account;
}

async function startHealthServer(answer: HealthAnswer): Promise<HealthServer> {
  const state: HealthServer = { url: "", requests: [], answer };
  const server = createServer((request, response) => {
    state.requests.push(request.url ?? "");
    response.writeHead(request.url === "/healthz" ? state.answer.status : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(request.url === "/healthz" ? state.answer.body : { error: "not found" }));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

type Run = { code: number; out: string; err: string };

function environment(fake: FakeWranglerHandle, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR, ...fake.env, DEPLOY_SMOKE_INTERVAL_MS: "0", DEPLOY_SMOKE_ATTEMPTS: "2", ...extra };
}

async function deploy(argv: string[], env: NodeJS.ProcessEnv, dependencies: DeployDependencies = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  // Waits between smoke-test attempts are skipped, never slept.
  const code = await main(argv, env, { out: (line) => out.push(line), err: (line) => err.push(line), interactive: false, outIsTerminal: false }, { sleep: async () => {}, ...dependencies });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const commands = (fake: FakeWranglerHandle, from = 0) => fake.calls(from).map((call) => call.argv.join(" "));
const resources = (state: FakeWranglerState) => ({ queues: state.queues, databases: state.databases, namespaces: state.namespaces, migrations: state.migrations, workers: state.workers });

/** A fake account after one healthy first deploy of staging, and the version it made live. */
async function deployedOnce(seed?: (state: FakeWranglerState) => void) {
  const fake = createFakeWranglerState(seed);
  const health = await startHealthServer(HEALTHY);
  const first = await deploy(["--env", "staging", "--url", health.url], environment(fake));
  expect(first.err).toBe("");
  expect(first.code).toBe(0);
  const live = fake.read().workers["edge-ops-staging"]!.deployments.at(-1)!.versions[0]!.version_id;
  return { fake, health, live };
}

describe("npm run deploy", { timeout: 60_000 }, () => {
  it("first run: creates the missing queues and D1 database, applies the migrations remotely, deploys, smoke-tests and names what each capability lacks", async () => {
    // One queue exists already: it is listed, not created again.
    const fake = createFakeWranglerState((state) => {
      state.queues.push({ queue_id: "a".repeat(32), queue_name: "edge-ops-intake-staging", created_on: "2026-12-01T10:00:00Z", modified_on: "2026-12-01T10:00:00Z", producers_total_count: 0, consumers_total_count: 0 });
    });
    const health = await startHealthServer(HEALTHY);
    const run = await deploy(["--env", "staging", "--url", health.url], environment(fake));
    expect(run.err).toBe("");
    expect(run.code).toBe(0);

    const state = fake.read();
    expect(state.queues.map((queue) => queue.queue_name).sort()).toEqual([...STAGING_QUEUES].sort());
    const database = state.databases.find((found) => found.name === "edge-ops-staging");
    expect(database).toBeDefined();
    expect(state.migrations[database!.uuid]).toEqual(MIGRATIONS);
    // KV: provisioned by wrangler deploy under its own name, and bound.
    const namespace = state.namespaces.find((found) => found.title === "edge-ops-staging-secrets-kv");
    expect(namespace).toBeDefined();
    const worker = state.workers["edge-ops-staging"]!;
    expect(worker.deployments).toHaveLength(1);
    expect(worker.versions[0]!.bindings).toMatchObject({ DB: { type: "d1", id: database!.uuid }, SECRETS_KV: { type: "kv_namespace", namespace_id: namespace!.id } });

    const calls = commands(fake);
    const created = calls.filter((call) => call.startsWith("queues create"));
    expect(created.sort()).toEqual(STAGING_QUEUES.filter((queue) => queue !== "edge-ops-intake-staging").map((queue) => `queues create ${queue}`).sort());
    // Listed before anything is created; everything exists before the migrations; migrations before the deploy.
    const index = (pattern: RegExp) => calls.findIndex((call) => pattern.test(call));
    expect(index(/^queues list/)).toBeLessThan(index(/^queues create/));
    expect(index(/^d1 list --json$/)).toBeLessThan(index(/^d1 create edge-ops-staging$/));
    expect(index(/^d1 create /)).toBeLessThan(index(/^d1 migrations apply/));
    expect(calls[index(/^d1 migrations apply/)]).toBe("d1 migrations apply edge-ops-staging --remote --env staging");
    expect(index(/^d1 migrations apply/)).toBeLessThan(index(/^deploy --env staging$/));
    expect(calls).not.toContainEqual(expect.stringMatching(/^rollback/));
    expect(health.requests).toEqual(["/healthz"]);

    // Credentials travel in the environment only; wrangler never had a terminal to prompt on.
    for (const call of fake.calls()) {
      expect(call.argv.some((arg) => arg.includes(FAKE_WRANGLER_API_TOKEN))).toBe(false);
      expect(call.tokenInEnvironment && call.accountInEnvironment).toBe(true);
      expect(call.stdinIsTerminal).toBe(false);
    }
    expect(run.out).not.toContain(FAKE_WRANGLER_API_TOKEN);

    expect(run.out).toContain("+ queue edge-ops-vectorize-dlq-staging");
    expect(run.out).toContain("= queue edge-ops-intake-staging");
    expect(run.out).toContain(`Migrations of edge-ops-staging: applied ${MIGRATIONS.length}`);
    expect(run.out).toContain(`Deployed edge-ops-staging: version ${worker.versions[0]!.id}`);
    expect(run.out).toContain("Capabilities: 2 of 3 configured.");
    expect(run.out).toContain("✓ aircallIntake");
    expect(run.out).toMatch(/✗ guestyIntake: GUESTY_WEBHOOK_SECRETS is not set\n\s+npx wrangler secret put GUESTY_WEBHOOK_SECRETS --env staging/);
    // Access is plain configuration: a [vars] line, not a secret.
    expect(run.out).toContain('add ACCESS_AUD = "…" under [env.staging.vars] in wrangler.toml');
    expect(run.out).not.toContain("secret put ACCESS_AUD");
  });

  it("second run: lists every page, creates nothing, applies no migration, deploys and keeps the KV binding", async () => {
    // Two queues per page and unrelated queues in the account: all pages must be read.
    const { fake, health } = await deployedOnce((state) => {
      state.queuesPerPage = 2;
      for (const name of ["other-a", "other-b", "other-c"]) state.queues.push({ queue_id: name.padEnd(32, "0"), queue_name: name, created_on: "2026-12-01T10:00:00Z", modified_on: "2026-12-01T10:00:00Z", producers_total_count: 0, consumers_total_count: 0 });
    });
    const before = fake.read();
    const from = before.calls.length;
    const run = await deploy(["--env", "staging", "--url", health.url], environment(fake));
    expect(run.err).toBe("");
    expect(run.code).toBe(0);

    const after = fake.read();
    const calls = commands(fake, from);
    expect(calls.filter((call) => /^(queues create|d1 create)/.test(call))).toEqual([]);
    expect(calls.filter((call) => call.startsWith("queues list")).length).toBeGreaterThanOrEqual(4);
    expect(after.queues).toEqual(before.queues);
    expect(after.databases).toEqual(before.databases);
    expect(after.namespaces).toEqual(before.namespaces);
    expect(after.migrations).toEqual(before.migrations);
    const worker = after.workers["edge-ops-staging"]!;
    expect(worker.deployments).toHaveLength(2);
    expect(worker.versions[1]!.bindings.SECRETS_KV).toEqual(worker.versions[0]!.bindings.SECRETS_KV);
    expect(run.out).toContain("Migrations of edge-ops-staging: none to apply.");
    expect(run.out).toContain("Done: 0 queues and 0 D1 databases created");
  });

  it("a failed smoke test rolls back to the version live before the deploy and exits non-zero, saying so", async () => {
    const { fake, health, live } = await deployedOnce();
    health.answer = STORAGE_DOWN;
    const from = fake.calls().length;
    const run = await deploy(["--env", "staging", "--url", health.url], environment(fake));
    expect(run.code).toBe(1);

    const calls = commands(fake, from);
    expect(calls.at(-1)).toBe(`rollback ${live} --env staging --message npm run deploy: smoke test failed --yes`);
    const worker = fake.read().workers["edge-ops-staging"]!;
    expect(worker.deployments.at(-1)!.versions).toEqual([{ version_id: live, percentage: 100 }]);
    expect(worker.versions).toHaveLength(2);
    expect(health.requests.filter((path) => path === "/healthz")).toHaveLength(1 + 2);
    expect(run.err).toContain(`the smoke test failed (HTTP 503 "degraded": failing db (query failed)); rolled back to ${live}`);
    expect(run.out).not.toContain("Healthy");
  });

  it("a first deploy that fails its smoke test has nothing to roll back to, and says so", async () => {
    const fake = createFakeWranglerState();
    const health = await startHealthServer(STORAGE_DOWN);
    const run = await deploy(["--env", "staging", "--url", health.url], environment(fake));
    expect(run.code).toBe(1);
    expect(commands(fake)).not.toContainEqual(expect.stringMatching(/^rollback/));
    expect(run.err).toContain("first deploy, so there is no earlier version to roll back to");
  });

  it("--dry-run prints the plan, builds the bundle and changes nothing", async () => {
    const fake = createFakeWranglerState();
    const before = resources(fake.read());
    const run = await deploy(["--env", "staging", "--dry-run"], environment(fake));
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(resources(fake.read())).toEqual(before);
    for (const call of commands(fake)) expect(call).toMatch(/^(queues list|d1 list --json$|kv namespace list$|deployments status --json --env staging$|deploy --dry-run --env staging --outdir )/);
    expect(commands(fake)).toContainEqual(expect.stringMatching(/^deploy --dry-run --env staging --outdir /));
    for (const queue of STAGING_QUEUES) expect(run.out).toContain(`+ queue ${queue}`);
    expect(run.out).toContain("+ D1 DB: edge-ops-staging");
    expect(run.out).toContain("+ KV SECRETS_KV: edge-ops-staging-secrets-kv, created by wrangler deploy");
    expect(run.out).toContain("Dry run: the bundle builds; nothing was changed (5 queues and 1 D1 databases to create).");
  });

  it("names each missing Cloudflare variable, and the token's permissions, before any wrangler call", async () => {
    const fake = createFakeWranglerState();
    const noToken = await deploy(["--env", "staging"], environment(fake, { CLOUDFLARE_API_TOKEN: "" }));
    expect(noToken.code).toBe(1);
    expect(noToken.err).toContain("CLOUDFLARE_API_TOKEN is not set");
    for (const permission of ["Workers Scripts · Edit", "D1 · Edit", "Workers KV Storage · Edit", "Queues · Edit", "Account Settings · Read", "Workers Routes · Edit"]) expect(noToken.err).toContain(permission);
    expect(noToken.err).not.toContain("CLOUDFLARE_ACCOUNT_ID");

    const noAccount = await deploy(["--env", "staging", "--dry-run"], environment(fake, { CLOUDFLARE_ACCOUNT_ID: undefined }));
    expect(noAccount.code).toBe(1);
    expect(noAccount.err).toContain("CLOUDFLARE_ACCOUNT_ID is not set");
    expect(noAccount.err).not.toContain("CLOUDFLARE_API_TOKEN is not set");

    const neither = await deploy(["--env", "production"], environment(fake, { CLOUDFLARE_API_TOKEN: undefined, CLOUDFLARE_ACCOUNT_ID: undefined }));
    expect(neither.err).toContain("CLOUDFLARE_API_TOKEN is not set");
    expect(neither.err).toContain("CLOUDFLARE_ACCOUNT_ID is not set");

    const malformed = await deploy(["--env", "staging"], environment(fake, { CLOUDFLARE_ACCOUNT_ID: "my-account" }));
    expect(malformed.err).toContain("CLOUDFLARE_ACCOUNT_ID: must be the account's id");
    expect(malformed.err).not.toContain("my-account");
    expect(fake.calls()).toEqual([]);
  });

  it("smoke-tests the workers.dev address wrangler's deploy record names when --url is absent", async () => {
    const fake = createFakeWranglerState();
    const health = await startHealthServer(HEALTHY);
    const seen: string[] = [];
    // The deployed address, served here by the local server.
    const fetchDeployed: typeof fetch = (input, init) => {
      const url = new URL(String(input));
      seen.push(url.origin);
      return fetch(`${health.url}${url.pathname}`, init);
    };
    const run = await deploy(["--env", "staging"], environment(fake), { fetch: fetchDeployed });
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(seen).toEqual(["https://edge-ops-staging.fake-subdomain.workers.dev"]);
    expect(run.out).toContain("Smoke test: GET https://edge-ops-staging.fake-subdomain.workers.dev/healthz");
  });

  it("stops before any change when a KV namespace of the provisioned name exists but no Worker was ever deployed", async () => {
    const fake = createFakeWranglerState((state) => state.namespaces.push({ id: "f".repeat(32), title: "edge-ops-staging-secrets-kv", supports_url_encoding: true }));
    const before = resources(fake.read());
    const run = await deploy(["--env", "staging", "--url", "http://127.0.0.1:9"], environment(fake));
    expect(run.code).toBe(1);
    expect(resources(fake.read())).toEqual(before);
    expect(commands(fake)).not.toContainEqual(expect.stringMatching(/^(queues create|d1 create|d1 migrations|deploy --env)/));
    expect(run.err).toContain(`npx wrangler kv namespace delete --namespace-id ${"f".repeat(32)}`);
    expect(run.err).toContain("Nothing was changed.");
  });

  it("a failing wrangler step stops the run with wrangler's own error, nothing deployed and nothing rolled back", async () => {
    const fake = createFakeWranglerState((state) => {
      state.faults.push({ match: "^d1 migrations apply", exitCode: 1, stderr: "\n✘ [ERROR] Migration 0003_backfill_field_order.sql failed with the following errors:\n\n🪵  Logs were written to \"/tmp/x.log\"\n" });
    });
    const run = await deploy(["--env", "staging", "--url", "http://127.0.0.1:9"], environment(fake));
    expect(run.code).toBe(1);
    expect(run.err).toContain("`wrangler d1 migrations apply edge-ops-staging --remote --env staging` exited 1");
    expect(run.err).toContain("[ERROR] Migration 0003_backfill_field_order.sql failed");
    expect(run.err).not.toContain("Logs were written");
    expect(commands(fake)).not.toContainEqual(expect.stringMatching(/^(deploy --env|rollback)/));
    expect(fake.read().workers).toEqual({});
  });

  it("refuses an environment wrangler.toml does not declare and a malformed --url, before any call", async () => {
    const fake = createFakeWranglerState();
    const unknown = await deploy(["--env", "dev"], environment(fake));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("--env dev: wrangler.toml has no [env.dev] (it has staging, production)");
    const badUrl = await deploy(["--env", "staging", "--url", "ftp://example.com"], environment(fake));
    expect(badUrl.code).toBe(1);
    expect(badUrl.err).toContain("--url must be an http(s) URL");
    const help = await deploy(["--help"], environment(fake, { CLOUDFLARE_API_TOKEN: undefined }));
    expect(help.code).toBe(0);
    expect(help.out).toContain("usage: npm run deploy -- --env <env> [--dry-run] [--url <base URL>]");
    expect(fake.calls()).toEqual([]);
  });

  it("runs as `npm run deploy` does, production included, with its exit code", async () => {
    const fake = createFakeWranglerState();
    const health = await startHealthServer(HEALTHY);
    const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile("npm", ["run", "-s", "deploy", "--", "--env", "production", "--url", health.url], { cwd: REPOSITORY_ROOT, env: { ...process.env, ...environment(fake) }, encoding: "utf8" }, (_error, stdout, stderr) =>
        resolve({ status: child.exitCode, stdout, stderr }),
      );
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("Capabilities: 2 of 3 configured.");
    expect(result.stdout).toContain("npx wrangler secret put GUESTY_WEBHOOK_SECRETS --env production");
    expect(fake.read().queues.map((queue) => queue.queue_name)).toContain("edge-ops-bot-dlq-production");
    expect(commands(fake)).toContain("d1 migrations apply edge-ops-production --remote --env production");
  });
});
