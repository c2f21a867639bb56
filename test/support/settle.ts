// Intake answers once the event is stored and processes it off the response path (the intake
// queue's consumer). Tests that look at entities or documents wait for that processing here.
import { env } from "cloudflare:workers";

/** Waits until the stored event `id` is no longer "received"; throws after `timeoutMs`. */
export async function waitProcessed(id: string, timeoutMs = 10_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await env.DB.prepare("SELECT status FROM webhook_events WHERE id = ?").bind(id).first<string>("status");
    if (status && status !== "received") return status;
    if (Date.now() > until) throw new Error(`event ${id} still ${status ?? "missing"} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** For a 200 webhook answer: waits until its event is processed, then hands the response back. */
export async function settled(response: Response): Promise<Response> {
  if (response.status === 200) {
    const { id } = (await response.clone().json()) as { id: string };
    await waitProcessed(id);
  }
  return response;
}

/**
 * Waits until the index holds the current text of every document in `ids` (the vectorize
 * queue's consumer has run for them); throws after `timeoutMs`.
 */
export async function waitIndexed(ids: readonly string[], timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pending = await env.DB.prepare(
      "SELECT id FROM documents WHERE id IN (SELECT value FROM json_each(?)) AND (indexed_hash IS NULL OR indexed_hash <> content_hash)",
    )
      .bind(JSON.stringify(ids))
      .all<{ id: string }>();
    const known = await env.DB.prepare("SELECT count(*) AS n FROM documents WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(ids)).first<number>("n");
    if (pending.results.length === 0 && known === ids.length) return;
    if (Date.now() > until) throw new Error(`not indexed after ${timeoutMs} ms: ${pending.results.map((row) => row.id).join(", ") || "documents missing"}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
