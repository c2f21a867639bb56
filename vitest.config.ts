// Two test projects: "workerd" runs test/*.test.ts inside workerd with real local D1, KV,
// Queues and Durable Objects (@cloudflare/vitest-plugin, the same wrangler/workerd as
// `wrangler dev` and deploy); "node" runs test/node/*.test.ts for code that Node runs
// (scripts and CLIs, through tsx).
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { FAKE_EMBEDDINGS_API_KEY, startFakeEmbeddings } from "./test/node/fakes/openai-embeddings.ts";
import { FAKE_GROQ_API_KEY, startFakeGroq } from "./test/node/fakes/groq.ts";
import { startFakeQdrant } from "./test/node/fakes/qdrant.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./test/node/fakes/hetzner.ts";
import { FAKE_CLOUDFLARE_API_TOKEN, startFakeCloudflareApi } from "./test/node/fakes/cloudflare-api.ts";
import { startFakeAccess } from "./test/node/fakes/cloudflare-access.ts";
import { startFakeAlertWebhook } from "./test/node/fakes/alert-webhook.ts";
import { startFakeOrigins } from "./test/node/fakes/origins.ts";
import { FAKE_ROCKETCHAT_AUTH_TOKEN, FAKE_ROCKETCHAT_USER_ID, startFakeRocketChat } from "./test/node/fakes/rocketchat.ts";
import { loadSharedFixtures, sharedFixturesDir } from "./test/node/shared-fixtures.ts";
import { isolatedBindings } from "./test/node/dev-vars-isolation.ts";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  const sharedFixtures = loadSharedFixtures();
  // Vendor fakes on 127.0.0.1, for the whole run; the suites reach them through the bindings below.
  const rocketChat = await startFakeRocketChat();
  const embeddings = await startFakeEmbeddings();
  const groq = await startFakeGroq();
  const qdrantApiKey = "fake-qdrant-api-key";
  const qdrant = await startFakeQdrant({ apiKey: qdrantApiKey });
  // A server from before server-side BM25: the store must fall back to dense-only search.
  const oldQdrant = await startFakeQdrant({ apiKey: qdrantApiKey, version: "1.14.1", serverBm25: false });
  // 1.15.2 (BM25 only with inference.address set), and a 1.15.3 whose inference.address is set but empty.
  const qdrant1152 = await startFakeQdrant({ apiKey: qdrantApiKey, version: "1.15.2" });
  const qdrantNoInference = await startFakeQdrant({ apiKey: qdrantApiKey, version: "1.15.3", inferenceAddress: "" });
  const hetzner = await startFakeHetzner({ actionMs: 50 });
  const cloudflareApi = await startFakeCloudflareApi();
  const access = await startFakeAccess();
  const alertWebhook = await startFakeAlertWebhook();
  const origins = await startFakeOrigins();
  if (sharedFixtures.length === 0) {
    console.warn(`conformance suite skipped: no vendor fixtures in ${sharedFixturesDir()} (set SHARED_FIXTURES_DIR)`);
  }
  return {
    test: {
      // Request logs of passing tests are noise; a failing test still shows its output.
      silent: "passed-only" as const,
      // The suites mostly wait (fakes, alarms, restic, wrangler dev, a browser): two files at a
      // time kept 2 cores 40% busy and took 240 s; four take about half that.
      maxWorkers: 4,
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                // Test-only bindings: the secrets the suites sign with, the migrations to apply
                // and the vendor fixtures. Every other variable the Worker reads is set to ""
                // (unset), so a developer's .dev.vars never reaches a test (test/node/dev-vars-isolation.ts).
                bindings: isolatedBindings({
                  TEST_MIGRATIONS: migrations,
                  SHARED_FIXTURES: sharedFixtures,
                  SHARED_FIXTURES_DIR: sharedFixturesDir(),
                  AIRCALL_WEBHOOK_TOKENS: "test-aircall-token-old,test-aircall-token-new",
                  GUESTY_WEBHOOK_SECRETS:
                    "whsec_dGVzdC1ndWVzdHktc2VjcmV0LW9sZC0wMDAwMDAwMDA=,whsec_dGVzdC1ndWVzdHktc2VjcmV0LW5ldy0xMTExMTExMTE=",
                  ADMIN_TOKEN: "test-admin-token",
                  SECRETS_MASTER_KEY: "dGVzdC1zZWNyZXRzLW1hc3Rlci1rZXktMzJieXRlcyE=",
                  SECRETS_SYNC_TOKEN: "test-secrets-sync-token",
                  ROCKETCHAT_INGEST_TOKEN: "test-rocketchat-ingest-token",
                  ROCKETCHAT_BOT_TOKEN: "test-rocketchat-bot-token",
                  ROCKETCHAT_URL: rocketChat.url,
                  ROCKETCHAT_USER_ID: FAKE_ROCKETCHAT_USER_ID,
                  ROCKETCHAT_AUTH_TOKEN: FAKE_ROCKETCHAT_AUTH_TOKEN,
                  // Production providers' fakes. Not set as QDRANT_URL etc.: the suites run on the
                  // embedded defaults and switch a provider on per test.
                  FAKE_EMBEDDINGS_URL: `${embeddings.url}/v1`,
                  FAKE_EMBEDDINGS_API_KEY,
                  FAKE_GROQ_URL: groq.url,
                  FAKE_GROQ_API_KEY,
                  FAKE_QDRANT_URL: qdrant.url,
                  FAKE_QDRANT_OLD_URL: oldQdrant.url,
                  FAKE_QDRANT_1152_URL: qdrant1152.url,
                  FAKE_QDRANT_NO_INFERENCE_URL: qdrantNoInference.url,
                  FAKE_QDRANT_API_KEY: qdrantApiKey,
                  // Backups run against the Hetzner fake: the Durable Object reads its bindings.
                  HCLOUD_TOKEN: FAKE_HCLOUD_TOKEN,
                  HCLOUD_ENDPOINT: `${hetzner.url}/v1`,
                  FAKE_HETZNER_URL: hetzner.url,
                  FAKE_CLOUDFLARE_API_URL: `${cloudflareApi.url}/client/v4`,
                  FAKE_CLOUDFLARE_API_TOKEN,
                  // A Cloudflare Access team domain: its certs, and the key the suites sign JWTs with.
                  FAKE_ACCESS_URL: access.url,
                  FAKE_ACCESS_AUD: access.audience,
                  FAKE_ACCESS_KID: access.kid(),
                  FAKE_ACCESS_PRIVATE_KEY: access.privateKeyPem(),
                  // An incoming webhook for alerts (each test posts to a path of its own); not set
                  // as ALERT_WEBHOOK_URL: the suites switch it on per test.
                  FAKE_ALERT_WEBHOOK_URL: alertWebhook.url,
                  // Origins for edge routing (each test makes its own); EDGE_ROUTES is set per test.
                  FAKE_ORIGINS_URL: origins.url,
                  RESTIC_REPOSITORY: "s3:https://0123456789abcdef.r2.cloudflarestorage.com/edge-ops-backups/swarm",
                  RESTIC_PASSWORD: "test-restic-password-0123456789",
                  R2_ACCESS_KEY_ID: "test-r2-access-key-id",
                  R2_SECRET_ACCESS_KEY: "test-r2-secret-access-key-0123456789",
                  PUBLIC_BASE_URL: "https://edge.example.test",
                  // Timed runs only where a test sets their schedule: a suite that happens to run
                  // at 03:17 UTC must not start the daily backup from a tick.
                  BACKUP_SCHEDULE: "off",
                  RESTORE_TEST_SCHEDULE: "off",
                }),
                // Deliver messages at once: a test waits for each event it sends.
                queueConsumers: {
                  "edge-ops-intake-dev": { maxBatchSize: 100, maxBatchTimeout: 0, maxRetries: 5 },
                  "edge-ops-vectorize-dev": { maxBatchSize: 100, maxBatchTimeout: 0, maxRetries: 5, deadLetterQueue: "edge-ops-vectorize-dlq-dev" },
                  "edge-ops-vectorize-dlq-dev": { maxBatchSize: 100, maxBatchTimeout: 0, maxRetries: 10 },
                  "edge-ops-bot-dev": { maxBatchSize: 10, maxBatchTimeout: 0, maxRetries: 6, deadLetterQueue: "edge-ops-bot-dlq-dev" },
                  "edge-ops-bot-dlq-dev": { maxBatchSize: 10, maxBatchTimeout: 0, maxRetries: 10 },
                },
              },
            }),
          ],
          test: {
            name: "workerd",
            setupFiles: ["./test/apply-migrations.ts", "./test/settle-background-work.ts"],
            include: ["test/*.test.ts"],
          },
        },
        {
          test: {
            name: "node",
            environment: "node",
            include: ["test/node/**/*.test.ts"],
          },
        },
      ],
    },
  };
});
