// wrangler.toml and the code must agree on what cron triggers fire: the dispatcher's one tick,
// in every environment (Workers Free allows five triggers per account, so one each lets two
// environments and more fit); any other trigger would only log "no job for cron".
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { CRONS } from "../../workers/crons.ts";

const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");

it("declares exactly one cron trigger, the dispatcher's tick, in every environment", () => {
  const sections = [...toml.matchAll(/^\[(env\.\w+\.)?triggers\]\ncrons = \[(.*)\]$/gm)];
  expect(sections.map((section) => section[1] ?? "top-level")).toEqual(["top-level", "env.staging.", "env.production."]);
  for (const section of sections) {
    const listed = JSON.parse(`[${section[2]}]`) as string[];
    expect(listed).toEqual([CRONS.tick]);
  }
});

it("binds the intake queue as producer and consumer in every environment", () => {
  for (const env of ["dev", "staging", "production"]) {
    expect(toml).toContain(`queue = "edge-ops-intake-${env}"\nmax_batch_size = 100`);
    expect(toml).toMatch(new RegExp(`binding = "INTAKE_QUEUE"\\nqueue = "edge-ops-intake-${env}"`));
  }
});

it("consumes the vectorize queue one batch at a time, with a dead-letter queue and its consumer, in every environment", () => {
  for (const env of ["dev", "staging", "production"]) {
    expect(toml).toMatch(
      new RegExp(`queue = "edge-ops-vectorize-${env}"\\nmax_batch_size = 100\\nmax_batch_timeout = \\d+\\nmax_retries = 5\\ndead_letter_queue = "edge-ops-vectorize-dlq-${env}"\\n(#.*\\n)*max_concurrency = 1`),
    );
    expect(toml).toContain(`queue = "edge-ops-vectorize-dlq-${env}"\nmax_batch_size = 100`);
    expect(toml).toMatch(new RegExp(`binding = "VECTORIZE_QUEUE"\\nqueue = "edge-ops-vectorize-${env}"`));
  }
});

it("consumes the bot queue with a dead-letter queue and that queue's consumer, in every environment", () => {
  for (const env of ["dev", "staging", "production"]) {
    expect(toml).toMatch(new RegExp(`queue = "edge-ops-bot-${env}"\\nmax_batch_size = \\d+\\nmax_batch_timeout = \\d+\\nmax_retries = \\d+\\ndead_letter_queue = "edge-ops-bot-dlq-${env}"\\n`));
    expect(toml).toMatch(new RegExp(`\\[\\[(env\\.\\w+\\.)?queues\\.consumers\\]\\]\\nqueue = "edge-ops-bot-dlq-${env}"\\nmax_batch_size = \\d+`));
  }
  // Both consumers are registered by queue role (workers/queue-consumers.ts, Worker code: read, not imported).
  const consumers = readFileSync(new URL("../../workers/queue-consumers.ts", import.meta.url), "utf8");
  expect(consumers).toContain('"edge-ops-bot": consumeBotBatch,');
  // (wrapped by the metrics' recording of the bot's dead letters, workers/metrics/bot-dead-letters.ts)
  expect(consumers).toContain('"edge-ops-bot-dlq": recordingBotDeadLetters(consumeBotDeadLetters),');
});

it("binds the backup scheduler with its SQLite migration, the bot queue and the deployment's name in every environment", () => {
  for (const [env, prefix] of [["dev", ""], ["staging", "env.staging."], ["production", "env.production."]] as const) {
    expect(toml).toContain(`[[${prefix}durable_objects.bindings]]\nname = "BACKUP_SCHEDULER"\nclass_name = "BackupScheduler"`);
    expect(toml).toContain(`[[${prefix}migrations]]\ntag = "v1"\nnew_sqlite_classes = ["BackupScheduler"]`);
    // Edge routing's shared origin health (durable-objects/edge-health.ts), one instance per host.
    expect(toml).toContain(`[[${prefix}durable_objects.bindings]]\nname = "EDGE_HEALTH"\nclass_name = "EdgeHealth"`);
    expect(toml).toContain(`[[${prefix}migrations]]\ntag = "v2"\nnew_sqlite_classes = ["EdgeHealth"]`);
    expect(toml).toMatch(new RegExp(`binding = "BOT_QUEUE"\\nqueue = "edge-ops-bot-${env}"`));
    expect(toml).toContain(`EDGE_OPS_ENV = "${env}"`);
  }
  // Workers AI needs a login locally: declared only where the Worker is deployed.
  expect(toml).not.toMatch(/^\[ai\]/m);
  expect(toml).toContain('[env.staging.ai]\nbinding = "AI"');
  expect(toml).toContain('[env.production.ai]\nbinding = "AI"');
});

it("binds the secrets store's KV namespace in every environment, with an id only for local development", () => {
  expect(toml).toMatch(/^\[\[kv_namespaces\]\]\nbinding = "SECRETS_KV"\nid = "local-[^"]+"/m);
  for (const prefix of ["env.staging.", "env.production."]) {
    // No id: wrangler deploy provisions the namespace and keeps the Worker's binding (docs/deploying.md).
    expect(toml).toMatch(new RegExp(`\\[\\[${prefix.replaceAll(".", "\\.")}kv_namespaces\\]\\]\\nbinding = "SECRETS_KV"\\n(?!id =)`));
  }
});

it("names each deployed environment's D1 database without an id (npm run deploy creates it by name)", () => {
  expect(toml).toMatch(/^\[\[d1_databases\]\]\nbinding = "DB"\ndatabase_name = "edge-ops-dev"\ndatabase_id = "local-edge-ops-dev"/m);
  for (const env of ["staging", "production"]) {
    const section = new RegExp(`\\[\\[env\\.${env}\\.d1_databases\\]\\]\\n((?:.+\\n)+)`).exec(toml)?.[1] ?? "";
    expect(section).toContain(`database_name = "edge-ops-${env}"`);
    expect(section).not.toMatch(/^database_id =/m);
  }
});
