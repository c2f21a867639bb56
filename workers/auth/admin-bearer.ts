import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/app-env";
import { unauthorized } from "../http/errors";
import { adminApiConfig } from "./admin-token";
import { constantTimeEquals } from "./constant-time";

/** Requires `Authorization: Bearer <ADMIN_TOKEN>`; without ADMIN_TOKEN the API answers 503, never opens. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { token } = await adminApiConfig.load(c.env);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
  if (!match?.[1] || !(await constantTimeEquals(match[1], token))) {
    c.header("WWW-Authenticate", 'Bearer realm="admin"');
    throw unauthorized("admin bearer token mismatch");
  }
  await next();
};
