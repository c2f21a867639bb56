import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { loadSharedFixtures, sharedFixturesDir } from "./test/node/shared-fixtures.ts";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  const sharedFixtures = loadSharedFixtures();
  if (sharedFixtures.length === 0) {
    console.warn(`conformance suite skipped: no vendor fixtures in ${sharedFixturesDir()} (set SHARED_FIXTURES_DIR)`);
  }
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Test-only bindings: secrets the suites sign with and the migrations to apply.
          bindings: {
            TEST_MIGRATIONS: migrations,
            SHARED_FIXTURES: sharedFixtures,
            SHARED_FIXTURES_DIR: sharedFixturesDir(),
            AIRCALL_WEBHOOK_TOKENS: "test-aircall-token-old,test-aircall-token-new",
            GUESTY_WEBHOOK_SECRETS:
              "whsec_dGVzdC1ndWVzdHktc2VjcmV0LW9sZC0wMDAwMDAwMDA=,whsec_dGVzdC1ndWVzdHktc2VjcmV0LW5ldy0xMTExMTExMTE=",
            ADMIN_TOKEN: "test-admin-token",
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/apply-migrations.ts"],
      include: ["test/**/*.test.ts"],
      // Request logs of passing tests are noise; a failing test still shows its output.
      silent: "passed-only" as const,
    },
  };
});
