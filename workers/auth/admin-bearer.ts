import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../config";
import type { AppEnv } from "../http/app-env";
import { unauthorized } from "../http/errors";
import { constantTimeEquals } from "./constant-time";

/** Requires `Authorization: Bearer <ADMIN_TOKEN>`; fails closed when ADMIN_TOKEN is unset. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  const { adminToken } = loadConfig(c.env);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
  if (!match?.[1] || !(await constantTimeEquals(match[1], adminToken))) {
    c.header("WWW-Authenticate", 'Bearer realm="admin"');
    throw unauthorized("admin bearer token mismatch");
  }
  await next();
};
