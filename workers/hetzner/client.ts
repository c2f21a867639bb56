// A typed client for the Hetzner Cloud API, shared by the Worker (backup servers) and the
// `infra` CLI (the Swarm). fetch + zod on every response; Bearer token; base URL configurable
// (HCLOUD_ENDPOINT, including /v1); pagination through meta.pagination; the error envelope
// {"error":{"code","message"}} as HetznerApiError with its code; the rate limit read from
// RateLimit-* headers, paced when low and a 429 waited out a refill at a time; transient errors
// retried with backoff; actions polled 25 ids per request. Runs in workerd and in Node (fetch only).
//
// Checked against Hetzner Cloud's API description (docs.hetzner.cloud: "Rate Limiting", "Errors",
// "Pagination", "Actions") and hcloud-go main at b8cfa39 (v2.47.0 + 9 commits, 2026-08-18:
// `hcloud/action_waiter.go`, `hcloud/client.go`, `hcloud/client_handler_retry.go`), 2026-12-06:
// - RateLimit-Reset is when the whole bucket is full again (an hour away at Remaining 0); the
//   bucket refills gradually, one request per second at the default 3600 per hour.
// - GET /actions?id=… is a paginated list (25 per page unless per_page says otherwise, at most
//   50); hcloud-go's waiter asks for at most 25 ids per request, follows every page, and fails
//   when an id is missing from the answer ("actions not found").
// - hcloud-go retries `conflict`, `rate_limit_exceeded`, `bad_gateway` and `timeout`, and bare
//   502/504, at most 5 times, after min(60 s, 1 s × 2^retry) with jitter between 1 s and that;
//   never a bare 503 (`unavailable`) nor 500. The docs say "please retry" for conflict and timeout.
// - `locked` ("there is already an Action running") is not in hcloud-go's retry policy, but
//   Hetzner's own callers of it (terraform-provider-hcloud, hcloud-cloud-controller-manager) retry
//   it after a pause; it clears when the running action ends, so it is retried here too.
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

  /** The same request may pass in a moment: the client retries these itself, with backoff. */
  get isTransient(): boolean {
    return TRANSIENT_CODES.includes(this.code) || this.status === 502 || this.status === 504;
  }
}

/** hcloud-go's retry policy (conflict, bad_gateway, timeout) plus `locked` (see the header). */
const TRANSIENT_CODES: readonly string[] = ["conflict", "locked", "timeout", "bad_gateway"];
/** hcloud-go's waiter asks for at most this many action ids per request (one default page). */
export const ACTIONS_PER_REQUEST = 25;
/** The bucket refills one request per this many ms at the default limit of 3600 per hour. */
const HOUR_MS = 3_600_000;

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
  /**
   * Longest a request waits out 429s in total (a refill, about a second, at a time); beyond it
   * the error is thrown with `retryAfterSeconds` (the caller reschedules). Default 10 s.
   */
  maxRateLimitWaitMs?: number;
  /** Pause between action polls. */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Retries of a transient error (conflict, locked, timeout, 502, 504) per request; default 5, as hcloud-go. */
  maxRetries?: number;
  /** First backoff of a transient error, doubled per retry up to 60 s (jittered); default 1000 ms, as hcloud-go. */
  retryBaseMs?: number;
  /** Below this many remaining requests, each request first waits part of a refill; default 10. */
  paceBelowRemaining?: number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
  /** The clock (ms since the epoch); default Date.now. */
  now?: () => number;
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

/**
 * The `role` label of the snapshot backup servers boot from: infra/backup-image.ts labels the
 * snapshots it builds with it, the backup scheduler looks for the newest one by it.
 */
export const BACKUP_RUNNER_ROLE = "backup-runner";

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
  /** Time spent waiting out 429s and pacing, in ms, for callers that report it. */
  rateLimitWaitedMs = 0;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  /** When `rateLimit.remaining` was read: the bucket has refilled since. */
  private remainingReadAt = 0;

  constructor(private readonly options: HetznerClientOptions) {
    this.endpoint = (options.endpoint ?? DEFAULT_HCLOUD_ENDPOINT).replace(/\/+$/, "");
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  private readRateLimit(headers: Headers): void {
    const number = (name: string) => {
      const value = headers.get(name);
      return value !== null && /^\d+$/.test(value) ? Number(value) : null;
    };
    this.rateLimit.limit = number("ratelimit-limit") ?? this.rateLimit.limit;
    const remaining = number("ratelimit-remaining");
    if (remaining !== null) {
      this.rateLimit.remaining = remaining;
      this.remainingReadAt = this.now();
    }
    const reset = number("ratelimit-reset");
    this.rateLimit.resetAt = reset === null ? this.rateLimit.resetAt : reset * 1000;
  }

  /** How long the bucket takes to give one request back: an hour over the limit (1 s at 3600). */
  private refillMs(): number {
    return this.rateLimit.limit ? HOUR_MS / this.rateLimit.limit : 1000;
  }

  /** Requests in the bucket now, by the last reading and the refill since; null before any. */
  private estimatedRemaining(): number | null {
    if (this.rateLimit.remaining === null) return null;
    const refilled = Math.max(0, this.now() - this.remainingReadAt) / this.refillMs();
    return Math.min(this.rateLimit.limit ?? Number.POSITIVE_INFINITY, this.rateLimit.remaining + refilled);
  }

  /**
   * Slows down before the bucket is empty: below `paceBelowRemaining`, waits a share of a refill
   * that grows as the bucket drains (a whole one at 0), so requests stop arriving faster than
   * the bucket refills instead of running into 429s.
   */
  private async pace(): Promise<void> {
    const threshold = this.options.paceBelowRemaining ?? 10;
    const remaining = this.estimatedRemaining();
    if (remaining === null || threshold <= 0 || remaining >= threshold) return;
    const waitMs = Math.ceil(this.refillMs() * (1 - remaining / threshold));
    if (waitMs <= 0) return;
    this.rateLimitWaitedMs += waitMs;
    await this.sleep(waitMs);
  }

  /**
   * What a 429 that was not waited out tells the caller: the seconds until the bucket holds
   * `paceBelowRemaining` requests again (a few requests' worth, not the single one a contended
   * bucket hands out), never past RateLimit-Reset (the whole bucket back), at least 1.
   */
  private retryAfterSeconds(): number {
    const wanted = Math.max(1, this.options.paceBelowRemaining ?? 10) - (this.estimatedRemaining() ?? 0);
    let seconds = (Math.max(1, wanted) * this.refillMs()) / 1000;
    if (this.rateLimit.resetAt !== null) seconds = Math.min(seconds, (this.rateLimit.resetAt - this.now()) / 1000);
    return Math.max(1, Math.ceil(seconds));
  }

  /** hcloud-go's backoff: min(60 s, base × 2^retry), jittered between base and that. */
  private backoffMs(retry: number): number {
    const base = this.options.retryBaseMs ?? 1000;
    const capped = Math.min(60_000, base * 2 ** retry);
    return Math.round(base + (capped - base) * this.random());
  }

  /**
   * One request; JSON in and out, validated by `schema`. A 204 answers null. A 429 is waited out
   * a refill (about a second, jittered) at a time, up to `maxRateLimitWaitMs` in all; a transient
   * error is retried up to `maxRetries` times with backoff; anything else is thrown at once.
   */
  async request<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const maxRateLimitWaitMs = this.options.maxRateLimitWaitMs ?? 10_000;
    const maxRetries = this.options.maxRetries ?? 5;
    let rateLimitWaitedMs = 0;
    let retries = 0;
    // A retry follows a wait of a refill or more: pacing it again would wait twice.
    let justWaited = false;
    for (;;) {
      if (!justWaited) await this.pace();
      justWaited = false;
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
        // One request comes back per refill: RateLimit-Reset (the whole bucket) is no wait time.
        // hcloud-go backs a 429 off like any retry (1 s, then doubling); the first step is the
        // same, and later ones stay at a refill, since that is when the next request fits.
        const waitMs = Math.round(this.refillMs() * (1 + this.random() / 2));
        if (rateLimitWaitedMs + waitMs > maxRateLimitWaitMs) throw new HetznerApiError(429, code, detail, this.retryAfterSeconds());
        rateLimitWaitedMs += waitMs;
        this.rateLimitWaitedMs += waitMs;
        await this.sleep(waitMs);
        justWaited = true;
        continue;
      }
      const error = new HetznerApiError(response.status, code, detail);
      if (!error.isTransient || retries >= maxRetries) throw error;
      await this.sleep(this.backoffMs(retries));
      retries += 1;
      justWaited = true;
    }
  }

  /** Every item of a paginated list (`key` names the array in the response; an array value repeats its parameter). */
  async listAll<S extends z.ZodType>(path: string, key: string, item: S, query: Record<string, string | readonly string[] | undefined> = {}): Promise<z.infer<S>[]> {
    const items: z.infer<S>[] = [];
    let page: number | null = 1;
    while (page !== null) {
      const params: URLSearchParams = new URLSearchParams(
        Object.entries<string | readonly string[] | undefined>({ ...query, page: String(page), per_page: "50" }).flatMap(([name, value]): [string, string][] =>
          value === undefined ? [] : typeof value === "string" ? [[name, value]] : value.map((one): [string, string] => [name, one]),
        ),
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

  /**
   * The actions with these ids: 25 ids per request, every page followed. Ids Hetzner does not
   * know are simply absent from the answer (the caller decides what that means).
   */
  async getActions(ids: readonly number[]): Promise<HetznerAction[]> {
    const actions: HetznerAction[] = [];
    for (let start = 0; start < ids.length; start += ACTIONS_PER_REQUEST) {
      const chunk = ids.slice(start, start + ACTIONS_PER_REQUEST).map(String);
      actions.push(...(await this.listAll("/actions", "actions", actionSchema, { id: chunk })));
    }
    return actions;
  }

  /**
   * Polls until every action finished; throws HetznerApiError (the action's error code, or
   * action_failed) when one failed, and action_not_found when Hetzner's answer lacks an id:
   * an action nobody can see is never taken for a finished one (hcloud-go fails the same way).
   * `onPoll` sees the actions still running after each poll (the CLI prints progress from it).
   */
  async waitForActions(ids: readonly number[], timeoutMs = 300_000, onPoll?: (running: readonly HetznerAction[]) => void): Promise<HetznerAction[]> {
    const until = this.now() + timeoutMs;
    let pending = [...new Set(ids)];
    const done: HetznerAction[] = [];
    while (pending.length > 0) {
      const byId = new Map((await this.getActions(pending)).map((action) => [action.id, action]));
      const missing = pending.filter((id) => !byId.has(id));
      if (missing.length > 0) throw new HetznerApiError(404, "action_not_found", `actions ${missing.join(", ")} are missing from Hetzner's answer`);
      const answered = pending.map((id) => byId.get(id)!);
      const failed = answered.find((action) => action.status === "error");
      if (failed) throw new HetznerApiError(200, failed.error?.code ?? "action_failed", `${failed.command} (action ${failed.id}): ${failed.error?.message ?? "failed"}`);
      done.push(...answered.filter((action) => action.status === "success"));
      const running = answered.filter((action) => action.status === "running");
      pending = running.map((action) => action.id);
      if (pending.length === 0) break;
      if (this.now() > until) throw new HetznerApiError(200, "action_timeout", `actions ${pending.join(", ")} still running`);
      onPoll?.(running);
      await this.sleep(this.options.pollIntervalMs ?? 3000);
    }
    return done;
  }
}
