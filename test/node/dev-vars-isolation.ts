// Tests never see a developer's .dev.vars (nor the .env files wrangler falls back to without one).
// Wrangler reads .dev.vars next to wrangler.toml unless it is given env files, and the
// @cloudflare/vitest-plugin hands it none and has no option for it: its `wrangler` options are
// `configPath` and `environment`, and an environment needs an [env.<name>] of its own in
// wrangler.toml (checked in @cloudflare/vitest-plugin 1.5.0 dist/pool/index.mjs
// parseCustomPoolOptions, which calls wrangler 4.156.2's unstable_getMiniflareWorkerOptions ->
// getBindings -> getVarsForDev with no envFiles, 2026-12-06). The plugin merges the `miniflare`
// bindings of vitest.config.ts over wrangler's (miniflare's mergeWorkerOptions), so every
// variable the Worker reads is set there: to its test value, or to "" (unset to the Worker, see
// workers/config/capability.ts). A variable .dev.vars.example does not declare is one the Worker
// cannot read: its Env type is generated from that file (`npm run types`).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
// miniflare comes with wrangler and the pool: the bindings' type, no new dependency.
import type { Json } from "miniflare";
import { unstable_readConfig } from "wrangler";

const repositoryRoot = resolve(import.meta.dirname, "..", "..");

/** The variables the Worker reads that a .dev.vars may set: those .dev.vars.example declares. */
export function declaredVariables(root = repositoryRoot): string[] {
  return Object.keys(parseEnv(readFileSync(join(root, ".dev.vars.example"), "utf8")));
}

/** wrangler.toml's top-level [vars] (a .dev.vars overrides them too). */
function configVars(root: string): Record<string, Json> {
  return { ...unstable_readConfig({ config: join(root, "wrangler.toml") }).vars } as Record<string, Json>;
}

/**
 * The test pool's bindings: `testBindings`, every declared variable they do not set as "", the
 * [vars] of wrangler.toml as written there, and TEST_ISOLATED_VARIABLES (each such variable's
 * intended value, which test/dev-vars-isolation.test.ts compares with what the Worker sees).
 */
export function isolatedBindings<T extends Record<string, Json>>(testBindings: T, root = repositoryRoot): Record<string, Json> & T & { TEST_ISOLATED_VARIABLES: Record<string, string> } {
  const vars = configVars(root);
  const names = new Set([...declaredVariables(root), ...Object.keys(vars)]);
  const intended: Record<string, string> = {};
  for (const name of names) {
    const value = testBindings[name] ?? vars[name] ?? "";
    // A non-string value (a JSON var) is compared as given; none exist today.
    intended[name] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { ...intended, ...vars, ...testBindings, TEST_ISOLATED_VARIABLES: intended };
}
