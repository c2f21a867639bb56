// The Qdrant fake keeps to Qdrant's documented REST contract: the shapes, messages and status
// codes clients see, write visibility with and without `wait=true`, dense / BM25 / RRF scoring,
// filters, api-key auth and the /__fake/* controls (faults, request log).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningFake } from "./fakes/http-fake.ts";
import { startFakeQdrant } from "./fakes/qdrant.ts";

const API_KEY = "fake-qdrant-test-key";
let fake: RunningFake;
let noInference: RunningFake;
let withAddress: RunningFake;
let emptyAddress: RunningFake;

beforeAll(async () => {
  fake = await startFakeQdrant({ apiKey: API_KEY });
  // 1.15.2 starts its inference service only with `inference.address` set.
  noInference = await startFakeQdrant({ version: "1.15.2" });
  withAddress = await startFakeQdrant({ version: "1.15.2", inferenceAddress: "http://inference.internal:2114/api/v1/infer" });
  // From 1.15.3 it always starts, unless the address is set and empty.
  emptyAddress = await startFakeQdrant({ version: "1.16.0", inferenceAddress: "" });
});
afterAll(async () => {
  await fake.close();
  await noInference.close();
  await withAddress.close();
  await emptyAddress.close();
});

type Reply = { status: number; headers: Headers; text: string; json: any };

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { "api-key": API_KEY }, base = fake.url): Promise<Reply> {
  const response = await fetch(base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

let counter = 0;
const uniqueName = (label: string) => `${label}-${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function expectOk(reply: Reply): any {
  expect(reply.status, reply.text).toBe(200);
  expect(reply.json).toMatchObject({ status: "ok", time: expect.any(Number) });
  return reply.json.result;
}

function expectError(reply: Reply, status: number, message: string | RegExp): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json).toEqual({ status: { error: expect.any(String) }, time: expect.any(Number) });
  if (typeof message === "string") expect(reply.json.status.error).toBe(message);
  else expect(reply.json.status.error).toMatch(message);
}

async function createHybrid(name: string, size = 3): Promise<void> {
  expectOk(
    await call("PUT", `/collections/${name}`, {
      vectors: { dense: { size, distance: "Cosine" } },
      sparse_vectors: { bm25: { modifier: "idf" } },
    }),
  );
}

async function upsert(name: string, points: unknown[], wait = true): Promise<any> {
  return expectOk(await call("PUT", `/collections/${name}/points${wait ? "?wait=true" : ""}`, { points }));
}

const bm25 = (text: string) => ({ text, model: "qdrant/bm25" });

describe("root and authentication", () => {
  it("answers GET / with title and version, without the result wrapper", async () => {
    const reply = await call("GET", "/");
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ title: "qdrant - vector search engine", version: "1.15.4", commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    const other = await call("GET", "/", undefined, {}, emptyAddress.url);
    expect(other.json.version).toBe("1.16.0");
  });

  it("answers 401 in plain text without a key or with a wrong one, and takes api-key or Bearer", async () => {
    const missing = await call("GET", "/collections", undefined, {});
    expect(missing.status).toBe(401);
    expect(missing.text).toBe("Must provide an API key or an Authorization bearer token");
    const wrong = await call("GET", "/collections", undefined, { "api-key": "not-the-key" });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toBe("Invalid API key or JWT");
    expect((await call("GET", "/collections", undefined, { authorization: `Bearer ${API_KEY}` })).status).toBe(200);
    expect((await call("GET", "/collections", undefined, { "api-key": API_KEY })).status).toBe(200);
    expect((await call("GET", "/healthz", undefined, {})).status).toBe(200);
    expect((await call("GET", "/__fake/requests?collection=none", undefined, {})).status).toBe(200);
  });
});

describe("collections", () => {
  it("creates, describes, refuses a second create, 404s a missing one and deletes", async () => {
    const name = uniqueName("create");
    expect(expectOk(await call("PUT", `/collections/${name}`, { vectors: { dense: { size: 3, distance: "Cosine" } }, sparse_vectors: { bm25: { modifier: "idf" } } }))).toBe(true);
    const info = expectOk(await call("GET", `/collections/${name}`));
    expect(info).toMatchObject({
      status: "green",
      optimizer_status: "ok",
      points_count: 0,
      indexed_vectors_count: 0,
      segments_count: 1,
      config: { params: { vectors: { dense: { size: 3, distance: "Cosine" } }, sparse_vectors: { bm25: { modifier: "idf" } } } },
      payload_schema: {},
    });
    expectError(await call("PUT", `/collections/${name}`, { vectors: { dense: { size: 3, distance: "Cosine" } } }), 409, `Wrong input: Collection \`${name}\` already exists!`);
    expect(expectOk(await call("GET", `/collections/${name}/exists`))).toEqual({ exists: true });
    expect(expectOk(await call("DELETE", `/collections/${name}`))).toBe(true);
    expect(expectOk(await call("DELETE", `/collections/${name}`))).toBe(false);
    expectError(await call("GET", `/collections/${name}`), 404, `Not found: Collection \`${name}\` doesn't exist!`);
    expectError(await call("PUT", `/collections/${name}/points?wait=true`, { points: [] }), 404, `Not found: Collection \`${name}\` doesn't exist!`);
  });

  it("answers 400 for a malformed create body", async () => {
    const name = uniqueName("malformed");
    expectError(await call("PUT", `/collections/${name}`, { vectors: { dense: { size: 3, distance: "Cosinus" } } }), 400, /^Format error in JSON body: .*unknown variant `Cosinus`/);
    expectError(await call("PUT", `/collections/${name}`, { vectors: { dense: { distance: "Dot" } } }), 400, /^Format error in JSON body: .*missing field `size`/);
    expectError(await call("PUT", `/collections/${name}`, { vectors: { dense: { size: 0, distance: "Dot" } } }), 400, /^Format error in JSON body/);
    expectError(await call("PUT", `/collections/${name}`, { vectors: {}, sparse_vectors: { s: { modifier: "bm25" } } }), 400, /^Format error in JSON body/);
    expect((await call("GET", `/collections/${name}/exists`)).json.result).toEqual({ exists: false });
  });

  it("creates a payload index and reports it in payload_schema", async () => {
    const name = uniqueName("index");
    await createHybrid(name);
    await upsert(name, [
      { id: 1, vector: { dense: [1, 0, 0] }, payload: { tenant: "a" } },
      { id: 2, vector: { dense: [0, 1, 0] }, payload: { tenant: "b" } },
      { id: 3, vector: { dense: [0, 0, 1] }, payload: {} },
    ]);
    const result = expectOk(await call("PUT", `/collections/${name}/index?wait=true`, { field_name: "tenant", field_schema: "keyword" }));
    expect(result).toEqual({ operation_id: expect.any(Number), status: "completed" });
    expect(expectOk(await call("GET", `/collections/${name}`)).payload_schema).toEqual({ tenant: { data_type: "keyword", points: 2 } });
    expectError(await call("PUT", `/collections/${name}/index?wait=true`, { field_name: "x", field_schema: "vector" }), 400, /^Format error in JSON body/);
  });
});

describe("points", () => {
  it("makes a wait=true upsert visible at once and a wait=false one only later", async () => {
    const name = uniqueName("wait");
    await createHybrid(name);
    expect(await upsert(name, [{ id: 1, vector: { dense: [1, 0, 0] } }], true)).toEqual({ operation_id: 0, status: "completed" });
    expect(expectOk(await call("POST", `/collections/${name}/points/count`, {}))).toEqual({ count: 1 });

    expect(await upsert(name, [{ id: 2, vector: { dense: [0, 1, 0] } }], false)).toEqual({ operation_id: 1, status: "acknowledged" });
    const early = expectOk(await call("POST", `/collections/${name}/points/query`, { query: [0, 1, 0], using: "dense", limit: 5 }));
    expect(early.points.map((point: { id: number }) => point.id)).toEqual([1]);
    expect(expectOk(await call("GET", `/collections/${name}`)).points_count).toBe(1);
    const explicitFalse = expectOk(await call("PUT", `/collections/${name}/points?wait=false`, { points: [{ id: 3, vector: { dense: [0, 0, 1] } }] }));
    expect(explicitFalse.status).toBe("acknowledged");

    await sleep(450);
    expect(expectOk(await call("GET", `/collections/${name}`)).points_count).toBe(3);
    const late = expectOk(await call("POST", `/collections/${name}/points/query`, { query: [0, 1, 0], using: "dense", limit: 1 }));
    expect(late.points[0].id).toBe(2);
  });

  it("replaces a point upserted again with the same id", async () => {
    const name = uniqueName("replace");
    await createHybrid(name);
    const uuid = "5C56C793-69F3-4FBF-87E6-C4BF54C28C26";
    await upsert(name, [{ id: uuid, vector: { dense: [1, 0, 0] }, payload: { v: 1 } }]);
    await upsert(name, [{ id: uuid.toLowerCase(), vector: { dense: [0, 1, 0] }, payload: { v: 2 } }]);
    const points = expectOk(await call("POST", `/collections/${name}/points`, { ids: [uuid], with_payload: true }));
    expect(points).toEqual([{ id: uuid.toLowerCase(), payload: { v: 2 } }]);
    expect(expectOk(await call("POST", `/collections/${name}/points/count`, {}))).toEqual({ count: 1 });
    expectError(await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: "not-a-uuid", vector: { dense: [1, 0, 0] } }] }), 400, /not a valid point ID/);
  });

  it("rejects a dense vector of the wrong size and an unknown vector name", async () => {
    const name = uniqueName("dim");
    await createHybrid(name);
    expectError(
      await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: { dense: [1, 0] } }] }),
      400,
      "Wrong input: Vector dimension error: expected dim: 3, got 2",
    );
    expectError(
      await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: { other: [1, 0, 0] } }] }),
      400,
      "Wrong input: Not existing vector name error: other",
    );
    expectError(await call("POST", `/collections/${name}/points/query`, { query: [1, 0], using: "dense" }), 400, "Wrong input: Vector dimension error: expected dim: 3, got 2");
    expect(expectOk(await call("POST", `/collections/${name}/points/count`, {}))).toEqual({ count: 0 });
  });

  it("deletes points by filter and by ids", async () => {
    const name = uniqueName("delete");
    await createHybrid(name);
    await upsert(name, [
      { id: 1, vector: { dense: [1, 0, 0] }, payload: { source: "a" } },
      { id: 2, vector: { dense: [0, 1, 0] }, payload: { source: "b" } },
      { id: 3, vector: { dense: [0, 0, 1] }, payload: { source: "a" } },
      { id: 4, vector: { dense: [1, 1, 0] }, payload: { source: "c" } },
    ]);
    const byFilter = expectOk(await call("POST", `/collections/${name}/points/delete?wait=true`, { filter: { must: [{ key: "source", match: { value: "a" } }] } }));
    expect(byFilter).toEqual({ operation_id: expect.any(Number), status: "completed" });
    const scroll = expectOk(await call("POST", `/collections/${name}/points/scroll`, { limit: 10 }));
    expect(scroll.points.map((point: { id: number }) => point.id)).toEqual([2, 4]);
    expectOk(await call("POST", `/collections/${name}/points/delete?wait=true`, { points: [4] }));
    expect(expectOk(await call("POST", `/collections/${name}/points/count`, {}))).toEqual({ count: 1 });
  });
});

describe("query", () => {
  it("ranks dense points by cosine similarity, best first", async () => {
    const name = uniqueName("dense");
    await createHybrid(name);
    await upsert(name, [
      { id: 1, vector: { dense: [0, 0, 1] }, payload: { kind: "z" } },
      { id: 2, vector: { dense: [4, 3, 0] }, payload: { kind: "xy" } },
      { id: 3, vector: { dense: [2, 0, 0] }, payload: { kind: "x" } },
      { id: 4, vector: { dense: [0, 5, 0] }, payload: { kind: "y" } },
    ]);
    const result = expectOk(await call("POST", `/collections/${name}/points/query`, { query: [1, 0, 0], using: "dense", limit: 3, with_payload: true }));
    expect(result.points.map((point: { id: number }) => point.id)).toEqual([3, 2, 1]);
    expect(result.points[0]).toEqual({ id: 3, version: 0, score: expect.closeTo(1, 6), payload: { kind: "x" } });
    expect(result.points[1].score).toBeCloseTo(0.8, 6);
    expect(result.points[2].score).toBeCloseTo(0, 6);

    const bare = expectOk(await call("POST", `/collections/${name}/points/query`, { query: [1, 0, 0], using: "dense", limit: 1 }));
    expect(bare.points).toEqual([{ id: 3, version: 0, score: expect.closeTo(1, 6) }]);
    const thresholded = expectOk(await call("POST", `/collections/${name}/points/query`, { query: [1, 0, 0], using: "dense", score_threshold: 0.5 }));
    expect(thresholded.points.map((point: { id: number }) => point.id)).toEqual([3, 2]);
    const filtered = expectOk(
      await call("POST", `/collections/${name}/points/query`, { query: [1, 0, 0], using: "dense", filter: { must_not: [{ key: "kind", match: { value: "x" } }] } }),
    );
    expect(filtered.points.map((point: { id: number }) => point.id)).toEqual([2, 1, 4]);
  });

  it("ranks BM25 matches with IDF, so a rare term outweighs a common one", async () => {
    const name = uniqueName("bm25");
    await createHybrid(name);
    await upsert(name, [
      { id: 1, vector: { dense: [1, 0, 0], bm25: bm25("Invoice for the apartment cleaning") } },
      { id: 2, vector: { dense: [1, 0, 0], bm25: bm25("Invoice for the apartment repair, invoice attached") } },
      { id: 3, vector: { dense: [1, 0, 0], bm25: bm25("Refund for the guest") } },
      { id: 4, vector: { dense: [1, 0, 0], bm25: bm25("Guest checked in late") } },
      { id: 5, vector: { dense: [1, 0, 0] } },
    ]);
    const result = expectOk(await call("POST", `/collections/${name}/points/query`, { query: bm25("invoice refund"), using: "bm25", limit: 10 }));
    const ids = result.points.map((point: { id: number }) => point.id);
    // "refund" is in one document, "invoice" in two: the rare term ranks its document first; the
    // document that says "invoice" twice beats the one that says it once; no match, no result.
    expect(ids).toEqual([3, 2, 1]);
    for (const point of result.points) expect(point.score).toBeGreaterThan(0);
    expect(result.points[0].score).toBeGreaterThan(result.points[1].score);

    const stopwordsOnly = expectOk(await call("POST", `/collections/${name}/points/query`, { query: bm25("the for"), using: "bm25" }));
    expect(stopwordsOnly.points).toEqual([]);
    const filtered = expectOk(
      await call("POST", `/collections/${name}/points/query`, { query: bm25("invoice refund"), using: "bm25", filter: { must_not: [{ has_id: [3] }] } }),
    );
    expect(filtered.points.map((point: { id: number }) => point.id)).toEqual([2, 1]);
    expectError(await call("POST", `/collections/${name}/points/query`, { query: bm25("invoice"), using: "dense" }), 400, /^Wrong input/);
  });

  it("fuses prefetches with reciprocal rank fusion (k = 2, positions from 0)", async () => {
    const name = uniqueName("rrf");
    await createHybrid(name, 2);
    await upsert(name, [
      { id: 1, vector: { dense: [1, 0], bm25: bm25("alpha") }, payload: { n: "one" } },
      { id: 2, vector: { dense: [0.9, 0.1], bm25: bm25("beta gamma") }, payload: { n: "two" } },
      { id: 3, vector: { dense: [0, 1], bm25: bm25("gamma") }, payload: { n: "three" } },
    ]);
    const prefetch = [
      { query: [1, 0], using: "dense", limit: 3 }, // 1, 2, 3
      { query: bm25("beta"), using: "bm25", limit: 3 }, // 2
    ];
    const fused = expectOk(await call("POST", `/collections/${name}/points/query`, { prefetch, query: { fusion: "rrf" }, limit: 10, with_payload: true }));
    expect(fused.points).toEqual([
      { id: 2, version: 0, score: expect.closeTo(1 / 3 + 1 / 2, 6), payload: { n: "two" } },
      { id: 1, version: 0, score: expect.closeTo(1 / 2, 6), payload: { n: "one" } },
      { id: 3, version: 0, score: expect.closeTo(1 / 4, 6), payload: { n: "three" } },
    ]);

    // The top-level filter reaches the prefetches: without point 2, point 3 moves up a place.
    const filtered = expectOk(
      await call("POST", `/collections/${name}/points/query`, { prefetch, query: { fusion: "rrf" }, filter: { must_not: [{ has_id: [2] }] } }),
    );
    expect(filtered.points).toEqual([
      { id: 1, version: 0, score: expect.closeTo(1 / 2, 6) },
      { id: 3, version: 0, score: expect.closeTo(1 / 3, 6) },
    ]);
    const limited = expectOk(await call("POST", `/collections/${name}/points/query`, { prefetch, query: { fusion: "rrf" }, limit: 1 }));
    expect(limited.points.map((point: { id: number }) => point.id)).toEqual([2]);
    const withK = expectOk(await call("POST", `/collections/${name}/points/query`, { prefetch, query: { rrf: { k: 60 } } }));
    expect(withK.points[0]).toEqual({ id: 2, version: 0, score: expect.closeTo(1 / 61 + 1 / 60, 6) });
    expectError(await call("POST", `/collections/${name}/points/query`, { prefetch, query: { fusion: "dbsf" } }), 400, /^Wrong input/);
  });
});

describe("filters", () => {
  const points = [
    { id: 1, payload: { city: "Berlin", rooms: 2, tags: ["sea", "view"], note: null, meta: { lang: "de" }, created: "2025-01-10T00:00:00Z" } },
    { id: 2, payload: { city: "Paris", rooms: 4, tags: [], meta: { lang: "fr" }, created: "2025-03-01T00:00:00Z" } },
    { id: 3, payload: { city: "Lisbon", rooms: 3, tags: ["sea"], note: "quiet" } },
    { id: 4, payload: {} },
  ];
  let name: string;

  beforeAll(async () => {
    name = uniqueName("filters");
    await createHybrid(name);
    await upsert(name, points.map((point) => ({ ...point, vector: { dense: [1, 0, 0] } })));
  });

  async function matching(filter: unknown): Promise<number[]> {
    const result = expectOk(await call("POST", `/collections/${name}/points/scroll`, { filter, limit: 100, with_payload: false }));
    return result.points.map((point: { id: number }) => point.id);
  }

  it("matches a value, any of several, all but some, on arrays and nested keys", async () => {
    expect(await matching({ must: [{ key: "city", match: { value: "Berlin" } }] })).toEqual([1]);
    expect(await matching({ must: [{ key: "city", match: { any: ["Berlin", "Paris"] } }] })).toEqual([1, 2]);
    expect(await matching({ must: [{ key: "city", match: { except: ["Berlin"] } }] })).toEqual([2, 3]);
    expect(await matching({ must: [{ key: "tags", match: { value: "sea" } }] })).toEqual([1, 3]);
    expect(await matching({ must: [{ key: "meta.lang", match: { value: "de" } }] })).toEqual([1]);
    expect(await matching({ must: [{ key: "rooms", match: { value: 4 } }] })).toEqual([2]);
  });

  it("filters numeric and datetime ranges, never matching a missing key", async () => {
    expect(await matching({ must: [{ key: "rooms", range: { gte: 3 } }] })).toEqual([2, 3]);
    expect(await matching({ must: [{ key: "rooms", range: { gt: 2, lt: 4 } }] })).toEqual([3]);
    expect(await matching({ must: [{ key: "rooms", range: { lte: 2 } }] })).toEqual([1]);
    expect(await matching({ must: [{ key: "created", range: { gte: "2025-02-01T00:00:00Z" } }] })).toEqual([2]);
  });

  it("tells is_null (explicit null only) from is_empty (missing, null or [])", async () => {
    expect(await matching({ must: [{ is_null: { key: "note" } }] })).toEqual([1]);
    expect(await matching({ must: [{ is_empty: { key: "note" } }] })).toEqual([1, 2, 4]);
    expect(await matching({ must: [{ is_empty: { key: "tags" } }] })).toEqual([2, 4]);
    expect(await matching({ must_not: [{ is_empty: { key: "tags" } }] })).toEqual([1, 3]);
  });

  it("combines has_id, should, must_not and nested clauses", async () => {
    expect(await matching({ must: [{ has_id: [1, 3] }] })).toEqual([1, 3]);
    expect(await matching({ should: [{ key: "city", match: { value: "Paris" } }, { key: "rooms", match: { value: 3 } }] })).toEqual([2, 3]);
    expect(await matching({ must_not: [{ key: "city", match: { value: "Berlin" } }] })).toEqual([2, 3, 4]);
    expect(
      await matching({
        must: [
          { should: [{ key: "city", match: { value: "Berlin" } }, { key: "city", match: { value: "Lisbon" } }] },
          { must_not: [{ key: "tags", match: { value: "view" } }] },
        ],
      }),
    ).toEqual([3]);
    expect(await matching({ must: [{ has_id: [1, 2, 3] }], must_not: [{ must: [{ key: "rooms", range: { gte: 3 } }, { key: "city", match: { value: "Paris" } }] }] })).toEqual([1, 3]);
    expectError(await call("POST", `/collections/${name}/points/scroll`, { filter: { must: [{ nonsense: true }] } }), 400, /^Format error in JSON body/);
  });
});

describe("fake controls", () => {
  it("answers armed faults for one collection, 429 with Retry-After, then recovers", async () => {
    const name = uniqueName("faults");
    const bystander = uniqueName("bystander");
    await createHybrid(name);
    await createHybrid(bystander);
    expect((await call("POST", "/__fake/faults", { collection: name, status: 429, retryAfter: 2, count: 2 }, {})).status).toBe(204);
    for (let i = 0; i < 2; i++) {
      const limited = await call("GET", `/collections/${name}`);
      expectError(limited, 429, /Rate limiting exceeded/);
      expect(limited.headers.get("retry-after")).toBe("2");
      expectOk(await call("GET", `/collections/${bystander}`));
    }
    expectOk(await call("GET", `/collections/${name}`));

    await call("POST", "/__fake/faults", { collection: name, status: 503, count: 1 }, {});
    expectError(await call("PUT", `/collections/${name}/points?wait=true`, { points: [] }), 503, /^Service unavailable/);
    expectOk(await call("PUT", `/collections/${name}/points?wait=true`, { points: [] }));
  });

  it("answers a fault armed without a collection on any request", async () => {
    await call("POST", "/__fake/faults", { status: 500, count: 1 }, {});
    expectError(await call("GET", "/collections"), 500, /^Service internal error/);
    expect((await call("GET", "/collections")).status).toBe(200);
  });

  it("lists the requests a collection received, oldest first", async () => {
    const name = uniqueName("log");
    await createHybrid(name);
    await call("GET", `/collections/${name}-other`);
    await upsert(name, [{ id: 7, vector: { dense: [1, 0, 0] }, payload: { a: 1 } }]);
    const log = await call("GET", `/__fake/requests?collection=${name}`, undefined, {});
    expect(log.json).toEqual([
      { method: "PUT", path: `/collections/${name}`, query: {}, body: { vectors: { dense: { size: 3, distance: "Cosine" } }, sparse_vectors: { bm25: { modifier: "idf" } } } },
      { method: "PUT", path: `/collections/${name}/points`, query: { wait: "true" }, body: { points: [{ id: 7, vector: { dense: [1, 0, 0] }, payload: { a: 1 } }] } },
    ]);
  });
});

describe("without the inference service", () => {
  const notInitialized =
    "Service internal error: InferenceService is not initialized. Please check if it was properly configured and initialized during startup.";

  it("answers 500 to inference objects on 1.15.2 without inference.address, writes nothing, and takes explicit sparse vectors", async () => {
    const name = uniqueName("nobm25");
    const base = noInference.url;
    expectOk(await call("PUT", `/collections/${name}`, { vectors: { dense: { size: 2, distance: "Dot" } }, sparse_vectors: { text: { modifier: "idf" } } }, {}, base));
    expectError(
      await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: 2, vector: { dense: [1, 0], text: bm25("hello") } }] }, {}, base),
      500,
      notInitialized,
    );
    expect(expectOk(await call("POST", `/collections/${name}/points/count`, {}, {}, base))).toEqual({ count: 0 });
    expectOk(await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: { dense: [1, 0], text: { indices: [5, 9], values: [0.5, 1] } } }] }, {}, base));
    // A point may leave a named vector out.
    expectOk(await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: 3, vector: { dense: [0, 1] } }] }, {}, base));
    expectError(await call("POST", `/collections/${name}/points/query`, { query: bm25("hello"), using: "text" }, {}, base), 500, notInitialized);
    expectError(
      await call("POST", `/collections/${name}/points/query`, { prefetch: [{ query: [1, 0], using: "dense" }, { query: bm25("hello"), using: "text" }], query: { fusion: "rrf" } }, {}, base),
      500,
      notInitialized,
    );
    const result = expectOk(await call("POST", `/collections/${name}/points/query`, { query: { indices: [9], values: [2] }, using: "text" }, {}, base));
    expect(result.points.map((point: { id: number }) => point.id)).toEqual([1]);
  });

  it("runs BM25 on 1.15.2 with inference.address set, and fails from 1.15.3 on when the address is set but empty", async () => {
    for (const [base, works] of [
      [withAddress.url, true],
      [emptyAddress.url, false],
    ] as const) {
      const name = uniqueName("address");
      expectOk(await call("PUT", `/collections/${name}`, { vectors: { dense: { size: 2, distance: "Dot" } }, sparse_vectors: { bm25: { modifier: "idf" } } }, {}, base));
      const reply = await call("PUT", `/collections/${name}/points?wait=true`, { points: [{ id: 1, vector: { dense: [1, 0], bm25: bm25("hello") } }] }, {}, base);
      if (works) expectOk(reply);
      else expectError(reply, 500, notInitialized);
    }
  });
});
