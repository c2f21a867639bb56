// A typed client for the Hetzner Cloud API, shared by the Worker (backup servers) and the
// `infra` CLI (the Swarm). fetch + zod on every response; Bearer token; base URL configurable
// (HCLOUD_ENDPOINT, including /v1); pagination through meta.pagination; the error envelope
// {"error":{"code","message"}} as HetznerApiError with its code; the rate limit read from
// RateLimit-* headers, with a 429 waited out until RateLimit-Reset when that is short; actions
// polled several ids per request. Runs in workerd and in Node (fetch only).
import { z } from "zod";

export const DEFAULT_HCLOUD_ENDPOINT = "https://api.hetzner.cloud/v1";

/** Codes the docs name; any other string is kept as it came. */
export type HetznerErrorCode =
  | "unauthorized"
  | "forbidden"
  | "invalid_input"
  | "json_error"
  | "locked"
  | "not_found"
  | "rate_limit_exceeded"
  | "resource_limit_exceeded"
  | "resource_unavailable"
  | "placement_error"
  | "service_error"
  | "uniqueness_error"
  | "protected"
  | "maintenance"
  | "conflict"
  | "unsupported_error"
  | "server_error"
  | "action_failed"
  | (string & {});

export class HetznerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: HetznerErrorCode,
    /** Hetzner's message names fields and resources, never a token. */
    readonly detail: string,
    /** Seconds until the rate limit allows requests again (429). */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(`hetzner ${status} ${code}: ${detail.slice(0, 200)}`);
    this.name = "HetznerApiError";
  }

  /** Retrying will not help without a person: quota, capacity, placement, bad input, auth. */
  get isPermanent(): boolean {
    return ["resource_limit_exceeded", "resource_unavailable", "placement_error", "invalid_input", "json_error", "unauthorized", "forbidden", "uniqueness_error", "protected"].includes(this.code);
  }
}

const errorEnvelope = z.object({ error: z.object({ code: z.string(), message: z.string().nullish() }).loose() }).loose();

const labels = z.record(z.string(), z.string());

export const actionSchema = z
  .object({
    id: z.number().int(),
    command: z.string(),
    status: z.enum(["running", "success", "error"]),
    progress: z.number().nullish(),
    started: z.string().nullish(),
    finished: z.string().nullish(),
    resources: z.array(z.object({ id: z.number().int(), type: z.string() }).loose()).default([]),
    error: z.object({ code: z.string(), message: z.string().nullish() }).loose().nullish(),
  })
  .loose();
export type HetznerAction = z.infer<typeof actionSchema>;

export const serverSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    status: z.string(),
    created: z.string(),
    labels: labels.default({}),
    public_net: z.object({ ipv4: z.object({ ip: z.string() }).loose().nullish() }).loose().nullish(),
    private_net: z.array(z.object({ network: z.number().int(), ip: z.string() }).loose()).default([]),
  })
  .loose();
export type HetznerServer = z.infer<typeof serverSchema>;

export const imageSchema = z
  .object({ id: z.number().int(), type: z.string(), name: z.string().nullish(), description: z.string().nullish(), created: z.string(), labels: labels.default({}), status: z.string().nullish() })
  .loose();
export type HetznerImage = z.infer<typeof imageSchema>;

const paginationSchema = z
  .object({ meta: z.object({ pagination: z.object({ page: z.number(), next_page: z.number().nullish(), last_page: z.number().nullish(), total_entries: z.number().nullish() }).loose() }).loose().optional() })
  .loose();

export type RateLimitState = { limit: number | null; remaining: number | null; resetAt: number | null };

export type HetznerClientOptions = {
  token: string;
  endpoint?: string;
  /** Longest a 429 is waited out in place; beyond it the error is thrown (the caller reschedules). */
  maxRateLimitWaitMs?: number;
  /** Pause between action polls. */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
};

export type CreateServerRequest = {
  name: string;
  server_type: string;
  image: string | number;
  location?: string;
  labels?: Record<string, string>;
  user_data?: string;
  ssh_keys?: (string | number)[];
  networks?: number[];
  firewalls?: { firewall: number }[];
  placement_group?: number;
  volumes?: number[];
  automount?: boolean;
  start_after_create?: boolean;
  public_net?: { enable_ipv4?: boolean; enable_ipv6?: boolean };
};

/** `key=value` pairs joined the way label_selector wants them (comma = AND). */
export const labelSelector = (selector: Record<string, string>) =>
  Object.entries(selector)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");

export class HetznerClient {
  readonly endpoint: string;
  /** What the last response said of the hourly budget (3600 requests per project). */
  readonly rateLimit: RateLimitState = { limit: null, remaining: null, resetAt: null };
  /** Requests made by this client: callers budget them. */
  requests = 0;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: HetznerClientOptions) {
    this.endpoint = (options.endpoint ?? DEFAULT_HCLOUD_ENDPOINT).replace(/\/+$/, "");
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  private readRateLimit(headers: Headers): void {
    const number = (name: string) => {
      const value = headers.get(name);
      return value !== null && /^\d+$/.test(value) ? Number(value) : null;
    };
    this.rateLimit.limit = number("ratelimit-limit") ?? this.rateLimit.limit;
    this.rateLimit.remaining = number("ratelimit-remaining") ?? this.rateLimit.remaining;
    const reset = number("ratelimit-reset");
    this.rateLimit.resetAt = reset === null ? this.rateLimit.resetAt : reset * 1000;
  }

  /** One request; JSON in and out, validated by `schema`. A 204 answers null. */
  async request<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    for (let attempt = 0; ; attempt += 1) {
      this.requests += 1;
      const response = await fetch(`${this.endpoint}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.options.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      this.readRateLimit(response.headers);
      const json: unknown = response.status === 204 ? null : await response.json().catch(() => null);
      if (response.ok) {
        const parsed = schema.safeParse(json);
        if (!parsed.success) throw new HetznerApiError(response.status, "unexpected_response", `${method} ${path.split("?")[0]}: ${parsed.error.issues[0]?.path.join(".") ?? ""}`);
        return parsed.data;
      }
      const envelope = errorEnvelope.safeParse(json);
      const code = envelope.success ? envelope.data.error.code : response.status >= 500 ? "server_error" : "unknown";
      const detail = envelope.success ? envelope.data.error.message ?? "" : response.statusText;
      if (response.status === 429) {
        const waitMs = this.rateLimit.resetAt !== null ? Math.max(1000, this.rateLimit.resetAt - Date.now()) : 1000 * 2 ** attempt;
        if (waitMs <= (this.options.maxRateLimitWaitMs ?? 10_000) && attempt < 3) {
          await this.sleep(waitMs);
          continue;
        }
        throw new HetznerApiError(429, code, detail, Math.ceil(waitMs / 1000));
      }
      throw new HetznerApiError(response.status, code, detail);
    }
  }

  /** Every item of a paginated list (`key` names the array in the response). */
  async listAll<S extends z.ZodType>(path: string, key: string, item: S, query: Record<string, string | undefined> = {}): Promise<z.infer<S>[]> {
    const items: z.infer<S>[] = [];
    let page: number | null = 1;
    while (page !== null) {
      const params: URLSearchParams = new URLSearchParams(
        Object.entries({ ...query, page: String(page), per_page: "50" }).filter((entry): entry is [string, string] => entry[1] !== undefined),
      );
      const result: Record<string, unknown> & z.infer<typeof paginationSchema> = await this.request("GET", `${path}?${params}`, paginationSchema.extend({ [key]: z.array(item) }));
      items.push(...(result[key] as z.infer<S>[]));
      page = result.meta?.pagination.next_page ?? null;
    }
    return items;
  }

  // ---- servers

  async createServer(request: CreateServerRequest): Promise<{ server: HetznerServer; action: HetznerAction; nextActions: HetznerAction[] }> {
    const result = await this.request("POST", "/servers", z.object({ server: serverSchema, action: actionSchema, next_actions: z.array(actionSchema).default([]) }).loose(), request);
    return { server: result.server, action: result.action, nextActions: result.next_actions };
  }

  listServers(query: { labelSelector?: string; name?: string } = {}): Promise<HetznerServer[]> {
    return this.listAll("/servers", "servers", serverSchema, { label_selector: query.labelSelector, name: query.name });
  }

  /** The server, or null when it does not exist. */
  async getServer(id: number): Promise<HetznerServer | null> {
    try {
      return (await this.request("GET", `/servers/${id}`, z.object({ server: serverSchema }).loose())).server;
    } catch (error) {
      if (error instanceof HetznerApiError && error.status === 404) return null;
      throw error;
    }
  }

  /** Deletes the server; null when it was already gone. */
  async deleteServer(id: number): Promise<HetznerAction | null> {
    try {
      return (await this.request("DELETE", `/servers/${id}`, z.object({ action: actionSchema }).loose())).action;
    } catch (error) {
      if (error instanceof HetznerApiError && error.status === 404) return null;
      throw error;
    }
  }

  // ---- images

  listImages(query: { type?: string; labelSelector?: string; sort?: string } = {}): Promise<HetznerImage[]> {
    return this.listAll("/images", "images", imageSchema, { type: query.type, label_selector: query.labelSelector, sort: query.sort });
  }

  // ---- actions

  /** Several actions in one request. */
  async getActions(ids: readonly number[]): Promise<HetznerAction[]> {
    if (ids.length === 0) return [];
    const params = new URLSearchParams(ids.map((id): [string, string] => ["id", String(id)]));
    return (await this.request("GET", `/actions?${params}`, z.object({ actions: z.array(actionSchema) }).loose())).actions;
  }

  /** Polls until every action finished; throws HetznerApiError (action_failed) when one failed. */
  async waitForActions(ids: readonly number[], timeoutMs = 300_000): Promise<HetznerAction[]> {
    const until = Date.now() + timeoutMs;
    let pending = [...ids];
    const done: HetznerAction[] = [];
    while (pending.length > 0) {
      const actions = await this.getActions(pending);
      for (const action of actions) {
        if (action.status === "error") throw new HetznerApiError(200, action.error?.code ?? "action_failed", `${action.command}: ${action.error?.message ?? "failed"}`);
        if (action.status === "success") done.push(action);
      }
      pending = actions.filter((action) => action.status === "running").map((action) => action.id);
      if (pending.length === 0) break;
      if (Date.now() > until) throw new HetznerApiError(200, "action_timeout", `actions ${pending.join(", ")} still running`);
      await this.sleep(this.options.pollIntervalMs ?? 3000);
    }
    return done;
  }
}
