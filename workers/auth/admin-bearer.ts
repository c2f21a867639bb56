import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/app-env";
import { unauthorized } from "../http/errors";
import { adminApiConfig } from "./admin-token";
import { constantTimeEquals } from "./constant-time";
import { bearerToken } from "./bearer";

/** Requires `Authorization: Bearer <ADMIN_TOKEN>`; without ADMIN_TOKEN the API answers 503, never opens. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { token } = await adminApiConfig.load(c.env);
  const bearer = bearerToken(c.req.header("authorization"));
  if (!bearer || !(await constantTimeEquals(bearer, token))) {
    c.header("WWW-Authenticate", 'Bearer realm="admin"');
    throw unauthorized("admin bearer token mismatch");
  }
  await next();
};
