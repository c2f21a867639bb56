// The history sync's suites: a Rocket.Chat workspace of their own on the fake (its rooms,
// history, edits, deletions and rate limits), and the sync run against it.
import { env } from "cloudflare:workers";
import { runChatSync, type SyncReport, type SyncRunOptions } from "../../workers/chat-sync/run";
import { fetchWith } from "./faults";
import { waitIndexed, waitProcessed } from "./settle";

export type WorkspaceOptions = { viewPublicChannels?: boolean; missing?: string[]; syncMessagesCursor?: boolean; showDeletedStatus?: boolean };
export type SeedMessage = { _id?: string; msg: string; ts: string; u?: { _id: string; username: string }; tmid?: string; t?: string; alias?: string; bot?: Record<string, unknown> };
export type FakeCall = { method: string; path: string; roomId: string | null; query: string };

/** A random word the search's keyword half finds alone. */
export const marker = (prefix: string) => `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;

async function ok(response: Response, what: string): Promise<Response> {
  if (!response.ok) throw new Error(`fake rocket.chat refused ${what}: ${response.status} ${await response.text()}`);
  return response;
}

/** A Rocket.Chat server of the test's own, on the shared fake. */
export async function fakeWorkspace(options: WorkspaceOptions = {}) {
  const created = (await (await ok(await fetch(`${env.ROCKETCHAT_URL}/__fake/workspaces`, { method: "POST", body: JSON.stringify(options) }), "a workspace")).json()) as { id: string; url: string };
  const control = (path: string, body: unknown) => fetch(`${created.url}/__fake/${path}`, { method: "POST", body: JSON.stringify(body) }).then((response) => ok(response, path));
  return {
    url: created.url,
    room: (room: { id: string; name?: string; t: "c" | "p" | "d"; member?: boolean; ts?: string }) => control("rooms", room),
    deleteRoom: (id: string) => control("rooms/delete", { id }),
    history: async (rid: string, messages: SeedMessage[]) => ((await (await control("history", { rid, messages })).json()) as { ids: string[] }).ids,
    send: async (rid: string, msg: string, extra: { tmid?: string } = {}) => ((await (await control("send", { rid, msg, ...extra })).json()) as { _id: string })._id,
    edit: (id: string, msg: string) => control("edit", { id, msg }),
    delete: (id: string) => control("delete", { id }),
    rateLimit: (rule: { endpoint: string; after: number; times?: number; resetInMs?: number }) => control("rate-limit", rule),
    /** The server changed: endpoints added (an upgrade), settings. */
    reconfigure: (options: WorkspaceOptions) => control("options", options),
    requests: async (): Promise<FakeCall[]> => (await fetch(`${created.url}/__fake/requests`)).json(),
  };
}

export type Workspace = Awaited<ReturnType<typeof fakeWorkspace>>;

/** The test environment pointed at `workspace` (and any other variables the test sets). */
export const syncEnv = (workspace: Pick<Workspace, "url">, overrides: Partial<Record<keyof Env, string | undefined>> = {}): Env =>
  ({ ...env, ROCKETCHAT_URL: workspace.url, ROCKETCHAT_SYNC_SUBREQUESTS: "60", ...overrides }) as Env;

export const sync = (environment: Env, options: Partial<SyncRunOptions> = {}): Promise<SyncReport> => runChatSync(environment, { trigger: "manual", ...options });

/** Runs the sync until a run has nothing left (at most `maxRuns`); answers every report. */
export async function syncUntilDone(environment: Env, options: Partial<SyncRunOptions> = {}, maxRuns = 40): Promise<SyncReport[]> {
  const reports: SyncReport[] = [];
  for (let run = 0; run < maxRuns; run += 1) {
    const report = await sync(environment, options);
    reports.push(report);
    if (report.outcome !== "more") return reports;
  }
  throw new Error(`the sync still had work after ${maxRuns} runs`);
}

/** `count` past messages a minute apart, ending a day ago, each with its own marker word. */
export function pastMessages(count: number, prefix: string, start = Date.now() - 86_400_000 - count * 60_000): (SeedMessage & { word: string })[] {
  return Array.from({ length: count }, (_, index) => {
    const word = marker(prefix);
    return { msg: `note ${index} about ${word}`, ts: new Date(start + index * 60_000).toISOString(), word };
  });
}

/** Every stored event of these Rocket.Chat messages: how often each was stored. */
export async function eventsPerMessage(messageIds: readonly string[]): Promise<Map<string, number>> {
  const rows = await env.DB.prepare(
    `SELECT "payload" ->> '$.message_id' AS id, count(*) AS n FROM webhook_events
     WHERE source = 'rocketchat' AND "payload" ->> '$.message_id' IN (SELECT value FROM json_each(?)) GROUP BY 1`,
  )
    .bind(JSON.stringify(messageIds))
    .all<{ id: string; n: number }>();
  return new Map(rows.results.map((row) => [row.id, row.n]));
}

/** Waits until every stored event of these messages is processed, then until their documents are indexed. */
export async function settledMessages(messageIds: readonly string[]): Promise<void> {
  const events = await env.DB.prepare(`SELECT id FROM webhook_events WHERE source = 'rocketchat' AND "payload" ->> '$.message_id' IN (SELECT value FROM json_each(?))`)
    .bind(JSON.stringify(messageIds))
    .all<{ id: string }>();
  for (const event of events.results) await waitProcessed(event.id, 30_000);
  await waitIndexed(
    messageIds.map((id) => `chat_message:${id}`),
    30_000,
  );
}

/** The admin API with the test's environment (its own ROCKETCHAT_URL). */
export const adminWith = (environment: Env, path: string, init: RequestInit = {}) =>
  fetchWith(environment, `http://admin${path}`, { ...init, headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json", ...init.headers } });
