// The docs a newcomer reads, checked mechanically: the README stays short and names the test
// command CI runs; every relative link in README.md and docs/*.md reaches a file, and a heading
// of it by GitHub's anchor rules; every variable .dev.vars.example declares has a row in
// docs/configuration.md; every package in package.json is named in docs/dependencies.md; every
// shell block that talks to a real vendor says "needs a real account". Each rule is also shown
// failing on a broken example.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PLAIN_VARIABLES } from "../../scripts/deploy/smoke.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const docs = ["README.md", ...readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)].sort();

type Block = { info: string; body: string; line: number };

/** Fenced code blocks (``` or ~~~, indented in list items too), with the line each opens on. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let open: { fence: string; info: string; line: number; body: string[] } | null = null;
  markdown.split("\n").forEach((line, index) => {
    const fence = /^\s*(`{3,}|~{3,})\s*([^`\s]*)/.exec(line);
    if (!open) {
      if (fence) open = { fence: fence[1]!, info: fence[2] ?? "", line: index + 1, body: [] };
    } else if (fence && fence[1]!.startsWith(open.fence) && line.trim() === fence[1]) {
      blocks.push({ info: open.info, body: open.body.join("\n"), line: open.line });
      open = null;
    } else {
      open.body.push(line);
    }
  });
  return blocks;
}

/** The lines of a file with those of fenced code blocks (fences included) emptied. */
function outsideFences(markdown: string): string[] {
  const lines = markdown.split("\n");
  for (const block of codeBlocks(markdown)) {
    const bodyLines = block.body === "" ? 0 : block.body.split("\n").length;
    for (let i = block.line - 1; i <= block.line + bodyLines; i++) lines[i] = "";
  }
  return lines;
}

/** The text outside fenced code blocks and inline code spans. */
const prose = (markdown: string) => outsideFences(markdown).join("\n").replace(/`[^`\n]*`/g, "``");

/** GitHub's heading anchor (github-slugger): lower case, punctuation other than - and _ dropped, spaces to -. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/`/g, "")
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Every anchor a file offers: its headings' slugs (repeats numbered as GitHub numbers them). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of outsideFences(markdown)) {
    const heading = /^#{1,6}[ \t]+(.+?)[ \t#]*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) result.add(match[1]!);
  return result;
}

/** Problems with the relative links of one file (`path` relative to the repository). */
function linkProblems(path: string, markdown: string, readTarget: (path: string) => string | null): string[] {
  const problems: string[] = [];
  for (const match of prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [file, anchor] = target.split("#", 2) as [string, string | undefined];
    const resolved = file === "" ? path : relative(root, resolve(root, dirname(path), decodeURIComponent(file)));
    const text = readTarget(resolved);
    if (text === null) {
      problems.push(`${path}: ${target}: no such file (${resolved})`);
      continue;
    }
    if (anchor === undefined || anchor === "") continue;
    if (!resolved.endsWith(".md")) problems.push(`${path}: ${target}: an anchor into a file that is not Markdown`);
    else if (!anchors(text).has(anchor)) problems.push(`${path}: ${target}: ${resolved} has no heading #${anchor}`);
  }
  return problems;
}

const readRepositoryFile = (path: string): string | null => {
  const full = join(root, path);
  if (!existsSync(full)) return null;
  return statSync(full).isDirectory() ? "" : readFileSync(full, "utf8");
};

/** Lines of a shell block that reach a real vendor or a deployed installation (comments aside). */
const VENDOR_COMMANDS: readonly RegExp[] = [
  /\bwrangler\s+(secret|tail|r2|kv|d1|rollback|deployments|login|queues|versions)\b/,
  /\bwrangler\s+deploy\b(?!.*--dry-run)/,
  /\bnpm run deploy --(?!\s*--help)/,
  /\bnpm run (-s )?infra -- (plan|apply|destroy|status|deploy|backup-image|backup-targets)\b/,
  /\bnpm run secrets -- (diff|sync)\b/,
  /\bcloudflared\b/,
  /\bhcloud\b/,
  /\bcurl\b(?!.*\b(127\.0\.0\.1|localhost)\b)/,
  /\b(restic|docker|mongorestore|pg_restore)\b/,
  /\baws s3\b/,
  /\b(ssh|rsync)\b.*\broot@/,
];
const SHELL = new Set(["", "sh", "bash", "shell", "console"]);
/** A usage line (`cmd -- plan|apply --env <name> [--yes]`) shows a command's shape; it runs nothing. */
const isSynopsis = (line: string) => /\[--|\w\|\w/.test(line);
const MARKER = "needs a real account";

/** Shell blocks with a vendor command and no "needs a real account" in them or in the 3 lines before. */
function unmarkedBlocks(path: string, markdown: string): string[] {
  const lines = markdown.split("\n");
  return codeBlocks(markdown)
    .filter((block) => SHELL.has(block.info))
    .filter((block) => {
      const commands = block.body.split("\n").map((line) => line.replace(/(^|\s)#.*$/, "")).filter((line) => line.trim() !== "");
      return commands.some((line) => !isSynopsis(line) && VENDOR_COMMANDS.some((pattern) => pattern.test(line)));
    })
    .filter((block) => !block.body.includes(MARKER) && !lines.slice(Math.max(0, block.line - 4), block.line - 1).join(" ").includes(MARKER))
    .map((block) => `${path}:${block.line}: a shell block talking to a real vendor without "${MARKER}"`);
}

/** The backticked names in one column of the first table after a heading. */
function tableNames(markdown: string, heading: string, column: number): Set<string> {
  const lines = outsideFences(markdown);
  const start = lines.indexOf(heading);
  expect(start, `no heading ${heading}`).toBeGreaterThanOrEqual(0);
  const after = lines.slice(start + 1);
  const first = after.findIndex((line) => line.startsWith("|"));
  const names = new Set<string>();
  for (const row of first < 0 ? [] : after.slice(first)) {
    if (!row.startsWith("|")) break;
    const cell = row.split(/(?<!\\)\|/)[column] ?? "";
    for (const name of cell.matchAll(/`([^`]+)`/g)) names.add(name[1]!);
  }
  return names;
}

const declaredVariables = (example: string) => [...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]!);

describe("the README", () => {
  const readme = read("README.md");

  it("is read in five minutes: under 300 lines", () => {
    expect(readme.split("\n").length).toBeLessThan(300);
  });

  it("names the two commands: npm run dev on 127.0.0.1:8787, and the test command .ci/run runs, which CI runs", () => {
    const block = codeBlocks(readme).find((candidate) => /^npm run dev\b/m.test(candidate.body));
    expect(block, "a shell block with npm run dev").toBeDefined();
    const commands = block!.body.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
    expect(commands).toContain("npm run dev");
    expect(block!.body).toContain("http://127.0.0.1:8787");
    expect(read("scripts/dev.ts")).toMatch(/optionValue\(args, "--port"\) \?\? "8787"/);

    const testCommand = commands.find((line) => /^npm (run )?test\b/.test(line));
    expect(testCommand, "the README's test command").toBeDefined();
    const ciLines = read(".ci/run").split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
    expect(ciLines).toContain(testCommand);
    expect(read(".github/workflows/ci.yml")).toMatch(/^\s+run: bash \.ci\/run$/m);
  });
});

describe("links in README.md and docs/*.md", () => {
  it("reach an existing file, and a heading of it", () => {
    const problems = docs.flatMap((path) => linkProblems(path, read(path), readRepositoryFile));
    expect(problems).toEqual([]);
  });

  it("are slugged as GitHub slugs headings", () => {
    expect(githubSlug("Provisioning the Swarm (`infra`), step by step")).toBe("provisioning-the-swarm-infra-step-by-step");
    expect(githubSlug("`BACKUP_TARGETS`: what a backup contains")).toBe("backup_targets-what-a-backup-contains");
    expect(githubSlug("The Rocket.Chat bot, step by step")).toBe("the-rocketchat-bot-step-by-step");
    expect(githubSlug("Restoring at 3 a.m.")).toBe("restoring-at-3-am");
    expect(githubSlug("edge-ops — a business's operations stack")).toBe("edge-ops--a-businesss-operations-stack");
    expect([...anchors("# A\n\n## Setup\n\n```sh\n# not a heading\n```\n\n## Setup\n")]).toEqual(["a", "setup", "setup-1"]);
  });

  it("fail on a missing file, a missing heading, a heading only inside a code block, an anchor into a non-Markdown file", () => {
    const files: Record<string, string> = {
      "docs/a.md": "# A\n\n[b](b.md) [gone](gone.md) [bad](b.md#nope) [good](b.md#real-heading) [code](b.md#not-a-heading) [ts](../package.json#x) [web](https://example.com/x.md) `[inline](gone.md)`\n",
      "docs/b.md": "# B\n\n## Real heading\n\n```sh\n# not a heading\n```\n",
      "package.json": "{}",
    };
    expect(linkProblems("docs/a.md", files["docs/a.md"]!, (path) => files[path] ?? null)).toEqual([
      "docs/a.md: gone.md: no such file (docs/gone.md)",
      "docs/a.md: b.md#nope: docs/b.md has no heading #nope",
      "docs/a.md: b.md#not-a-heading: docs/b.md has no heading #not-a-heading",
      "docs/a.md: ../package.json#x: an anchor into a file that is not Markdown",
    ]);
  });
});

describe("docs/configuration.md", () => {
  it("has a row for every variable .dev.vars.example declares", () => {
    const documented = tableNames(read("docs/configuration.md"), "## Every variable", 2);
    const missing = declaredVariables(read(".dev.vars.example")).filter((name) => !documented.has(name));
    expect(missing).toEqual([]);
  });

  it("marks as var exactly the variables npm run deploy tells to put under [vars], not wrangler secret put", () => {
    const lines = outsideFences(read("docs/configuration.md"));
    const vars = lines.filter((line) => line.startsWith("|") && line.split(/(?<!\\)\|/)[3]?.trim() === "var").flatMap((line) => [...(line.split(/(?<!\\)\|/)[2] ?? "").matchAll(/`([^`]+)`/g)].map((match) => match[1]!));
    expect(vars.length).toBeGreaterThan(30);
    expect([...new Set(vars)].sort()).toEqual([...PLAIN_VARIABLES].sort());
  });

  it("would name a variable that has no row", () => {
    const table = "intro\n## Every variable\n\n| capability | name |\n|---|---|\n| a | `ONE`, `TWO` |\n\nafter `THREE`\n";
    const documented = tableNames(table, "## Every variable", 2);
    expect(declaredVariables("ONE=1\n# THREE=3\nTWO=\nTHREE=\n").filter((name) => !documented.has(name))).toEqual(["THREE"]);
  });
});

describe("docs/dependencies.md", () => {
  it("names every package of package.json", () => {
    const manifest = JSON.parse(read("package.json")) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    const named = tableNames(read("docs/dependencies.md"), "# Dependencies", 1);
    const missing = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter((name) => !named.has(name));
    expect(missing).toEqual([]);
  });
});

describe("commands that need a real account", () => {
  it("are marked in every shell block of README.md and docs/*.md", () => {
    expect(docs.flatMap((path) => unmarkedBlocks(path, read(path)))).toEqual([]);
  });

  it("are found: wrangler against an account, the CLIs against vendors, curl to a deployed Worker, the Swarm's tools; usage lines and local commands are not", () => {
    const doc = [
      "```sh\nnpx wrangler secret put ADMIN_TOKEN --env production\n```",
      "```sh\n# needs a real account (Cloudflare)\nnpx wrangler tail --env production\n```",
      "Before it (needs a real account):\n\n```sh\nnpm run infra -- apply --env prod --yes\n```",
      "```sh\nnpm test\nnpm run deploy:dry-run\ncurl -s http://127.0.0.1:8787/healthz\ncurl -s localhost:8787/api/events  # https://example.com in a comment\n```",
      "```bash\ncurl -s https://edge-ops.example.com/healthz\n```",
      "```sh\nssh root@10.0.0.1 docker node ls\n```",
      "```\nnpm run infra -- plan|apply|status --env <name> [--yes]\nnpm run infra -- cloudflare-ips\n```",
      "```\nnpm run infra -- destroy --env prod --yes\n```",
      "```json\n{\"curl\": \"https://example.com\"}\n```",
    ].join("\n\n");
    const lineOf = (text: string) => doc.split("\n").findIndex((line) => line.includes(text));
    expect(unmarkedBlocks("x.md", doc)).toEqual([
      `x.md:${lineOf("npx wrangler secret put")}: a shell block talking to a real vendor without "${MARKER}"`,
      `x.md:${lineOf("edge-ops.example.com/healthz")}: a shell block talking to a real vendor without "${MARKER}"`,
      `x.md:${lineOf("ssh root@")}: a shell block talking to a real vendor without "${MARKER}"`,
      `x.md:${lineOf("npm run infra -- destroy")}: a shell block talking to a real vendor without "${MARKER}"`,
    ]);
  });
});
