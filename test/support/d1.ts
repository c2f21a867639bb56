import { env } from "cloudflare:workers";

/** How many stored events mention `marker` in their payload: what a test's own requests stored. */
export async function eventsMentioning(marker: string) {
  return (await row("SELECT count(*) AS n FROM webhook_events WHERE instr(payload, ?) > 0", marker))?.n;
}

/** The first row of a query against the test D1, or null. */
export async function row(sql: string, ...params: unknown[]) {
  return env.DB.prepare(sql).bind(...params).first<Record<string, unknown>>();
}
