import type { EventSource } from "../db/schema";
import { normalizeAircall } from "./aircall/normalize";
import { normalizeGuesty } from "./guesty/normalize";
import type { Normalization } from "./normalization";
import { normalizeRocketChat } from "./rocketchat/normalize";

/**
 * Pure: the same stored event always normalizes the same way, so replay is safe. `receivedAt`
 * orders changes whose body carries no time of its own (a Rocket.Chat edit).
 */
export function normalizeEvent(source: EventSource, type: string, body: Record<string, unknown>, receivedAt: number): Normalization {
  switch (source) {
    case "aircall":
      return normalizeAircall(type, body);
    case "guesty":
      return normalizeGuesty(type, body);
    case "rocketchat":
      return normalizeRocketChat(type, body, receivedAt);
  }
}
