// Counting wrappers around the Worker's bindings, for bench:cost and test/cost-counting.test.ts.
// They run in the workerd test pool (@cloudflare/vitest-plugin), around the Worker's own handlers
// called with a wrapped `env`: nothing in workers/ knows it is counted, and no production code
// carries a bench switch.
//
// D1: every statement's `meta.rows_read` / `meta.rows_written` as D1 reports them. The public
// API returns `meta` from run()/all()/batch() but not from first() or raw(), and drizzle reads
// every select through raw(): a wrapper around the public methods would miss most reads. So the
// D1 binding is rebuilt over a counting fetcher: workerd's D1Database (its JS half,
// cloudflare-internal:d1-api) is constructed from the fetcher it sends each query to as JSON,
// and every answer carries the meta of each statement, raw() and first() included. That is an
// internal of workerd (checked with wrangler 4.156.2 / @cloudflare/vitest-plugin 1.5.0,
// 2026-12-06: `env.DB` has own properties `fetcher` and `alwaysPrimarySession`, and
// `new env.DB.constructor(fetcher)` builds a working binding); it fails closed: a binding
// without that shape, or an answer without numeric row counts, throws instead of counting zero.
// The local D1 is SQLite inside workerd and counts rows as SQLite's cursor does, like D1's
// (test/cost-counting.test.ts checks the counts for one webhook against the rows it writes).
//
// Queues: sends are held, not forwarded, and the driver delivers them itself as consumer
// batches, so every delivery, retry and invocation is one the driver made and counted.
// Operations per message are billed per 64 KB (1,000-byte KB, about 100 bytes of metadata):
// the message's JSON size is the measure here.
// KV, Durable Objects, Analytics Engine, Workers AI: each call counted, then forwarded (AI goes
// to a stand-in: there is no Workers AI without an account).

export type Counts = {
  invocations: { fetch: number; queue: number; scheduled: number };
  d1: { statements: number; rowsRead: number; rowsWritten: number; bySql: Record<string, { statements: number; rowsRead: number; rowsWritten: number }> };
  queues: Record<string, { messages: number; bytes: number; operations: number }>;
  kv: { reads: number; writes: number; deletes: number; lists: number };
  durableObjectRequests: number;
  analyticsDataPoints: number;
  ai: { calls: number; texts: number; characters: number; byModel: Record<string, number> };
  /** Outbound HTTP requests by host (subrequests are not billed by Cloudflare; vendors may bill). */
  http: Record<string, number>;
  groq: { calls: number; promptTokens: number; completionTokens: number };
};

export function emptyCounts(): Counts {
  return {
    invocations: { fetch: 0, queue: 0, scheduled: 0 },
    d1: { statements: 0, rowsRead: 0, rowsWritten: 0, bySql: {} },
    queues: {},
    kv: { reads: 0, writes: 0, deletes: 0, lists: 0 },
    durableObjectRequests: 0,
    analyticsDataPoints: 0,
    ai: { calls: 0, texts: 0, characters: 0, byModel: {} },
    http: {},
    groq: { calls: 0, promptTokens: 0, completionTokens: 0 },
  };
}

/** `later - earlier`, field by field (counts only grow). */
export function diffCounts(later: Counts, earlier: Counts): Counts {
  const sub = (a: unknown, b: unknown): unknown => {
    if (typeof a === "number") return a - (typeof b === "number" ? b : 0);
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(a as Record<string, unknown>)) out[key] = sub(value, (b as Record<string, unknown> | undefined)?.[key]);
    return out;
  };
  return sub(later, earlier) as Counts;
}

export const cloneCounts = (counts: Counts): Counts => structuredClone(counts);

/** A KB as Queues bills it, and the metadata each message carries. */
const QUEUE_CHUNK_BYTES = 64_000;
const QUEUE_MESSAGE_METADATA_BYTES = 100;

/** Operations one write (or read, or delete) of a message of `bytes` costs. */
export const queueChunks = (bytes: number) => Math.max(1, Math.ceil((bytes + QUEUE_MESSAGE_METADATA_BYTES) / QUEUE_CHUNK_BYTES));

type FetcherLike = { fetch(input: Request | string | URL, init?: RequestInit): Promise<Response> };
type RowCountedMeta = { rows_read: number; rows_written: number };

const hasRowCounts = (meta: unknown): meta is RowCountedMeta =>
  typeof meta === "object" && meta !== null && typeof (meta as RowCountedMeta).rows_read === "number" && typeof (meta as RowCountedMeta).rows_written === "number";

/** A statement's text as a key: whitespace collapsed, cut short (never its parameters). */
const sqlKey = (sql: unknown) => (typeof sql === "string" ? sql.replace(/\s+/g, " ").trim().slice(0, 90) : "(unknown)");

/** The statements of one D1 request body: `{sql}` or a list of them (a batch). */
function statementsOf(body: unknown): string[] {
  if (typeof body !== "string") return [];
  try {
    const parsed = JSON.parse(body) as unknown;
    return (Array.isArray(parsed) ? parsed : [parsed]).map((statement) => sqlKey((statement as { sql?: unknown } | null)?.sql));
  } catch {
    return [];
  }
}

/** Adds the row counts of one D1 answer (an array of statement results, or one), by statement. */
export function countD1Answer(counts: Counts, answer: unknown, statements: readonly string[] = []): void {
  const results = Array.isArray(answer) ? answer : [answer];
  for (const [index, result] of results.entries()) {
    const meta = (result as { meta?: unknown } | null)?.meta;
    if (!hasRowCounts(meta)) {
      // An error answer may come without counts; a successful one must have them.
      if ((result as { success?: unknown } | null)?.success === false) continue;
      throw new Error("D1 answered without meta.rows_read/rows_written: counting would undercount");
    }
    counts.d1.statements += 1;
    counts.d1.rowsRead += meta.rows_read;
    counts.d1.rowsWritten += meta.rows_written;
    const entry = (counts.d1.bySql[statements[index] ?? "(unknown)"] ??= { statements: 0, rowsRead: 0, rowsWritten: 0 });
    entry.statements += 1;
    entry.rowsRead += meta.rows_read;
    entry.rowsWritten += meta.rows_written;
  }
}

/** The D1 binding rebuilt over a fetcher that counts every statement's rows (see the header). */
export function countingD1<D>(db: D, counts: Counts): D {
  const internals = db as { constructor?: unknown; fetcher?: FetcherLike };
  const fetcher = internals.fetcher;
  if (typeof internals.constructor !== "function" || typeof fetcher?.fetch !== "function") {
    throw new Error("this D1 binding has no fetcher to count through (workerd changed its D1 internals)");
  }
  const Binding = internals.constructor as new (fetcher: FetcherLike) => D;
  return new Binding({
    async fetch(input, init) {
      const response = await fetcher.fetch(input, init);
      const text = await response.clone().text();
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new Error(`D1 answered ${response.status} with a body that is not JSON: cannot count its rows`);
      }
      countD1Answer(counts, answer, statementsOf(init?.body));
      return response;
    },
  });
}

export type HeldMessage = { body: unknown; bytes: number; attempts: number };

/**
 * A Queue producer binding that counts and holds what is sent (for the driver to deliver).
 * Each message costs a write now; its read and delete are counted when the driver delivers and
 * acknowledges it.
 */
export function holdingQueue(name: string, counts: Counts, held: HeldMessage[]) {
  const entry = (counts.queues[name] ??= { messages: 0, bytes: 0, operations: 0 });
  const hold = (body: unknown) => {
    const bytes = new TextEncoder().encode(JSON.stringify(body) ?? "").length;
    entry.messages += 1;
    entry.bytes += bytes;
    entry.operations += queueChunks(bytes); // the write
    held.push({ body, bytes, attempts: 1 });
  };
  return {
    async send(body: unknown) {
      hold(body);
    },
    async sendBatch(messages: Iterable<{ body: unknown }>) {
      for (const message of messages) hold(message.body);
    },
    async metrics() {
      return { backlogCount: held.length, backlogBytes: held.reduce((sum, message) => sum + message.bytes, 0) };
    },
  };
}

/** Counts a delivery of held messages: a read each, and a delete for each acknowledged. */
export function countDelivery(counts: Counts, name: string, delivered: readonly HeldMessage[], acknowledged: readonly HeldMessage[]): void {
  const entry = (counts.queues[name] ??= { messages: 0, bytes: 0, operations: 0 });
  for (const message of delivered) entry.operations += queueChunks(message.bytes);
  for (const message of acknowledged) entry.operations += queueChunks(message.bytes);
  counts.invocations.queue += 1;
}

/** Calls `onCall(method)` for each method called on `target`, then calls it. */
function countingCalls<T extends object>(target: T, onCall: (method: string) => void, wrapResult?: (method: string, result: unknown) => unknown): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        onCall(property);
        const result = (value as (...a: unknown[]) => unknown).apply(object, args);
        return wrapResult ? wrapResult(property, result) : result;
      };
    },
  });
}

export function countingKv<K extends object>(kv: K, counts: Counts): K {
  return countingCalls(kv, (method) => {
    if (method === "get" || method === "getWithMetadata") counts.kv.reads += 1;
    else if (method === "put") counts.kv.writes += 1;
    else if (method === "delete") counts.kv.deletes += 1;
    else if (method === "list") counts.kv.lists += 1;
  });
}

/** A Durable Object namespace whose stubs count each request (fetch or RPC call). */
export function countingDurableObjects<N extends object>(namespace: N, counts: Counts): N {
  const stubMethods = new Set(["get", "getByName"]);
  return countingCalls(
    namespace,
    () => undefined,
    (method, result) =>
      stubMethods.has(method) && typeof result === "object" && result !== null
        ? countingCalls(result, (call) => {
            if (call !== "connect") counts.durableObjectRequests += 1;
          })
        : result,
  );
}

export function countingAnalytics<A extends object>(dataset: A, counts: Counts): A {
  return countingCalls(dataset, (method) => {
    if (method === "writeDataPoint") counts.analyticsDataPoints += 1;
  });
}

type EmbedInputs = { text?: string | string[] };

/** A stand-in for the AI binding that counts each embedding call and embeds with `embed`. */
export function countingAi(counts: Counts, embed: (texts: string[]) => Promise<number[][]>) {
  return {
    async run(model: string, inputs: EmbedInputs) {
      const texts = inputs.text === undefined ? [] : Array.isArray(inputs.text) ? inputs.text : [inputs.text];
      counts.ai.calls += 1;
      counts.ai.texts += texts.length;
      counts.ai.characters += texts.reduce((sum, text) => sum + text.length, 0);
      counts.ai.byModel[model] = (counts.ai.byModel[model] ?? 0) + 1;
      const data = await embed(texts);
      return { shape: [data.length, data[0]?.length ?? 0], data };
    },
  };
}

const groqUsageOf = (answer: unknown) => {
  const usage = (answer as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  return {
    prompt: typeof usage?.prompt_tokens === "number" ? usage.prompt_tokens : 0,
    completion: typeof usage?.completion_tokens === "number" ? usage.completion_tokens : 0,
  };
};

/** A fetch that counts outbound requests by host, and Groq's tokens from its answers' `usage`. */
export function countingFetch(original: typeof fetch, counts: Counts, isGroq: (url: URL) => boolean): typeof fetch {
  return async (input: Request | string | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    counts.http[url.host] = (counts.http[url.host] ?? 0) + 1;
    const response = await original(input, init);
    if (isGroq(url) && url.pathname.endsWith("/chat/completions")) {
      counts.groq.calls += 1;
      if (response.ok) {
        const usage = groqUsageOf(await response.clone().json().catch(() => null));
        counts.groq.promptTokens += usage.prompt;
        counts.groq.completionTokens += usage.completion;
      }
    }
    return response;
  };
}

const QUEUE_BINDINGS = ["INTAKE_QUEUE", "VECTORIZE_QUEUE", "BOT_QUEUE"] as const;
export type QueueBindingName = (typeof QUEUE_BINDINGS)[number];

/**
 * `env` with every billable binding counted: D1, the three queues (held), KV, the Durable Object
 * namespaces, Analytics Engine when bound, and `ai` as the AI binding when given.
 */
export function countedEnv<E extends object>(env: E, counts: Counts, options: { ai?: object } = {}): { env: E; held: Record<QueueBindingName, HeldMessage[]> } {
  const source = env as Record<string, unknown>;
  const held = { INTAKE_QUEUE: [], VECTORIZE_QUEUE: [], BOT_QUEUE: [] } as Record<QueueBindingName, HeldMessage[]>;
  const wrapped: Record<string, unknown> = { ...source, DB: countingD1(source.DB, counts) };
  for (const name of QUEUE_BINDINGS) wrapped[name] = holdingQueue(name, counts, held[name]);
  if (source.SECRETS_KV) wrapped.SECRETS_KV = countingKv(source.SECRETS_KV as object, counts);
  for (const name of ["BACKUP_SCHEDULER", "EDGE_HEALTH"]) if (source[name]) wrapped[name] = countingDurableObjects(source[name] as object, counts);
  if (source.ANALYTICS) wrapped.ANALYTICS = countingAnalytics(source.ANALYTICS as object, counts);
  if (options.ai) wrapped.AI = options.ai;
  return { env: wrapped as E, held };
}

/** What the cost bench hands its workerd driver: the webhooks of each kind, the bot's questions. */
export type CostWorkload = {
  phases: { kind: string; webhooks: { path: string; headers: Record<string, string>; body: string }[] }[];
  questions: { roomId: string; text: string }[];
  /** Messages per consumer invocation (each queue's max_batch_size caps it). */
  batchSize: number;
};
/** What the driver reports back: the operations counted per kind, the cron tick's and what went wrong. */
export type CostPhase = { kind: string; events: number; counts: Counts };
export type CostReport = { phases: CostPhase[]; tick: Counts; failures: string[]; retries: number; deadLettered: number; eventStatuses: Record<string, number> };
