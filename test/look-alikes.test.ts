// Why look-alikes won in a large index, and what keeps the answer first (issue 26): a chat window
// of unrelated messages holds the question's place and problem lines apart, in fewer words than
// the call that answers it, so BM25's length normalization and the offline embedder's cosine
// both favour it. The D1 store ranks the chunks that hold two of the question's words close
// together ("near") on their own, and leaves the verbs a question is phrased with ("who called")
// out of its keyword queries. The benchmark at 100,000 chunks is `npm run bench:search`.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../workers/db/client";
import { chunkId } from "../workers/vectorize/chunk-id";
import { D1VectorStore, matchNear, NEAR_DISTANCE, nearPairs, proximityScore, questionPhrases, rankingTerms } from "../workers/vectorize/d1-vector-store";
import { exactTermCandidates } from "../workers/vectorize/relevance-floor";
import { OfflineEmbedder } from "../workers/vectorize/offline-embedder";

const embedder = new OfflineEmbedder();

/** A call that answers "who called about the cold radiators at the Alfama loft?", in a transcript's many words. */
const ANSWER = [
  "Aircall inbound call · with Sophie Laurent · agent Inês Costa",
  "Transcript:",
  "Caller: Edge Stays, good evening, Inês speaking.",
  "Caller: Bonsoir, this is Sophie Laurent, we're staying at the Alfama Loft. The radiators are cold.",
  "Caller: Did you turn up the thermostat in the hallway? Yes, to 23 degrees, but its screen is blank.",
  "Caller: Alright. There's an electric heater in the bedroom wardrobe you can use tonight.",
  "Caller: Our technician will come tomorrow morning to look at it. Is nine o'clock fine? Nine is perfect.",
].join("\n");

/** A chat window that holds the question's place and problem in unrelated messages, lines apart, in fewer words. */
const lookAlike = (n: number) => {
  const day = `2026-01-${String(1 + (n % 28)).padStart(2, "0")}`;
  return [
    `Rocket.Chat #ops · ${day}`,
    `[${day} 10:0${n % 10} UTC] ana.sousa: Alfama loft cleaned and ready for the next guests.`,
    `[${day} 11:3${n % 10} UTC] rui.almeida: Radiators at the Sintra house bled, they were cold.`,
  ].join("\n");
};

/** The rest of the index: other places, other problems (BM25's weights need words most chunks lack). */
const PLACES = ["Baixa studio", "Sintra house", "Cascais apartment", "Belem duplex"];
const PROBLEMS = ["the wifi is slow in the bedroom", "the lockbox code does not open", "we need two more towels", "the washing machine will not start", "can we check in early"];
const background = (n: number) => `Guest message: we're at the ${PLACES[n % PLACES.length]}, ${PROBLEMS[n % PROBLEMS.length]}. Thanks, guest ${n}.`;

async function index(prefix: string, texts: readonly string[]) {
  const model = `look-alikes-${prefix}`;
  const vectors = await embedder.embed(texts);
  const documents = await Promise.all(
    texts.map(async (text, i) => {
      const documentId = `${prefix}:${i}`;
      return {
        documentId,
        chunks: [{ id: await chunkId(documentId, 0), documentId, chunkIndex: 0, text, source: "aircall", entityType: "call", room: null, title: documentId, url: null, occurredAt: 1_763_000_000_000 + i, vector: vectors[i]! }],
      };
    }),
  );
  await new D1VectorStore(openDatabase(env.DB)).replaceDocuments(model, documents);
  return model;
}

describe("the D1 store among look-alikes", () => {
  it("finds the answer that says the place and the problem together among more look-alikes than a search reads", async () => {
    const prefix = crypto.randomUUID().slice(0, 8);
    // The answer first (the oldest chunk), then 100 look-alikes and 100 other chunks.
    const model = await index(prefix, [ANSWER, ...Array.from({ length: 100 }, (_, n) => lookAlike(n)), ...Array.from({ length: 100 }, (_, n) => background(n))]);
    const question = "who called about the cold radiators at the Alfama loft?";
    const [vector] = await embedder.embed([question]);
    // Small candidate limits: 20 keyword matches per query, 16 newest chunks, thin buckets.
    const store = new D1VectorStore(openDatabase(env.DB), { keywordCandidates: 20, bucketRows: 8, probes: 1, recentChunks: 16 });
    const hits = await store.query({ model, vector: vector!, text: question, k: 5, filter: {}, floor: { minScore: 0.2, exactTerms: exactTermCandidates(question) } });
    // BM25 ranks the shorter look-alikes first, and each holds every word of the question: only
    // the chunks that say two of its phrases together bring the answer in.
    expect(hits.map((hit) => hit.documentId)).toContain(`${prefix}:0`);
  });

  it("pairs words of different phrases of the question, never two common words, and quotes them", () => {
    const question = "who called about the cold radiators at the Alfama loft?";
    const chunksWith = new Map([
      ["radiators", 30],
      ["cold", 50],
      ["alfama", 5000],
      ["loft", 5000],
    ]);
    expect([...questionPhrases(question)]).toEqual([
      ["cold", new Set([0])],
      ["radiators", new Set([0])],
      ["alfama", new Set([1])],
      ["loft", new Set([1])],
    ]);
    const pairs = nearPairs(["cold", "radiators", "alfama", "loft"], chunksWith, 10_000, questionPhrases(question));
    // "cold radiators" and "alfama loft" are phrases: their words stand together wherever they are named.
    expect(pairs.map(({ first, second }) => `${first} ${second}`)).toEqual(["radiators alfama", "radiators loft", "cold alfama", "cold loft"]);
    // Two common words are no pair even across phrases; the rarer the words, the more a pair weighs.
    const common = nearPairs(["cold", "alfama", "loft"], new Map([["cold", 5000], ["alfama", 5000], ["loft", 5000]]), 10_000);
    expect(common).toEqual([]);
    expect(pairs[0]!.weight).toBeGreaterThan(pairs[3]!.weight);
    expect(matchNear(pairs.slice(0, 2))).toBe(`NEAR("radiators" "alfama", ${NEAR_DISTANCE}) OR NEAR("radiators" "loft", ${NEAR_DISTANCE})`);
    expect(matchNear([{ first: 'a"b', second: "c", weight: 1 }])).toBe(`NEAR("a""b" "c", ${NEAR_DISTANCE})`);
    expect(matchNear([])).toBeNull();
  });

  it("scores the pairs a chunk says within NEAR_DISTANCE words, each once", () => {
    const pairs = [
      { first: "radiators", second: "alfama", weight: 3 },
      { first: "cold", second: "alfama", weight: 2 },
    ];
    expect(proximityScore("We are at the Alfama Loft. The radiators are cold, the radiators!", pairs)).toBe(5);
    // Lines apart: the words are there, not together.
    const apart = `Alfama loft cleaned. ${"word ".repeat(NEAR_DISTANCE)}The radiators were cold.`;
    expect(proximityScore(apart, pairs)).toBe(0);
    expect(proximityScore(`Alfama ${"word ".repeat(NEAR_DISTANCE)}radiators`, pairs)).toBe(3);
  });

  it("leaves the verbs a question is phrased with out of the keyword queries, however rare", () => {
    // "called" is in 2 chunks, "radiators" in 40: as the rarest word "called" would decide the ranking.
    const chunksWith = new Map([
      ["called", 2],
      ["about", 900],
      ["phoned", 0],
      ["radiators", 40],
    ]);
    expect(rankingTerms(["who", "called", "about", "phoned", "the", "radiators"], chunksWith, 10_000)).toEqual(["radiators"]);
  });
});
