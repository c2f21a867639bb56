import type { EventSource } from "../db/schema";
import { normalizeAircall } from "./aircall/normalize";
import { normalizeGuesty } from "./guesty/normalize";
import type { Normalization } from "./normalization";

/** Pure: the same stored event always normalizes the same way, so replay is safe. */
export function normalizeEvent(source: EventSource, type: string, body: Record<string, unknown>): Normalization {
  return source === "aircall" ? normalizeAircall(type, body) : normalizeGuesty(type, body);
}
