// bench:cost's workload: a realistic mix of webhooks (the labelled corpus first, then realistic
// distractors about the same flats, as scripts/bench/corpus-webhooks.ts sends them: Aircall calls
// with their transcripts, signed Guesty reservations and guest messages, Rocket.Chat messages)
// grouped by kind, and bot questions (the labelled ones, then those no record answers, in turn).
import { randomBytes } from "node:crypto";
import type { CostWorkload } from "./cost-counters.ts";
import { webhooksOf, type Webhook } from "./corpus-webhooks.ts";
import { distractors } from "./distractors.ts";
import { corpus, questions, unanswerableQuestions, type CorpusRecord } from "./search-questions.ts";

export const COST_BOT_TOKEN = `bench-${randomBytes(12).toString("hex")}`;
/** Questions no chat record is about are asked from a staff room, as bench:ask does. */
const STAFF_ROOM = "costStaffRoom0001";

export const KIND_NAMES: Record<CorpusRecord["kind"], string> = {
  call: "Aircall call (call.ended + transcription)",
  reservation: "Guesty reservation",
  "guest-message": "Guesty guest message",
  chat: "Rocket.Chat message",
};

export function buildCostWorkload(options: { webhooks: number; questions: number; batchSize: number; seed?: number }): CostWorkload {
  if (!(options.webhooks > 0 && options.questions >= 0 && options.batchSize >= 1)) throw new Error("webhooks > 0, questions >= 0 and batch >= 1, please");
  const byKind = new Map<CorpusRecord["kind"], Webhook[]>();
  let total = 0;
  const take = (record: CorpusRecord) => {
    const hooks = webhooksOf(record);
    byKind.set(record.kind, [...(byKind.get(record.kind) ?? []), ...hooks]);
    total += hooks.length;
  };
  for (const record of corpus) {
    if (total >= options.webhooks) break;
    take(record);
  }
  for (const record of distractors({ seed: options.seed ?? 1 })) {
    if (total >= options.webhooks) break;
    take(record);
  }
  const byKey = new Map(corpus.map((record) => [record.key, record]));
  const asking = [
    ...questions.map(({ question, answerKey }) => ({ question, record: byKey.get(answerKey) })),
    ...unanswerableQuestions.map((question) => ({ question, record: undefined })),
  ];
  return {
    phases: [...byKind.entries()].map(([kind, webhooks]) => ({ kind: KIND_NAMES[kind], webhooks })),
    questions: Array.from({ length: options.questions }, (_, index) => {
      const { question, record } = asking[index % asking.length]!;
      return { roomId: record?.kind === "chat" ? record.roomId : STAFF_ROOM, text: `!ask ${question}` };
    }),
    batchSize: options.batchSize,
  };
}
