// POST /rocketchat/bot: Rocket.Chat's outgoing integration with trigger words. Every answer is
// 200 with a non-empty JSON body: `{"text","tmid"}` to post into the thread, or `{"ignored"}`
// for messages the bot must not answer (its own, other bots'). Only a wrong token (401), the bot
// not configured (503) or storage or the bot queue failing (503: Rocket.Chat retries a failed
// call when the integration's "Retry failed calls" is on, but never a 500) answer otherwise;
// never 410, which would make Rocket.Chat disable the integration.
import { Hono } from "hono";
import { openDatabase, type Database } from "../db/client";
import { withStorage } from "../db/with-storage";
import { bodyWithValidToken } from "../http/body-token";
import type { AppEnv } from "../http/app-env";
import { badRequest } from "../http/errors";
import { issueReason } from "../http/validation";
import { chatMessagePayloadSchema } from "../intake/rocketchat/payloads";
import { GroqChat } from "../llm/groq-chat";
import { logInfo } from "../log";
import { queueDelaySeconds } from "../../queues/retry-delay";
import { vectorizeProviders } from "../vectorize/providers";
import { answerQuestion } from "./answer";
import { botConfig, SYNC_ONLY_BUDGET_MS, type BotConfig } from "./config";
import { answerMessageId, type BotQueueMessage } from "./delivery";
import { ACKNOWLEDGEMENT, formatAnswer, helpText } from "./format";
import { countQuestion, limitReply } from "./limits";
import { findQueryByMessage, insertQuestion, markQueued, recordAnswerOrCurrent, recordFeedback, threadHistory, type AnswerOfRecord, type BotQuery } from "./queries";

export const botRoutes = new Hono<AppEnv>();

/** The trigger word and what follows it: `trigger_word` when Rocket.Chat sent one, else the first word. */
function splitTrigger(text: string, triggerWord: string | undefined): { trigger: string; rest: string } {
  const trimmed = text.trim();
  const trigger = triggerWord ?? trimmed.split(/\s+/)[0] ?? "";
  const rest = trimmed.toLowerCase().startsWith(trigger.toLowerCase()) ? trimmed.slice(trigger.length) : trimmed;
  return { trigger, rest: rest.trim() };
}

botRoutes.post("/bot", async (c) => {
  const started = Date.now();
  const config = await botConfig.load(c.env);
  const body = await bodyWithValidToken(c, config.tokens, "rocket.chat bot");
  const parsed = chatMessagePayloadSchema.safeParse(body);
  if (!parsed.success) throw badRequest(issueReason(parsed.error, "body"));
  const message = parsed.data;
  // `bot` is parsed to true for both of Rocket.Chat's shapes (a boolean, an integration's object).
  if (message.bot === true) return c.json({ ignored: "bot message" }, 200);
  if (config.botUserId !== null && message.user_id === config.botUserId) return c.json({ ignored: "own message" }, 200);

  const tmid = message.tmid ?? message.message_id;
  const reply = (text: string) => c.json({ text, tmid }, 200);
  const { trigger, rest } = splitTrigger(message.text, message.trigger_word);
  const db = openDatabase(c.env.DB);
  const triggerIs = (word: string) => trigger.toLowerCase() === word.toLowerCase();

  // Feedback and help are not limited: neither searches nor calls the model.
  if (triggerIs(config.triggers.good) || triggerIs(config.triggers.bad)) {
    const recorded = await recordFeedback(db, tmid, triggerIs(config.triggers.good) ? "good" : "bad", rest || null);
    return reply(recorded ? "Thanks, noted." : "There is no answer of mine in this thread to rate yet.");
  }
  if (!triggerIs(config.triggers.ask) || rest.length === 0 || /^help\??$/i.test(rest)) return reply(helpText(config.triggers));

  // A redelivered question gets the answer it got the first time, or the acknowledgement when
  // it is in the bot queue. One whose earlier attempt neither answered nor queued it (that
  // attempt failed, or Rocket.Chat stopped waiting for it) is answered now.
  const existing = await findQueryByMessage(db, message.message_id);
  if (existing) {
    if (existing.answer !== null) return reply(existing.answer);
    if (existing.queuedAt !== null) return reply(ACKNOWLEDGEMENT);
    c.set("outcome", "answering a redelivered question");
    return reply(await answer(c.env, db, config, existing, started, (outcome) => c.set("outcome", outcome)));
  }

  const limitedBy = await countQuestion(db, { userId: message.user_id, roomId: message.channel_id }, config.limits, started);
  if (limitedBy) {
    c.set("outcome", `limited: ${limitedBy}`);
    logInfo("bot question limited", { roomId: message.channel_id, userId: message.user_id, limit: limitedBy });
    return reply(limitReply(limitedBy, config.limits));
  }

  const query = await insertQuestion(db, {
    id: crypto.randomUUID(),
    messageId: message.message_id,
    roomId: message.channel_id,
    threadId: tmid,
    userId: message.user_id,
    userName: message.user_name ?? null,
    question: rest,
    deliveryMessageId: await answerMessageId(message.message_id),
    createdAt: started,
  });
  // Another delivery of this message stored it a moment ago and is answering it.
  if (!query) return reply(ACKNOWLEDGEMENT);
  return reply(await answer(c.env, db, config, query, started, (outcome) => c.set("outcome", outcome)));
});

/** Answers a stored, pending question within the webhook's time, else queues it; the text to reply. */
async function answer(env: Env, db: Database, config: BotConfig, query: BotQuery, started: number, setOutcome: (outcome: string) => void): Promise<string> {
  const canAnswerLater = config.api !== null;
  const result = await answerQuestion({
    db,
    providers: await vectorizeProviders(env, db),
    groq: config.groq ? new GroqChat(config.groq) : null,
    roomId: query.roomId,
    question: query.question,
    history: await threadHistory(db, query.threadId, query.createdAt),
    // Rocket.Chat waits about 20 s. With the REST API the bot answers later past its budget.
    deadline: started + (canAnswerLater ? config.budgetMs : SYNC_ONLY_BUDGET_MS),
    visibility: config.visibility,
  });

  if ("later" in result) {
    if (canAnswerLater) {
      // A failed send answers 503: Rocket.Chat's retry finds the question not queued and answers
      // it again; without a retry the bot sweep answers it after five minutes.
      await withStorage("queueing the answer", () => env.BOT_QUEUE.send({ queryId: query.id } satisfies BotQueueMessage, { delaySeconds: queueDelaySeconds(result.delaySeconds) }));
      await markQueued(db, query.id);
      setOutcome(`answer later: ${result.reason}`);
      return ACKNOWLEDGEMENT;
    }
    const failed = { mode: "error" as const, body: "Sorry, I could not answer in time, and I have no way to answer later here. Please ask again in a minute.", sources: [], model: null, promptTokens: null, completionTokens: null, retrievalMs: 0, modelMs: 0 };
    const text = formatAnswer(failed, config.messageLimit, config.links);
    return recordedText(await recordAnswerOrCurrent(db, query.id, failed, text, { totalMs: Date.now() - started, delivery: "sync" }), text);
  }
  const text = formatAnswer(result, config.messageLimit, config.links);
  const totalMs = Date.now() - started;
  const outcome = await recordAnswerOrCurrent(db, query.id, result, text, { totalMs, delivery: "sync" });
  logInfo("bot answer", { queryId: query.id, mode: result.mode, sources: result.sources.length, retrievalMs: result.retrievalMs, modelMs: result.modelMs, totalMs });
  return recordedText(outcome, text);
}

/** The text of record: ours when we recorded it, else the one another attempt recorded first. */
function recordedText(outcome: AnswerOfRecord, text: string): string {
  return outcome.recorded ? text : (outcome.query?.answer ?? text);
}
