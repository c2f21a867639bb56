import { z } from "zod";
import { defineCapability } from "../config/capability";
import { commaList, secretString } from "../config/variables";
import { rocketChatApiFrom } from "../chat/rocketchat-api";

const trigger = z.string().regex(/^\S{1,32}$/, { error: "one word, at most 32 characters" });
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);

/**
 * The Rocket.Chat bot: the outgoing integration's token (required), its trigger words, the time
 * it may take before answering later instead, and Rocket.Chat's message limit. Answering later
 * needs the REST credentials; without them the bot answers in the webhook's reply, waiting up to
 * its Rocket.Chat timeout. Groq comes from the vectorization settings (GROQ_*): without a key the
 * bot answers extractively.
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
    ROCKETCHAT_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    ROCKETCHAT_USER_ID: z.string().min(1).optional(),
    ROCKETCHAT_AUTH_TOKEN: secretString(8).optional(),
  },
  build: (values) => ({
    tokens: values.ROCKETCHAT_BOT_TOKEN,
    triggers: { ask: values.BOT_ASK_TRIGGER ?? "!ask", good: values.BOT_GOOD_TRIGGER ?? "!good", bad: values.BOT_BAD_TRIGGER ?? "!bad" },
    budgetMs: values.BOT_ANSWER_BUDGET_MS ?? 8000,
    messageLimit: values.ROCKETCHAT_MESSAGE_LIMIT ?? 5000,
    botUserId: values.ROCKETCHAT_USER_ID ?? null,
    api: rocketChatApiFrom(values),
  }),
});

export type BotConfig = Awaited<ReturnType<typeof botConfig.load>>;

/** Rocket.Chat gives an outgoing integration about 20 s; without the async path the bot uses most of it. */
export const SYNC_ONLY_BUDGET_MS = 17_000;
