// Knowing when nothing fits. Reciprocal-rank fusion ranks whatever it is given, so a nonsense
// query still gets k hits: the floor decides what may be ranked at all, and both stores apply it
// the same way, to the same score (a chunk's `relevance`: the dense cosine of the query and the
// chunk, which Qdrant returns as the score of a Cosine vector and the D1 store computes):
//
// - The floor (`minScore`) says whether a search found anything: its best chunk must reach it.
//   Below it, the search returns nothing, however the keyword half matched ("wifi" is in some
//   record; that is not an answer about the wifi of a flat we do not have).
// - The hits returned with that best chunk need HIT_FLOOR_SHARE of the floor: near-misses stay
//   (a reply in a long thread, whose cosine the thread's length dilutes), the unrelated tail
//   goes, so a search may return fewer than k hits.
// - A rare exact term passes whatever the cosines: a query word shaped like a code, a reference
//   number or a name (`exactTermCandidates`) that at most RARE_TERM_MAX_CHUNKS chunks the search
//   may see contain as a whole word. Those chunks join the keyword ranking.
// - Then both rankings (dense, keyword) are fused by reciprocal rank (RRF_K) and the best k
//   returned.
//
// The cosine means something only within one embedder's space, so the floor belongs to a model:
// CALIBRATED_FLOORS holds the values measured on the labelled question set
// (`npm run bench:vectorize -- --calibrate`, scripts/bench/floor-calibration.ts); a model nobody
// calibrated gets no floor unless SEARCH_MIN_SCORE sets one.
import { fuseByReciprocalRank } from "./vector-store.ts";
import { words } from "./words.ts";

/** The cosine the best chunk of a search needs, and the query's terms that pass it when rare. */
export type RelevanceFloor = { minScore: number; exactTerms: readonly ExactTerm[] };

/** A query word that may pass the floor: `term` as `words()` gives it, `typed` as written. */
export type ExactTerm = { term: string; typed: string };

/** What SEARCH_MIN_SCORE says: a floor for every model, "off", or unset (null). */
export type MinScoreSetting = number | "off" | null;

/**
 * Floors measured with `npm run bench:vectorize -- --calibrate`, by embedder model id (the
 * `model` of workers/vectorize/embedder.ts). Not listed, so no floor unless SEARCH_MIN_SCORE is
 * set: `workers-ai:@cf/baai/bge-m3` (the deployed default; needs a calibration run against
 * Workers AI, which has no local stand-in) and every OpenAI-compatible model.
 */
export const CALIBRATED_FLOORS: Readonly<Record<string, number>> = {
  // 2026-12-06: the labelled set (40 answerable and 12 unanswerable questions over the 60-record
  // corpus) searched as the bot searches. Floors 0.294–0.301 keep recall@5 at 40/40, as without
  // a floor, and refuse 10 of 12; this is their middle. Narrow: a lexical embedder's cosines of
  // the two sets overlap (the two it cannot refuse name a real listing and share its words).
  "offline-hashed-ngrams-v1-512": 0.2975,
};

/**
 * The share of the floor every hit needs. 0.8: the answering chunk of each labelled question
 * stays (the lowest sits at 0.87 of the offline model's floor, a chat window diluted by its
 * other messages), while chunks that merely share a listing's name go.
 */
export const HIT_FLOOR_SHARE = 0.8;

/** A term found in more chunks than this is not rare: it is a word of the trade, not an identifier. */
export const RARE_TERM_MAX_CHUNKS = 3;
/** At most this many candidate terms per query: each costs a lookup. */
export const MAX_EXACT_TERMS = 6;

export type FloorSource = "calibrated" | "SEARCH_MIN_SCORE";

/** The floor searches with `model` get: SEARCH_MIN_SCORE when set, else the calibrated one, else none. */
export function minScoreFor(model: string, setting: MinScoreSetting): { minScore: number; source: FloorSource } | null {
  if (setting === "off") return null;
  if (setting !== null) return { minScore: setting, source: "SEARCH_MIN_SCORE" };
  const calibrated = CALIBRATED_FLOORS[model];
  return calibrated === undefined ? null : { minScore: calibrated, source: "calibrated" };
}

/** Ordinals, times and units: they carry digits but identify nothing ("4th", "11am", "30min"). */
const MEASURE = /^\d+(st|nd|rd|th|am|pm|h|hr|hrs|min|mins|m|km|kg|k|eur|euros?|usd)$/;

/**
 * The query's words that look like a code ("HM4XZ2", "E119"), a reference number (5 digits or
 * more: a confirmation code, a phone number, a call id) or a name (capitalized, not opening a
 * sentence: "Okafor"). Common words ("wifi", "password") never qualify, however rare in the index:
 * a question about the wifi at a flat we do not have must not pass through another flat's wifi.
 */
export function exactTermCandidates(text: string): ExactTerm[] {
  const codes: ExactTerm[] = [];
  const names: ExactTerm[] = [];
  const seen = new Set<string>();
  let sentenceStart = true;
  for (const match of text.normalize("NFC").matchAll(/[\p{L}\p{N}]+|[.!?:;\n]/gu)) {
    const token = match[0];
    if (/^[.!?:;\n]$/.test(token)) {
      sentenceStart = true;
      continue;
    }
    const opensSentence = sentenceStart;
    sentenceStart = false;
    const term = words(token)[0];
    if (!term || seen.has(term)) continue;
    const digits = (term.match(/\p{N}/gu) ?? []).length;
    const letters = term.length - digits;
    const code =
      (digits >= 2 && letters >= 1 && term.length >= 4 && !MEASURE.test(term)) ||
      (letters === 0 && digits >= 5) ||
      (digits === 0 && term.length >= 4 && token === token.toUpperCase() && token !== token.toLowerCase());
    const name = !code && !opensSentence && digits === 0 && term.length >= 3 && /^\p{Lu}\p{Ll}/u.test(token);
    if (!code && !name) continue;
    seen.add(term);
    (code ? codes : names).push({ term, typed: token });
  }
  return [...codes, ...names].slice(0, MAX_EXACT_TERMS);
}

/** Whether `text` holds `term` as a whole word (case and accents aside). */
export function containsWord(text: string, term: string): boolean {
  return words(text).includes(term);
}

/** The cosine every hit of a search with `floor` needs: never more than the floor (which may be negative). */
export const hitFloor = (floor: Pick<RelevanceFloor, "minScore">) => Math.min(floor.minScore, floor.minScore * HIT_FLOOR_SHARE);

/**
 * The floor applied to a store's two rankings, then fused. `dense`: chunk ids by cosine, best
 * first, from the best chunk the search may see; `keyword`: keyword matches, best first;
 * `relevance`: the cosine of every chunk known; `exact`: chunks holding a rare exact term.
 */
export function fuseAboveFloor(input: {
  minScore: number;
  dense: readonly string[];
  keyword: readonly string[];
  /**
   * Keyword matches the store is surer of, best first: fused as a ranking of their own, so an
   * answer the keyword half is sure of outranks look-alikes that merely sit in both rankings.
   * Optional (the D1 store's chunks that say the question's words together, its "near" query).
   */
  strongKeyword?: readonly string[];
  relevance: ReadonlyMap<string, number>;
  exact: ReadonlySet<string>;
  candidates: number;
  k: number;
}): [string, number][] {
  const relevanceOf = (id: string) => input.relevance.get(id) ?? Number.NEGATIVE_INFINITY;
  const found = input.dense.length > 0 && relevanceOf(input.dense[0]!) >= input.minScore;
  if (!found && input.exact.size === 0) return [];
  const least = hitFloor(input);
  // Found only through a rare exact term: only the chunks that hold it.
  const passes = (id: string) => input.exact.has(id) || (found && relevanceOf(id) >= least);
  const dense = input.dense.filter(passes).slice(0, input.candidates);
  const keyword = input.keyword.filter(passes);
  // A rare exact term always passes, even where the keyword half did not rank its chunk.
  const rare = [...input.exact].filter((id) => !keyword.includes(id)).sort((a, b) => relevanceOf(b) - relevanceOf(a));
  const strong = (input.strongKeyword ?? []).filter(passes).slice(0, input.candidates);
  const fused = fuseByReciprocalRank([dense, [...keyword.slice(0, input.candidates), ...rare], strong]);
  // Equal scores in id order: the same order in both stores.
  return [...fused].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, input.k);
}
