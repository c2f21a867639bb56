// Calibrating the relevance floor of an embedder model on the labelled question set
// (search-questions.ts): every question, answerable or not, is searched (k = 5) at each floor of
// a grid, and the floor kept is the one that
//   1. keeps recall@5 of the answerable questions at least what it is with no floor, then
//   2. refuses (returns nothing for) the most unanswerable questions, then
//   3. lies in the middle of the neighbouring floors that do both: the widest margin either side.
// The grid is searched in steps of 0.01, then again in steps of 0.001 around the floors found,
// whose edges sit between two questions' cosines.
// `npm run bench:vectorize -- --calibrate` runs it against the Worker; the value goes into
// CALIBRATED_FLOORS (workers/vectorize/relevance-floor.ts) under the model's id. The floor is
// what the best chunk of a search needs; every hit needs HIT_FLOOR_SHARE of it.
import { HIT_FLOOR_SHARE } from "../../workers/vectorize/relevance-floor.ts";

/** What one floor does to the labelled set. */
export type FloorOutcome = {
  /** null: no floor ("off"). */
  minScore: number | null;
  /** Answerable questions whose answering document is among the hits. */
  recalled: number;
  /** Answerable questions with no hit at all (refused by mistake). */
  answerableRefused: number;
  /** Unanswerable questions with no hit at all. */
  unanswerableRefused: number;
};

/** 0.00, 0.01, … 0.60: cosines of lexical and model embedders alike sit in this range. */
export const FLOOR_GRID: readonly number[] = Array.from({ length: 61 }, (_, index) => index / 100);

/** The finer grid around a first choice: steps of 0.001 from 0.01 below it to 0.01 above. */
export function finerGrid(chosen: { from: number; to: number }): number[] {
  const start = Math.round((chosen.from - 0.01) * 1000);
  const end = Math.round((chosen.to + 0.01) * 1000);
  return Array.from({ length: end - start + 1 }, (_, index) => (start + index) / 1000).filter((score) => !FLOOR_GRID.includes(score));
}

/** The floor to keep (see the header), with the range of floors that do as well; null when no floor keeps recall. */
export function chooseFloor(outcomes: readonly FloorOutcome[]): { minScore: number; from: number; to: number; outcome: FloorOutcome } | null {
  const baseline = outcomes.find((outcome) => outcome.minScore === null);
  if (!baseline) throw new Error("the outcomes need the no-floor baseline");
  const keeping = outcomes.filter((outcome) => outcome.minScore !== null && outcome.recalled >= baseline.recalled);
  if (keeping.length === 0) return null;
  const most = Math.max(...keeping.map((outcome) => outcome.unanswerableRefused));
  const best = keeping.filter((outcome) => outcome.unanswerableRefused === most).sort((a, b) => a.minScore! - b.minScore!);
  // The run of neighbouring grid floors around the median one; its middle, which need not be on the grid.
  const grid = outcomes.map((outcome) => outcome.minScore).filter((score): score is number => score !== null).sort((a, b) => a - b);
  const median = best[Math.floor((best.length - 1) / 2)]!;
  let from = grid.indexOf(median.minScore!);
  let to = from;
  const inBest = (index: number) => best.some((outcome) => outcome.minScore === grid[index]);
  while (from > 0 && inBest(from - 1)) from -= 1;
  while (to < grid.length - 1 && inBest(to + 1)) to += 1;
  return { minScore: Math.round(((grid[from]! + grid[to]!) / 2) * 10_000) / 10_000, from: grid[from]!, to: grid[to]!, outcome: median };
}

const share = (count: number, total: number) => `${count}/${total} (${((100 * count) / Math.max(1, total)).toFixed(0)}%)`;

/** The table and the verdict, as the benchmark prints them. */
export function calibrationReport(model: string, outcomes: readonly FloorOutcome[], answerable: number, unanswerable: number): string {
  const chosen = chooseFloor(outcomes);
  const inRange = (outcome: FloorOutcome) => chosen !== null && outcome.minScore !== null && outcome.minScore >= chosen.from && outcome.minScore <= chosen.to;
  // The coarse grid, and the finer steps only where they decide.
  const rows = outcomes.filter((outcome) => outcome.minScore === null || FLOOR_GRID.includes(outcome.minScore) || inRange(outcome) || outcome.minScore === chosen?.from || outcome.minScore === chosen?.to).map(
    (outcome) =>
      `${(outcome.minScore === null ? "off" : FLOOR_GRID.includes(outcome.minScore) ? outcome.minScore.toFixed(2) : outcome.minScore.toFixed(3)).padStart(5)}  recall@5 ${share(outcome.recalled, answerable).padEnd(12)} ` +
      `answerable refused ${share(outcome.answerableRefused, answerable).padEnd(11)} unanswerable refused ${share(outcome.unanswerableRefused, unanswerable)}` +
      (inRange(outcome) ? "  *" : ""),
  );
  const verdict = chosen
    ? `floor        ${chosen.minScore} for ${model}: the middle of ${chosen.from.toFixed(3)}–${chosen.to.toFixed(3)} (*), which keep recall@5 at ` +
      `${share(chosen.outcome.recalled, answerable)} as without a floor and refuse ${share(chosen.outcome.unanswerableRefused, unanswerable)} ` +
      `unanswerable questions; put it in CALIBRATED_FLOORS (workers/vectorize/relevance-floor.ts)`
    : `floor        none for ${model}: every floor of the grid loses recall; leave the model uncalibrated`;
  return `floor  what the labelled set gets at each floor (k = 5; hits need ${HIT_FLOOR_SHARE} of it)\n${rows.join("\n")}\n${verdict}`;
}
