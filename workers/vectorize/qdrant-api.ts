// A thin typed client for the parts of Qdrant's REST API we use. Not @qdrant/js-client-rest:
// it reads a 429's `Retry-After: 42` as 4 seconds and adds :6333 to a URL without a port (see
// test/node/qdrant-client-decision.test.ts and the README's dependency table). Here the URL is
// used as given, the key goes in `api-key`, every response is checked with zod, and failures
// become QdrantApiError (status and Qdrant's error text, which names collections and fields,
// never payload values) or ProviderRateLimited with the real Retry-After.
import { z } from "zod";
import { parseRetryAfter, ProviderRateLimited } from "../http/provider-errors";

export class QdrantApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`qdrant answered ${status}: ${detail.slice(0, 160)}`);
    this.name = "QdrantApiError";
  }
}

const envelope = <S extends z.ZodType>(result: S) => z.object({ result, status: z.literal("ok") }).loose();
const errorBody = z.object({ status: z.object({ error: z.string() }).loose() }).loose();
const operationResult = z.object({ operation_id: z.number().nullish(), status: z.string() }).loose();

const collectionInfo = z
  .object({
    status: z.string(),
    points_count: z.number().nullish(),
    config: z.object({
      params: z
        .object({
          vectors: z.unknown(),
          sparse_vectors: z.record(z.string(), z.unknown()).nullish(),
        })
        .loose(),
    }).loose(),
  })
  .loose();

export type QdrantCollection = z.infer<typeof collectionInfo>;

const scoredPoint = z.object({ id: z.union([z.string(), z.number()]), score: z.number(), payload: z.record(z.string(), z.unknown()).nullish() }).loose();
export type ScoredPoint = z.infer<typeof scoredPoint>;

export type QdrantSettings = { url: string; apiKey: string | null };

/** Qdrant filter JSON (must / should / must_not of conditions). */
export type QdrantFilter = { must?: unknown[]; should?: unknown[]; must_not?: unknown[] };

/**
 * Qdrant's answer to an inference object (`{"text","model":"qdrant/bm25"}`) when its inference
 * service did not start: 500 `Service internal error: InferenceService is not initialized. ...`
 * (`StorageError::ServiceError`, src/common/inference/infer_processing.rs). Up to 1.15.2 the
 * service starts only with `inference.address` configured; from 1.15.3 always, unless the address
 * is set but empty (then its init fails the same way). Checked against qdrant/qdrant v1.15.2,
 * v1.15.3 and v1.16.0 sources, 2026-12-06.
 */
export function isInferenceUnavailable(error: unknown): boolean {
  return error instanceof QdrantApiError && error.status === 500 && error.detail.includes("InferenceService is not initialized");
}

export class QdrantApi {
  constructor(private readonly settings: QdrantSettings) {}

  private async call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S> | null> {
    const response = await fetch(`${this.settings.url.replace(/\/+$/, "")}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(this.settings.apiKey ? { "api-key": this.settings.apiKey } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const json: unknown = await response.json().catch(() => null);
    if (response.status === 429) throw new ProviderRateLimited("qdrant", parseRetryAfter(response.headers.get("retry-after")));
    if (response.status === 404) return null;
    if (!response.ok) {
      const error = errorBody.safeParse(json);
      throw new QdrantApiError(response.status, error.success ? error.data.status.error : response.statusText || "error");
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new QdrantApiError(response.status, "unexpected response shape");
    return parsed.data;
  }

  async version(): Promise<string | null> {
    const info = await this.call("GET", "/", z.object({ version: z.string() }).loose());
    return info?.version ?? null;
  }

  /** The collection, or null when it does not exist. */
  async getCollection(name: string): Promise<QdrantCollection | null> {
    return (await this.call("GET", `/collections/${encodeURIComponent(name)}`, envelope(collectionInfo)))?.result ?? null;
  }

  /** Creates the collection; false when it exists already (another isolate was first). */
  async createCollection(name: string, config: { vectors: Record<string, { size: number; distance: "Cosine" }>; sparse_vectors?: Record<string, { modifier: "idf" }> }): Promise<boolean> {
    try {
      await this.call("PUT", `/collections/${encodeURIComponent(name)}`, envelope(z.boolean()), config);
      return true;
    } catch (error) {
      if (error instanceof QdrantApiError && error.status === 409) return false;
      throw error;
    }
  }

  async createPayloadIndex(name: string, field: string, schema: "keyword" | "integer"): Promise<void> {
    await this.call("PUT", `/collections/${encodeURIComponent(name)}/index?wait=true`, envelope(operationResult), { field_name: field, field_schema: schema });
  }

  /** Upserts and waits until the points are searchable. */
  async upsert(name: string, points: readonly { id: string; vector: Record<string, unknown>; payload: Record<string, unknown> }[]): Promise<void> {
    const result = await this.call("PUT", `/collections/${encodeURIComponent(name)}/points?wait=true`, envelope(operationResult), { points });
    if (result === null) throw new QdrantApiError(404, `collection ${name} not found`);
  }

  /** Deletes the points `filter` selects and waits; a missing collection has nothing to delete. */
  async deleteByFilter(name: string, filter: QdrantFilter): Promise<void> {
    await this.call("POST", `/collections/${encodeURIComponent(name)}/points/delete?wait=true`, envelope(operationResult), { filter });
  }

  /** The Query API; a missing collection answers no points. */
  async query(name: string, request: Record<string, unknown>): Promise<ScoredPoint[]> {
    const result = await this.call("POST", `/collections/${encodeURIComponent(name)}/points/query`, envelope(z.object({ points: z.array(scoredPoint) }).loose()), request);
    return result?.result.points ?? [];
  }

  /**
   * Several Query API requests in one call (`POST .../points/query/batch` `{searches}`, answering
   * one `{points}` per search, in order; since 1.10). A missing collection answers no points.
   * Checked against qdrant/qdrant v1.19.0 docs/redoc/master/openapi.json (QueryRequestBatch),
   * 2026-12-06.
   */
  async queryBatch(name: string, searches: readonly Record<string, unknown>[]): Promise<ScoredPoint[][]> {
    const result = await this.call(
      "POST",
      `/collections/${encodeURIComponent(name)}/points/query/batch`,
      envelope(z.array(z.object({ points: z.array(scoredPoint) }).loose())),
      { searches },
    );
    if (result && result.result.length !== searches.length) throw new QdrantApiError(200, "unexpected response shape");
    return result?.result.map((response) => response.points) ?? searches.map(() => []);
  }
}
