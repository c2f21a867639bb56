// The message intake sends once an event is stored: it names the event only; the consumer
// loads the stored body from D1, so a message never carries a payload (or its size limit).
import { z } from "zod";

export const intakeMessageSchema = z.object({
  eventId: z.string().min(1).max(300),
});

export type IntakeMessage = z.infer<typeof intakeMessageSchema>;
