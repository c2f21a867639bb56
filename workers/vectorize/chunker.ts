// Splits a document into the chunks that are embedded and returned by search. A document's
// lines are its natural units (a transcript's speaker turns, a conversation's messages, a
// record's fields): chunks are whole lines packed up to a size, the last lines of a chunk
// repeated at the start of the next so an answer spanning the boundary is in one of them.
// Every chunk starts with the document's header line (who, where, when), so the text that is
// embedded and shown in a search hit carries its context.

export type ChunkingOptions = {
  /** Aim for chunks of about this many tokens (header included). */
  targetTokens: number;
  /** Never more than this many tokens in a chunk; a longer line is cut at word boundaries. */
  maxTokens: number;
  /** Repeat about this many tokens of a chunk's end at the start of the next. */
  overlapTokens: number;
};

export const DEFAULT_CHUNKING: ChunkingOptions = { targetTokens: 350, maxTokens: 450, overlapTokens: 50 };

/** Roughly what an embedding model's tokenizer counts: about 4 tokens for every 3 words. */
export function estimateTokens(text: string): number {
  const wordCount = text.split(/\s+/).filter((word) => word.length > 0).length;
  return Math.ceil((wordCount * 4) / 3);
}

/** Cuts a line longer than `maxTokens` into pieces at word boundaries. */
function pieces(line: string, maxTokens: number): string[] {
  if (estimateTokens(line) <= maxTokens) return [line];
  const wordsPerPiece = Math.max(1, Math.floor((maxTokens * 3) / 4));
  const lineWords = line.split(/\s+/).filter((word) => word.length > 0);
  const result: string[] = [];
  for (let start = 0; start < lineWords.length; start += wordsPerPiece) result.push(lineWords.slice(start, start + wordsPerPiece).join(" "));
  return result;
}

/**
 * The chunks of a document: `header` (one line) followed by packed lines of `body`. An empty
 * body has no chunks: the document is removed from the index.
 */
export function chunkDocument(header: string, body: string, options: ChunkingOptions = DEFAULT_CHUNKING): string[] {
  const headerLine = header.replace(/\s+/g, " ").trim();
  const budget = Math.max(1, options.maxTokens - estimateTokens(headerLine));
  const target = Math.max(1, Math.min(budget, options.targetTokens - estimateTokens(headerLine)));
  const lines = body
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .flatMap((line) => pieces(line, budget));
  if (lines.length === 0) return [];

  const chunks: string[][] = [];
  let current: string[] = [];
  let tokens = 0;
  // Lines of `current` not carried over from the previous chunk: a chunk of overlap alone
  // would repeat what is already indexed.
  let newLines = 0;
  for (const line of lines) {
    const lineTokens = estimateTokens(line);
    if (newLines > 0 && tokens + lineTokens > target) {
      chunks.push(current);
      // The overlap: the previous chunk's last lines, as many as fit in overlapTokens.
      const overlap: string[] = [];
      let overlapTokens = 0;
      for (let i = current.length - 1; i >= 0; i -= 1) {
        const size = estimateTokens(current[i]!);
        if (overlapTokens + size > options.overlapTokens || overlapTokens + size + lineTokens > budget) break;
        overlap.unshift(current[i]!);
        overlapTokens += size;
      }
      current = overlap;
      tokens = overlapTokens;
      newLines = 0;
    }
    current.push(line);
    tokens += lineTokens;
    newLines += 1;
  }
  chunks.push(current);
  return chunks.map((chunkLines) => [headerLine, ...chunkLines].filter((line) => line.length > 0).join("\n"));
}
