// A fake incoming webhook, as Slack's (and Rocket.Chat's) incoming webhooks take alerts: POST
// JSON with a `text` string, answered 200 with the plain-text body `ok`; a body that is not JSON
// 400 `invalid_payload`, one without `text` 400 `no_text` (Slack's "Sending messages using
// incoming webhooks" and its error list, api.slack.com/messaging/webhooks, read 2026-12-06).
//
// Every path is a webhook of its own (`<url>/<hook>`), so a test gets a hook nobody else posts to.
// Tests drive it through /__fake/*: POST /__fake/hooks {hook: "/<hook>", status?, hangMs?} makes
// that hook answer with an error status or only after hangMs; GET /__fake/messages?hook=/<hook>
// answers the bodies the hook accepted, oldest first, and GET /__fake/requests?hook=/<hook>
// `{count}`, every POST it got (refused ones included).
import { startFake, type RunningFake } from "./http-fake.ts";

type HookBehaviour = { status?: number; hangMs?: number };

export async function startFakeAlertWebhook(port = 0): Promise<RunningFake> {
  const behaviours = new Map<string, HookBehaviour>();
  const accepted = new Map<string, unknown[]>();
  const requests = new Map<string, number>();
  return startFake(async (request) => {
    if (request.url.pathname === "/__fake/hooks" && request.method === "POST") {
      const { hook, ...behaviour } = request.body as { hook: string } & HookBehaviour;
      behaviours.set(hook, behaviour);
      return { status: 204 };
    }
    if (request.url.pathname === "/__fake/messages" && request.method === "GET") {
      return { status: 200, body: accepted.get(request.url.searchParams.get("hook") ?? "") ?? [] };
    }
    if (request.url.pathname === "/__fake/requests" && request.method === "GET") {
      return { status: 200, body: { count: requests.get(request.url.searchParams.get("hook") ?? "") ?? 0 } };
    }
    if (request.method !== "POST") return { status: 405, body: "invalid_method", headers: { "content-type": "text/plain" } };
    const hook = request.url.pathname;
    requests.set(hook, (requests.get(hook) ?? 0) + 1);
    const behaviour = behaviours.get(hook) ?? {};
    // An unref'd timer: a hung request never keeps the test process alive.
    if (behaviour.hangMs) await new Promise((resolve) => setTimeout(resolve, behaviour.hangMs).unref());
    if (behaviour.status) return { status: behaviour.status, body: "fake_failure", headers: { "content-type": "text/plain" } };
    if (typeof request.body !== "object" || request.body === null) return { status: 400, body: "invalid_payload", headers: { "content-type": "text/plain" } };
    if (typeof (request.body as { text?: unknown }).text !== "string") return { status: 400, body: "no_text", headers: { "content-type": "text/plain" } };
    accepted.set(hook, [...(accepted.get(hook) ?? []), request.body]);
    return { status: 200, body: "ok", headers: { "content-type": "text/plain" } };
  }, port);
}
