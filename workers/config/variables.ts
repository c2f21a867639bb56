// Shapes of variables shared by several capabilities. Error messages describe the expected
// form and never repeat the value.
import { z } from "zod";

/** A comma-separated list (rotation: old and new value side by side), each entry checked by `item`. */
export const commaList = (item: z.ZodString) =>
  z
    .string()
    .transform((raw) => raw.split(",").map((part) => part.trim()).filter((part) => part.length > 0))
    .pipe(z.array(item).min(1, { error: "must list at least one value" }));

/** A bearer-style secret: long enough that guessing is hopeless. */
export const secretString = (minLength: number) =>
  z.string().min(minLength, { error: `must be at least ${minLength} characters` });
