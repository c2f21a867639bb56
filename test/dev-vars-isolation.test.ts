// The suites run on their own variables only: a developer's .dev.vars (with a real GROQ_API_KEY,
// or a QDRANT_URL that is down) never reaches the Worker under test. vitest.config.ts sets every
// variable the Worker reads (test/node/dev-vars-isolation.ts); here the Worker's env is compared
// with that intent. test/node/dev-vars-isolation.test.ts shows the same with a .dev.vars present.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("the test environment", () => {
  it("has every variable the Worker reads at the suites' value or unset, whatever .dev.vars holds", () => {
    const intended = env.TEST_ISOLATED_VARIABLES;
    // The list covers what a developer is likely to set locally.
    expect(Object.keys(intended)).toEqual(expect.arrayContaining(["QDRANT_URL", "GROQ_API_KEY", "EMBEDDINGS_URL", "ACCESS_TEAM_DOMAIN", "EDGE_OPS_ENV"]));
    // Names only: a leaked value may be a developer's real key.
    const differing = Object.entries(intended)
      .filter(([name, value]) => (env as unknown as Record<string, unknown>)[name] !== value)
      .map(([name]) => name);
    expect(differing, "variables whose value is not the suites' (from a .dev.vars?)").toEqual([]);
    expect(intended.QDRANT_URL).toBe("");
    expect(intended.GROQ_API_KEY).toBe("");
  });
});
