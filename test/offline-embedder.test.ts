import { describe, expect, it } from "vitest";
import { cosine } from "../workers/vectorize/embedder";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";
import { words } from "../workers/vectorize/words";

const embedder = new OfflineEmbedder();

async function similarity(a: string, b: string): Promise<number> {
  const [va, vb] = await embedder.embed([a, b]);
  return cosine(va!, vb!);
}

describe("the offline embedder", () => {
  it("gives the same unit vector of its declared size for the same text, every time", async () => {
    const [first, second, other] = await embedder.embed(["The boiler in flat 2 is broken.", "The boiler in flat 2 is broken.", "Late check-out"]);
    expect(first).toHaveLength(embedder.dimensions);
    expect([...first!]).toEqual([...second!]);
    expect([...first!]).not.toEqual([...other!]);
    expect(Math.hypot(...first!)).toBeCloseTo(1, 5);
    expect(embedder.model).toBe(`offline-hashed-ngrams-v1-${embedder.dimensions}`);
  });

  it("ranks a related text above an unrelated one of the same kind", async () => {
    const question = "who called about the broken boiler?";
    const related = await similarity(question, "Caller: the boiler in flat 2 is broken, no hot water");
    const unrelated = await similarity(question, "Caller: can we check in early on Saturday at the Lisbon flat?");
    expect(related).toBeGreaterThan(unrelated + 0.1);
  });

  it("matches across accents, case and inflection", async () => {
    expect(words("Lisbóa, LISBOA!")).toEqual(["lisboa", "lisboa"]);
    const inflected = await similarity("cleaning the apartments", "apartment cleaner booked");
    const unrelated = await similarity("cleaning the apartments", "invoice paid by card");
    expect(inflected).toBeGreaterThan(unrelated);
  });

  it("embeds an empty text as the zero vector, similar to nothing", async () => {
    const [empty] = await embedder.embed([""]);
    expect(empty!.every((value) => value === 0)).toBe(true);
    expect(await similarity("", "anything")).toBe(0);
  });

  it("refuses more texts per call than it declares", async () => {
    await expect(embedder.embed(Array(embedder.maxBatch + 1).fill("x"))).rejects.toThrow(RangeError);
  });
});
