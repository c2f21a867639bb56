// An answer as a Rocket.Chat message: the answer (or passages), then the numbered sources with
// title, date and link. The message fits Rocket.Chat's limit by trimming the answer's text,
// never the list of sources. Text the bot did not write (the answer's body, record titles) is
// made inert first (./inert-text.ts): no mention notifies, no foreign link is a link; the
// sources' own links stay links.
import type { Answer, ExtractiveReason, Source } from "./answer";
import { inertText, NO_LINKS, type LinkPolicy } from "./inert-text";

/** What an extractive answer says about why: truthful, and naming nothing secret (no variable, no key). */
const EXTRACTIVE_LABELS: Record<ExtractiveReason, string> = {
  "no-model": "_Extractive answer: no language model is configured, so here are the most relevant records._",
  "model-unavailable": "_Extractive answer: the language model is unavailable right now, so here are the most relevant records._",
  "model-incomplete": "_Extractive answer: the language model did not finish an answer, so here are the most relevant records._",
};

function sourceLine(source: Source, links: LinkPolicy): string {
  const date = source.occurredAt === null ? null : new Date(source.occurredAt).toISOString().slice(0, 10);
  // A title is record text; brackets and parentheses would end our link's label early.
  const title = inertText(source.title.replace(/[[\]()]/g, ""), links, { inLinkLabel: source.url !== null }).replace(/[[\]]/g, "");
  const label = source.url ? `[${title}](${source.url})` : title;
  return `[${source.n}] ${[label, date].filter(Boolean).join(" · ")}`;
}

/**
 * The message for `answer`, at most `limit` characters. `links`: the hosts whose links in the
 * body stay links (default: none); the body and titles are made inert before trimming.
 */
export function formatAnswer(answer: Pick<Answer, "mode" | "body" | "sources" | "extractiveReason">, limit: number, links: LinkPolicy = NO_LINKS): string {
  const head = answer.mode === "extractive" ? `${EXTRACTIVE_LABELS[answer.extractiveReason ?? "no-model"]}\n\n` : "";
  const sources = answer.sources.length > 0 ? `\n\n*Sources*\n${answer.sources.map((source) => sourceLine(source, links)).join("\n")}` : "";
  const room = limit - head.length - sources.length;
  const inert = inertText(answer.body, links);
  // Never cut inside a defanged "[.]" or after a lone "@": trim, then make inert again.
  const body = inert.length <= room ? inert : inertText(`${inert.slice(0, Math.max(0, room - 1)).trimEnd()}…`, links);
  return `${head}${body}${sources}`.slice(0, Math.max(limit, sources.length));
}

export const ACKNOWLEDGEMENT = "Looking into it — I'll answer in this thread in a moment.";

export function helpText(triggers: { ask: string; good: string; bad: string }): string {
  return [
    `Ask me about calls, reservations, guest conversations and chat: \`${triggers.ask} who called about the boiler yesterday?\``,
    "I answer in the thread from the records this room may see, citing them as [1], [2].",
    `Follow-ups in the same thread remember the earlier questions. Rate an answer with \`${triggers.good}\` or \`${triggers.bad} <what was wrong>\`.`,
  ].join("\n");
}
