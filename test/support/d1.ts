import { env } from "cloudflare:workers";

/** The first row of a query against the test D1, or null. */
export async function row(sql: string, ...params: unknown[]) {
  return env.DB.prepare(sql).bind(...params).first<Record<string, unknown>>();
}
