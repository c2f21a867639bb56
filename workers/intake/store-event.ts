// The only D1 write before a webhook is answered: the event, once. The duplicate check is the
// same statement (INSERT ... ON CONFLICT DO NOTHING RETURNING), so of several concurrent
// deliveries of one event exactly one is told it is new.
import type { Database } from "../db/client";
import { withStorage } from "../db/with-storage";
import { webhookEvents, type EventSource, type EventStatus } from "../db/schema";
import type { Normalization } from "./normalization";

export type IncomingEvent = {
  id: string;
  source: EventSource;
  type: string;
  /** The body as stored: the raw text (Guesty) or the body without its token (Aircall). */
  payload: string;
  receivedAt: number;
};

export type StoredEvent = { duplicate: boolean; status: EventStatus };

export type StoredState = { status: EventStatus; error: string | null; processedAt: number | null };

/**
 * The state an event is stored in. One with nothing to normalize (an unknown type, or a body
 * not in its documented shape) is final as soon as it is stored; any other stays "received"
 * until it is processed off the response path. The webhook and the history sync share it.
 */
export function storedState(normalization: Normalization, receivedAt: number): StoredState {
  if (normalization.status === "processed") return { status: "received", error: null, processedAt: null };
  return { status: normalization.status, error: normalization.status === "failed" ? normalization.error : null, processedAt: receivedAt };
}

/** Stores `event`, in its `storedState`, unless its id is already stored. */
export async function storeEvent(db: Database, event: IncomingEvent, normalization: Normalization): Promise<StoredEvent> {
  const state = storedState(normalization, event.receivedAt);
  const inserted = await withStorage("storing the event", () =>
    db
      .insert(webhookEvents)
      .values({ ...event, ...state })
      .onConflictDoNothing({ target: webhookEvents.id })
      .returning({ id: webhookEvents.id }),
  );
  return { duplicate: inserted.length === 0, status: state.status };
}
