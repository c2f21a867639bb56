// The shell of the workflows' critical steps, run as GitHub runs it (bash --noprofile --norc -eo
// pipefail) against stand-ins: backup-verify.yml against a fake of the Worker's backups admin API
// (POST /api/backups/run, GET /api/backups/runs/:id as workers/backups/admin-routes.ts answers
// them), and deploy-environment.yml's record and rollback steps with a recording `npx` standing in
// for wrangler (`deployments status --json` shaped as wrangler 4.156.2 prints the latest
// deployment: `versions: [{version_id, percentage}]`, checked 2026-12-06); validate-environment.yml's
// captured checks (exit code and output through GITHUB_OUTPUT, a missing variable named, drift
// not failing the job); and the github-script steps (the PR comment found by its marker and
// updated in place, the failure issue) with stand-ins for octokit, `context` and `core`.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";

const WORKFLOWS_DIR = join(import.meta.dirname, "..", "..", ".github", "workflows");

type Step = { name?: string; run?: string };
function stepRun(file: string, job: string, name: string): string {
  const parsed = parse(readFileSync(join(WORKFLOWS_DIR, file), "utf8")) as { jobs: Record<string, { steps: Step[] }> };
  const run = parsed.jobs[job]?.steps.find((step) => step.name === name)?.run;
  if (run === undefined) throw new Error(`${file}: ${job}: no step "${name}" with run:`);
  return run;
}

type Result = { code: number | null; out: string; outputs: Record<string, string> };

/** Runs a step's shell with GitHub's shell options, its own RUNNER_TEMP and GITHUB_OUTPUT. */
async function runStep(script: string, env: Record<string, string>): Promise<Result> {
  const temp = mkdtempSync(join(tmpdir(), "workflow-step-"));
  const outputFile = join(temp, "github-output");
  writeFileSync(outputFile, "");
  const child = spawn("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
    env: { PATH: process.env.PATH ?? "", RUNNER_TEMP: temp, GITHUB_OUTPUT: outputFile, ...env },
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.on("close", done));
  return { code, out, outputs: readGithubOutput(readFileSync(outputFile, "utf8")) };
}

/** GITHUB_OUTPUT's two forms: `name=value` lines and `name<<DELIMITER` … `DELIMITER` blocks. */
function readGithubOutput(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([\w-]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2]!, i + 1);
      if (end === -1) throw new Error(`GITHUB_OUTPUT: ${heredoc[1]} never ends (${heredoc[2]})`);
      outputs[heredoc[1]!] = lines.slice(i + 1, end).join("\n");
      i = end;
      continue;
    }
    const at = line.indexOf("=");
    if (at > 0) outputs[line.slice(0, at)] = line.slice(at + 1);
    else if (line !== "") throw new Error(`GITHUB_OUTPUT: unreadable line ${JSON.stringify(line)}`);
  }
  return outputs;
}

const missing = ["bash", "curl", "jq"].filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
const skipReason = missing.length > 0 ? `${missing.join(", ")} not installed` : undefined;

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipReason !== undefined)(`backup-verify.yml${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  const TOKEN = "admin-token-7f3c1e9a52";
  /** Per run id, the statuses GET answers in turn (the last one repeats). */
  const scripts = new Map<string, Array<{ status: string; failedParts?: string[] }>>();
  /** POST answers in turn: a run id to start, or an active run's id (409). */
  let posts: Array<{ start: string } | { active: string } | { status: number; error: string }> = [];
  const seen: Array<{ method: string; path: string; authorization: string | undefined; body: string }> = [];

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      seen.push({ method: request.method ?? "", path: request.url ?? "", authorization: request.headers.authorization, body });
      const send = (status: number, json: unknown) => response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
      if (request.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: "unauthorized" });
      if (request.method === "POST" && request.url === "/api/backups/run") {
        const next = posts.shift();
        if (next === undefined) return send(500, { error: "unexpected POST" });
        if ("start" in next) return send(202, { id: next.start });
        if ("active" in next) return send(409, { error: "another backup run is active", activeRunId: next.active });
        return send(next.status, { error: next.error });
      }
      const match = /^\/api\/backups\/runs\/([\w-]+)$/.exec(request.url ?? "");
      const steps = match ? scripts.get(match[1]!) : undefined;
      if (request.method === "GET" && match && steps) {
        const step = steps.length > 1 ? steps.shift()! : steps[0]!;
        return send(200, { id: match[1], kind: "restore-test", status: step.status, failedParts: step.failedParts ?? (step.status === "done" ? [] : null) });
      }
      return send(404, { error: "no such backup run" });
    });
  });
  const listening = new Promise<string>((done) => server.listen(0, "127.0.0.1", () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
  afterAll(() => server.close());

  const script = stepRun("backup-verify.yml", "restore-test", "Start a restore-test run and wait for it to end");
  const verify = async (env: Record<string, string> = {}) =>
    runStep(script, { EDGE_OPS_URL: `${await listening}/`, ADMIN_TOKEN: TOKEN, WORKER_ENV: "production", START_WAIT_MINUTES: "1", RUN_WAIT_MINUTES: "1", POLL_SECONDS: "0", ...env });

  it("starts a restore test, waits through its statuses, and passes when it ends done", async () => {
    posts = [{ start: "run-done-1" }];
    scripts.set("run-done-1", [{ status: "scheduled" }, { status: "creating" }, { status: "running" }, { status: "reported" }, { status: "done" }]);
    const before = seen.length;
    const result = await verify();
    expect(result.out).toContain("restore-test run run-done-1 ended done");
    expect(result.code).toBe(0);
    const requests = seen.slice(before);
    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(["POST /api/backups/run", ...Array(5).fill("GET /api/backups/runs/run-done-1")]);
    expect(JSON.parse(requests[0]!.body)).toEqual({ kind: "restore-test" });
    expect(result.out).not.toContain(TOKEN);
  });

  it("fails when the run ends partial, naming the failed parts", async () => {
    posts = [{ start: "run-partial-1" }];
    scripts.set("run-partial-1", [{ status: "running" }, { status: "partial", failedParts: ["restore-test check", "mongodb"] }]);
    const result = await verify();
    expect(result.code).toBe(1);
    expect(result.out).toContain("::error::restore-test run run-partial-1 ended partial (failed: restore-test check, mongodb)");
  });

  it("fails when the run ends failed", async () => {
    posts = [{ start: "run-failed-1" }];
    scripts.set("run-failed-1", [{ status: "failed", failedParts: [] }]);
    const result = await verify();
    expect(result.code).toBe(1);
    expect(result.out).toContain("ended failed");
  });

  it("waits for another active run, then starts its own", async () => {
    posts = [{ active: "run-daily" }, { active: "run-daily" }, { start: "run-after-1" }];
    scripts.set("run-after-1", [{ status: "done" }]);
    const result = await verify();
    expect(result.out).toContain("run run-daily is active (one run at a time)");
    expect(result.code).toBe(0);
  });

  it("fails on a refused start, with the Worker's reason", async () => {
    posts = [{ status: 503, error: "BACKUP_TARGETS is not set" }];
    const result = await verify();
    expect(result.code).toBe(1);
    expect(result.out).toContain("::error::POST /api/backups/run answered 503 (BACKUP_TARGETS is not set)");
  });

  it("fails when the run does not end in time", async () => {
    posts = [{ start: "run-stuck-1" }];
    scripts.set("run-stuck-1", [{ status: "running" }]);
    const result = await verify({ RUN_WAIT_MINUTES: "0" });
    expect(result.code).toBe(1);
    expect(result.out).toContain("::error::restore-test run run-stuck-1 had not ended after 0 minutes");
  });

  it("names a missing variable before any request", async () => {
    const before = seen.length;
    const result = await verify({ ADMIN_TOKEN: "" });
    expect(result.code).toBe(1);
    expect(result.out).toContain("::error::ADMIN_TOKEN is not set");
    expect(seen.length).toBe(before);
  });

  it("sends the token only in the Authorization header, never on curl's command line", async () => {
    posts = [{ start: "run-token-1" }];
    scripts.set("run-token-1", [{ status: "done" }]);
    const before = seen.length;
    expect((await verify()).code).toBe(0);
    const requests = seen.slice(before);
    expect(requests.length).toBe(2);
    expect(requests.every((request) => request.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(script).toContain('--config "$auth"');
    expect(script).not.toMatch(/-H ["']?Authorization/i);
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipReason !== undefined)(`deploy-environment.yml rollback${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  /**
   * A recording `npx`: `npx wrangler deployments status … --json` prints the deployment whose
   * 100% version is the next of $FAKE_LIVE_VERSIONS (comma-separated; "none" answers as wrangler
   * does for a Worker without deployments, exit 1); every call is appended to $FAKE_CALLS.
   */
  const bin = mkdtempSync(join(tmpdir(), "fake-npx-"));
  writeFileSync(
    join(bin, "npx"),
    [
      "#!/bin/bash",
      'printf "%s\\n" "$*" >>"$FAKE_CALLS"',
      'if [ "$1 $2 $3" = "wrangler deployments status" ]; then',
      '  count=$(grep -c "deployments status" "$FAKE_CALLS")',
      '  live=$(printf "%s" "$FAKE_LIVE_VERSIONS" | cut -d, -f"$count")',
      '  if [ "$live" = none ]; then echo "✘ [ERROR] The Worker edge-ops-staging has no deployments." >&2; exit 1; fi',
      '  printf \'{"id":"dep-%s","source":"wrangler","strategy":"percentage","author_email":"ci@example.test","annotations":{},"versions":[{"version_id":"%s","percentage":100}],"created_on":"2026-12-06T10:00:00Z"}\\n\' "$count" "$live"',
      "  exit 0",
      "fi",
      'if [ "$1 $2" = "wrangler rollback" ]; then exit "${FAKE_ROLLBACK_EXIT:-0}"; fi',
      "exit 0",
    ].join("\n"),
  );
  chmodSync(join(bin, "npx"), 0o755);

  const record = stepRun("deploy-environment.yml", "deploy", "Record the version live now (the rollback target)");
  const rollback = stepRun("deploy-environment.yml", "deploy", "Roll back to the recorded version");

  async function step(script: string, env: Record<string, string>) {
    const calls = join(mkdtempSync(join(tmpdir(), "fake-npx-calls-")), "calls");
    writeFileSync(calls, "");
    const result = await runStep(script, { PATH: `${bin}${delimiter}${process.env.PATH ?? ""}`, FAKE_CALLS: calls, WORKER_ENV: "staging", RUN_ID: "4242", ...env });
    return { ...result, calls: readFileSync(calls, "utf8").trim().split("\n").filter(Boolean) };
  }

  it("records the version serving 100% before the deploy", async () => {
    const result = await step(record, { FAKE_LIVE_VERSIONS: "ver-before" });
    expect(result.code).toBe(0);
    expect(result.outputs).toEqual({ version: "ver-before" });
    expect(result.calls).toEqual(["wrangler deployments status --env staging --json"]);
  });

  it("records nothing, with a warning, for a Worker never deployed", async () => {
    const result = await step(record, { FAKE_LIVE_VERSIONS: "none" });
    expect(result.code).toBe(0);
    expect(result.outputs).toEqual({ version: "" });
    expect(result.out).toContain("::warning::no version of the staging Worker is live at 100%");
  });

  it("rolls back to the recorded version when another one is live", async () => {
    const result = await step(rollback, { LIVE_VERSION: "ver-before", FAKE_LIVE_VERSIONS: "ver-broken" });
    expect(result.code).toBe(0);
    expect(result.calls).toEqual([
      "wrangler deployments status --env staging --json",
      "wrangler rollback ver-before --env staging --yes --message deploy run 4242 failed: back to the version before it",
    ]);
    expect(result.outputs).toEqual({ result: "rolled back to version ver-before" });
  });

  it("does not roll back when the recorded version is still (or again) live", async () => {
    const result = await step(rollback, { LIVE_VERSION: "ver-before", FAKE_LIVE_VERSIONS: "ver-before" });
    expect(result.code).toBe(0);
    expect(result.calls).toEqual(["wrangler deployments status --env staging --json"]);
    expect(result.outputs).toEqual({ result: "not needed: version ver-before is live" });
  });

  it("rolls back when the live version cannot be read", async () => {
    const result = await step(rollback, { LIVE_VERSION: "ver-before", FAKE_LIVE_VERSIONS: "none" });
    expect(result.calls).toContain("wrangler rollback ver-before --env staging --yes --message deploy run 4242 failed: back to the version before it");
    expect(result.code).toBe(0);
  });

  it("says there is nothing to roll back to after a first deploy", async () => {
    const result = await step(rollback, { LIVE_VERSION: "", FAKE_LIVE_VERSIONS: "ver-broken" });
    expect(result.code).toBe(0);
    expect(result.calls).toEqual([]);
    expect(result.outputs).toEqual({ result: "nothing to roll back to (no version recorded before the deploy)" });
  });

  it("fails, saying so, when the rollback fails", async () => {
    const result = await step(rollback, { LIVE_VERSION: "ver-before", FAKE_LIVE_VERSIONS: "ver-broken", FAKE_ROLLBACK_EXIT: "1" });
    expect(result.code).toBe(1);
    expect(result.out).toContain("::error::rolling staging back to version ver-before failed");
    expect(result.outputs).toEqual({ result: "rollback to version ver-before FAILED" });
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipReason !== undefined)(`validate-environment.yml${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  const file = "validate-environment.yml";

  it("reports a missing GIT_CRYPT_KEY as the secrets diff's error, by name, without installing or unlocking anything", async () => {
    const result = await runStep(stepRun(file, "validate", "Secrets diff"), { GIT_CRYPT_KEY: "", WORKER_ENV: "staging", GITHUB_ENVIRONMENT_NAME: "staging-plan" });
    expect(result.code).toBe(0);
    expect(result.outputs.code).toBe("1");
    expect(result.outputs.output).toMatch(/^error: GIT_CRYPT_KEY is not set \(a secret of the GitHub environment staging-plan or of the repository/);
  });

  it("reports a missing SSH_PUBLIC_KEY as infra plan's error, by name", async () => {
    const result = await runStep(stepRun(file, "validate", "Infra plan"), { SSH_PUBLIC_KEY: "", INFRA_ENV: "staging", GITHUB_ENVIRONMENT_NAME: "staging-plan" });
    expect(result.code).toBe(0);
    expect(result.outputs).toEqual({ code: "1", output: expect.stringMatching(/^error: SSH_PUBLIC_KEY is not set \(a variable of the GitHub environment staging-plan/) });
  });

  it("passes a command's exit code and whole output on, whatever the output holds", async () => {
    // The deploy step with `npm` standing in: output with a line like a heredoc delimiter.
    const bin = mkdtempSync(join(tmpdir(), "fake-npm-"));
    writeFileSync(join(bin, "npm"), '#!/bin/bash\nprintf "%s\\n" "args: $*" "EOF" "output<<EOF" "last line"\nexit 2\n');
    chmodSync(join(bin, "npm"), 0o755);
    const result = await runStep(stepRun(file, "validate", "Deploy dry-run"), { PATH: `${bin}${delimiter}${process.env.PATH ?? ""}`, WORKER_ENV: "production" });
    expect(result.code).toBe(0);
    expect(result.outputs).toEqual({ code: "2", output: "args: run -s deploy -- --env production --dry-run\nEOF\noutput<<EOF\nlast line\n" });
  });

  it("fails the job when a check errored, not on drift", async () => {
    const fail = stepRun(file, "validate", "Fail when a check errored (drift alone does not fail)");
    expect((await runStep(fail, { DEPLOY_CODE: "0", INFRA_CODE: "2", SECRETS_CODE: "2" })).code).toBe(0);
    const errored = await runStep(fail, { DEPLOY_CODE: "0", INFRA_CODE: "1", SECRETS_CODE: "0" });
    expect(errored.code).toBe(1);
    expect(errored.out).toContain("::error::infra plan exited 1");
    expect((await runStep(fail, { DEPLOY_CODE: "1", INFRA_CODE: "0", SECRETS_CODE: "0" })).code).toBe(1);
    expect((await runStep(fail, { DEPLOY_CODE: "0", INFRA_CODE: "0", SECRETS_CODE: "" })).code).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// The github-script steps, run with stand-ins for its `github` (octokit), `context` and `core`
// (names actions/github-script v8.0.0 passes to the script, src/main.ts `callAsyncFunction`,
// checked 2026-12-06; `process` is Node's global there, passed here to give the step's env).

type Comment = { id: number; user: { login: string } | null; body: string };

function githubScript(file: string, job: string): (globals: Record<string, unknown>) => Promise<unknown> {
  const parsed = parse(readFileSync(join(WORKFLOWS_DIR, file), "utf8")) as { jobs: Record<string, { steps: Array<{ with?: { script?: string } }> }> };
  const script = parsed.jobs[job]?.steps[0]?.with?.script;
  if (script === undefined) throw new Error(`${file}: ${job}: no github-script`);
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...values: unknown[]) => Promise<unknown>;
  const names = ["github", "context", "core", "process"];
  const run = new AsyncFunction(...names, script);
  return (globals) => run(...names.map((name) => globals[name]));
}

const context = (extra: Record<string, unknown> = {}) => ({
  serverUrl: "https://github.com",
  repo: { owner: "acme", repo: "edge-ops" },
  runId: 987654,
  sha: "0123456789abcdef0123456789abcdef01234567",
  ref: "refs/heads/main",
  payload: { pull_request: { number: 17, head: { sha: "fedcba9876543210fedcba9876543210fedcba98" } } },
  ...extra,
});
const core = { info: () => {} };

describe("pr-validation.yml comment", () => {
  const post = githubScript("pr-validation.yml", "comment");
  const outputs = (deploy: string, infra: string, secrets: string) =>
    JSON.stringify({
      "deploy-code": deploy,
      "deploy-output": "plan: create queue edge-ops-intake-staging",
      "infra-code": infra,
      "infra-output": "\u001b[32m+ server edge-ops-staging-1\u001b[0m\nwith ``` inside",
      "secrets-code": secrets,
      "secrets-output": "~ rocketchat: changed (version 3, 2 unchanged)",
    });

  function fakeGithub(comments: Comment[]) {
    const calls: string[] = [];
    let nextId = 1000;
    const rest = {
      issues: {
        listComments: "listComments",
        createComment: async ({ body }: { body: string }) => {
          calls.push("create");
          comments.push({ id: ++nextId, user: { login: "github-actions[bot]" }, body });
          return { data: { id: nextId } };
        },
        updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
          calls.push(`update ${comment_id}`);
          comments.find((comment) => comment.id === comment_id)!.body = body;
          return { data: { id: comment_id } };
        },
      },
    };
    return { calls, github: { rest, paginate: async (method: string, params: { issue_number: number }) => (method === "listComments" && params.issue_number === 17 ? [...comments] : []) } };
  }

  const env = { STAGING_RESULT: "success", STAGING_OUTPUTS: outputs("0", "2", "0"), PRODUCTION_RESULT: "failure", PRODUCTION_OUTPUTS: outputs("0", "1", "2") };

  it("creates one comment, then updates that one on the next run", async () => {
    const comments: Comment[] = [{ id: 1, user: { login: "alice" }, body: "looks good" }];
    const { calls, github } = fakeGithub(comments);
    await post({ github, context: context(), core, process: { env } });
    await post({ github, context: context({ runId: 987655 }), core, process: { env } });
    expect(calls).toEqual(["create", "update 1001"]);
    expect(comments.filter((comment) => comment.body.includes("<!-- edge-ops:pr-validation -->"))).toHaveLength(1);
    expect(comments.find((comment) => comment.id === 1001)?.body).toContain("run 987655");
  });

  it("never takes over a person's comment that quotes the marker", async () => {
    const comments: Comment[] = [{ id: 5, user: { login: "mallory" }, body: "<!-- edge-ops:pr-validation --> hi" }];
    const { calls, github } = fakeGithub(comments);
    await post({ github, context: context(), core, process: { env } });
    expect(calls).toEqual(["create"]);
    expect(comments.find((comment) => comment.id === 5)?.body).toBe("<!-- edge-ops:pr-validation --> hi");
  });

  it("reads each exit code as its tool means it and shows the outputs fenced, colours removed", async () => {
    const comments: Comment[] = [];
    const { github } = fakeGithub(comments);
    await post({ github, context: context(), core, process: { env } });
    const body = comments[0]!.body;
    const [staging, production] = body.split("### production");
    expect(staging).toContain("| deploy dry-run | ✅ ok |");
    expect(staging).toContain("| infra plan | 🟡 changes pending (drift) |");
    expect(staging).toContain("| secrets diff | ✅ no drift |");
    expect(production).toContain("| infra plan | ❌ error (exit 1) |");
    expect(production).toContain("| secrets diff | 🟡 drift |");
    expect(body).not.toContain("\u001b[");
    expect(body).toContain("````text\n+ server edge-ops-staging-1\nwith ``` inside\n````");
    expect(body).toContain("[run 987654](https://github.com/acme/edge-ops/actions/runs/987654)");
  });

  it("says which environment did not run, and stays under GitHub's 65,536 characters", async () => {
    const comments: Comment[] = [];
    const { github } = fakeGithub(comments);
    const huge = JSON.stringify({ "deploy-code": "1", "deploy-output": "x".repeat(40_000), "infra-code": "0", "infra-output": "y".repeat(40_000), "secrets-code": "0", "secrets-output": "z".repeat(40_000) });
    await post({ github, context: context(), core, process: { env: { STAGING_RESULT: "failure", STAGING_OUTPUTS: huge, PRODUCTION_RESULT: "skipped", PRODUCTION_OUTPUTS: "{}" } } });
    const body = comments[0]!.body;
    expect(body).toContain("⚪ not run (job skipped)");
    expect(body).toContain("| deploy dry-run | ❌ error (exit 1) |");
    expect(body).toContain("characters cut; the whole output is in the run's log");
    expect(body.length).toBeLessThan(65_536);
  });
});

describe("deploy.yml failure issue", () => {
  it("opens an issue linking the run, with each stage's result and rollback", async () => {
    const created: Array<{ title: string; body: string }> = [];
    const github = { rest: { issues: { create: async (issue: { title: string; body: string }) => (created.push(issue), { data: { number: 42 } }) } } };
    const env = { TEST_RESULT: "success", STAGING_RESULT: "success", STAGING_ROLLBACK: "", PRODUCTION_RESULT: "failure", PRODUCTION_ROLLBACK: "rolled back to version ver-before" };
    await githubScript("deploy.yml", "report-failure")({ github, context: context(), core, process: { env } });
    expect(created).toHaveLength(1);
    expect(created[0]!.title).toBe("Deploy failed at 0123456 (run 987654)");
    expect(created[0]!.body).toContain("https://github.com/acme/edge-ops/actions/runs/987654");
    expect(created[0]!.body).toContain("| production | failure | rolled back to version ver-before |");
    expect(created[0]!.body).toContain("| staging | success | — |");
  });
});
