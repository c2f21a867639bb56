// What every admin route module shares: the error shape, the bearer security requirement and a
// validation hook that answers 400 naming the offending field.
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/app-env";
import { badRequest } from "../http/errors";
import { issueReason } from "../http/validation";

export const errorSchema = z.object({ error: z.string(), requestId: z.string().optional() }).openapi("Error");

export const json = <T>(schema: T, description: string) => ({ content: { "application/json": { schema } }, description });

export const adminErrors = {
  400: json(errorSchema, "Invalid request"),
  401: json(errorSchema, "Missing or wrong bearer token"),
  503: json(errorSchema, "Storage unavailable, or the capability is not configured"),
};

export const adminSecurity = [{ adminBearer: [] }];

/** A router whose request validation failures answer 400 with the reason. */
export function adminRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw badRequest(issueReason(result.error));
    },
  });
}
