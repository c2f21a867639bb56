// bench:cost prices what it counts from one file of Cloudflare's published rates: each rate
// names the page it was read from, says whether that page confirmed it, and prices linearly.
import { describe, expect, it } from "vitest";
import { CLOUDFLARE_PRICES, dollars, NEURONS_PER_MILLION_INPUT_TOKENS, PRICES_READ_ON } from "../../scripts/bench/cloudflare-prices.ts";

describe("Cloudflare's prices for bench:cost", () => {
  it("names a Cloudflare page for every rate, and explains every rate it could not confirm there", () => {
    expect(PRICES_READ_ON).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    for (const [name, price] of Object.entries(CLOUDFLARE_PRICES)) {
      expect(price.source, name).toMatch(/^https:\/\/developers\.cloudflare\.com\/.+\/pricing\/$/);
      expect(price.usd, name).toBeGreaterThan(0);
      if (!price.confirmed) expect(price.note, name).toMatch(/not confirmed|did not come up/);
    }
  });

  it("prices per unit of the published rate", () => {
    expect(dollars(CLOUDFLARE_PRICES.d1RowsWritten, 2_500_000)).toBeCloseTo(2.5);
    expect(dollars(CLOUDFLARE_PRICES.queueOperations, 3_000_000)).toBeCloseTo(1.2);
    expect(dollars(CLOUDFLARE_PRICES.workersAiNeurons, 1_075)).toBeCloseTo(0.011825);
    expect(NEURONS_PER_MILLION_INPUT_TOKENS["@cf/baai/bge-m3"]).toBe(1075);
  });
});
