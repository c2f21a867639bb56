// Rocket.Chat's REST API, as far as we use it. Requests carry the bot's personal access token
// (X-User-Id, X-Auth-Token); responses are checked with zod, and failures become
// RocketChatApiError with the status and Rocket.Chat's error code, never the token.
import { z } from "zod";
import { parseRetryAfter } from "../http/provider-errors";

export type RocketChatApiSettings = { url: string; userId: string; authToken: string };

/** The API when all three variables are set; null otherwise (callers then assume the safe default). */
export function rocketChatApiFrom(values: {
  ROCKETCHAT_URL?: string | undefined;
  ROCKETCHAT_USER_ID?: string | undefined;
  ROCKETCHAT_AUTH_TOKEN?: string | undefined;
}): RocketChatApi | null {
  const { ROCKETCHAT_URL: url, ROCKETCHAT_USER_ID: userId, ROCKETCHAT_AUTH_TOKEN: authToken } = values;
  return url && userId && authToken ? new RocketChatApi({ url, userId, authToken }) : null;
}

export class RocketChatApiError extends Error {
  /** Whole seconds Rocket.Chat asked us to wait (429), rounded up: it becomes a queue's `delaySeconds`. */
  readonly retryAfterSeconds: number | null;

  constructor(
    readonly status: number,
    readonly code: string,
    retryAfterSeconds: number | null = null,
  ) {
    super(`rocket.chat answered ${status} ${code}`);
    this.name = "RocketChatApiError";
    this.retryAfterSeconds = retryAfterSeconds === null ? null : Math.ceil(retryAfterSeconds);
  }
}

const errorBodySchema = z.object({ error: z.string().optional(), errorType: z.string().optional(), message: z.string().optional() }).loose();

const roomInfoSchema = z.object({
  success: z.literal(true),
  room: z.object({ _id: z.string(), t: z.string(), name: z.string().optional(), fname: z.string().optional() }).loose(),
});

export type RoomInfo = { id: string; name: string | null; type: string };

const sentMessageSchema = z.object({ success: z.literal(true), message: z.object({ _id: z.string() }).loose() });
const getMessageSchema = z.object({ success: z.literal(true), message: z.object({ _id: z.string() }).loose().nullable() });

/** A message the bot posts, under an `_id` chosen by us so that a retry can look it up first. */
export type OutgoingMessage = { _id: string; rid: string; tmid?: string; msg: string };

/** Rocket.Chat's rate limiter says how long to wait in the error text or the reset header. */
function retryAfterOf(response: Response): number | null {
  const header = parseRetryAfter(response.headers.get("retry-after"));
  if (header !== null) return header;
  const reset = Number(response.headers.get("x-ratelimit-reset"));
  return Number.isFinite(reset) && reset > 0 ? Math.max(1, Math.ceil((reset - Date.now()) / 1000)) : null;
}

export class RocketChatApi {
  constructor(private readonly settings: RocketChatApiSettings) {}

  private async request<S extends z.ZodType>(path: string, schema: S, init: RequestInit = {}): Promise<z.infer<S>> {
    const url = `${this.settings.url.replace(/\/+$/, "")}/api/v1/${path}`;
    const response = await fetch(url, {
      ...init,
      headers: { "X-User-Id": this.settings.userId, "X-Auth-Token": this.settings.authToken, "Content-Type": "application/json", ...init.headers },
      signal: init.signal ?? AbortSignal.timeout(5000),
    });
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const error = errorBodySchema.safeParse(body);
      const code = error.success ? error.data.errorType ?? error.data.error?.match(/\[([\w-]+)\]$/)?.[1] ?? "error" : "error";
      throw new RocketChatApiError(response.status, code, response.status === 429 ? retryAfterOf(response) : null);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new RocketChatApiError(response.status, "unexpected-response");
    return parsed.data;
  }

  /**
   * Posts `message` (chat.sendMessage). Rocket.Chat has no "already exists" answer: for an `_id`
   * it already has, the server's sendMessage returns without inserting, and the endpoint then
   * answers 400 `{"success":false,"error":"Cannot read properties of undefined (reading
   * 'starred')"}` (no errorType) where it normalizes the result, 200 `{"success":true}` without
   * a message on older servers, and a Mongo duplicate-key 400 when two inserts race. Whether a
   * failed post is in the room is for `messageExists` to say. Checked against RocketChat/Rocket.Chat
   * `apps/meteor/app/lib/server/functions/sendMessage.ts` (`messageAlreadyExists` → return, since
   * PR #14945, July 2019), `app/api/server/v1/chat.ts` (`normalizeMessagesForUser([sent])`) and
   * `app/api/server/ApiClass.ts` (any other error → `failure(e.message, e.error)`, 400), develop
   * as stored on 2026-12-06.
   */
  async sendMessage(message: OutgoingMessage): Promise<void> {
    await this.request("chat.sendMessage", sentMessageSchema, { method: "POST", body: JSON.stringify({ message }) });
  }

  /** Whether a message with this id exists (chat.getMessage): a retried delivery checks before posting. */
  async messageExists(messageId: string): Promise<boolean> {
    try {
      const found = await this.request(`chat.getMessage?msgId=${encodeURIComponent(messageId)}`, getMessageSchema);
      return found.message !== null;
    } catch (error) {
      // An unknown id answers 400 `{"success":false}` (`API.v1.failure()` when getSingleMessage
      // finds nothing), a message in a room we cannot read 400 `error-not-allowed`: either way
      // not ours to find. Checked against chat.ts `chat.getMessage` and
      // `app/lib/server/methods/getSingleMessage.ts`, develop as stored on 2026-12-06.
      if (error instanceof RocketChatApiError && error.status === 400) return false;
      throw error;
    }
  }

  /** `timeoutMs`: how long to wait (default 5 s); answering waits less and treats the room as private. */
  async roomInfo(roomId: string, options: { timeoutMs?: number } = {}): Promise<RoomInfo> {
    const signal = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    const { room } = await this.request(`rooms.info?roomId=${encodeURIComponent(roomId)}`, roomInfoSchema, signal ? { signal } : {});
    return { id: room._id, name: room.name ?? room.fname ?? null, type: room.t };
  }
}
