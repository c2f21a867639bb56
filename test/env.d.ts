// Bindings that only the test pool adds (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    SHARED_FIXTURES: import("./support/shared-fixture").SharedFixture[];
    SHARED_FIXTURES_DIR: string;
    FAKE_EMBEDDINGS_URL: string;
    FAKE_EMBEDDINGS_API_KEY: string;
    FAKE_GROQ_URL: string;
    FAKE_GROQ_API_KEY: string;
    FAKE_QDRANT_URL: string;
    FAKE_QDRANT_OLD_URL: string;
    FAKE_QDRANT_1152_URL: string;
    FAKE_QDRANT_NO_INFERENCE_URL: string;
    FAKE_QDRANT_API_KEY: string;
    FAKE_HETZNER_URL: string;
    FAKE_CLOUDFLARE_API_URL: string;
    FAKE_CLOUDFLARE_API_TOKEN: string;
    FAKE_ACCESS_URL: string;
    FAKE_ACCESS_AUD: string;
    FAKE_ACCESS_KID: string;
    FAKE_ACCESS_PRIVATE_KEY: string;
    FAKE_ALERT_WEBHOOK_URL: string;
    FAKE_ORIGINS_URL: string;
    /** Each variable the Worker reads, with the value the suites mean it to have ("" = unset). */
    TEST_ISOLATED_VARIABLES: Record<string, string>;
  }
}
