// The rule that shared blocks know no feature, checked on the imports themselves: the shared
// blocks (auth, access, http, db, config, scheduler, alerts, log.ts) and the vendor clients (chat, llm,
// hetzner) import only shared blocks, each other within their own folder, and packages. A feature
// (intake, vectorize, bot, backups, secrets, ...) is reached only from the entry (index.ts, app.ts,
// capabilities.ts, queue-consumers.ts, scheduled-jobs.ts) and from other features.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const workers = resolve(dirname(fileURLToPath(import.meta.url)), "../../workers");
const SHARED = ["auth", "access", "http", "db", "config", "scheduler", "alerts", "log.ts", "crons.ts"];
const VENDOR_CLIENTS = ["chat", "llm", "hetzner"];

function filesUnder(path: string): string[] {
  if (statSync(path).isFile()) return path.endsWith(".ts") ? [path] : [];
  return readdirSync(path).flatMap((entry) => filesUnder(join(path, entry)));
}

/** Relative imports of a file, as paths below workers/ ("vectorize/config", "log"). */
function importsOf(file: string): string[] {
  const source = readFileSync(file, "utf8");
  const specifiers = [...source.matchAll(/(?:^|\n)\s*(?:import|export)[^"';]*?from\s+"([^"]+)"/g), ...source.matchAll(/import\("([^"]+)"\)/g)].map((match) => match[1]!);
  return specifiers.filter((specifier) => specifier.startsWith(".")).map((specifier) => relative(workers, resolve(dirname(file), specifier)));
}

const topLevel = (path: string) => path.split("/")[0]!.replace(/^(log|crons)$/, "$1.ts");

describe("layout", () => {
  for (const [kind, folders, allowedOwn] of [
    ["shared block", SHARED, false],
    ["vendor client", VENDOR_CLIENTS, true],
  ] as const) {
    it(`no ${kind} imports a feature folder`, () => {
      const offending: string[] = [];
      for (const folder of folders) {
        for (const file of filesUnder(join(workers, folder))) {
          for (const target of importsOf(file)) {
            const top = topLevel(target);
            const allowed = SHARED.includes(top) || (allowedOwn && top === folder);
            if (!allowed) offending.push(`${relative(workers, file)} -> ${target}`);
          }
        }
      }
      expect(offending).toEqual([]);
    });
  }

  it("reads the imports it checks (a feature import is seen)", () => {
    // The entry imports features; if the parser missed them the checks above would pass vacuously.
    expect(importsOf(join(workers, "app.ts"))).toEqual(expect.arrayContaining(["secrets/routes", "backups/runner-routes", "http/health-routes"]));
  });
});
