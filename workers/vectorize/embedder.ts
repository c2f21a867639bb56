// What turns text into vectors. Every provider (the offline default here; Workers AI and
// OpenAI-compatible APIs later) implements this interface. A vector is only comparable with
// vectors of the same `model`: the index records the model of what it holds, and a change of
// model re-vectorizes instead of mixing spaces.
export interface Embedder {
  /** Names the vector space: provider, model and anything that changes the vectors. */
  readonly model: string;
  /** Known up front (offline, configured) or null: as the model returns them. */
  readonly dimensions: number | null;
  /** The most texts one `embed` call takes; callers split larger batches. */
  readonly maxBatch: number;
  /** One vector per text, in order, all of one length. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}

/** Cosine similarity of two vectors of one space. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}
