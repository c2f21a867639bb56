// One run of the Rocket.Chat history sync (the cron dispatcher's "chat-sync" job, every tick,
// and POST /api/chat/sync). Within its budget (workers/chat-sync/calls.ts) a run:
//
// 1. lists rooms: rooms.get since the last run (every room the bot belongs to; rooms deleted
//    since come back in `remove`) and a page or two of channels.list (every public channel; a
//    pass over all its pages ends by retiring the channels it no longer lists). Each listed
//    room's type goes to the visibility cache (chat_rooms), so a room turned private stops being
//    quoted in other rooms from this run on.
// 2. reads the changes of rooms already backfilled, rooms Rocket.Chat changed since their last
//    read first, at most half the budget while backfills are pending: chat.syncMessages' cursor
//    form (updated, then deleted, a page at a time) where the server has it, else its lastUpdate
//    form, else (no chat.syncMessages) chat.getDeletedMessages plus the history since the
//    cursor, which misses edits of older messages. The form is detected and kept a day.
// 3. backfills rooms read for the first time, oldest first: channels.history, groups.history or
//    im.history by type, in time windows sized to hold about a page (the endpoints answer newest
//    first, so a window holding more than a page is narrowed and asked again), thread replies
//    included, up to the time the room was first listed; its changes since then come from step 2.
//
// A 429 whose reset is near is waited for; a later one stops the run, which records the reset
// and resumes from its cursors on the first run after it. A 404 from an endpoint the sync needs
// turns the sync off with one alert (/healthz shows it degraded; a day later, or on POST
// /api/chat/sync, it asks again); the bot and the ingest never depend on it.
import { eq, sql, type SQL } from "drizzle-orm";
import { raiseAlert } from "../alerts/raise";
import { HISTORY_ENDPOINTS, RocketChatApiError, type HistoryMessage, type HistoryRoomType, type ListedRoom } from "../chat/rocketchat-api";
import { openDatabase, type Database } from "../db/client";
import { prepare } from "../db/prepare";
import { withStorage } from "../db/with-storage";
import { inIdList } from "../db/id-list";
import { chatSyncRooms, chatSyncServers, type ChatSyncChangeMode } from "../db/schema";
import { failureReason, logInfo, logWarn } from "../log";
import { Budget, BudgetSpent, callRocketChat, DEFAULT_MAX_RATE_LIMIT_WAIT_MS, EndpointMissing, RateLimited, type CallOptions } from "./calls";
import { chatSyncConfig, isSelected, type ChatSyncConfig } from "./config";
import { storeChanges, type SyncedRoom } from "./ingest";
import {
  claimServer,
  loadRooms,
  markGone,
  OVERLAP_MS,
  recordVisibility,
  roomProgress,
  roomsTouched,
  upsertListedRooms,
  type RoomState,
  type SeenRoom,
  type ServerState,
} from "./state";

/** Every tick of the cron dispatcher. */
export const CHAT_SYNC_SCHEDULE = "*/5 * * * *";

/** Messages per request: Rocket.Chat's API_Upper_Count_Limit (100 by default) caps `count`. */
export const PAGE = 100;
/** A history window is sized to hold about this many messages: a full page would have to be asked again. */
const PAGE_TARGET = 70;
/** A run holds the server this long at most: a run that died releases it by expiring. */
const LEASE_MS = 10 * 60_000;
/** A server that turned the sync off is asked again this long after (a cron run), or on demand. */
export const OFF_RECHECK_MS = 24 * 3_600_000;
/** A server without the cursor form is asked for it again this long after (it may have been upgraded). */
const MODE_RECHECK_MS = 24 * 3_600_000;
/** Without chat.syncMessages the history is read up to this long ago: a message saved late still falls in a later window. */
const FALLBACK_SETTLE_MS = 60_000;
const CHANNEL_PAGES_PER_RUN = 2;
const ROOMS_PER_STATEMENT = 2000;
/** A page costs its request, the D1 batch storing it and a queue send. */
const PAGE_COST = 3;
/** Kept for the run's last write (its outcome, the rooms it read, the lease). */
const FINAL_COST = 1;
/** A run stops after this many rooms in a row failed for reasons of the server's (5xx, timeouts). */
const MAX_ROOM_FAILURES = 3;

/** 400 codes of a chat.syncMessages that predates the cursor form (lastUpdate required: pre-ajv code, then ajv's). */
const NO_CURSOR_FORM = new Set(["error-lastUpdate-param-not-provided", "invalid-params"]);
/** 400 codes meaning the bot cannot read the room (any more). */
const ROOM_UNREADABLE = new Set(["error-room-not-found", "error-not-allowed", "error-no-permission", "not-allowed"]);

export type SyncRunOptions = {
  trigger: "cron" | "manual";
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  maxRateLimitWaitMs?: number;
};

/** "partial": every room was read but some failed (rooms.failed, each room's last error in the status); the next run tries them again. */
export type SyncOutcome = "done" | "partial" | "more" | "busy" | "off" | "rate-limited" | "disabled";

export type SyncReport = {
  outcome: SyncOutcome;
  server: string;
  changeMode: ChatSyncChangeMode | null;
  rooms: { listed: number; selected: number; backfilling: number; gone: number; failed: number };
  messagesRead: number;
  eventsStored: number;
  subrequests: number;
  offEndpoint: string | null;
  rateLimitedUntil: string | null;
};

type Run = {
  env: Env;
  config: ChatSyncConfig;
  db: Database;
  budget: Budget;
  calls: CallOptions;
  server: ServerState;
  report: SyncReport;
  /** Rooms read with nothing to store, and rooms that failed: written with the run's last write. */
  touched: Set<string>;
  failed: Map<string, string>;
  gone: Set<string>;
  /** History windows narrowed after the room's last stored page: kept for the next run. */
  windows: Map<string, number>;
};

const now = (run: Run) => run.calls.now();
const canReadPage = (run: Run) => run.budget.left >= PAGE_COST + FINAL_COST;
const call = <T>(run: Run, endpoint: string, request: () => Promise<T>) => callRocketChat(run.budget, run.calls, endpoint, request);
const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The schedule: every tick while the capability is configured and ROCKETCHAT_SYNC_ROOMS is not "off". */
export async function chatSyncSchedule(env: Env): Promise<string | null> {
  const config = await chatSyncConfig.loadIfConfigured(env);
  return config === null || config.rooms.kind === "off" ? null : CHAT_SYNC_SCHEDULE;
}

/** Runs the sync once. Throws CapabilityNotConfigured without the REST credentials. */
export async function runChatSync(env: Env, options: SyncRunOptions): Promise<SyncReport> {
  const config = await chatSyncConfig.load(env);
  const calls: CallOptions = {
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    maxWaitMs: options.maxRateLimitWaitMs ?? DEFAULT_MAX_RATE_LIMIT_WAIT_MS,
  };
  const report: SyncReport = {
    outcome: "done",
    server: config.server,
    changeMode: null,
    rooms: { listed: 0, selected: 0, backfilling: 0, gone: 0, failed: 0 },
    messagesRead: 0,
    eventsStored: 0,
    subrequests: 0,
    offEndpoint: null,
    rateLimitedUntil: null,
  };
  if (config.rooms.kind === "off") return { ...report, outcome: "disabled" };

  const db = openDatabase(env.DB);
  const budget = new Budget(config.subrequests);
  budget.record(1);
  const started = calls.now();
  const server = await withStorage("claiming the chat sync", () => claimServer(db, config.server, started, started + LEASE_MS));
  if (!server) return { ...report, outcome: "busy", subrequests: budget.spent };
  report.changeMode = server.changeMode;
  const run: Run = { env, config, db, budget, calls, server, report, touched: new Set(), failed: new Map(), gone: new Set(), windows: new Map() };

  const wasOff = server.offEndpoint;
  if (wasOff && options.trigger === "cron" && (server.offCheckedAt ?? 0) + OFF_RECHECK_MS > started) {
    return finish(run, { outcome: "off" });
  }
  if (server.rateLimitedUntil !== null && server.rateLimitedUntil > started) {
    return finish(run, { outcome: "rate-limited", rateLimitedUntil: server.rateLimitedUntil });
  }

  try {
    const rooms = await listRooms(run);
    const read = await readRooms(run, rooms);
    // A run that read every room but could not read or store some is not "done".
    const outcome = read === "done" && run.failed.size > 0 ? "partial" : read;
    if (wasOff) logInfo("rocket.chat sync on again", { server: config.server, endpoint: wasOff });
    return await finish(run, { outcome, offEndpoint: null, rateLimitedUntil: null });
  } catch (error) {
    if (error instanceof BudgetSpent) return finish(run, { outcome: "more", offEndpoint: null, rateLimitedUntil: null });
    if (error instanceof RateLimited) {
      logWarn("rocket.chat sync rate limited", { server: config.server, endpoint: error.endpoint, until: new Date(error.until).toISOString() });
      return finish(run, { outcome: "rate-limited", rateLimitedUntil: error.until, offEndpoint: null });
    }
    if (error instanceof EndpointMissing) {
      // One alert when it turns off; a recheck that finds it still missing says nothing more.
      if (!wasOff) await raiseAlert(env, "rocket.chat sync off", { server: config.server, endpoint: error.endpoint, status: 404 });
      return finish(run, { outcome: "off", offEndpoint: error.endpoint });
    }
    await finish(run, { outcome: "more" }, failureReason(error)).catch(() => undefined);
    throw error;
  }
}

/**
 * The run's last write: the rooms it read, its outcome, the server's state; releases the lease.
 * `offEndpoint`: what the server was just found to lack (null: it answered); left out, unchanged.
 */
async function finish(run: Run, end: { outcome: SyncOutcome; offEndpoint?: string | null; rateLimitedUntil?: number | null }, failure?: string): Promise<SyncReport> {
  const at = now(run);
  const { server } = run;
  const set: Partial<typeof chatSyncServers.$inferInsert> = {
    leaseUntil: 0,
    lastRunAt: at,
    lastRunOutcome: failure ? `failed: ${failure}`.slice(0, 200) : end.outcome,
    changeMode: server.changeMode,
    changeModeAt: server.changeModeAt,
  };
  if (end.offEndpoint !== undefined) {
    set.offEndpoint = end.offEndpoint;
    set.offSince = end.offEndpoint === null ? null : (server.offEndpoint ? server.offSince : at);
    set.offCheckedAt = end.offEndpoint === null ? null : at;
  }
  if (end.rateLimitedUntil !== undefined) set.rateLimitedUntil = end.rateLimitedUntil;
  const touched = [...run.touched].filter((id) => !run.failed.has(id) && !run.gone.has(id));
  const statements = [
    ...roomsTouched(server.server, touched, run.failed, run.windows, at),
    run.db.update(chatSyncServers).set(set).where(eq(chatSyncServers.server, server.server)).getSQL(),
  ];
  run.budget.record(1);
  await withStorage("recording the chat sync run", () => run.db.$client.batch(statements.map((statement) => prepare(run.db, statement))));
  const offEndpoint = end.offEndpoint === undefined ? server.offEndpoint : end.offEndpoint;
  const rateLimitedUntil = end.rateLimitedUntil === undefined ? null : end.rateLimitedUntil;
  const report: SyncReport = {
    ...run.report,
    outcome: end.outcome,
    rooms: { ...run.report.rooms, failed: run.failed.size },
    changeMode: server.changeMode,
    subrequests: run.budget.spent,
    offEndpoint: offEndpoint ?? null,
    rateLimitedUntil: isoOrNull(rateLimitedUntil),
  };
  logInfo("rocket.chat sync", {
    server: server.server,
    outcome: failure ? "failed" : end.outcome,
    rooms: report.rooms.selected,
    messagesRead: report.messagesRead,
    eventsStored: report.eventsStored,
    subrequests: report.subrequests,
  });
  return report;
}

// ---- 1. Rooms

const SYNCED_TYPES = new Set(Object.keys(HISTORY_ENDPOINTS));

async function listRooms(run: Run): Promise<RoomState[]> {
  const { api, server } = run.config;
  const at = now(run);
  const since = run.server.roomsCursor;
  const member = await call(run, "rooms.get", () => api.roomsGet(since ?? undefined));
  let roomsCursor = since ?? 0;
  for (const room of member.update) roomsCursor = Math.max(roomsCursor, room.updatedAt ?? 0);
  for (const room of member.remove) roomsCursor = Math.max(roomsCursor, room.deletedAt ?? 0);

  // A page or two of the channel directory per run; a pass over it ends by retiring what it no longer lists.
  const directory: ListedRoom[] = [];
  let offset = run.server.channelsOffset;
  let passStartedAt = offset === 0 ? at : (run.server.channelsPassStartedAt ?? at);
  let passEnded = false;
  for (let pages = 0; pages < CHANNEL_PAGES_PER_RUN && run.budget.left >= PAGE_COST + FINAL_COST + 1; pages += 1) {
    const page = await call(run, "channels.list", () => api.channelsList(offset, PAGE));
    directory.push(...page.channels);
    offset += page.channels.length;
    if (page.channels.length === 0 || offset >= page.total) {
      passEnded = true;
      break;
    }
  }

  const seen = new Map<string, SeenRoom>();
  for (const room of member.update) seen.set(room.id, { ...room, member: true, directory: false });
  for (const room of directory) seen.set(room.id, { ...room, member: seen.get(room.id)?.member ?? false, directory: true });
  const listed = [...seen.values()];
  const synced = listed.filter((room) => SYNCED_TYPES.has(room.type));
  const statements: SQL[] = [];
  // A bound value stays under D1's 2 MB however many rooms a first listing returns.
  for (let start = 0; start < listed.length; start += ROOMS_PER_STATEMENT) statements.push(recordVisibility(listed.slice(start, start + ROOMS_PER_STATEMENT), at));
  for (let start = 0; start < synced.length; start += ROOMS_PER_STATEMENT) statements.push(upsertListedRooms(server, synced.slice(start, start + ROOMS_PER_STATEMENT), at));
  const removed = member.remove.map((room) => room.id);
  if (removed.length > 0) statements.push(...markGone(server, inIdList(chatSyncRooms.roomId, removed), at));
  if (passEnded) {
    // Channels this pass did not list and the bot does not belong to: deleted, or private now.
    statements.push(...markGone(server, sql`"member_seen_at" IS NULL AND ("directory_seen_at" IS NULL OR "directory_seen_at" < ${passStartedAt})`, at));
  }
  statements.push(
    run.db
      .update(chatSyncServers)
      .set({ roomsCursor: roomsCursor || null, channelsOffset: passEnded ? 0 : offset, channelsPassStartedAt: passEnded ? null : passStartedAt })
      .where(eq(chatSyncServers.server, server))
      .getSQL(),
  );
  run.budget.record(2);
  const [, rooms] = await withStorage("recording the rooms the chat sync listed", async () => {
    const written = await run.db.$client.batch(statements.map((statement) => prepare(run.db, statement)));
    return [written, await loadRooms(run.db, server)] as const;
  });
  run.report.rooms.listed = rooms.filter((room) => room.state === "active").length;
  return rooms;
}

// ---- 2. and 3. Reading rooms

async function readRooms(run: Run, rooms: RoomState[]): Promise<SyncOutcome> {
  const active = rooms.filter((room) => room.state === "active" && SYNCED_TYPES.has(room.roomType) && isSelected(run.config, room));
  run.report.rooms.selected = active.length;
  run.report.rooms.gone = rooms.filter((room) => room.state === "gone").length;
  const backfilling = active.filter((room) => room.backfilledAt === null);
  // Rooms Rocket.Chat changed since their last read first, then the longest unread.
  const live = active
    .filter((room) => room.backfilledAt !== null)
    .sort((a, b) => Number(changedSinceRead(b)) - Number(changedSinceRead(a)) || (a.syncedAt ?? 0) - (b.syncedAt ?? 0));
  const liveLimit = backfilling.length > 0 ? run.budget.spent + Math.floor(run.budget.left / 2) : Number.POSITIVE_INFINITY;

  let failures = 0;
  const attempt = async (room: RoomState, work: () => Promise<void>) => {
    try {
      await work();
      failures = 0;
    } catch (error) {
      if (error instanceof BudgetSpent || error instanceof RateLimited || error instanceof EndpointMissing) throw error;
      if (error instanceof RocketChatApiError && error.status === 401) throw error;
      if (error instanceof RocketChatApiError && (error.status === 403 || (error.status === 400 && ROOM_UNREADABLE.has(error.code)))) {
        run.gone.add(room.roomId);
        await retire(run, room);
        return;
      }
      run.failed.set(room.roomId, failureReason(error));
      failures += 1;
      if (failures >= MAX_ROOM_FAILURES) throw error;
    }
  };

  // Rooms still backfilling when the run ends (the rooms are updated in place as pages are stored).
  const count = () => (run.report.rooms.backfilling = backfilling.filter((room) => room.backfilledAt === null && !run.gone.has(room.roomId)).length);
  let more = false;
  try {
    for (const room of live) {
      if (run.budget.spent >= liveLimit || !canReadPage(run)) {
        more = true;
        break;
      }
      await attempt(room, () => readChanges(run, room));
    }
    for (const room of backfilling) {
      while (room.backfilledAt === null && !run.gone.has(room.roomId) && !run.failed.has(room.roomId)) {
        if (!canReadPage(run)) return "more";
        await attempt(room, () => historySlice(run, room));
      }
    }
    return more ? "more" : "done";
  } finally {
    count();
  }
}

const changedSinceRead = (room: RoomState) => room.roomUpdatedAt !== null && (room.syncedAt === null || room.roomUpdatedAt > room.syncedAt);

/** A room the bot cannot read any more: not read again until a listing shows it again; private meanwhile. */
async function retire(run: Run, room: RoomState): Promise<void> {
  run.budget.record(1);
  await withStorage("retiring a room", () => run.db.$client.batch(markGone(run.config.server, inIdList(chatSyncRooms.roomId, [room.roomId]), now(run)).map((statement) => prepare(run.db, statement))));
  logWarn("rocket.chat sync cannot read a room any more", { server: run.config.server, roomId: room.roomId });
}

const syncedRoom = (room: RoomState): SyncedRoom => ({ id: room.roomId, name: room.name, type: room.roomType });

/** Stores what was read and the room's new state together; `next` becomes the room's state once stored. */
async function store(run: Run, room: RoomState, next: RoomState, messages: readonly HistoryMessage[], deletedIds: readonly string[]): Promise<void> {
  const at = now(run);
  const stored = await storeChanges(
    {
      db: run.db,
      intakeQueue: run.env.INTAKE_QUEUE,
      siteUrl: run.config.server,
      botUserId: run.config.botUserId,
      now: at,
      count: (subrequests) => run.budget.record(subrequests),
    },
    { room: syncedRoom(room), messages, deletedIds },
    roomProgress(run.config.server, next, messages.length + deletedIds.length, at),
  );
  Object.assign(room, next, { syncedAt: at, lastError: null, messagesRead: room.messagesRead + stored.read });
  run.touched.delete(room.roomId);
  run.windows.delete(room.roomId);
  run.report.messagesRead += stored.read;
  run.report.eventsStored += stored.stored;
}

/**
 * One history request: the window [history_from, history_from + window - 1], capped at
 * history_until. A full page means the window may hold more than it answered (newest first):
 * nothing is stored and the window ends at the oldest message answered, whose older neighbours
 * come first; otherwise everything in it is stored and the next window starts after it, sized to
 * hold about PAGE_TARGET of this one's density (at most four times as long).
 */
async function historySlice(run: Run, room: RoomState): Promise<void> {
  const type = room.roomType as HistoryRoomType;
  const from = room.historyFrom;
  const to = Math.min(from + room.historyWindowMs - 1, room.historyUntil);
  const page = await call(run, HISTORY_ENDPOINTS[type], () =>
    run.config.api.history(type, { roomId: room.roomId, oldest: from, latest: to, count: PAGE, offset: room.historyOffset }),
  );
  const size = page.messages.length + page.unreadable;
  if (page.unreadable > 0) logWarn("rocket.chat sync skipped unreadable messages", { roomId: room.roomId, unreadable: page.unreadable });
  const window = to - from + 1;
  if (size >= PAGE && window > 1) {
    // Not narrower by the answer (a page all in its last millisecond): halve it.
    const oldest = Math.min(...page.messages.map((message) => message.sentAt));
    const narrowed = oldest - from + 1;
    room.historyWindowMs = narrowed < window ? Math.max(1, narrowed) : Math.max(1, Math.floor(window / 2));
    run.windows.set(room.roomId, room.historyWindowMs);
    return;
  }
  const next: RoomState = { ...room };
  if (size >= PAGE) {
    // More than a page within one millisecond: the next page of it.
    next.historyOffset = room.historyOffset + size;
  } else {
    next.historyFrom = to + 1;
    next.historyOffset = 0;
    const sized = size === 0 ? window * 4 : Math.floor((window * PAGE_TARGET) / size);
    next.historyWindowMs = Math.max(1, Math.min(sized, window * 4, Number.MAX_SAFE_INTEGER / 8));
    if (next.historyFrom > next.historyUntil && next.backfilledAt === null) next.backfilledAt = now(run);
  }
  await store(run, room, next, [...page.messages].sort((a, b) => a.sentAt - b.sentAt), []);
}

/** The cursor after a page of changes at `times`: a full page may end amid changes of one millisecond, read again. */
function cursorAfter(previous: number, times: readonly number[], full: boolean): number {
  if (times.length === 0) return previous;
  const last = Math.max(...times);
  const first = Math.min(...times);
  return Math.max(previous, full && first < last ? last - 1 : last);
}

async function readChanges(run: Run, room: RoomState): Promise<void> {
  const { server } = run;
  let mode = server.changeMode;
  // Unknown, or a day since a server without the cursor form was asked: ask for it (again).
  const detecting = mode === null || (mode !== "cursor" && (server.changeModeAt ?? 0) + MODE_RECHECK_MS <= now(run));
  if (detecting) mode = "cursor";
  if (mode === "cursor") {
    const found = await readCursorChanges(run, room);
    if (found === "read") {
      if (detecting) setMode(run, "cursor");
      return;
    }
    mode = found === "missing" ? "fallback" : "last-update";
    setMode(run, mode);
  }
  if (mode === "last-update") {
    try {
      return await readChangesSince(run, room);
    } catch (error) {
      if (!(error instanceof EndpointMissing)) throw error;
      setMode(run, "fallback");
    }
  }
  await readFallbackChanges(run, room);
}

/** Records how the server's changes are read, and when that was found. */
function setMode(run: Run, mode: ChatSyncChangeMode): void {
  if (run.server.changeMode !== mode) logInfo("rocket.chat sync reads changes", { server: run.config.server, mode });
  run.server.changeMode = mode;
  run.server.changeModeAt = now(run);
}

/** chat.syncMessages' cursor form: updated messages, then deleted ones, a page at a time. */
async function readCursorChanges(run: Run, room: RoomState): Promise<"read" | "missing" | "no-cursor-form"> {
  let storedAny = false;
  for (const type of ["UPDATED", "DELETED"] as const) {
    for (;;) {
      if (!canReadPage(run)) throw new BudgetSpent();
      const cursor = type === "UPDATED" ? room.updatedCursor : room.deletedCursor;
      let page;
      try {
        page = await call(run, "chat.syncMessages", () => run.config.api.syncMessagesAfter(room.roomId, type, cursor, PAGE));
      } catch (error) {
        if (error instanceof EndpointMissing) return "missing";
        if (error instanceof RocketChatApiError && error.status === 400 && NO_CURSOR_FORM.has(error.code)) return "no-cursor-form";
        throw error;
      }
      if (!page.cursorForm) return "no-cursor-form";
      const size = type === "UPDATED" ? page.updated.messages.length + page.updated.unreadable : page.deleted.length;
      const times = type === "UPDATED" ? page.updated.messages.map((message) => message.updatedAt ?? cursor) : page.deleted.map((entry) => entry.deletedAt ?? cursor);
      const next = cursorAfter(cursor, times, size >= PAGE);
      if (size > 0) {
        const state = type === "UPDATED" ? { ...room, updatedCursor: next } : { ...room, deletedCursor: next };
        await store(run, room, state, page.updated.messages, page.deleted.map((entry) => entry.id));
        storedAny = true;
      }
      // A full page that did not move the cursor would be asked again forever.
      if (size < PAGE || next <= cursor) break;
    }
  }
  if (!storedAny) run.touched.add(room.roomId);
  return "read";
}

/** chat.syncMessages' lastUpdate form: everything changed since, in one answer. */
async function readChangesSince(run: Run, room: RoomState): Promise<void> {
  if (!canReadPage(run)) throw new BudgetSpent();
  const since = Math.min(room.updatedCursor, room.deletedCursor);
  const { updated, deleted } = await call(run, "chat.syncMessages", () => run.config.api.syncMessagesSince(room.roomId, since));
  const latest = Math.max(since, ...updated.messages.map((message) => message.updatedAt ?? since), ...deleted.map((entry) => entry.deletedAt ?? since));
  if (updated.messages.length + deleted.length === 0 && latest === since) {
    run.touched.add(room.roomId);
    return;
  }
  await store(run, room, { ...room, updatedCursor: latest, deletedCursor: latest }, updated.messages, deleted.map((entry) => entry.id));
}

/** Without chat.syncMessages: the deletions since the cursor, then the history since the last window. */
async function readFallbackChanges(run: Run, room: RoomState): Promise<void> {
  const since = room.deletedCursor;
  const askedAt = now(run);
  const ids: string[] = [];
  let complete = false;
  while (canReadPage(run)) {
    const page = await call(run, "chat.getDeletedMessages", () => run.config.api.deletedMessages(room.roomId, since, ids.length, PAGE));
    ids.push(...page.ids);
    if (page.ids.length < PAGE || ids.length >= page.total) {
      complete = true;
      break;
    }
  }
  // Deletions carry no time here: once all are read, the cursor moves to when they were asked for.
  const deletedCursor = complete ? Math.max(since, askedAt - OVERLAP_MS) : since;
  if (ids.length > 0 || deletedCursor !== since) await store(run, room, { ...room, deletedCursor }, [], ids);
  if (!complete) throw new BudgetSpent();
  room.historyUntil = Math.max(room.historyUntil, now(run) - FALLBACK_SETTLE_MS);
  while (room.historyFrom <= room.historyUntil) {
    if (!canReadPage(run)) throw new BudgetSpent();
    await historySlice(run, room);
  }
  if (ids.length === 0) run.touched.add(room.roomId);
}

// ---- Status (GET /api/chat/sync-status)

export type RoomStatus = {
  id: string;
  name: string | null;
  type: string;
  selected: boolean;
  phase: "backfill" | "live" | "gone" | "not selected";
  backfill: { readUntil: string | null; until: string; progress: number | null; done: string | null };
  changesSince: string;
  messagesRead: number;
  syncedAt: string | null;
  lastError: string | null;
};

/** Where a room stands: gone, not read (ROCKETCHAT_SYNC_ROOMS, direct messages), backfilling, or read for changes. */
export function roomPhase(config: ChatSyncConfig, room: Pick<RoomState, "roomId" | "name" | "roomType" | "state" | "backfilledAt">): RoomStatus["phase"] {
  if (room.state === "gone") return "gone";
  if (!SYNCED_TYPES.has(room.roomType) || !isSelected(config, room)) return "not selected";
  return room.backfilledAt === null ? "backfill" : "live";
}

export function roomStatus(config: ChatSyncConfig, room: RoomState): RoomStatus {
  const phase = roomPhase(config, room);
  const selected = SYNCED_TYPES.has(room.roomType) && isSelected(config, room);
  const start = room.roomCreatedAt ?? null;
  const readUntil = room.historyFrom > 0 ? Math.min(room.historyFrom - 1, room.historyUntil) : null;
  const progress =
    room.backfilledAt !== null ? 1 : start !== null && room.historyUntil > start ? Math.max(0, Math.min(1, ((readUntil ?? start) - start) / (room.historyUntil - start))) : null;
  return {
    id: room.roomId,
    name: room.name,
    type: room.roomType,
    selected,
    phase,
    backfill: { readUntil: isoOrNull(readUntil), until: new Date(room.historyUntil).toISOString(), progress: progress === null ? null : Math.round(progress * 1000) / 1000, done: isoOrNull(room.backfilledAt) },
    changesSince: new Date(Math.min(room.updatedCursor, room.deletedCursor)).toISOString(),
    messagesRead: room.messagesRead,
    syncedAt: isoOrNull(room.syncedAt),
    lastError: room.lastError,
  };
}
