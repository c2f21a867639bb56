import type { EntityChange } from "../entities/registry";

/** What a source's normalizer made of one event. */
export type Normalization =
  | { status: "processed"; changes: EntityChange[] }
  /** A type we keep raw but do not turn into entities. */
  | { status: "ignored" }
  /** A known type whose body does not have the documented shape; kept raw for replay. */
  | { status: "failed"; error: string };

export const ignored: Normalization = { status: "ignored" };
