// Bindings that only the test pool adds (see vitest.config.ts), and the main module's type so
// `exports.default` from "cloudflare:workers" is typed.
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("../workers/index");
  }
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    SHARED_FIXTURES: import("./support/shared-fixture").SharedFixture[];
    SHARED_FIXTURES_DIR: string;
  }
}
