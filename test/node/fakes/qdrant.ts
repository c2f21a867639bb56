// A fake Qdrant REST API (as served on :6333) following its documented JSON contract, for
// tests that reach Qdrant over HTTP. Every success body is `{"result": ..., "status": "ok",
// "time": <seconds>}`, every error body `{"status": {"error": "<message>"}, "time": <seconds>}`
// with Qdrant's message prefixes: 400 `Format error in JSON body: ...` for a body that does not
// deserialize, 400 `Wrong input: ...` for a body that does but makes no sense, 404 `Not found:
// Collection \`x\` doesn't exist!`, 409 `Wrong input: Collection \`x\` already exists!`.
//
// Auth: with `apiKey` set, every request but /__fake/* and the /healthz, /livez, /readyz probes
// (which Qdrant leaves open) needs `api-key: <key>` or `Authorization: Bearer <key>`. Qdrant's
// auth middleware answers those two failures with a 401 whose body is *plain text*, not the JSON
// error shape: `Must provide an API key or an Authorization bearer token` when neither header is
// present and `Invalid API key or JWT` for a wrong key. The fake does the same.
//
// Implemented: GET / (title, version, commit, no result wrapper); GET /collections; GET, PUT,
// DELETE /collections/{c}; GET /collections/{c}/exists; PUT /collections/{c}/index and DELETE
// /collections/{c}/index/{field}; PUT /collections/{c}/points (upsert, `points` or `batch`);
// POST /collections/{c}/points (retrieve by ids); GET /collections/{c}/points/{id}; POST
// /collections/{c}/points/delete (by `points` or `filter`); POST .../points/scroll,
// .../points/count, .../points/query and .../points/query/batch. An unknown route answers 404
// with an empty body, like Qdrant's router.
//
// Write consistency: an update with `?wait=true` answers `{operation_id, status: "completed"}`
// and is visible at once; without it (or `wait=false`) it answers `status: "acknowledged"` and
// becomes visible only UNSYNCED_DELAY_MS later, so a test can prove that a client waits. Updates
// of a collection apply in order: a waited update first applies every pending one before it.
// Input is validated when the update is received, whatever `wait` says.
//
// Scoring, as Qdrant documents it:
// - Dense vectors: Cosine (vectors are normalised on upsert, as Qdrant stores them; score is the
//   dot product of unit vectors), Dot, Euclid and Manhattan (the score is the distance, smaller
//   is better, and `score_threshold` is then a maximum). Ties are broken by point id.
// - Sparse vectors: dot product over shared indices; with `modifier: "idf"` each query index is
//   weighted by IDF = ln(1 + (N - n + 0.5) / (n + 0.5)), N = points of the collection that have
//   this sparse vector and n = those with a non-zero value at the index. Only points sharing at
//   least one index with the query are returned (a sparse search never returns the others).
// - Server-side BM25 (`{text, model: "qdrant/bm25"}` inference objects, qdrant.tech
//   /documentation/inference/inference-bm25/): text is lower-cased, split into words on
//   non-alphanumerics, English stopwords dropped (a short list, STOPWORDS below) and each word
//   mapped to index murmur3_32(word, seed 0) read as i32 and made positive, as Qdrant and
//   FastEmbed do. A document weighs each word tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len)) with
//   Qdrant's defaults k1 = 1.2, b = 0.75, avg_len = 256 (overridable with `options: {k, b,
//   avg_len}`); a query weighs each distinct word 1. IDF comes from the collection, through the
//   sparse vector's `modifier: "idf"`. Unlike Qdrant the fake does not stem words ("cookies" does
//   not match "cookie").
// - Whether inference runs at all, as Qdrant's sources have it (checked against qdrant/qdrant
//   v1.15.2, v1.15.3 and v1.16.0, src/main.rs and src/common/inference/{service,
//   infer_processing}.rs, 2026-12-06): the inference service starts up to 1.15.2 only when
//   `inference.address` is configured, from 1.15.3 ("Always load InferenceService", #7050)
//   always, but (in each of those versions) its start fails when the address is set and empty.
//   (The local BM25 model itself first ships in 1.15.2, src/common/inference/bm25.rs.) Without
//   the service, every request carrying an inference object (upsert or query) answers 500 `{"status":
//   {"error": "Service internal error: InferenceService is not initialized. Please check if it
//   was properly configured and initialized during startup."}, "time": ...}` (a ServiceError,
//   which Qdrant maps to 500) and applies nothing. `inferenceAddress` plays that setting
//   (before 1.15.2, where BM25 was the remote service's, the fake stands in for that service);
//   `serverBm25` overrides the outcome.
// - Fusion `{fusion: "rrf"}` (and the `{rrf: {k?, weights?}}` form of later versions): Qdrant's
//   formula, score = Σ over prefetches of 1 / (k + position), position counted from 0 within each
//   prefetch result and k = 2 by default (Qdrant's DEFAULT_RRF_K; the paper's k = 60 with ranks
//   from 1 is k = 61 here), per https://qdrant.tech/documentation/search/hybrid-queries/ and
//   https://qdrant.tech/articles/how-to-tune-hybrid-search/. With weights, a prefetch adds
//   1 / ((position + 1) / weight + k − 1). `{fusion: "dbsf"}` answers 400 (not implemented).
// - The top-level `filter` of a query applies to its prefetches too, as Qdrant propagates it.
// - Result points are `{id, version: 0, score, payload?, vector?}`; the Query API returns the
//   payload only with `with_payload` (true, a list of keys, or {include}/{exclude}).
//
// Filters: must / should (at least one) / must_not / min_should, nested at any depth; conditions
// `{key, match: {value | any | except | text | phrase}}`, `{key, range: {gt, gte, lt, lte}}`
// (numbers, or RFC 3339 strings for datetimes), `{key, values_count: {...}}`, `{is_null: {key}}`,
// `{is_empty: {key}}`, `{has_id: [...]}`, `{has_vector: name}`, `{nested: {key, filter}}`, and a
// filter object as a condition. Keys are paths ("a.b", "a[].b"); an array value matches when one
// of its elements does. Qdrant semantics for missing keys: `is_empty` matches a missing key, null
// or []; `is_null` matches only an explicit null; every other condition fails on a missing key.
//
// Tests drive it through /__fake/*, and all its state is keyed by collection name so that several
// test files can share one instance:
// - POST /__fake/faults {collection?, status, retryAfter?, count?} arms a fault: the next `count`
//   (default 1) authenticated requests whose path names that collection (`/collections/<name>`),
//   or any request when no collection is given, answer `status` with the JSON error body; a 429
//   carries `Retry-After: <retryAfter>` (default 1). DELETE /__fake/faults?collection=<name>
//   disarms them.
// - GET /__fake/requests?collection=<name> lists `{method, path, query, body}` of every request
//   received for that collection (all requests without the parameter), oldest first; DELETE
//   /__fake/requests?collection=<name> forgets them.
import { startFake, type FakeRequest, type FakeResponse, type RunningFake } from "./http-fake.ts";

export type FakeQdrantOptions = {
  apiKey?: string;
  /** Reported by GET /; default "1.15.4". */
  version?: string;
  /** Qdrant's `inference.address` setting: unset by default; "" is set but empty. */
  inferenceAddress?: string;
  /**
   * Whether the inference service started, so `{text, model: "qdrant/bm25"}` objects work;
   * by default as `version` and `inferenceAddress` make it (see the header).
   */
  serverBm25?: boolean;
};

const DEFAULT_VERSION = "1.15.4";
/** The first version whose inference service starts without `inference.address`. */
const INFERENCE_ALWAYS_SINCE = [1, 15, 3];
const NOT_INITIALIZED =
  "Service internal error: InferenceService is not initialized. Please check if it was properly configured and initialized during startup.";

/** Whether Qdrant `version` (as "1.15.2") starts its inference service with this address setting. */
function inferenceStarts(version: string, address: string | undefined): boolean {
  if (address !== undefined) return address.length > 0;
  const parts = version.split(".").map((part) => Number.parseInt(part, 10));
  for (let i = 0; i < INFERENCE_ALWAYS_SINCE.length; i++) {
    const part = parts[i] ?? 0;
    const since = INFERENCE_ALWAYS_SINCE[i] ?? 0;
    if (Number.isNaN(part)) return false;
    if (part !== since) return part > since;
  }
  return true;
}
const FAKE_COMMIT = "fa4ce0b1a7e5f00dfa4ce0b1a7e5f00dfa4ce0b1";
/** How long an update sent without `wait=true` stays invisible. */
const UNSYNCED_DELAY_MS = 300;
/** Qdrant's default RRF constant (positions counted from 0). */
const DEFAULT_RRF_K = 2;
/** Defaults of Qdrant's `qdrant/bm25` model. */
const BM25_DEFAULTS = { k: 1.2, b: 0.75, avgLen: 256 };
const DEFAULT_LIMIT = 10;

const STOPWORDS = new Set(
  (
    "a an and are as at be been but by can do does for from had has have he her his how i if in into is it its " +
    "me my no nor not of on or our she so such than that the their them then there these they this to too " +
    "us was we were what when where which while who whom why will with you your"
  ).split(" "),
);

const DISTANCES = ["Cosine", "Euclid", "Dot", "Manhattan"] as const;
type Distance = (typeof DISTANCES)[number];
const PAYLOAD_TYPES = ["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"] as const;

type PointId = number | string;
type SparseVector = Map<number, number>;
type StoredPoint = {
  id: PointId;
  dense: Map<string, number[]>;
  sparse: Map<string, SparseVector>;
  payload: Record<string, unknown>;
};
type DenseConfig = { size: number; distance: Distance };
type PayloadIndex = { data_type: string; params?: Record<string, unknown> };
type Collection = {
  createdVectors: unknown;
  createdSparse: unknown;
  dense: Map<string, DenseConfig>;
  /** Created with a single unnamed vector (`vectors: {size, distance}`), named "" here. */
  unnamed: boolean;
  sparse: Map<string, { idf: boolean }>;
  points: Map<string, StoredPoint>;
  payloadIndexes: Map<string, PayloadIndex>;
  nextOperationId: number;
  pending: { dueAt: number; apply: () => void }[];
};
type Scored = { point: StoredPoint; score: number };
type Predicate = (point: StoredPoint) => boolean;
type Fault = { collection?: string; status: number; retryAfter: number; remaining: number };
type LoggedRequest = { method: string; path: string; query: Record<string, string>; body: unknown };
type UpdateResult = { operation_id: number; status: "completed" | "acknowledged" };

class QdrantError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
const formatError = (message: string) => new QdrantError(400, `Format error in JSON body: ${message}`);
const wrongInput = (message: string) => new QdrantError(400, `Wrong input: ${message}`);
const collectionNotFound = (name: string) => new QdrantError(404, `Not found: Collection \`${name}\` doesn't exist!`);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const isCount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

// ---------------------------------------------------------------------------------------------
// Point ids

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function parsePointId(value: unknown): PointId {
  if (isCount(value)) return value;
  if (typeof value === "string" && UUID.test(value)) {
    const hex = value.replaceAll("-", "").toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  throw formatError(`value ${JSON.stringify(value)} is not a valid point ID, valid values are either an unsigned integer or a UUID`);
}

const idKey = (id: PointId): string => (typeof id === "number" ? `n${id}` : `u${id}`);

/** Qdrant's order of ids: integers first, ascending, then UUIDs. */
function compareIds(a: PointId, b: PointId): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// BM25 inference

function murmur3(text: string): number {
  const bytes = new TextEncoder().encode(text);
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const mix = (k: number): number => Math.imul(((Math.imul(k, c1) << 15) | (Math.imul(k, c1) >>> 17)), c2);
  let h = 0;
  const blocks = bytes.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    const k = (bytes[o] ?? 0) | ((bytes[o + 1] ?? 0) << 8) | ((bytes[o + 2] ?? 0) << 16) | ((bytes[o + 3] ?? 0) << 24);
    h ^= mix(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    const o = blocks * 4;
    let k = 0;
    if (rest >= 3) k ^= (bytes[o + 2] ?? 0) << 16;
    if (rest >= 2) k ^= (bytes[o + 1] ?? 0) << 8;
    k ^= bytes[o] ?? 0;
    h ^= mix(k);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** The sparse index of a word: murmur3 (seed 0) as i32, made positive. */
const tokenIndex = (word: string): number => Math.abs(murmur3(word));

function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0 && !STOPWORDS.has(word));
}

const isInferenceObject = (value: unknown): value is Record<string, unknown> =>
  isRecord(value) && "model" in value && ("text" in value || "image" in value || "object" in value);

// ---------------------------------------------------------------------------------------------
// Payload paths and filters

/** The values at a payload path: "a.b", "a[].b" or "a[0]"; arrays met on the way are walked. */
function valuesAt(payload: Record<string, unknown>, key: string): unknown[] {
  let current: unknown[] = [payload];
  for (const segment of key.split(".")) {
    const parsed = /^([^[\]]*)((?:\[\d*\])*)$/.exec(segment);
    if (!parsed) return [];
    const name = parsed[1] ?? "";
    const brackets = (parsed[2] ?? "").match(/\[\d*\]/g) ?? [];
    let next: unknown[] = [];
    const take = (value: unknown): void => {
      if (isRecord(value)) {
        if (Object.hasOwn(value, name)) next.push(value[name]);
      } else if (Array.isArray(value)) {
        for (const element of value) take(element);
      }
    };
    for (const value of current) {
      if (name === "") next.push(value);
      else take(value);
    }
    for (const bracket of brackets) {
      const index = bracket === "[]" ? undefined : Number(bracket.slice(1, -1));
      next = next.flatMap((value) => {
        if (!Array.isArray(value)) return [];
        if (index === undefined) return value as unknown[];
        return index < value.length ? [value[index]] : [];
      });
    }
    current = next;
  }
  return current;
}

const flatValues = (payload: Record<string, unknown>, key: string): unknown[] =>
  valuesAt(payload, key).flatMap((value) => (Array.isArray(value) ? (value as unknown[]) : [value]));

type RangeBounds = { gt?: number; gte?: number; lt?: number; lte?: number };

function parseRange(range: unknown, what: string): { bounds: RangeBounds; datetime: boolean } {
  if (!isRecord(range)) throw formatError(`${what} must be an object`);
  const bounds: RangeBounds = {};
  let datetime = false;
  for (const bound of ["gt", "gte", "lt", "lte"] as const) {
    const value = range[bound];
    if (value === undefined || value === null) continue;
    if (isNumber(value)) bounds[bound] = value;
    else if (typeof value === "string" && !Number.isNaN(Date.parse(value))) {
      bounds[bound] = Date.parse(value);
      datetime = true;
    } else throw formatError(`${what}.${bound}: expected a number or an RFC 3339 datetime, got ${JSON.stringify(value)}`);
  }
  return { bounds, datetime };
}

function inRange(value: number, { gt, gte, lt, lte }: RangeBounds): boolean {
  return (gt === undefined || value > gt) && (gte === undefined || value >= gte) && (lt === undefined || value < lt) && (lte === undefined || value <= lte);
}

type FilterContext = { textIndexed: (key: string) => boolean };

function clauses(value: unknown, context: FilterContext): Predicate[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  return list.map((condition) => compileCondition(condition, context));
}

function compileFilter(filter: unknown, context: FilterContext): Predicate {
  if (filter === undefined || filter === null) return () => true;
  if (!isRecord(filter)) throw formatError("invalid type for `filter`, expected struct Filter");
  const must = clauses(filter.must, context);
  const should = clauses(filter.should, context);
  const mustNot = clauses(filter.must_not, context);
  let minShould: { conditions: Predicate[]; minCount: number } | undefined;
  if (filter.min_should !== undefined && filter.min_should !== null) {
    const spec = filter.min_should;
    if (!isRecord(spec) || !isCount(spec.min_count)) throw formatError("`min_should` needs `conditions` and `min_count`");
    minShould = { conditions: clauses(spec.conditions, context), minCount: spec.min_count };
  }
  return (point) =>
    must.every((condition) => condition(point)) &&
    (should.length === 0 || should.some((condition) => condition(point))) &&
    !mustNot.some((condition) => condition(point)) &&
    (minShould === undefined || minShould.conditions.filter((condition) => condition(point)).length >= minShould.minCount);
}

function compileCondition(condition: unknown, context: FilterContext): Predicate {
  const untagged = formatError("data did not match any variant of untagged enum Condition");
  if (!isRecord(condition)) throw untagged;
  if ("must" in condition || "should" in condition || "must_not" in condition || "min_should" in condition) {
    return compileFilter(condition, context);
  }
  if ("is_null" in condition || "is_empty" in condition) {
    const spec = condition.is_null ?? condition.is_empty;
    if (!isRecord(spec) || typeof spec.key !== "string") throw untagged;
    const key = spec.key;
    if ("is_null" in condition) return (point) => valuesAt(point.payload, key).some((value) => value === null);
    return (point) => flatValues(point.payload, key).every((value) => value === null);
  }
  if ("has_id" in condition) {
    if (!Array.isArray(condition.has_id)) throw untagged;
    const ids = new Set((condition.has_id as unknown[]).map((id) => idKey(parsePointId(id))));
    return (point) => ids.has(idKey(point.id));
  }
  if ("has_vector" in condition) {
    const name = condition.has_vector;
    if (typeof name !== "string") throw untagged;
    return (point) => point.dense.has(name) || point.sparse.has(name);
  }
  if ("nested" in condition) {
    const spec = condition.nested;
    if (!isRecord(spec) || typeof spec.key !== "string") throw untagged;
    const key = spec.key;
    const inner = compileFilter(spec.filter, context);
    return (point) =>
      flatValues(point.payload, key).some(
        (element) => isRecord(element) && inner({ ...point, payload: element }),
      );
  }
  if (typeof condition.key !== "string") throw untagged;
  const key = condition.key;
  const tests: ((values: unknown[]) => boolean)[] = [];
  if (condition.match !== undefined) tests.push(compileMatch(condition.match, key, context));
  if (condition.range !== undefined) {
    const { bounds, datetime } = parseRange(condition.range, "range");
    tests.push((values) =>
      values.some((value) => {
        if (datetime) return typeof value === "string" && !Number.isNaN(Date.parse(value)) && inRange(Date.parse(value), bounds);
        return isNumber(value) && inRange(value, bounds);
      }),
    );
  }
  if (condition.values_count !== undefined) {
    const { bounds } = parseRange(condition.values_count, "values_count");
    tests.push((values) => inRange(values.length, bounds));
  }
  for (const unsupported of ["geo_bounding_box", "geo_radius", "geo_polygon", "datetime_range"]) {
    if (condition[unsupported] !== undefined) throw wrongInput(`the fake does not implement \`${unsupported}\` conditions`);
  }
  if (tests.length === 0) throw wrongInput(`At least one field condition must be specified for key ${key}`);
  return (point) => {
    const values = flatValues(point.payload, key);
    // Qdrant: a field condition other than is_null / is_empty never matches a missing key.
    if (values.length === 0) return false;
    return tests.every((test) => test(values));
  };
}

function compileMatch(match: unknown, key: string, context: FilterContext): (values: unknown[]) => boolean {
  if (!isRecord(match)) throw formatError("data did not match any variant of untagged enum Match");
  const scalar = (value: unknown): value is string | number | boolean =>
    typeof value === "string" || isNumber(value) || typeof value === "boolean";
  if ("value" in match) {
    const expected = match.value;
    if (!scalar(expected)) throw formatError("data did not match any variant of untagged enum ValueVariants");
    return (values) => values.some((value) => value === expected);
  }
  if ("any" in match || "except" in match) {
    const list = match.any ?? match.except;
    if (!Array.isArray(list) || !(list as unknown[]).every((value) => typeof value === "string" || isCount(value) || (isNumber(value) && Number.isInteger(value)))) {
      throw formatError("data did not match any variant of untagged enum AnyVariants");
    }
    const set = new Set<unknown>(list as unknown[]);
    if ("any" in match) return (values) => values.some((value) => set.has(value));
    return (values) => values.some((value) => !set.has(value));
  }
  if ("text" in match || "phrase" in match) {
    const text = match.text ?? match.phrase;
    if (typeof text !== "string") throw formatError("`text` must be a string");
    if ("text" in match && context.textIndexed(key)) {
      const wanted = tokenize(text);
      return (values) => values.some((value) => typeof value === "string" && wanted.every((word) => tokenize(value).includes(word)));
    }
    return (values) => values.some((value) => typeof value === "string" && value.includes(text));
  }
  throw formatError("data did not match any variant of untagged enum Match");
}

// ---------------------------------------------------------------------------------------------
// Output selection

function payloadSelector(spec: unknown, byDefault: boolean): ((payload: Record<string, unknown>) => Record<string, unknown>) | undefined {
  if (spec === undefined || spec === null) spec = byDefault;
  if (spec === false) return undefined;
  if (spec === true) return (payload) => structuredClone(payload);
  const keys = (list: unknown): string[] => {
    if (!Array.isArray(list) || !(list as unknown[]).every((key) => typeof key === "string")) {
      throw formatError("data did not match any variant of untagged enum WithPayloadInterface");
    }
    return list as string[];
  };
  const include = Array.isArray(spec) ? keys(spec) : isRecord(spec) && "include" in spec ? keys(spec.include) : undefined;
  if (include) {
    return (payload) => {
      const out: Record<string, unknown> = {};
      for (const key of include) copyPath(payload, out, key.split("."));
      return out;
    };
  }
  if (isRecord(spec) && "exclude" in spec) {
    const exclude = keys(spec.exclude);
    return (payload) => {
      const out = structuredClone(payload);
      for (const key of exclude) deletePath(out, key.split("."));
      return out;
    };
  }
  throw formatError("data did not match any variant of untagged enum WithPayloadInterface");
}

function copyPath(from: Record<string, unknown>, to: Record<string, unknown>, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined || !Object.hasOwn(from, head)) return;
  const value = from[head];
  if (rest.length === 0 || !isRecord(value)) {
    if (rest.length === 0) to[head] = structuredClone(value);
    return;
  }
  const target = isRecord(to[head]) ? (to[head] as Record<string, unknown>) : {};
  to[head] = target;
  copyPath(value, target, rest);
}

function deletePath(target: Record<string, unknown>, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) delete target[head];
  else if (isRecord(target[head])) deletePath(target[head] as Record<string, unknown>, rest);
}

function vectorSelector(spec: unknown): ((name: string) => boolean) | undefined {
  if (spec === undefined || spec === null || spec === false) return undefined;
  if (spec === true) return () => true;
  if (Array.isArray(spec) && (spec as unknown[]).every((name) => typeof name === "string")) {
    const names = new Set(spec as string[]);
    return (name) => names.has(name);
  }
  throw formatError("data did not match any variant of untagged enum WithVector");
}

const sparseToJson = (vector: SparseVector): { indices: number[]; values: number[] } => {
  const entries = [...vector.entries()].sort(([a], [b]) => a - b);
  return { indices: entries.map(([index]) => index), values: entries.map(([, value]) => value) };
};

// ---------------------------------------------------------------------------------------------
// The fake

export async function startFakeQdrant(options: FakeQdrantOptions = {}, port = 0): Promise<RunningFake> {
  const version = options.version ?? DEFAULT_VERSION;
  const serverBm25 = options.serverBm25 ?? inferenceStarts(version, options.inferenceAddress);
  const collections = new Map<string, Collection>();
  const faults: Fault[] = [];
  const requests: LoggedRequest[] = [];

  // --- helpers over one collection -----------------------------------------------------------

  function settle(collection: Collection, all = false): void {
    const now = Date.now();
    for (let next = collection.pending[0]; next && (all || next.dueAt <= now); next = collection.pending[0]) {
      collection.pending.shift();
      next.apply();
    }
  }

  function getCollection(name: string): Collection {
    const collection = collections.get(name);
    if (!collection) throw collectionNotFound(name);
    settle(collection);
    return collection;
  }

  function update(collection: Collection, wait: boolean, apply: () => void): UpdateResult {
    const operation_id = collection.nextOperationId++;
    if (wait) {
      settle(collection, true);
      apply();
      return { operation_id, status: "completed" };
    }
    collection.pending.push({ dueAt: Date.now() + UNSYNCED_DELAY_MS, apply });
    return { operation_id, status: "acknowledged" };
  }

  const filterContext = (collection: Collection): FilterContext => ({
    textIndexed: (key) => collection.payloadIndexes.get(key)?.data_type === "text",
  });

  function bm25(document: Record<string, unknown>, role: "document" | "query"): SparseVector {
    if (!serverBm25) throw new QdrantError(500, NOT_INITIALIZED);
    if (typeof document.model !== "string" || typeof document.text !== "string") {
      throw formatError("an inference object needs a string `text` and a string `model`");
    }
    if (document.model.toLowerCase() !== "qdrant/bm25") {
      throw wrongInput(`Model \`${document.model}\` is not supported for inference by this server, only \`qdrant/bm25\``);
    }
    const words = tokenize(document.text);
    const vector: SparseVector = new Map();
    if (role === "query") {
      for (const word of words) vector.set(tokenIndex(word), 1);
      return vector;
    }
    const settings = isRecord(document.options) ? document.options : {};
    const k = isNumber(settings.k) ? settings.k : BM25_DEFAULTS.k;
    const b = isNumber(settings.b) ? settings.b : BM25_DEFAULTS.b;
    const avgLen = isNumber(settings.avg_len) ? settings.avg_len : BM25_DEFAULTS.avgLen;
    const frequencies = new Map<number, number>();
    for (const word of words) frequencies.set(tokenIndex(word), (frequencies.get(tokenIndex(word)) ?? 0) + 1);
    for (const [index, tf] of frequencies) {
      vector.set(index, (tf * (k + 1)) / (tf + k * (1 - b + (b * words.length) / avgLen)));
    }
    return vector;
  }

  function parseSparse(value: Record<string, unknown>, where: string): SparseVector {
    const { indices, values } = value;
    if (!Array.isArray(indices) || !Array.isArray(values)) throw formatError(`${where}: a sparse vector needs \`indices\` and \`values\` arrays`);
    if (indices.length !== values.length) throw wrongInput(`${where}: sparse vector indices and values must have the same length`);
    const vector: SparseVector = new Map();
    (indices as unknown[]).forEach((index, i) => {
      const weight = (values as unknown[])[i];
      if (!isCount(index) || index > 0xffffffff) throw formatError(`${where}: sparse vector index ${JSON.stringify(index)} is not a u32`);
      if (!isNumber(weight)) throw formatError(`${where}: sparse vector value ${JSON.stringify(weight)} is not a number`);
      if (vector.has(index)) throw wrongInput(`${where}: sparse vector indices must be unique, ${index} repeats`);
      vector.set(index, weight);
    });
    return vector;
  }

  function parseDense(collection: Collection, name: string, value: unknown[], where: string): number[] {
    const config = collection.dense.get(name);
    if (!config) throw wrongInput(`Not existing vector name error: ${name}`);
    if (value.length > 0 && Array.isArray(value[0])) throw wrongInput(`${where}: multivectors are not implemented by this fake`);
    if (!value.every(isNumber)) throw formatError(`${where}: a dense vector must be an array of numbers`);
    const numbers = value as number[];
    if (numbers.length !== config.size) {
      throw wrongInput(`Vector dimension error: expected dim: ${config.size}, got ${numbers.length}`);
    }
    if (config.distance !== "Cosine") return [...numbers];
    const norm = Math.hypot(...numbers);
    return norm === 0 ? [...numbers] : numbers.map((x) => x / norm);
  }

  function parseVectors(collection: Collection, vector: unknown, where: string): Pick<StoredPoint, "dense" | "sparse"> {
    const dense = new Map<string, number[]>();
    const sparse = new Map<string, SparseVector>();
    if (vector === undefined || vector === null) throw formatError(`${where}: missing field \`vector\``);
    const entries: [string, unknown][] = Array.isArray(vector) ? [["", vector]] : isRecord(vector) ? Object.entries(vector) : [];
    if (!Array.isArray(vector) && !isRecord(vector)) throw formatError(`${where}: data did not match any variant of untagged enum VectorStruct`);
    for (const [name, value] of entries) {
      const at = `${where}.vector${name === "" ? "" : `.${name}`}`;
      if (collection.dense.has(name)) {
        if (Array.isArray(value)) dense.set(name, parseDense(collection, name, value as unknown[], at));
        else if (isInferenceObject(value)) throw wrongInput(`${at}: \`${String(value.model)}\` does not produce dense vectors`);
        else throw wrongInput("Conversion between sparse and regular vectors failed");
      } else if (collection.sparse.has(name)) {
        if (isInferenceObject(value)) {
          if (!("text" in value)) throw wrongInput(`${at}: only text inference is implemented`);
          sparse.set(name, bm25(value, "document"));
        } else if (isRecord(value)) sparse.set(name, parseSparse(value, at));
        else throw wrongInput("Conversion between sparse and regular vectors failed");
      } else {
        throw wrongInput(`Not existing vector name error: ${name}`);
      }
    }
    return { dense, sparse };
  }

  function parsePayload(payload: unknown, where: string): Record<string, unknown> {
    if (payload === undefined || payload === null) return {};
    if (!isRecord(payload)) throw formatError(`${where}.payload: invalid type, expected a map`);
    return structuredClone(payload);
  }

  function parsePoints(collection: Collection, body: Record<string, unknown>): StoredPoint[] {
    if (Array.isArray(body.points)) {
      return (body.points as unknown[]).map((point, i) => {
        const where = `points[${i}]`;
        if (!isRecord(point)) throw formatError(`${where}: invalid type, expected struct PointStruct`);
        if (point.id === undefined) throw formatError(`${where}: missing field \`id\``);
        return { id: parsePointId(point.id), ...parseVectors(collection, point.vector, where), payload: parsePayload(point.payload, where) };
      });
    }
    if (isRecord(body.batch)) {
      const { ids, vectors, payloads } = body.batch;
      if (!Array.isArray(ids)) throw formatError("batch: missing field `ids`");
      const vectorAt = (i: number): unknown => {
        if (Array.isArray(vectors)) return (vectors as unknown[])[i];
        if (isRecord(vectors)) {
          return Object.fromEntries(Object.entries(vectors).map(([name, list]) => [name, Array.isArray(list) ? (list as unknown[])[i] : undefined]));
        }
        return undefined;
      };
      return (ids as unknown[]).map((id, i) => ({
        id: parsePointId(id),
        ...parseVectors(collection, vectorAt(i), `batch[${i}]`),
        payload: parsePayload(Array.isArray(payloads) ? (payloads as unknown[])[i] : undefined, `batch[${i}]`),
      }));
    }
    throw formatError("data did not match any variant of untagged enum PointInsertOperations");
  }

  // --- scoring ---------------------------------------------------------------------------------

  type Scorer = { score: (point: StoredPoint) => number | undefined; descending: boolean };

  function sparseScorer(collection: Collection, name: string, query: SparseVector): Scorer {
    const config = collection.sparse.get(name);
    const weights = new Map(query);
    if (config?.idf) {
      const withVector = [...collection.points.values()].filter((point) => point.sparse.has(name));
      for (const index of weights.keys()) {
        const n = withVector.filter((point) => (point.sparse.get(name)?.get(index) ?? 0) !== 0).length;
        const idf = Math.log(1 + (withVector.length - n + 0.5) / (n + 0.5));
        weights.set(index, (weights.get(index) ?? 0) * idf);
      }
    }
    return {
      descending: true,
      score: (point) => {
        const vector = point.sparse.get(name);
        if (!vector) return undefined;
        let score = 0;
        let shared = false;
        for (const [index, weight] of weights) {
          const value = vector.get(index);
          if (value === undefined) continue;
          shared = true;
          score += weight * value;
        }
        return shared ? score : undefined;
      },
    };
  }

  function makeScorer(collection: Collection, query: unknown, using: unknown): Scorer {
    if (using !== undefined && using !== null && typeof using !== "string") throw formatError("`using` must be a string");
    const name = typeof using === "string" ? using : "";
    const input = isRecord(query) && "nearest" in query ? query.nearest : query;
    const unknownName = () => wrongInput(`Not existing vector name error: ${name}`);
    if (Array.isArray(input)) {
      if (!collection.dense.has(name)) throw collection.sparse.has(name) ? wrongInput("Conversion between sparse and regular vectors failed") : unknownName();
      const vector = parseDense(collection, name, input as unknown[], "query");
      const { distance } = collection.dense.get(name) as DenseConfig;
      const score = (stored: number[]): number => {
        switch (distance) {
          case "Cosine":
          case "Dot":
            return stored.reduce((sum, x, i) => sum + x * (vector[i] ?? 0), 0);
          case "Euclid":
            return Math.sqrt(stored.reduce((sum, x, i) => sum + (x - (vector[i] ?? 0)) ** 2, 0));
          case "Manhattan":
            return stored.reduce((sum, x, i) => sum + Math.abs(x - (vector[i] ?? 0)), 0);
        }
      };
      return {
        descending: distance === "Cosine" || distance === "Dot",
        score: (point) => {
          const stored = point.dense.get(name);
          return stored ? score(stored) : undefined;
        },
      };
    }
    if (isInferenceObject(input) || (isRecord(input) && ("indices" in input || "values" in input))) {
      if (!collection.sparse.has(name)) {
        throw collection.dense.has(name) ? wrongInput("Conversion between sparse and regular vectors failed") : unknownName();
      }
      if (isInferenceObject(input) && !("text" in input)) throw wrongInput("only text inference is implemented");
      const vector = isInferenceObject(input) ? bm25(input, "query") : parseSparse(input, "query");
      return sparseScorer(collection, name, vector);
    }
    if (typeof input === "number" || typeof input === "string") throw wrongInput("queries by point id are not implemented by this fake");
    if (isRecord(input)) {
      const kind = Object.keys(input)[0] ?? "";
      throw wrongInput(`\`${kind}\` queries are not implemented by this fake`);
    }
    throw formatError("data did not match any variant of untagged enum QueryInterface");
  }

  function fuse(lists: Scored[][], query: Record<string, unknown>): Scored[] {
    let k = DEFAULT_RRF_K;
    let weights: number[] | undefined;
    if ("fusion" in query) {
      if (query.fusion === "dbsf") throw wrongInput("fusion `dbsf` is not implemented by this fake");
      if (query.fusion !== "rrf") throw formatError(`unknown variant \`${String(query.fusion)}\`, expected \`rrf\` or \`dbsf\``);
    } else {
      const spec = query.rrf ?? {};
      if (!isRecord(spec)) throw formatError("`rrf` must be an object");
      if (spec.k !== undefined && spec.k !== null) {
        if (!isCount(spec.k) || spec.k === 0) throw formatError("`rrf.k` must be a positive integer");
        k = spec.k;
      }
      if (spec.weights !== undefined && spec.weights !== null) {
        if (!Array.isArray(spec.weights) || !(spec.weights as unknown[]).every((w) => isNumber(w) && w > 0)) {
          throw formatError("`rrf.weights` must be positive numbers");
        }
        weights = spec.weights as number[];
        if (weights.length !== lists.length) throw wrongInput(`RRF weights count (${weights.length}) must match prefetches count (${lists.length})`);
      }
    }
    const fused = new Map<string, Scored>();
    lists.forEach((list, which) => {
      const weight = weights?.[which] ?? 1;
      list.forEach(({ point }, position) => {
        const contribution = 1 / ((position + 1) / weight + k - 1);
        const entry = fused.get(idKey(point.id));
        if (entry) entry.score += contribution;
        else fused.set(idKey(point.id), { point, score: contribution });
      });
    });
    return [...fused.values()].sort((a, b) => b.score - a.score);
  }

  function readCount(value: unknown, name: string, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    if (!isCount(value)) throw formatError(`\`${name}\` must be an unsigned integer`);
    return value;
  }

  function runQuery(collection: Collection, request: unknown, inherited: Predicate | undefined): Scored[] {
    if (!isRecord(request)) throw formatError("invalid type, expected struct QueryRequest");
    const own = compileFilter(request.filter, filterContext(collection));
    const filter: Predicate = inherited ? (point) => own(point) && inherited(point) : own;
    const limit = readCount(request.limit, "limit", DEFAULT_LIMIT);
    const offset = readCount(request.offset, "offset", 0);
    const prefetch = request.prefetch;
    const prefetches = prefetch === undefined || prefetch === null ? [] : Array.isArray(prefetch) ? (prefetch as unknown[]) : [prefetch];
    const candidates = prefetches.length > 0 ? prefetches.map((sub) => runQuery(collection, sub, filter)) : undefined;
    const query = request.query;
    let results: Scored[];
    let descending = true;
    if (isRecord(query) && ("fusion" in query || "rrf" in query)) {
      if (!candidates) throw wrongInput("a fusion query needs prefetches");
      results = fuse(candidates, query);
    } else if (query === undefined || query === null) {
      if (candidates) {
        const seen = new Map<string, Scored>();
        for (const list of candidates) for (const scored of list) if (!seen.has(idKey(scored.point.id))) seen.set(idKey(scored.point.id), scored);
        results = [...seen.values()];
      } else {
        results = [...collection.points.values()]
          .filter(filter)
          .sort((a, b) => compareIds(a.id, b.id))
          .map((point) => ({ point, score: 0 }));
      }
    } else {
      const scorer = makeScorer(collection, query, request.using);
      descending = scorer.descending;
      const pool = candidates
        ? [...new Map(candidates.flat().map(({ point }) => [idKey(point.id), point])).values()]
        : [...collection.points.values()].filter(filter);
      results = [];
      for (const point of pool) {
        const score = scorer.score(point);
        if (score !== undefined) results.push({ point, score });
      }
      results.sort((a, b) => (descending ? b.score - a.score : a.score - b.score) || compareIds(a.point.id, b.point.id));
    }
    const threshold = request.score_threshold;
    if (threshold !== undefined && threshold !== null) {
      if (!isNumber(threshold)) throw formatError("`score_threshold` must be a number");
      results = results.filter(({ score }) => (descending ? score >= threshold : score <= threshold));
    }
    return results.slice(offset, offset + limit);
  }

  function renderPoint(
    collection: Collection,
    point: StoredPoint,
    payload: ((payload: Record<string, unknown>) => Record<string, unknown>) | undefined,
    vectors: ((name: string) => boolean) | undefined,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> {
    const out: Record<string, unknown> = { id: point.id, ...extra };
    if (payload) out.payload = payload(point.payload);
    if (vectors) {
      if (collection.unnamed && collection.sparse.size === 0) {
        out.vector = vectors("") ? (point.dense.get("") ?? null) : {};
      } else {
        const selected: Record<string, unknown> = {};
        for (const [name, vector] of point.dense) if (vectors(name)) selected[name] = [...vector];
        for (const [name, vector] of point.sparse) if (vectors(name)) selected[name] = sparseToJson(vector);
        out.vector = selected;
      }
    }
    return out;
  }

  function queryResponse(collection: Collection, request: unknown): { points: Record<string, unknown>[] } {
    const results = runQuery(collection, request, undefined);
    const body = request as Record<string, unknown>;
    const payload = payloadSelector(body.with_payload, false);
    const vectors = vectorSelector(body.with_vector);
    return {
      points: results.map(({ point, score }) => renderPoint(collection, point, payload, vectors, { version: 0, score })),
    };
  }

  // --- collections -----------------------------------------------------------------------------

  function createCollection(name: string, body: unknown): boolean {
    if (collections.has(name)) throw new QdrantError(409, `Wrong input: Collection \`${name}\` already exists!`);
    if (!isRecord(body)) throw formatError("EOF while parsing a value at line 1 column 0");
    const dense = new Map<string, DenseConfig>();
    const sparse = new Map<string, { idf: boolean }>();
    const parseParams = (params: unknown, where: string): DenseConfig => {
      if (!isRecord(params)) throw formatError(`${where}: invalid type, expected struct VectorParams`);
      if (params.size === undefined) throw formatError(`${where}: missing field \`size\``);
      if (!isCount(params.size) || params.size === 0) throw formatError(`${where}.size: value ${JSON.stringify(params.size)} invalid, must be 1 or larger`);
      if (!DISTANCES.includes(params.distance as Distance)) {
        throw formatError(`${where}.distance: unknown variant \`${String(params.distance)}\`, expected one of ${DISTANCES.map((d) => `\`${d}\``).join(", ")}`);
      }
      return { size: params.size, distance: params.distance as Distance };
    };
    const vectors = body.vectors;
    let unnamed = false;
    if (isRecord(vectors) && "size" in vectors) {
      dense.set("", parseParams(vectors, "vectors"));
      unnamed = true;
    } else if (isRecord(vectors)) {
      for (const [vectorName, params] of Object.entries(vectors)) dense.set(vectorName, parseParams(params, `vectors.${vectorName}`));
    } else if (vectors !== undefined && vectors !== null) {
      throw formatError("vectors: data did not match any variant of untagged enum VectorsConfig");
    }
    const sparseVectors = body.sparse_vectors;
    if (isRecord(sparseVectors)) {
      for (const [vectorName, params] of Object.entries(sparseVectors)) {
        if (params !== null && !isRecord(params)) throw formatError(`sparse_vectors.${vectorName}: invalid type, expected struct SparseVectorParams`);
        const modifier = params?.modifier;
        if (modifier !== undefined && modifier !== null && modifier !== "idf" && modifier !== "none") {
          throw formatError(`sparse_vectors.${vectorName}.modifier: unknown variant \`${String(modifier)}\`, expected \`none\` or \`idf\``);
        }
        if (dense.has(vectorName)) throw wrongInput(`Vector name \`${vectorName}\` is used by a dense and a sparse vector`);
        sparse.set(vectorName, { idf: modifier === "idf" });
      }
    } else if (sparseVectors !== undefined && sparseVectors !== null) {
      throw formatError("sparse_vectors: invalid type, expected a map");
    }
    collections.set(name, {
      createdVectors: structuredClone(vectors ?? {}),
      createdSparse: sparseVectors === undefined || sparseVectors === null ? undefined : structuredClone(sparseVectors),
      dense,
      unnamed,
      sparse,
      points: new Map(),
      payloadIndexes: new Map(),
      nextOperationId: 0,
      pending: [],
    });
    return true;
  }

  function collectionInfo(collection: Collection): Record<string, unknown> {
    const payload_schema: Record<string, unknown> = {};
    for (const [field, index] of collection.payloadIndexes) {
      let points = 0;
      for (const point of collection.points.values()) {
        if (flatValues(point.payload, field).some((value) => value !== null)) points++;
      }
      payload_schema[field] = { ...index, points };
    }
    return {
      status: "green",
      optimizer_status: "ok",
      indexed_vectors_count: 0,
      points_count: collection.points.size,
      segments_count: 1,
      config: {
        params: {
          vectors: structuredClone(collection.createdVectors),
          shard_number: 1,
          replication_factor: 1,
          write_consistency_factor: 1,
          on_disk_payload: true,
          ...(collection.createdSparse === undefined ? {} : { sparse_vectors: structuredClone(collection.createdSparse) }),
        },
        hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
        optimizer_config: {
          deleted_threshold: 0.2,
          vacuum_min_vector_number: 1000,
          default_segment_number: 0,
          max_segment_size: null,
          memmap_threshold: null,
          indexing_threshold: 10000,
          flush_interval_sec: 5,
          max_optimization_threads: null,
        },
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 },
        quantization_config: null,
        strict_mode_config: { enabled: false },
      },
      payload_schema,
    };
  }

  function createIndex(collection: Collection, body: unknown, wait: boolean): UpdateResult {
    if (!isRecord(body)) throw formatError("EOF while parsing a value at line 1 column 0");
    const field = body.field_name;
    if (typeof field !== "string" || field.length === 0) throw formatError("missing field `field_name`");
    let schema = body.field_schema;
    let index: PayloadIndex;
    if (schema === undefined || schema === null) {
      const sample = [...collection.points.values()].flatMap((point) => flatValues(point.payload, field)).find((value) => value !== null);
      if (sample === undefined) throw wrongInput(`Can't infer field_schema for field ${field}: no points have it`);
      schema = typeof sample === "string" ? "keyword" : typeof sample === "boolean" ? "bool" : Number.isInteger(sample) ? "integer" : "float";
    }
    if (typeof schema === "string") {
      if (!PAYLOAD_TYPES.includes(schema as (typeof PAYLOAD_TYPES)[number])) {
        throw formatError(`field_schema: unknown variant \`${schema}\`, expected one of ${PAYLOAD_TYPES.map((t) => `\`${t}\``).join(", ")}`);
      }
      index = { data_type: schema };
    } else if (isRecord(schema) && PAYLOAD_TYPES.includes(schema.type as (typeof PAYLOAD_TYPES)[number])) {
      index = { data_type: schema.type as string, params: structuredClone(schema) };
    } else {
      throw formatError("field_schema: data did not match any variant of untagged enum PayloadFieldSchema");
    }
    return update(collection, wait, () => collection.payloadIndexes.set(field, index));
  }

  // --- routing ---------------------------------------------------------------------------------

  function api(request: FakeRequest): unknown {
    const { method, url, body } = request;
    if (typeof body === "string") throw formatError(`expected value at line 1 column 1`);
    const wait = url.searchParams.get("wait") === "true";
    const segments = url.pathname.split("/").slice(1).map(decodeURIComponent);
    const route = `${method} /${segments.map((segment, i) => (i === 1 && segments[0] === "collections" ? ":c" : segment)).join("/")}`;
    const name = segments[0] === "collections" ? (segments[1] ?? "") : "";

    switch (route) {
      case "GET /collections":
        return { collections: [...collections.keys()].map((collection) => ({ name: collection })) };
      case "GET /collections/:c":
        return collectionInfo(getCollection(name));
      case "GET /collections/:c/exists":
        return { exists: collections.has(name) };
      case "PUT /collections/:c":
        return createCollection(name, body);
      case "DELETE /collections/:c":
        return collections.delete(name);
      case "PUT /collections/:c/index":
        return createIndex(getCollection(name), body, wait);
      case "PUT /collections/:c/points": {
        const collection = getCollection(name);
        if (!isRecord(body)) throw formatError("EOF while parsing a value at line 1 column 0");
        const points = parsePoints(collection, body);
        return update(collection, wait, () => {
          for (const point of points) collection.points.set(idKey(point.id), point);
        });
      }
      case "POST /collections/:c/points": {
        const collection = getCollection(name);
        if (!isRecord(body) || !Array.isArray(body.ids)) throw formatError("missing field `ids`");
        const payload = payloadSelector(body.with_payload, true);
        const vectors = vectorSelector(body.with_vector);
        return (body.ids as unknown[])
          .map((id) => collection.points.get(idKey(parsePointId(id))))
          .filter((point): point is StoredPoint => point !== undefined)
          .map((point) => renderPoint(collection, point, payload, vectors));
      }
      case "POST /collections/:c/points/delete": {
        const collection = getCollection(name);
        if (!isRecord(body)) throw formatError("EOF while parsing a value at line 1 column 0");
        if (Array.isArray(body.points)) {
          const keys = (body.points as unknown[]).map((id) => idKey(parsePointId(id)));
          return update(collection, wait, () => {
            for (const key of keys) collection.points.delete(key);
          });
        }
        if (isRecord(body.filter)) {
          const filter = compileFilter(body.filter, filterContext(collection));
          return update(collection, wait, () => {
            for (const [key, point] of collection.points) if (filter(point)) collection.points.delete(key);
          });
        }
        throw formatError("data did not match any variant of untagged enum PointsSelector");
      }
      case "POST /collections/:c/points/query":
        return queryResponse(getCollection(name), body ?? {});
      case "POST /collections/:c/points/query/batch": {
        const collection = getCollection(name);
        if (!isRecord(body) || !Array.isArray(body.searches)) throw formatError("missing field `searches`");
        return (body.searches as unknown[]).map((search) => queryResponse(collection, search));
      }
      case "POST /collections/:c/points/scroll": {
        const collection = getCollection(name);
        const request = body ?? {};
        if (!isRecord(request)) throw formatError("invalid type, expected struct ScrollRequest");
        const filter = compileFilter(request.filter, filterContext(collection));
        const limit = readCount(request.limit, "limit", DEFAULT_LIMIT);
        const from = request.offset === undefined || request.offset === null ? undefined : parsePointId(request.offset);
        const matching = [...collection.points.values()]
          .filter((point) => filter(point) && (from === undefined || compareIds(point.id, from) >= 0))
          .sort((a, b) => compareIds(a.id, b.id));
        const payload = payloadSelector(request.with_payload, true);
        const vectors = vectorSelector(request.with_vector);
        return {
          points: matching.slice(0, limit).map((point) => renderPoint(collection, point, payload, vectors)),
          next_page_offset: matching[limit]?.id ?? null,
        };
      }
      case "POST /collections/:c/points/count": {
        const collection = getCollection(name);
        const request = body ?? {};
        if (!isRecord(request)) throw formatError("invalid type, expected struct CountRequest");
        const filter = compileFilter(request.filter, filterContext(collection));
        return { count: [...collection.points.values()].filter(filter).length };
      }
    }

    if (segments[0] === "collections" && segments.length === 4) {
      if (method === "GET" && segments[2] === "points") {
        const collection = getCollection(name);
        const raw = segments[3] ?? "";
        const id = parsePointId(/^\d+$/.test(raw) ? Number(raw) : raw);
        const point = collection.points.get(idKey(id));
        if (!point) throw new QdrantError(404, `Not found: No point with id ${raw} found`);
        return renderPoint(collection, point, payloadSelector(true, true), () => true);
      }
      if (method === "DELETE" && segments[2] === "index") {
        const collection = getCollection(name);
        const field = segments[3] ?? "";
        return update(collection, wait, () => collection.payloadIndexes.delete(field));
      }
    }
    return undefined;
  }

  // --- control endpoints -------------------------------------------------------------------------

  const collectionOf = (pathname: string): string | undefined => {
    const match = /^\/collections\/([^/]+)/.exec(pathname);
    return match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
  };

  function control(request: FakeRequest): FakeResponse {
    const { method, url, body } = request;
    const collection = url.searchParams.get("collection");
    if (url.pathname === "/__fake/faults" && method === "POST") {
      if (!isRecord(body) || !isCount(body.status) || body.status < 400 || body.status > 599) {
        return { status: 400, body: { error: "expected {collection?, status: 4xx|5xx, retryAfter?, count?}" } };
      }
      if (body.collection !== undefined && typeof body.collection !== "string") return { status: 400, body: { error: "collection must be a string" } };
      faults.push({
        ...(typeof body.collection === "string" ? { collection: body.collection } : {}),
        status: body.status,
        retryAfter: isNumber(body.retryAfter) ? body.retryAfter : 1,
        remaining: isCount(body.count) ? body.count : 1,
      });
      return { status: 204 };
    }
    if (url.pathname === "/__fake/faults" && method === "DELETE") {
      for (let i = faults.length - 1; i >= 0; i--) if (collection === null || faults[i]?.collection === collection) faults.splice(i, 1);
      return { status: 204 };
    }
    if (url.pathname === "/__fake/requests" && method === "GET") {
      return { status: 200, body: requests.filter((entry) => collection === null || collectionOf(entry.path) === collection) };
    }
    if (url.pathname === "/__fake/requests" && method === "DELETE") {
      for (let i = requests.length - 1; i >= 0; i--) {
        const entry = requests[i];
        if (entry && (collection === null || collectionOf(entry.path) === collection)) requests.splice(i, 1);
      }
      return { status: 204 };
    }
    return { status: 404, body: { error: `no fake control endpoint ${method} ${url.pathname}` } };
  }

  function faultResponse(fault: Fault, time: number): FakeResponse {
    const messages: Record<number, string> = {
      429: `Rate limiting exceeded: Too many requests, retry after ${fault.retryAfter}s`,
      500: "Service internal error: fault injected by the fake",
      503: "Service unavailable: fault injected by the fake",
    };
    return {
      status: fault.status,
      headers: fault.status === 429 ? { "retry-after": String(fault.retryAfter) } : {},
      body: { status: { error: messages[fault.status] ?? `fault injected by the fake (${fault.status})` }, time },
    };
  }

  return startFake((request) => {
    const started = performance.now();
    const elapsed = () => Math.max((performance.now() - started) / 1000, 0.000001);
    const { method, url, headers } = request;
    if (url.pathname.startsWith("/__fake/")) return control(request);

    requests.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body: request.body });

    if (["/healthz", "/livez", "/readyz"].includes(url.pathname) && method === "GET") {
      return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: "healthz check passed" };
    }

    if (options.apiKey !== undefined) {
      const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
      const key = header(headers["api-key"]) ?? header(headers.authorization)?.replace(/^Bearer /, "");
      const hasBearer = header(headers.authorization)?.startsWith("Bearer ") ?? false;
      const provided = header(headers["api-key"]) !== undefined || hasBearer ? key : undefined;
      if (provided !== options.apiKey) {
        return {
          status: 401,
          headers: { "content-type": "text/plain; charset=utf-8" },
          body: provided === undefined ? "Must provide an API key or an Authorization bearer token" : "Invalid API key or JWT",
        };
      }
    }

    const target = collectionOf(url.pathname);
    const fault = faults.find((candidate) => candidate.remaining > 0 && (candidate.collection === undefined || candidate.collection === target));
    if (fault) {
      fault.remaining--;
      if (fault.remaining === 0) faults.splice(faults.indexOf(fault), 1);
      return faultResponse(fault, elapsed());
    }

    if (url.pathname === "/" && method === "GET") {
      return { status: 200, body: { title: "qdrant - vector search engine", version, commit: FAKE_COMMIT } };
    }

    try {
      const result = api(request);
      if (result === undefined) return { status: 404 };
      return { status: 200, body: { result, status: "ok", time: elapsed() } };
    } catch (error) {
      if (error instanceof QdrantError) return { status: error.status, body: { status: { error: error.message }, time: elapsed() } };
      throw error;
    }
  }, port);
}
