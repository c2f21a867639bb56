import { z } from "zod";
import { defineCapability } from "../config/capability";
import { commaList, secretString } from "../config/variables";
import { optionalRocketChatVariables, rocketChatApiFrom } from "../chat/rocketchat-api";
import { DEFAULT_ROOM_VISIBILITY_TTL_SECONDS, roomVisibilityTtlSeconds } from "../chat/room-visibility";
import { openDatabase } from "../db/client";
import { DEFAULT_GROQ_BASE_URL, groqVariables } from "../llm/groq-config";
import { outageProblems, type ModelRole } from "../llm/model-outages";
import { linkPolicy } from "./inert-text";

/**
 * Answers: Groq's larger production model (the bot used GROQ_MODEL's llama-3.1-8b-instant,
 * retired on 2026-08-16). Its own variable, so summaries can stay on the small model.
 */
export const DEFAULT_GROQ_ANSWER_MODEL = "openai/gpt-oss-120b";

/** The answers' model, as the outage records, the alert and /healthz name it. */
export const answerModelRole = (model: string): ModelRole => ({
  variable: "GROQ_ANSWER_MODEL",
  model,
  capability: "rocket.chat bot",
  withoutIt: "the bot answers extractively",
});

const trigger = z.string().regex(/^\S{1,32}$/, { error: "one word, at most 32 characters" });
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const hostName = z.string().regex(/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i, { error: "host names only, e.g. docs.example.com" });

/** Questions a minute one user may ask (BOT_RATE_LIMIT), and one room (BOT_ROOM_RATE_LIMIT). */
export const DEFAULT_USER_QUESTIONS_PER_MINUTE = 10;
export const DEFAULT_ROOM_QUESTIONS_PER_MINUTE = 30;

/**
 * The Rocket.Chat bot: the outgoing integration's token (required), its trigger words, the time
 * it may take before answering later instead, and Rocket.Chat's message limit; its limits per
 * user and per room, the lifetime of a room's cached visibility, and the hosts whose links it
 * may post besides Rocket.Chat's own. Answering later
 * needs the REST credentials; without them the bot answers in the webhook's reply, waiting up to
 * its Rocket.Chat timeout. Written answers come from Groq: the bot reads GROQ_API_KEY and
 * GROQ_BASE_URL itself (the same values summaries use: one Groq account) and its own model,
 * GROQ_ANSWER_MODEL, so it never loads the vectorization capability's configuration for them.
 * Without a key the bot answers extractively.
 */
export const botConfig = defineCapability({
  name: "rocket.chat bot",
  variables: {
    ROCKETCHAT_BOT_TOKEN: commaList(secretString(8)),
    BOT_ASK_TRIGGER: trigger.optional(),
    BOT_GOOD_TRIGGER: trigger.optional(),
    BOT_BAD_TRIGGER: trigger.optional(),
    BOT_ANSWER_BUDGET_MS: positiveInt(17_000).optional(),
    ROCKETCHAT_MESSAGE_LIMIT: positiveInt(100_000).optional(),
    ...optionalRocketChatVariables,
    GROQ_API_KEY: groqVariables.apiKey,
    GROQ_ANSWER_MODEL: groqVariables.model,
    GROQ_BASE_URL: groqVariables.baseUrl,
    ROOM_VISIBILITY_TTL_SECONDS: roomVisibilityTtlSeconds,
    BOT_RATE_LIMIT: positiveInt(10_000).optional(),
    BOT_ROOM_RATE_LIMIT: positiveInt(100_000).optional(),
    BOT_LINK_HOSTS: commaList(hostName).optional(),
  },
  build: (values) => {
    const api = rocketChatApiFrom(values);
    return {
      tokens: values.ROCKETCHAT_BOT_TOKEN,
      triggers: { ask: values.BOT_ASK_TRIGGER ?? "!ask", good: values.BOT_GOOD_TRIGGER ?? "!good", bad: values.BOT_BAD_TRIGGER ?? "!bad" },
      budgetMs: values.BOT_ANSWER_BUDGET_MS ?? 8000,
      messageLimit: values.ROCKETCHAT_MESSAGE_LIMIT ?? 5000,
      botUserId: values.ROCKETCHAT_USER_ID ?? null,
      api,
      groq: values.GROQ_API_KEY
        ? { apiKey: values.GROQ_API_KEY, model: values.GROQ_ANSWER_MODEL ?? DEFAULT_GROQ_ANSWER_MODEL, baseUrl: values.GROQ_BASE_URL ?? DEFAULT_GROQ_BASE_URL }
        : null,
      /** Rooms of retrieved records are checked against rooms.info answers younger than this. */
      visibility: { api, ttlMs: (values.ROOM_VISIBILITY_TTL_SECONDS ?? DEFAULT_ROOM_VISIBILITY_TTL_SECONDS) * 1000 },
      limits: { perUser: values.BOT_RATE_LIMIT ?? DEFAULT_USER_QUESTIONS_PER_MINUTE, perRoom: values.BOT_ROOM_RATE_LIMIT ?? DEFAULT_ROOM_QUESTIONS_PER_MINUTE },
      /** Links in posted text stay links only to Rocket.Chat's own host and BOT_LINK_HOSTS. */
      links: linkPolicy(values.ROCKETCHAT_URL, values.BOT_LINK_HOSTS ?? []),
    };
  },
  // An answer model Groq no longer serves: the bot answers extractively meanwhile.
  degradation: async (config, env) => (config.groq ? outageProblems(openDatabase(env.DB), answerModelRole(config.groq.model)) : []),
});

export type BotConfig = Awaited<ReturnType<typeof botConfig.load>>;

/** Rocket.Chat gives an outgoing integration about 20 s; without the async path the bot uses most of it. */
export const SYNC_ONLY_BUDGET_MS = 17_000;
