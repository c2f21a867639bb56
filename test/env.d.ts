// Bindings that only the test pool adds (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    SHARED_FIXTURES: import("./support/shared-fixture").SharedFixture[];
    SHARED_FIXTURES_DIR: string;
  }
}
