// The Rocket.Chat bot as Rocket.Chat calls it, records indexed for it, and what the Groq and
// Rocket.Chat fakes saw: shared by test/bot-safety.test.ts and test/bot-liveness.test.ts.
import { env } from "cloudflare:workers";
import { vectorizeBatch } from "../../queues/vectorize-consumer";
import { answerMessageId } from "../../workers/bot/delivery";
import { insertQuestion } from "../../workers/bot/queries";
import { openDatabase } from "../../workers/db/client";
import { vectorizeProviders } from "../../workers/vectorize/providers";
import { fetchWith } from "./faults";
import { runBatch } from "./queue";
import { rocketChatId } from "./rocketchat";

export const groqOn = { GROQ_API_KEY: env.FAKE_GROQ_API_KEY, GROQ_BASE_URL: env.FAKE_GROQ_URL } as Partial<Env>;

export type BotReply = { status: number; body: { text?: string; tmid?: string; ignored?: string; error?: string }; messageId: string };

/** A message with a trigger word, as the bot's outgoing integration posts it. */
export async function ask(
  text: string,
  options: { roomId: string; userId?: string; tmid?: string; messageId?: string; overrides?: Partial<Env> },
): Promise<BotReply> {
  const messageId = options.messageId ?? rocketChatId("q");
  const response = await fetchWith(options.overrides ?? {}, "http://bot/rocketchat/bot", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      token: env.ROCKETCHAT_BOT_TOKEN,
      bot: false,
      trigger_word: text.split(" ")[0],
      channel_id: options.roomId,
      channel_name: "ops",
      message_id: messageId,
      timestamp: new Date().toISOString(),
      // A user of its own unless the test says: the per-user limit is tested on purpose only.
      user_id: options.userId ?? rocketChatId("u"),
      user_name: "ana",
      text,
      ...(options.tmid ? { tmid: options.tmid } : {}),
    }),
  });
  return { status: response.status, body: (await response.json()) as BotReply["body"], messageId };
}

export type TestDocument = { id: string; room: string | null; title: string; text: string; url?: string; kind?: string; source?: string };

/** Documents stored and indexed (with the default providers, or those of `overrides`). */
export async function indexDocuments(documents: readonly TestDocument[], overrides: Partial<Env> = {}) {
  const now = Date.now();
  await env.DB.batch(
    documents.map((doc) =>
      env.DB.prepare(
        `INSERT INTO documents (id, kind, entity_id, text, content_hash, entity_version, updated_at, source, title, header, room, url, occurred_at)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      ).bind(doc.id, doc.kind ?? (doc.room ? "chat_message" : "message"), doc.id, doc.text, `h:${doc.id}`, now, doc.source ?? (doc.room ? "rocketchat" : "guesty"), doc.title, doc.title, doc.room, doc.url ?? null, Date.parse("2026-06-05T10:00:00Z")),
    ),
  );
  const db = openDatabase(env.DB);
  const providers = await vectorizeProviders({ ...env, ...overrides } as Env, db);
  await runBatch("edge-ops-vectorize-dev", documents.map((doc) => ({ documentId: doc.id })), (batch) => vectorizeBatch(batch, db, providers));
}

/** Caches a room's visibility as the ingest would have recorded it `ageMs` ago. */
export async function cacheRoom(room: { id: string; name: string; t: "c" | "p" | "d" }, ageMs = 0) {
  await env.DB.prepare(
    `INSERT INTO chat_rooms (id, name, visibility, room_type, checked_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, visibility = excluded.visibility, room_type = excluded.room_type, checked_at = excluded.checked_at`,
  )
    .bind(room.id, room.name, room.t === "c" ? "public" : "private", room.t, Date.now() - ageMs)
    .run();
}

/** Moves a room's cached answer `ms` into the past: the lifetime passing, without waiting for it. */
export async function ageRoomCache(roomId: string, ms: number) {
  await env.DB.prepare("UPDATE chat_rooms SET checked_at = checked_at - ? WHERE id = ?").bind(ms, roomId).run();
}

/** A question stored as the webhook stores it, still pending (as when its answer went to the bot queue). */
export async function pendingQuestion(roomId: string, question: string, createdAt = Date.now()) {
  const messageId = rocketChatId("q");
  const query = await insertQuestion(openDatabase(env.DB), {
    id: crypto.randomUUID(),
    messageId,
    roomId,
    threadId: messageId,
    userId: "staffUser00000001",
    userName: "ana",
    question,
    deliveryMessageId: await answerMessageId(messageId),
    createdAt,
  });
  return { queryId: query!.id, messageId };
}

export type FakeGroqCall = { user: string; system: string; messages: { role: string; content: string }[] };
export const groqCalls = async (match: string): Promise<FakeGroqCall[]> =>
  (await fetch(`${env.FAKE_GROQ_URL}/__fake/requests?match=${encodeURIComponent(match)}`)).json();
export const groqFault = (fault: Record<string, unknown>) => fetch(`${env.FAKE_GROQ_URL}/__fake/faults`, { method: "POST", body: JSON.stringify(fault) });

export type PostedMessage = { _id: string; rid: string; tmid?: string; msg: string; mentions: { _id: string; username: string }[] };
/** What the fake Rocket.Chat stored in room `rid`, with the mentions its server would have found. */
export const postedTo = async (rid: string): Promise<PostedMessage[]> => (await fetch(`${env.ROCKETCHAT_URL}/__fake/messages?rid=${rid}`)).json();

export const queryRow = (messageId: string) =>
  env.DB.prepare("SELECT id, status, mode, answer, delivery, queued_at, delivered_at, sweep_attempts FROM bot_queries WHERE message_id = ?")
    .bind(messageId)
    .first<{ id: string; status: string; mode: string | null; answer: string | null; delivery: string | null; queued_at: number | null; delivered_at: number | null; sweep_attempts: number }>();
