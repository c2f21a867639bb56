// The message intake, the catch-up sweep and the admin API send to the vectorize queue. It
// names a document only; the consumer loads the current text from D1, so a late message never
// vectorizes stale text.
import { z } from "zod";

export const vectorizeMessageSchema = z.object({
  documentId: z.string().min(1).max(512),
  /** Rebuild even when the index looks up to date (an operator's revectorize). */
  force: z.boolean().optional(),
});

export type VectorizeMessage = z.infer<typeof vectorizeMessageSchema>;
