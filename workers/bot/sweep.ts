// The bot sweep, on every cron tick: no question stays unanswered. A question whose answer is
// not in its thread five minutes after it was asked (its queue message lost or still retrying,
// its queue send failed, the Worker stopped mid-answer, an answer recorded but never posted) is
// answered now, or, when that fails too, closed with an honest message in the thread saying the
// bot could not answer. Either way it is posted under the question's one answer id
// (./delivery.ts), so it never doubles an answer the queue posts meanwhile. Up to SWEEP_BATCH
// questions a tick, each swept at most SWEEP_ATTEMPTS times (a thread Rocket.Chat keeps
// refusing is given up with an alert); questions older than a day are left alone. The sweep
// also drops the earlier minutes' question counts (./limits.ts).
import { openDatabase, type Database } from "../db/client";
import { GroqChat } from "../llm/groq-chat";
import { raiseAlert } from "../alerts/raise";
import { failureReason, logError, logInfo, logWarn } from "../log";
import { vectorizeProviders, type VectorizeProviders } from "../vectorize/providers";
import { answerQuestion, type Answer } from "./answer";
import { botConfig, type BotConfig } from "./config";
import { deliverToThread, GAVE_UP, GAVE_UP_RECORD } from "./delivery";
import { formatAnswer } from "./format";
import { forgetOldCounts } from "./limits";
import { claimOverdueQuestions, recordAnswerOrCurrent, threadHistory, type BotQuery } from "./queries";

/** Every tick (workers/scheduled-jobs.ts). */
export const BOT_SWEEP_SCHEDULE = "*/5 * * * *";
/** A question still without its answer in the thread this long after it was asked is overdue. */
export const OVERDUE_MS = 5 * 60_000;
/** Older questions are not answered any more: a reply a day late helps nobody. */
const MAX_AGE_MS = 24 * 3600_000;
const SWEEP_BATCH = 10;
const SWEEP_ATTEMPTS = 3;
/** Questions answered side by side, and the time each may take. */
const PARALLEL = 4;
const ANSWER_DEADLINE_MS = 12_000;

export type BotSweepReport = { claimed: number; answered: number; closed: number; undelivered: number };

export type BotSweepOptions = { sleep?: (ms: number) => Promise<void> };

export async function sweepBotQuestions(env: Env, tickTime: number, options: BotSweepOptions = {}): Promise<BotSweepReport> {
  const report: BotSweepReport = { claimed: 0, answered: 0, closed: 0, undelivered: 0 };
  const db = openDatabase(env.DB);
  const config = await botConfig.loadIfConfigured(env);
  // No bot here: nothing to sweep.
  if (!config) return report;
  await forgetOldCounts(db, tickTime);
  const claimed = await claimOverdueQuestions(db, { cutoff: tickTime - OVERDUE_MS, oldest: tickTime - MAX_AGE_MS }, SWEEP_BATCH, SWEEP_ATTEMPTS);
  report.claimed = claimed.length;
  if (claimed.length === 0) return report;
  const api = config.api;
  if (!api) {
    await raiseAlert(env, "bot questions overdue, none can be posted", { questions: claimed.length, reason: "the REST API is not configured (ROCKETCHAT_URL, ROCKETCHAT_USER_ID, ROCKETCHAT_AUTH_TOKEN)" });
    report.undelivered = claimed.length;
    return report;
  }

  let providers: VectorizeProviders | null = null;
  try {
    providers = await vectorizeProviders(env, db);
  } catch (error) {
    logWarn("bot sweep cannot search", { reason: failureReason(error) });
  }
  const queue = [...claimed];
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
      for (let query = queue.shift(); query; query = queue.shift()) {
        try {
          const { text, answered } = await settle(db, config, providers, query, options);
          await deliverToThread(db, api, query, text, { checkFirst: true });
          if (answered) report.answered += 1;
          else report.closed += 1;
        } catch (error) {
          report.undelivered += 1;
          const givingUp = query.sweepAttempts >= SWEEP_ATTEMPTS;
          const fields = { queryId: query.id, sweeps: query.sweepAttempts, reason: failureReason(error) };
          if (givingUp) await raiseAlert(env, "bot question left unanswered", fields);
          else logError("bot sweep could not post", { ...fields, alert: false });
        }
      }
    }),
  );
  logInfo("bot sweep", { ...report });
  return report;
}

/** The text the question's thread gets: its recorded answer, a new one, or an honest failure (then recorded). */
async function settle(db: Database, config: BotConfig, providers: VectorizeProviders | null, query: BotQuery, options: BotSweepOptions): Promise<{ text: string; answered: boolean }> {
  if (query.answer !== null) return { text: query.answer, answered: query.status === "answered" };
  let answer: Answer | null = null;
  if (providers) {
    try {
      const result = await answerQuestion({
        db,
        providers,
        groq: config.groq ? new GroqChat(config.groq) : null,
        roomId: query.roomId,
        question: query.question,
        history: await threadHistory(db, query.threadId, query.createdAt),
        deadline: Date.now() + ANSWER_DEADLINE_MS,
        visibility: config.visibility,
        ...(options.sleep ? { sleep: options.sleep } : {}),
      });
      // Not answerable within the sweep's time either (the model is rate limited): closed.
      if (!("later" in result)) answer = result;
    } catch (error) {
      logWarn("bot sweep could not answer", { queryId: query.id, reason: failureReason(error) });
    }
  }
  const text = answer ? formatAnswer(answer, config.messageLimit, config.links) : GAVE_UP.sweep;
  const outcome = await recordAnswerOrCurrent(db, query.id, answer ?? GAVE_UP_RECORD, text, { totalMs: Date.now() - query.createdAt, delivery: "async" });
  if (outcome.recorded) return { text, answered: answer !== null && answer.mode !== "error" };
  // The queue's consumer recorded its answer meanwhile: that is the one to post.
  return { text: outcome.query?.answer ?? text, answered: outcome.query?.status === "answered" };
}
