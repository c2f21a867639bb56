import type { z } from "zod";
import type { EntityChange } from "../entities/registry";

/** What a source's normalizer made of one event. */
export type Normalization =
  | { status: "processed"; changes: EntityChange[] }
  /** A type we keep raw but do not turn into entities. */
  | { status: "ignored" }
  /** A known type whose body does not have the documented shape; kept raw for replay. */
  | { status: "failed"; error: string };

export const ignored: Normalization = { status: "ignored" };

/**
 * Validates `value` (found at `where` in the body of an `event`) and turns it into one entity
 * change; a shape mismatch becomes a "failed" normalization naming the offending path.
 */
export function changeFrom<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
  event: string,
  toChange: (parsed: z.infer<S>) => EntityChange,
): Normalization {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = [where, ...(issue?.path ?? [])].join(".");
    return { status: "failed", error: `${event}: ${path} ${issue?.message ?? "is invalid"}` };
  }
  return { status: "processed", changes: [toChange(result.data)] };
}
