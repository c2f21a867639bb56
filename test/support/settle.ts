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
