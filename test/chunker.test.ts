import { describe, expect, it } from "vitest";
import { chunkDocument, estimateTokens } from "../workers/vectorize/chunker";

const header = "Call with Gerald Charlton (caller) and Ana (agent), Front desk line, 2026-11-20";
const turn = (speaker: string, index: number) => `${speaker}: this is turn number ${index} of the conversation about the broken boiler in flat two`;
const transcript = Array.from({ length: 80 }, (_, index) => turn(index % 2 ? "Caller" : "Agent", index)).join("\n");
const options = { targetTokens: 350, maxTokens: 450, overlapTokens: 50 };

describe("chunking", () => {
  it("keeps a short document whole, header first", () => {
    expect(chunkDocument(header, "Agent: Hello\nCaller: The boiler is broken.")).toEqual([`${header}\nAgent: Hello\nCaller: The boiler is broken.`]);
  });

  it("cuts a long transcript at speaker turns, every chunk within the size and headed", () => {
    const chunks = chunkDocument(header, transcript, options);
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) {
      const [first, ...lines] = chunk.split("\n");
      expect(first).toBe(header);
      expect(estimateTokens(chunk)).toBeLessThanOrEqual(options.maxTokens);
      // Whole turns only: each line is one of the transcript's lines.
      for (const line of lines) expect(transcript.split("\n")).toContain(line);
    }
    // Every turn is in some chunk.
    const covered = new Set(chunks.flatMap((chunk) => chunk.split("\n").slice(1)));
    expect(covered.size).toBe(80);
  });

  it("repeats the end of a chunk at the start of the next", () => {
    const [first, second] = chunkDocument(header, transcript, options);
    const lastOfFirst = first!.split("\n").at(-1);
    expect(second!.split("\n").slice(1)).toContain(lastOfFirst);
  });

  it("cuts a single overlong line at word boundaries", () => {
    const line = Array.from({ length: 1000 }, (_, index) => `word${index}`).join(" ");
    const chunks = chunkDocument("Header", line, options);
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expect(estimateTokens(chunk)).toBeLessThanOrEqual(options.maxTokens);
    expect(chunks.flatMap((chunk) => chunk.split("\n").slice(1).join(" ").split(" "))).toEqual(expect.arrayContaining(["word0", "word999"]));
  });

  it("has no chunks for an empty document, so it leaves the index", () => {
    expect(chunkDocument(header, "")).toEqual([]);
    expect(chunkDocument(header, " \n \n")).toEqual([]);
  });
});
