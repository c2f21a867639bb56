// Every normalized entity kind and the D1 table that holds it.
import {
  aircallCalls,
  aircallContacts,
  aircallNumbers,
  aircallUsers,
  guestyGuests,
  guestyListings,
  guestyMessages,
  guestyReservations,
  guestyTasks,
  rocketchatMessages,
} from "../db/schema";

export const entityTables = {
  call: aircallCalls,
  contact: aircallContacts,
  aircall_user: aircallUsers,
  aircall_number: aircallNumbers,
  reservation: guestyReservations,
  listing: guestyListings,
  guest: guestyGuests,
  message: guestyMessages,
  task: guestyTasks,
  chat_message: rocketchatMessages,
} as const;

export type EntityKind = keyof typeof entityTables;
export type EntityRow<K extends EntityKind> = (typeof entityTables)[K]["$inferSelect"];
/** What a normalizer may write: every column but our own bookkeeping. */
export type EntityFields<K extends EntityKind> = Omit<
  (typeof entityTables)[K]["$inferInsert"],
  "id" | "fieldOrder" | "orderKey" | "version" | "updatedAt"
> & { id: EntityId<K> };
type EntityId<K extends EntityKind> = NonNullable<(typeof entityTables)[K]["$inferInsert"]["id"]>;

/**
 * Every field carried is written when `orderKey` is not older than that field's stored key.
 * snapshot: the source's view of the entity at `orderKey` (lean payloads carry only some
 *   fields); also moves the row's own order key.
 * patch: a few fields on a timeline of their own (an AI transcript, ordered by its event's
 *   timestamp); creates a bare row if the entity has not arrived yet.
 */
export type EntityChange = {
  [K in EntityKind]:
    | { kind: K; mode: "snapshot"; orderKey: number; fields: EntityFields<K> }
    | { kind: K; mode: "patch"; orderKey: number; fields: Partial<EntityFields<K>> & { id: EntityId<K> } };
}[EntityKind];

export type StoredEntity = {
  [K in EntityKind]: { kind: K; row: EntityRow<K> };
}[EntityKind];

/** Deletions are final at the source (ids are never reused), so nothing may overwrite them. */
export const DELETED_ORDER_KEY = Number.MAX_SAFE_INTEGER;
