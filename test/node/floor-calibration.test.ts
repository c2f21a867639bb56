// The relevance floor's calibration rule (scripts/bench/floor-calibration.ts): keep recall, refuse
// the most unanswerable questions, take the middle of the neighbouring floors that do both.
import { describe, expect, it } from "vitest";
import { chooseFloor, finerGrid, type FloorOutcome } from "../../scripts/bench/floor-calibration.ts";

const outcome = (minScore: number | null, recalled: number, unanswerableRefused: number): FloorOutcome => ({ minScore, recalled, answerableRefused: 0, unanswerableRefused });

describe("the floor calibration", () => {
  it("keeps recall first, then refuses the most, then takes the middle of the run that does both", () => {
    const outcomes = [
      outcome(null, 40, 0),
      outcome(0.28, 40, 7),
      outcome(0.29, 40, 10),
      outcome(0.295, 40, 10),
      outcome(0.3, 40, 10),
      outcome(0.31, 39, 11),
      outcome(0.5, 20, 12),
    ];
    expect(chooseFloor(outcomes)).toEqual({ minScore: 0.295, from: 0.29, to: 0.3, outcome: outcomes[3] });
  });

  it("chooses none when every floor loses recall, and refines around a first choice in steps of 0.001", () => {
    expect(chooseFloor([outcome(null, 40, 0), outcome(0.1, 39, 5)])).toBeNull();
    expect(() => chooseFloor([outcome(0.1, 40, 5)])).toThrow(/baseline/);
    const finer = finerGrid({ from: 0.3, to: 0.3 });
    expect(finer[0]).toBe(0.291);
    expect(finer.at(-1)).toBe(0.309);
    expect(finer).not.toContain(0.3);
    expect(finer).toHaveLength(18);
  });
});
