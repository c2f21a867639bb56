// The answers the router gives itself, each marked with ROUTER_HEADER (never an origin's): a page
// for people (the host's apps are browsed), saying what happened and when to try again, no
// script, nothing loaded from elsewhere, never cached.
import { ROUTER_HEADER } from "./origin-request";

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

const STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d1d1f}h1{font-size:1.4rem}small{color:#666}";

function page(status: number, title: string, lines: string[], reference: string, headers: Record<string, string>, why: string): Response {
  const body = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${lines.map((line) => `<p>${escapeHtml(line)}</p>`).join("")}<p><small>Error ${status} · reference ${escapeHtml(reference)}</small></p></body>
</html>
`;
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      [ROUTER_HEADER]: why,
      ...headers,
    },
  });
}

/** Every origin of the host is down: 503 with Retry-After (seconds until the next check). */
export const unavailablePage = (host: string, retryAfterSeconds: number, reference: string) =>
  page(
    503,
    `${host} is temporarily unavailable`,
    ["None of its servers is answering right now. This is on our side, not yours.", `Please try again in about ${retryAfterSeconds} seconds.`],
    reference,
    { "retry-after": String(retryAfterSeconds) },
    "unavailable",
  );

/** A request that could not be sent again elsewhere (its body was already streamed) met a failing origin. */
export const badGatewayPage = (host: string, timedOut: boolean, reference: string) =>
  page(
    timedOut ? 504 : 502,
    `${host} did not answer`,
    [
      timedOut ? "The server handling your request took too long to answer." : "The server handling your request could not be reached.",
      "Your request was sent once and not repeated, in case it had taken effect: check before sending it again.",
    ],
    reference,
    {},
    timedOut ? "origin-timeout" : "origin-unreachable",
  );

/** The host's entry in EDGE_ROUTES cannot route: 503 naming the variable (never its value). */
export const misconfiguredResponse = (host: string, problems: string[], reference: string) =>
  new Response(JSON.stringify({ error: `edge routing for ${host} is not configured: ${problems.join("; ")}`, requestId: reference }), {
    status: 503,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", [ROUTER_HEADER]: "misconfigured" },
  });

/** A request the router sent came back to it: an origin resolves to this Worker, not to the Swarm. */
export const loopResponse = (host: string, reference: string) =>
  new Response(JSON.stringify({ error: `edge routing for ${host} reached this Worker again instead of an origin: check the origins in EDGE_ROUTES`, requestId: reference }), {
    status: 508,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", [ROUTER_HEADER]: "loop" },
  });
