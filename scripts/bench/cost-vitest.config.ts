// The vitest configuration bench:cost runs (scripts/bench-cost.ts): the workerd pool on
// wrangler.toml, as the suites use it (vitest.config.ts), with only what the cost driver needs:
// the workload (COST_WORKLOAD), the bench's own webhook credentials, the Groq fake, and a
// collector on 127.0.0.1 that writes the driver's report to COST_REPORT_FILE.
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { join } from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { FAKE_GROQ_API_KEY, startFakeGroq } from "../../test/node/fakes/groq.ts";
import { isolatedBindings } from "../../test/node/dev-vars-isolation.ts";
import { aircallToken, guestySecret, rocketChatToken } from "./corpus-webhooks.ts";
import { buildCostWorkload, COST_BOT_TOKEN } from "./cost-workload.ts";
import { root } from "./wrangler-run.ts";

export default defineConfig(async () => {
  const reportFile = process.env.COST_REPORT_FILE;
  if (!reportFile) throw new Error("COST_REPORT_FILE is not set: run this through npm run bench:cost");
  const workload = buildCostWorkload({
    webhooks: Number(process.env.COST_WEBHOOKS ?? 1000),
    questions: Number(process.env.COST_QUESTIONS ?? 100),
    batchSize: Number(process.env.COST_BATCH ?? 1),
  });
  const groq = await startFakeGroq(0);
  const collector = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      writeFileSync(reportFile, Buffer.concat(chunks));
      response.end("ok");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  collector.unref();
  const { port } = collector.address() as AddressInfo;
  const migrations = await readD1Migrations(join(root, "migrations"));
  return {
    root,
    test: {
      silent: process.env.BENCH_DEBUG ? false : true,
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: join(root, "wrangler.toml") },
              miniflare: {
                bindings: isolatedBindings({
                  TEST_MIGRATIONS: migrations,
                  COST_WORKLOAD: workload,
                  COST_REPORT_URL: `http://127.0.0.1:${port}/report`,
                  AIRCALL_WEBHOOK_TOKENS: aircallToken,
                  GUESTY_WEBHOOK_SECRETS: guestySecret,
                  ROCKETCHAT_INGEST_TOKEN: rocketChatToken,
                  ROCKETCHAT_BOT_TOKEN: COST_BOT_TOKEN,
                  GROQ_API_KEY: FAKE_GROQ_API_KEY,
                  GROQ_BASE_URL: groq.url,
                  // One staff user asks every question within seconds: above the bot's default limits.
                  BOT_RATE_LIMIT: "10000",
                  BOT_ROOM_RATE_LIMIT: "100000",
                  BACKUP_SCHEDULE: "off",
                  RESTORE_TEST_SCHEDULE: "off",
                }),
              },
            }),
          ],
          test: {
            name: "cost",
            setupFiles: [join(root, "test/apply-migrations.ts")],
            include: ["test/cost-bench-driver.ts"],
          },
        },
      ],
    },
  };
});
