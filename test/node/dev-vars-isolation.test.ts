// A developer's .dev.vars (or, without one, .env) never reaches the workerd suites. The pool
// builds the Worker's bindings as wrangler's (which read the env file next to wrangler.toml)
// with vitest.config.ts's `miniflare.bindings` merged over them by miniflare's
// mergeWorkerOptions; this does the same in a temporary copy of the configuration whose env file
// sets a marker in every variable, so the repository's own .dev.vars is never touched.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mergeWorkerOptions, type Json } from "miniflare";
import { afterEach, describe, expect, it } from "vitest";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { declaredVariables, isolatedBindings } from "./dev-vars-isolation.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const MARKER = "from-the-developers-env-file";
const TEST_BINDINGS = { ADMIN_TOKEN: "test-admin-token", BACKUP_SCHEDULE: "off" };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of wrangler.toml and .dev.vars.example, with `envFile` setting every variable to the marker. */
function projectWith(envFile: ".dev.vars" | ".env"): string {
  const dir = mkdtempSync(join(tmpdir(), "dev-vars-isolation-"));
  dirs.push(dir);
  for (const file of ["wrangler.toml", ".dev.vars.example"]) copyFileSync(join(ROOT, file), join(dir, file));
  const names = [...declaredVariables(ROOT), "EDGE_OPS_ENV"];
  writeFileSync(join(dir, envFile), names.map((name) => `${name}=${MARKER}`).join("\n"));
  return dir;
}

/** The Worker's plain bindings as the pool builds them for `dir`. */
function poolBindings(dir: string, testBindings: Record<string, Json>): Record<string, unknown> {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(dir, "wrangler.toml"));
  const { modulesRules: _rules, ...options } = workerOptions;
  return mergeWorkerOptions(options, { bindings: testBindings }).bindings ?? {};
}

const leaked = (bindings: Record<string, unknown>) => Object.keys(bindings).filter((name) => bindings[name] === MARKER).sort();

describe("the workerd suites' variables", () => {
  for (const envFile of [".dev.vars", ".env"] as const) {
    it(`never come from a ${envFile} next to wrangler.toml`, () => {
      const dir = projectWith(envFile);
      // Without the isolation the marker is everywhere the suites set nothing: this is the leak.
      expect(leaked(poolBindings(dir, TEST_BINDINGS))).toEqual(expect.arrayContaining(["GROQ_API_KEY", "QDRANT_URL", "EDGE_OPS_ENV"]));

      const bindings = poolBindings(dir, isolatedBindings(TEST_BINDINGS, dir));
      expect(leaked(bindings)).toEqual([]);
      expect(bindings).toMatchObject({ ADMIN_TOKEN: "test-admin-token", BACKUP_SCHEDULE: "off", QDRANT_URL: "", GROQ_API_KEY: "", EDGE_OPS_ENV: "dev" });
    });
  }

  it("include every variable .dev.vars.example declares, and the intended values agree with the bindings", () => {
    const bindings = isolatedBindings(TEST_BINDINGS, ROOT);
    expect(Object.keys(bindings.TEST_ISOLATED_VARIABLES).sort()).toEqual([...declaredVariables(ROOT), "EDGE_OPS_ENV"].sort());
    for (const [name, value] of Object.entries(bindings.TEST_ISOLATED_VARIABLES)) expect((bindings as Record<string, unknown>)[name], name).toBe(value);
  });
});
