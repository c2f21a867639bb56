// Cloudflare's published Workers Paid prices, in one place, for bench:cost. Each price is the
// overage rate beyond the plan's monthly allowance (the allowances are listed but bench:cost
// prices every operation, as an account past them pays: the figure is the marginal cost of an
// event, not a bill). Read 2026-12-06 with the `search` tool (docs and pages corpora); where
// Cloudflare's own page did not come up, the line says so and names what was found instead.
// Groq is not Cloudflare and its prices were not confirmed: bench:cost reports Groq tokens
// without a price.

export const PRICES_READ_ON = "2026-12-06";

export type Price = {
  /** US dollars per `per` units. */
  usd: number;
  per: number;
  unit: string;
  /** Included in Workers Paid per month (not deducted by bench:cost). */
  includedPerMonth: number | null;
  source: string;
  /** false: not confirmed on Cloudflare's own page (see `note`). */
  confirmed: boolean;
  note?: string;
};

export const CLOUDFLARE_PRICES = {
  workerRequests: {
    usd: 0.3,
    per: 1_000_000,
    unit: "requests (fetch, queue consumer and cron invocations)",
    includedPerMonth: 10_000_000,
    source: "https://developers.cloudflare.com/workers/platform/pricing/",
    confirmed: true,
    note: "Standard usage model; subrequests are not billed. The page's footnote speaks of inbound requests; whether each queue consumer and cron invocation is billed as one was not confirmed there: bench:cost counts them as requests (the higher figure).",
  },
  workerCpuMs: {
    usd: 0.02,
    per: 1_000_000,
    unit: "CPU milliseconds",
    includedPerMonth: 30_000_000,
    source: "https://developers.cloudflare.com/workers/platform/pricing/",
    confirmed: true,
    note: "bench:cost does not measure CPU time (a local isolate's time is not Cloudflare's CPU time).",
  },
  d1RowsRead: {
    usd: 0.001,
    per: 1_000_000,
    unit: "D1 rows read",
    includedPerMonth: 25_000_000_000,
    source: "https://developers.cloudflare.com/d1/platform/pricing/",
    confirmed: true,
  },
  d1RowsWritten: {
    usd: 1.0,
    per: 1_000_000,
    unit: "D1 rows written",
    includedPerMonth: 50_000_000,
    source: "https://developers.cloudflare.com/d1/platform/pricing/",
    confirmed: true,
    note: "Index updates count: D1 reports them in meta.rows_written.",
  },
  queueOperations: {
    usd: 0.4,
    per: 1_000_000,
    unit: "Queues operations (a write, a read and a delete per message, each per 64 KB; a retry is one more read)",
    includedPerMonth: 1_000_000,
    source: "https://developers.cloudflare.com/queues/platform/pricing/",
    confirmed: true,
    note: "A KB is 1,000 bytes and each message carries about 100 bytes of metadata.",
  },
  kvReads: {
    usd: 0.5,
    per: 1_000_000,
    unit: "KV reads",
    includedPerMonth: 10_000_000,
    source: "https://developers.cloudflare.com/kv/platform/pricing/",
    confirmed: false,
    note: "Cloudflare's KV pricing page did not come up in search; the rate is api-evangelist/cloudflare-kv's transcription of it (finops/cloudflare-kv-finops.yml).",
  },
  kvWrites: {
    usd: 5.0,
    per: 1_000_000,
    unit: "KV writes, deletes and lists",
    includedPerMonth: 1_000_000,
    source: "https://developers.cloudflare.com/kv/platform/pricing/",
    confirmed: false,
    note: "As kvReads: not confirmed on Cloudflare's own page.",
  },
  durableObjectRequests: {
    usd: 0.15,
    per: 1_000_000,
    unit: "Durable Object requests (HTTP, RPC sessions, alarms)",
    includedPerMonth: 1_000_000,
    source: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
    confirmed: true,
    note: "Duration (GB-s) is not measured.",
  },
  workersAiNeurons: {
    usd: 0.011,
    per: 1_000,
    unit: "Workers AI neurons",
    includedPerMonth: 300_000,
    source: "https://developers.cloudflare.com/workers-ai/platform/pricing/",
    confirmed: true,
    note: "10,000 neurons a day are free (about 300,000 a month).",
  },
} as const satisfies Record<string, Price>;

/**
 * Neurons per million input tokens of the embedding models bench:cost meets (Workers AI's pricing
 * page; @cf/baai/bge-m3 is $0.012 per M input tokens, 1075 neurons, also on its model page
 * https://developers.cloudflare.com/ai/models/@cf/baai/bge-m3/).
 */
export const NEURONS_PER_MILLION_INPUT_TOKENS: Record<string, number> = {
  "@cf/baai/bge-m3": 1075,
};

/**
 * Tokens from characters, for the embedding input: Workers AI's binding does not report the
 * tokens it counted, so bench:cost estimates them at four characters a token (English text in a
 * BPE/SentencePiece vocabulary; bge-m3's multilingual vocabulary counts about the same for
 * English). An estimate, printed as one.
 */
export const CHARS_PER_TOKEN = 4;

/** Dollars for `amount` units at `price`. */
export const dollars = (price: Price, amount: number) => (amount / price.per) * price.usd;
