// The metrics' configuration, read (not imported): the Analytics Engine binding only where the
// Worker is deployed (like AI: locally there is none and nothing asks for a login), and the
// capability variables listed for operators.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

it("declares ANALYTICS in staging and production only", () => {
  const toml = read("wrangler.toml");
  for (const env of ["staging", "production"]) {
    expect(toml).toContain(`[[env.${env}.analytics_engine_datasets]]\nbinding = "ANALYTICS"\ndataset = "edge_ops_${env}"`);
  }
  expect(toml).not.toMatch(/^\[\[analytics_engine_datasets\]\]/m);
  // The generated types make it optional, so the code reads it without a cast.
  expect(read("types/worker-configuration.d.ts")).toContain("ANALYTICS?: AnalyticsEngineDataset;");
});

it("lists METRICS_TOKEN and ALERT_WEBHOOK_URL for operators, empty", () => {
  const example = read(".dev.vars.example");
  expect(example).toMatch(/^METRICS_TOKEN=$/m);
  expect(example).toMatch(/^ALERT_WEBHOOK_URL=$/m);
});
