// The history sync against servers of other ages and shapes: one without chat.syncMessages
// (chat.getDeletedMessages plus the history), one from before its cursor form (lastUpdate), one
// without an endpoint the sync needs (off, one alert, the ingest unaffected); which rooms are
// read (ROCKETCHAT_SYNC_ROOMS, direct messages); the admin routes and the cron job.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { row } from "./support/d1";
import { adminWith, eventsPerMessage, fakeWorkspace, marker, pastMessages, settledMessages, sync, syncEnv, syncUntilDone } from "./support/chat-sync";
import { fetchWith, tickWith } from "./support/faults";
import { chatSyncSchedule } from "../workers/chat-sync/run";
import { chatMessage, rocketChatId } from "./support/rocketchat";

afterEach(() => vi.restoreAllMocks());

const alertsFor = async (server: string) =>
  (await env.DB.prepare("SELECT message, fields FROM alerts WHERE message = 'rocket.chat sync off' AND json_extract(fields, '$.server') = ?").bind(server).all<{ message: string; fields: string }>())
    .results;
const storedText = async (id: string) => (await row("SELECT text, deleted FROM rocketchat_messages WHERE id = ?", id)) as { text: string | null; deleted: number } | null;

describe("servers without the newest endpoints", () => {
  it("reads changes through chat.getDeletedMessages and the history where chat.syncMessages is missing", async () => {
    const workspace = await fakeWorkspace({ missing: ["chat.syncMessages"] });
    const room = rocketChatId("fa");
    await workspace.room({ id: room, name: "front-desk", t: "c", member: true });
    const ids = await workspace.history(room, pastMessages(4, "fb"));
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    await workspace.delete(ids[0]!);
    const word = marker("fresh");
    const fresh = await workspace.send(room, `a new message ${word}`);
    // The history is read up to a minute ago (a message saved late still falls in a later window).
    const later = () => Date.now() + 120_000;
    const report = await sync(environment, { now: later });
    expect(report).toMatchObject({ outcome: "done", changeMode: "fallback" });
    await settledMessages([ids[0]!, fresh]);
    expect(await storedText(ids[0]!)).toEqual({ text: null, deleted: 1 });
    expect(await storedText(fresh)).toEqual({ text: `a new message ${word}`, deleted: 0 });

    // Found once, and remembered: the next run does not ask chat.syncMessages again.
    const asked = async () => (await workspace.requests()).filter((call) => call.path === "/api/v1/chat.syncMessages").length;
    const before = await asked();
    expect(before).toBe(1);
    await sync(environment, { now: later });
    expect(await asked()).toBe(before);
    expect((await workspace.requests()).some((call) => call.path === "/api/v1/chat.getDeletedMessages")).toBe(true);
    expect([...(await eventsPerMessage([...ids, fresh])).values()].every((n) => n === 1 || n === 2)).toBe(true);
  }, 60_000);

  it("uses chat.syncMessages' lastUpdate form on a server from before its cursor form", async () => {
    const workspace = await fakeWorkspace({ syncMessagesCursor: false });
    const room = rocketChatId("fl");
    await workspace.room({ id: room, name: "ops", t: "p", member: true });
    const ids = await workspace.history(room, pastMessages(3, "fl"));
    const environment = syncEnv(workspace);
    await syncUntilDone(environment);
    const word = marker("lu");
    await workspace.edit(ids[1]!, `edited to ${word}`);
    await workspace.delete(ids[2]!);
    const report = await sync(environment);
    expect(report).toMatchObject({ outcome: "done", changeMode: "last-update" });
    await settledMessages([ids[1]!, ids[2]!]);
    expect(await storedText(ids[1]!)).toEqual({ text: `edited to ${word}`, deleted: 0 });
    expect(await storedText(ids[2]!)).toEqual({ text: null, deleted: 1 });
    // The cursor form was tried once, answered 400, and not again.
    const cursorAsks = (await workspace.requests()).filter((call) => call.path === "/api/v1/chat.syncMessages" && call.query.includes("type="));
    expect(cursorAsks).toHaveLength(1);
  }, 60_000);

  it("turns off with one alert on a server without rooms.get, while the ingest keeps working", async () => {
    const workspace = await fakeWorkspace({ missing: ["rooms.get"] });
    const environment = syncEnv(workspace, { ALERT_WEBHOOK_URL: undefined });
    const first = await sync(environment, { trigger: "cron" });
    expect(first).toMatchObject({ outcome: "off", offEndpoint: "rooms.get" });
    const second = await sync(environment, { trigger: "cron" });
    expect(second).toMatchObject({ outcome: "off", offEndpoint: "rooms.get" });
    // The cron run does not ask again before a day has passed; a manual run does, silently.
    expect((await workspace.requests()).filter((call) => call.path === "/api/v1/rooms.get")).toHaveLength(1);
    const manual = await adminWith(environment, "/api/chat/sync", { method: "POST" });
    expect(manual.status).toBe(200);
    expect(await manual.json()).toMatchObject({ outcome: "off", offEndpoint: "rooms.get" });
    expect((await workspace.requests()).filter((call) => call.path === "/api/v1/rooms.get")).toHaveLength(2);
    expect(await alertsFor(workspace.url)).toEqual([
      { message: "rocket.chat sync off", fields: JSON.stringify({ server: workspace.url, endpoint: "rooms.get", status: 404 }) },
    ]);

    const health = (await (await fetchWith(environment, "http://admin/healthz")).json()) as { capabilities: Record<string, unknown> };
    expect(health.capabilities.rocketChatSync).toEqual({ configured: true, degraded: true, problems: [expect.stringMatching(/^ROCKETCHAT_URL: the server answers 404 for rooms\.get since /)] });
    // The bot and the ingest do not depend on the sync.
    expect(health.capabilities.rocketChatIngest).toEqual({ configured: true });
    expect(health.capabilities.rocketChatBot).toEqual({ configured: true });
    const ingested = await fetchWith(environment, "http://intake/webhooks/rocketchat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatMessage({ channel_id: rocketChatId("fo"), text: "still ingested" })),
    });
    expect(ingested.status).toBe(200);
    const status = (await (await adminWith(environment, "/api/chat/sync-status")).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ state: "off", offEndpoint: "rooms.get", offSince: expect.any(String) });
  }, 60_000);

  it("turns off when the history of a room type is missing, and on again once it answers", async () => {
    const workspace = await fakeWorkspace({ missing: ["groups.history"] });
    const room = rocketChatId("fg");
    await workspace.room({ id: room, name: "owners", t: "p", member: true });
    await workspace.history(room, pastMessages(2, "fg"));
    const environment = syncEnv(workspace, { ALERT_WEBHOOK_URL: undefined });
    expect(await sync(environment)).toMatchObject({ outcome: "off", offEndpoint: "groups.history" });
    expect(await alertsFor(workspace.url)).toHaveLength(1);
    // Upgraded: the next manual run (or the daily cron recheck) finds it, and the sync is on again.
    await workspace.reconfigure({ missing: [] });
    const later = () => Date.now() + 25 * 3_600_000;
    expect(await sync(environment, { trigger: "cron", now: later })).toMatchObject({ outcome: "done", offEndpoint: null });
    expect(await row("SELECT off_endpoint, backfilled_at IS NOT NULL AS backfilled FROM chat_sync_servers JOIN chat_sync_rooms USING (server) WHERE room_id = ?", room)).toEqual({
      off_endpoint: null,
      backfilled: 1,
    });
    expect(await alertsFor(workspace.url)).toHaveLength(1);
  }, 60_000);
});

describe("which rooms are read", () => {
  it("leaves direct messages alone unless ROCKETCHAT_SYNC_DIRECT_MESSAGES is true, and follows ROCKETCHAT_SYNC_ROOMS", async () => {
    const workspace = await fakeWorkspace();
    const direct = rocketChatId("dm");
    const listed = rocketChatId("ls");
    const other = rocketChatId("ot");
    await workspace.room({ id: direct, t: "d", member: true });
    await workspace.room({ id: listed, name: "front-desk", t: "c", member: true });
    await workspace.room({ id: other, name: "bar", t: "c", member: true });
    const [directId] = await workspace.history(direct, pastMessages(1, "dm"));
    const [listedId] = await workspace.history(listed, pastMessages(1, "ls"));
    const [otherId] = await workspace.history(other, pastMessages(1, "ot"));

    const onlyFrontDesk = syncEnv(workspace, { ROCKETCHAT_SYNC_ROOMS: "front-desk" });
    await syncUntilDone(onlyFrontDesk);
    expect(await eventsPerMessage([directId!, listedId!, otherId!])).toEqual(new Map([[listedId!, 1]]));
    const status = (await (await adminWith(onlyFrontDesk, "/api/chat/sync-status")).json()) as { rooms: { id: string; phase: string; selected: boolean }[]; totals: Record<string, number> };
    const phaseOf = (id: string) => status.rooms.find((room) => room.id === id)?.phase;
    expect([phaseOf(direct), phaseOf(listed), phaseOf(other)]).toEqual(["not selected", "live", "not selected"]);
    expect(status.totals).toMatchObject({ rooms: 3, live: 1, notSelected: 2 });
    // The visibility cache knows every listed room, read or not.
    expect(await row("SELECT visibility FROM chat_rooms WHERE id = ?", direct)).toEqual({ visibility: "private" });
    expect(await row("SELECT visibility FROM chat_rooms WHERE id = ?", other)).toEqual({ visibility: "public" });

    await syncUntilDone(syncEnv(workspace, { ROCKETCHAT_SYNC_DIRECT_MESSAGES: "true" }));
    expect(await eventsPerMessage([directId!, otherId!])).toEqual(new Map([[directId!, 1], [otherId!, 1]]));
    expect((await workspace.requests()).some((call) => call.path === "/api/v1/im.history" && call.roomId === direct)).toBe(true);
  }, 60_000);

  it("reads nothing with ROCKETCHAT_SYNC_ROOMS=off, and the cron job is not scheduled then", async () => {
    const workspace = await fakeWorkspace();
    const off = syncEnv(workspace, { ROCKETCHAT_SYNC_ROOMS: "off" });
    const report = await sync(off);
    expect(report.outcome).toBe("disabled");
    expect(await workspace.requests()).toEqual([]);
    expect(await chatSyncSchedule(off)).toBeNull();
    expect(await chatSyncSchedule(syncEnv(workspace))).toBe("*/5 * * * *");
    expect(await chatSyncSchedule({ ...env, ROCKETCHAT_USER_ID: "" } as Env)).toBeNull();
  });
});

describe("the admin routes", () => {
  it("POST /api/chat/sync runs once and reports; GET /api/chat/sync-status shows each room's progress", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("ad");
    await workspace.room({ id: room, name: "front-desk", t: "c", member: true, ts: new Date(Date.now() - 5 * 86_400_000).toISOString() });
    const ids = await workspace.history(room, pastMessages(160, "ad"));
    const small = syncEnv(workspace, { ROCKETCHAT_SYNC_SUBREQUESTS: "12" });
    const response = await adminWith(small, "/api/chat/sync", { method: "POST" });
    expect(response.status).toBe(200);
    const report = (await response.json()) as { outcome: string; subrequests: number; messagesRead: number };
    expect(report.outcome).toBe("more");
    expect(report.subrequests).toBeLessThanOrEqual(12);

    const midway = (await (await adminWith(small, "/api/chat/sync-status")).json()) as { state: string; rooms: { id: string; phase: string; backfill: { progress: number | null } }[] };
    expect(midway.state).toBe("on");
    const during = midway.rooms.find((candidate) => candidate.id === room)!;
    expect(during.phase).toBe("backfill");
    expect(during.backfill.progress).toBeGreaterThanOrEqual(0);
    expect(during.backfill.progress).toBeLessThan(1);

    await syncUntilDone(small);
    const after = (await (await adminWith(small, "/api/chat/sync-status")).json()) as { lastRun: { outcome: string }; changeMode: string | null; rooms: { id: string; phase: string; messagesRead: number; backfill: { progress: number } }[] };
    expect(after.rooms.find((candidate) => candidate.id === room)).toMatchObject({ phase: "live", messagesRead: 160, backfill: { progress: 1 } });
    expect(after.lastRun.outcome).toBe("done");
    expect([...(await eventsPerMessage(ids)).values()].filter((n) => n === 1)).toHaveLength(160);
  }, 60_000);

  it("answer 503 naming the variable without the REST credentials, and 401 without the admin token", async () => {
    const unconfigured = { ...env, ROCKETCHAT_AUTH_TOKEN: "" } as Env;
    const run = await adminWith(unconfigured, "/api/chat/sync", { method: "POST" });
    expect(run.status).toBe(503);
    expect(await run.text()).toContain("ROCKETCHAT_AUTH_TOKEN is not set");
    expect((await adminWith(unconfigured, "/api/chat/sync-status")).status).toBe(503);
    expect((await fetchWith({}, "http://admin/api/chat/sync", { method: "POST" })).status).toBe(401);
  });

  it("POST /api/chat/sync answers 409 while another run holds the server", async () => {
    const workspace = await fakeWorkspace();
    const environment = syncEnv(workspace);
    await env.DB.prepare("INSERT INTO chat_sync_servers (server, lease_until) VALUES (?, ?)").bind(workspace.url, Date.now() + 60_000).run();
    expect((await adminWith(environment, "/api/chat/sync", { method: "POST" })).status).toBe(409);
    expect(await workspace.requests()).toEqual([]);
  });
});

describe("the cron job", () => {
  it("runs the sync on a tick", async () => {
    const workspace = await fakeWorkspace();
    const room = rocketChatId("cr");
    await workspace.room({ id: room, name: "ops", t: "c", member: true });
    const [id] = await workspace.history(room, pastMessages(1, "cr"));
    const infos: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void infos.push(line));
    await tickWith({ ROCKETCHAT_URL: workspace.url });
    const tick = infos.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.message === "cron tick");
    expect(String(tick?.ran).split(",")).toContain("chat-sync");
    expect(await eventsPerMessage([id!])).toEqual(new Map([[id!, 1]]));
  });
});
