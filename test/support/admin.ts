// The admin API as an operator calls it: bearer ADMIN_TOKEN, JSON bodies.
import { env, exports } from "cloudflare:workers";

/** An admin API call with the bearer token. */
export function adminFetch(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const { json, ...rest } = init;
  return exports.default.fetch(`http://admin${path}`, {
    ...rest,
    ...(json !== undefined ? { method: rest.method ?? "POST", body: JSON.stringify(json) } : {}),
    headers: { "content-type": "application/json", authorization: `Bearer ${env.ADMIN_TOKEN}`, ...rest.headers },
  });
}
