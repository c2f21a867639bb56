// The message the intake sends to the vectorize queue and its consumer reads. It names a
// document only; the consumer loads the current text from D1, so a late message never
// vectorizes stale text.
import { z } from "zod";

export const vectorizeMessageSchema = z.object({
  documentId: z.string().min(1).max(512),
});

export type VectorizeMessage = z.infer<typeof vectorizeMessageSchema>;
