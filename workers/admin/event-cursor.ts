// Opaque keyset cursor over (received_at DESC, id DESC).
import { z } from "zod";

const cursorSchema = z.tuple([z.number().int(), z.string()]);
export type EventCursor = z.infer<typeof cursorSchema>;

export function encodeCursor(cursor: EventCursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor(value: string): EventCursor | null {
  try {
    const json = atob(value.replaceAll("-", "+").replaceAll("_", "/"));
    const parsed = cursorSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
