import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { adminFetch } from "./support/admin";
import { accepted, aircallEvent, ended } from "./support/aircall";
import { fetchWith, faultyD1, recordingQueue } from "./support/faults";

const admin = adminFetch;

type EventList = { items: { id: string; source: string; type: string; receivedAt: string; status: string }[]; nextCursor: string | null };

async function seed(count: number, firstCallId: number) {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    ids.push((await accepted(aircallEvent("call.ended", 1_763_000_094 + index, ended(firstCallId + index)))).id);
  }
  return ids;
}

describe("admin auth", () => {
  it("answers 401 with WWW-Authenticate without or with a wrong bearer token", async () => {
    for (const authorization of [undefined, "Bearer wrong-token-value-0000", `Basic ${btoa("a:b")}`, `Bearer ${env.ADMIN_TOKEN}x`]) {
      const response = await exports.default.fetch("http://admin/api/events", { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="admin"');
    }
  });

  it("stays closed (503 naming the variable) when ADMIN_TOKEN is unset, empty or too short", async () => {
    for (const [value, reason] of [
      [undefined, "admin API is not configured: ADMIN_TOKEN is not set"],
      ["", "admin API is not configured: ADMIN_TOKEN is not set"],
      ["short-token", "admin API is not configured: ADMIN_TOKEN: must be at least 16 characters"],
    ] as const) {
      for (const authorization of ["Bearer anything-at-all-here", `Bearer ${value}`, ""]) {
        const response = await fetchWith({ ADMIN_TOKEN: value }, "http://admin/api/events", { headers: { authorization } });
        expect(response.status).toBe(503);
        const text = await response.text();
        expect(JSON.parse(text)).toMatchObject({ error: reason });
        if (value) expect(text).not.toContain(value);
      }
    }
  });
});

describe("GET /api/events", () => {
  it("pages through every event newest first with no gaps or repeats", async () => {
    const seeded = await seed(7, 2000);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/api/events?limit=3${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await admin(query)).json()) as EventList;
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor);
    // Other tests of this file may have stored events too: ours must all be there, once each.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(seeded));
    const all = (await (await admin("/api/events?limit=200")).json()) as EventList;
    expect(all.items.map((item) => item.id)).toEqual(seen);
    const times = all.items.map((item) => Date.parse(item.receivedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(all.items.find((item) => item.id === seeded[0])).toEqual({
      id: seeded[0],
      source: "aircall",
      type: "call.ended",
      receivedAt: expect.any(String),
      status: "processed",
    });
  });

  it("filters by source, type and status", async () => {
    const { id } = await accepted({ resource: "x", event: "mystery.event", timestamp: 1, token: env.AIRCALL_WEBHOOK_TOKENS.split(",")[0], data: {} });
    const [processed] = await seed(1, 2050);
    const ids = async (query: string) => ((await (await admin(`/api/events?limit=200&${query}`)).json()) as EventList).items.map((item) => item.id);
    expect(await ids("status=ignored")).toContain(id);
    expect(await ids("status=ignored")).not.toContain(processed);
    expect(await ids("type=mystery.event&source=aircall")).toEqual([id]);
    expect(await ids("type=mystery.event&source=guesty")).toEqual([]);
    expect(await ids("source=aircall&status=processed")).toContain(processed);
  });

  it("answers 503 when D1 fails", async () => {
    const response = await fetchWith({ DB: faultyD1(() => true) }, "http://admin/api/events", {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(503);
  });

  it.each([
    ["limit=0", /^limit: /],
    ["limit=201", /^limit: /],
    ["source=stripe", /^source: /],
    ["status=done", /^status: /],
    ["cursor=garbage", /^cursor: not a cursor/],
  ])("answers 400 for %s", async (query, reason) => {
    const response = await admin(`/api/events?${query}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(reason);
  });
});

describe("GET /api/events/:id and replay", () => {
  it("returns the event with its payload parsed", async () => {
    const [id] = await seed(1, 2100);
    const response = await admin(`/api/events/${id}`);
    expect(response.status).toBe(200);
    const event = (await response.json()) as Record<string, unknown> & { payload: { data: { id: number } } };
    expect(event).toMatchObject({ id, source: "aircall", type: "call.ended", status: "processed", error: null });
    expect(event.payload.data.id).toBe(2100);
    expect((await admin("/api/events/aircall_unknown")).status).toBe(404);
  });

  it("replays an event: normalizes again and re-enqueues its document even if unchanged", async () => {
    const [id] = await seed(1, 2200);
    const { sent, queue } = recordingQueue();
    const response = await fetchWith({ VECTORIZE_QUEUE: queue }, `http://admin/api/events/${id}/replay`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id, status: "processed", documentsEnqueued: 1 });
    expect(sent).toEqual([{ documentId: "call:2200" }]);
  });

  it("replays an older snapshot without moving the entity backwards", async () => {
    const early = await accepted(aircallEvent("call.created", 1_763_000_000, { ...ended(2300), status: "initial", ended_at: null }));
    await accepted(aircallEvent("call.ended", 1_763_000_094, ended(2300)));
    const { sent, queue } = recordingQueue();
    const response = await fetchWith({ VECTORIZE_QUEUE: queue }, `http://admin/api/events/${early.id}/replay`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(sent).toEqual([{ documentId: "call:2300" }]);
    expect(await env.DB.prepare("SELECT status FROM aircall_calls WHERE id = 2300").first("status")).toBe("done");
  });
});

describe("OpenAPI and health", () => {
  it("describes the admin API from its zod schemas", async () => {
    const response = await exports.default.fetch("http://admin/api/openapi.json");
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown }>>;
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
    };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths).sort()).toEqual([
      "/api/backups/run",
      "/api/backups/runs",
      "/api/backups/runs/{id}",
      "/api/chat/sync",
      "/api/chat/sync-status",
      "/api/dlq",
      "/api/dlq/replay",
      "/api/documents/index-status",
      "/api/documents/revectorize",
      "/api/events",
      "/api/events/{id}",
      "/api/events/{id}/replay",
      "/api/queries",
      "/api/search",
    ]);
    expect(document.paths["/api/events"]?.get?.security).toEqual([{ adminBearer: [] }]);
    expect(document.components.securitySchemes.adminBearer).toEqual({ type: "http", scheme: "bearer" });
    expect(Object.keys(document.components.schemas)).toEqual(expect.arrayContaining(["EventSummary", "EventDetail", "EventList", "Error"]));
  });

  it("reports storage and every capability without revealing secrets", async () => {
    const response = await exports.default.fetch("http://admin/healthz");
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      status: "ok",
      checks: { db: { ok: true, detail: expect.stringMatching(/^\d+ ms$/) }, intakeQueue: { ok: true }, vectorizeQueue: { ok: true } },
      capabilities: { aircallIntake: { configured: true }, guestyIntake: { configured: true }, rocketChatIngest: { configured: true }, rocketChatBot: { configured: true }, rocketChatSync: { configured: true }, adminApi: { configured: true }, access: { configured: true, degraded: true, problems: [expect.stringContaining("ACCESS_TEAM_DOMAIN and ACCESS_AUD are not set")] }, vectorization: { configured: true }, backups: { configured: true }, secrets: { configured: true }, metrics: { configured: false, problems: ["METRICS_TOKEN is not set"] }, alertWebhook: { configured: false, problems: ["ALERT_WEBHOOK_URL is not set"] }, edgeRouting: { configured: false, problems: ["EDGE_ROUTES is not set"] } },
    });
    for (const secret of [
      env.ADMIN_TOKEN,
      ...env.AIRCALL_WEBHOOK_TOKENS.split(","),
      ...env.GUESTY_WEBHOOK_SECRETS.split(","),
      env.ROCKETCHAT_INGEST_TOKEN,
      env.ROCKETCHAT_BOT_TOKEN,
      env.ROCKETCHAT_AUTH_TOKEN,
      env.HCLOUD_TOKEN,
      env.RESTIC_PASSWORD,
      env.R2_SECRET_ACCESS_KEY,
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it("is degraded (503) only when storage fails", async () => {
    const dbDown = await fetchWith({ DB: faultyD1(() => true) }, "http://admin/healthz");
    expect(dbDown.status).toBe(503);
    expect(await dbDown.json()).toMatchObject({ status: "degraded", checks: { db: { ok: false, detail: "query failed" } } });
  });

  it("answers 200 with unconfigured capabilities listed by variable, never by value", async () => {
    const response = await fetchWith({ GUESTY_WEBHOOK_SECRETS: undefined, ADMIN_TOKEN: "short", AIRCALL_WEBHOOK_TOKENS: "" }, "http://admin/healthz");
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({
      status: "ok",
      capabilities: {
        aircallIntake: { configured: false, problems: ["AIRCALL_WEBHOOK_TOKENS is not set"] },
        guestyIntake: { configured: false, problems: ["GUESTY_WEBHOOK_SECRETS is not set"] },
        adminApi: { configured: false, problems: ["ADMIN_TOKEN: must be at least 16 characters"] },
      },
    });
    expect(text).not.toContain("short");
  });
});
