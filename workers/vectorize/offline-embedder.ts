// The embedder a newcomer gets with no account and no network: feature hashing of words, word
// pairs and character trigrams into a fixed number of dimensions. Deterministic, instant, and
// useful for lexical and near-lexical similarity (shared words, inflections and misspellings
// share trigrams); it knows no synonyms, which is what a model-based embedder adds.
// Imports carry their extension: Node-side code (the embeddings fake) loads this module too.
import type { Embedder } from "./embedder.ts";
import { words } from "./words.ts";

const DIMENSIONS = 512;
// Part of the model name: changing the features or their weights changes the vector space.
const FEATURE_VERSION = 1;

const WORD_WEIGHT = 1;
const PAIR_WEIGHT = 0.5;
const TRIGRAM_WEIGHT = 0.35;

/** Words too common to say anything about a document. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  "a an and are as at be but by for from has have i in is it its of on or our so that the their there this to was we were will with you your".split(" "),
);

/** FNV-1a, 32 bits: a fast, stable hash for feature hashing. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function addFeature(vector: Float32Array, feature: string, weight: number): void {
  const hash = fnv1a(feature);
  // A second, independent bit decides the sign, so collisions cancel out on average.
  const sign = fnv1a(feature, 0x9747b28c) & 1 ? 1 : -1;
  const index = hash % vector.length;
  vector[index] = vector[index]! + sign * weight;
}

function embedOne(text: string, dimensions: number): Float32Array {
  const counts = new Map<string, number>();
  const count = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
  const all = words(text);
  const content = all.filter((word) => !STOPWORDS.has(word));
  for (const word of content) {
    count(`w:${word}`, WORD_WEIGHT);
    const padded = `<${word}>`;
    for (let i = 0; i + 3 <= padded.length; i += 1) count(`t:${padded.slice(i, i + 3)}`, TRIGRAM_WEIGHT);
  }
  for (let i = 0; i + 1 < content.length; i += 1) count(`p:${content[i]} ${content[i + 1]}`, PAIR_WEIGHT);

  const vector = new Float32Array(dimensions);
  // Sub-linear term frequency: a word said ten times is not ten times as telling.
  for (const [feature, weight] of counts) addFeature(vector, feature, Math.log1p(weight));
  let norm = 0;
  for (const value of vector) norm += value * value;
  if (norm > 0) {
    const scale = 1 / Math.sqrt(norm);
    for (let i = 0; i < vector.length; i += 1) vector[i] = vector[i]! * scale;
  }
  return vector;
}

export class OfflineEmbedder implements Embedder {
  readonly dimensions = DIMENSIONS;
  readonly model = `offline-hashed-ngrams-v${FEATURE_VERSION}-${DIMENSIONS}`;
  // Local and cheap: one call takes a whole queue batch's chunks.
  readonly maxBatch = 1000;

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length > this.maxBatch) throw new RangeError(`at most ${this.maxBatch} texts per call, got ${texts.length}`);
    return texts.map((text) => embedOne(text, this.dimensions));
  }
}
